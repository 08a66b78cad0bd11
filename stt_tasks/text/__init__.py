"""Transcript text: label rules per language, shared by importers, alphabet and language model."""
