"""Per-pixel order statistics over k slabs: hstcr's selection network against numpy, one run.

The group reference (method ``auto``, groups of up to 30 darks; 20 per AWS reference child)
takes each pixel's lower median twice per strip, and an IR ramp the median of its ~15 read
differences.  For each k this prints, on the same random slabs (an ACS/WFC strip's worth of
pixels, float32), the seconds of

* ``lower_median`` (hstcr) against ``np.partition(data, rank, axis=0)[rank]`` (the baseline:
  what it returns, value for value);
* ``median_of_slabs`` (hstcr) against ``np.median(data, axis=0)``;
* a whole group reference's strips (``_reference_strip``: clip, sums, telegraph) per dark of
  a 2-chip ACS/WFC frame, extrapolated from one strip,

and the ratios (baseline / hstcr: how many times faster).  Both answers are checked equal.

    .venv/bin/python benchmarks/bench_order_statistics.py [--k 4 9 16 20 30] [--repeat 5]
"""

from __future__ import annotations

import argparse

import numpy as np

from hstcr_common.detect.order_statistics import lower_median, median_of_slabs
from hstcr_common.detect.reference import STRIP_BYTES, _reference_strip

from _timing import best

#: an ACS/WFC chip (rows, columns) and chips per dark
CHIP, CHIPS = (2048, 4096), 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, nargs="+", default=[4, 9, 16, 20, 30])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    print(f"{'k':>3s} {'rows':>5s} | {'lower median':>26s} | {'median':>26s} | reference strips")
    print(f"{'':>3s} {'':>5s} | {'hstcr':>7s} {'numpy':>8s} {'ratio':>7s} | "
          f"{'hstcr':>7s} {'numpy':>8s} {'ratio':>7s} | s per dark")
    for k in args.k:
        rows = max(8, STRIP_BYTES // (4 * k * CHIP[1]))      # the reference's own strip
        data = rng.normal(100.0, 8.0, (k, rows, CHIP[1])).astype(np.float32)
        rank = 0 if k <= 3 else (k - 1) // 2
        assert np.array_equal(lower_median(data), np.partition(data, rank, axis=0)[rank])
        assert np.array_equal(median_of_slabs(data), np.median(data, axis=0))
        ours = best(lambda: lower_median(data), args.repeat)
        base = best(lambda: np.partition(data, rank, axis=0)[rank], args.repeat)
        med = best(lambda: median_of_slabs(data), args.repeat)
        med_base = best(lambda: np.median(data, axis=0), args.repeat)
        bad = np.zeros(data.shape, dtype=bool)
        level = np.full((1, CHIP[1]), 100.0, dtype=np.float32)
        strip = best(lambda: _reference_strip(data - level, bad, 16.0, level, 4.0, 5.0),
                     args.repeat)
        per_dark = strip * (CHIP[0] / rows) * CHIPS / k
        print(f"{k:3d} {rows:5d} | {ours * 1e3:5.2f}ms {base * 1e3:6.2f}ms {base / ours:6.1f}x | "
              f"{med * 1e3:5.2f}ms {med_base * 1e3:6.2f}ms {med_base / med:6.1f}x | {per_dark:.3f}")


if __name__ == "__main__":
    main()
