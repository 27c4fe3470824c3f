"""Timing shared by the benchmark scripts.

The scripts run as ``python benchmarks/<script>.py``, which puts this folder first on
``sys.path``: they import it as ``_timing``.
"""

from __future__ import annotations

import statistics
import time


def call_times(fn, repeat: int) -> list[float]:
    """Wall seconds of ``repeat`` calls of ``fn()``, in call order."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def best(fn, repeat: int) -> float:
    """Fastest of ``repeat`` calls (s): on a shared machine the run least disturbed."""
    return min(call_times(fn, repeat))


def median_time(fn, repeat: int) -> float:
    """Median of ``repeat`` calls (s)."""
    return statistics.median(call_times(fn, repeat))
