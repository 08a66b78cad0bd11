"""Coqui STT training: the TF1 compatibility layer, the launcher, the flag table and the training steps.

Modules here that need TensorFlow or coqui import them inside functions, so that the package still
imports (and its pure parts are tested) on hosts without TensorFlow.
"""
