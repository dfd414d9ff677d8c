"""Helpers shared by the benchmarks: medians of repeated runs, and a cache folder for generated files."""
from __future__ import annotations

import statistics
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent / "results"


def median_seconds(fn, repeat: int = 5, warmup: int = 0) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(name: str, seconds: float, goal: float | None = None, baseline: float | None = None, baseline_name: str = "baseline") -> None:
    parts = [f"{name}: median {seconds:.3f} s"]
    if goal is not None:
        parts.append(f"goal <= {goal:g} s: {'met' if seconds <= goal else 'NOT met'}")
    if baseline is not None:
        parts.append(f"{baseline_name} {baseline:.3f} s, ratio {baseline / seconds:.1f}x")
    print(" | ".join(parts), flush=True)


def cache_dir() -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    return CACHE
