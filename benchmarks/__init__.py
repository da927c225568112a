"""Benchmarks: wt_adapters side by side with watchtower 3.4.0 and plain logging.

Run ``python -m benchmarks`` (or ``python benchmarks/run.py``) from the
repository root; see benchmarks/README.md.
"""
