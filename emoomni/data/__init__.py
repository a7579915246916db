"""Data records, manifests and adapters that index local copies of the benchmark data sets."""
