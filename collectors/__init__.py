"""Collectors: one module per source kind, each turning its source into RawRecords."""
