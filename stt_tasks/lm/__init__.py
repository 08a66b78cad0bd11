"""The language model step: text sources, normalisation, KenLM, and Coqui scorer packages."""
