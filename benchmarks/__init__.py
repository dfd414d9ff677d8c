"""Benchmarks: `python -m benchmarks [NAME ...]` runs every benchmarks/bench_*.py (or the named ones)."""
