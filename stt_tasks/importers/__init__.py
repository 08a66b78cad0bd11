"""Corpus importers: one module per corpus mapping its layout to clip records, one shared engine."""
