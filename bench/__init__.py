"""Benchmarks: `python -m bench.engine` prints figures and ratios measured side by side."""
