"""What every entry point shares: config building and validation, scenario composition, provenance, atomic writes,
the one-line error. It imports neither ``calibration`` nor ``experiments`` (tests/test_layers.py)."""
