"""End-to-end time and peak memory per ACS/WFC dark on one worker (read -> Parquet).

Target: <= 1.0 s per dark, <= 1 GB peak resident memory.

Each repetition runs in a fresh process (``--child``) so its peak RSS is that of one dark's
job (imports included).  The baseline, measured in the same run, is the I/O floor: opening
the same ``flt`` with astropy and touching the SCI and DQ arrays of both chips.

    .venv/bin/python benchmarks/bench_pipeline.py [--repeat 3] [--detector acs_wfc]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(item_json: str, lake: str, repeat: int) -> None:
    """Process the dark ``repeat`` times in this process; print timings + peak RSS as JSON."""
    from hstcr_common.pipeline import process_item

    item = json.loads(item_json)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = process_item(item, lake=lake, reprocess=True)
        runs.append({"wall": time.perf_counter() - t0, "stages": res["stages"], "n_cr": res["n_cr"],
                     "status": res["status"], "error": res["error"]})
    peak_mb = peak_rss_mb()
    print(json.dumps({"runs": runs, "peak_rss_mb": peak_mb}))


def peak_rss_mb() -> float:
    """Peak resident memory (MB) of this program: ``VmHWM`` where Linux has it, because
    ``ru_maxrss`` keeps the forking parent's peak across ``exec`` (the parent simulated the dark)."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def io_floor(science: str) -> float:
    """Seconds to read the science product's SCI and DQ arrays with astropy."""
    import numpy as np
    from astropy.io import fits

    t0 = time.perf_counter()
    with fits.open(science, memmap=False) as hdul:
        total = 0.0
        for hdu in hdul:
            if hdu.name in ("SCI", "DQ") and hdu.data is not None:
                total += float(np.asarray(hdu.data).ravel()[::4096].sum())
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detector", default="acs_wfc")
    ap.add_argument("--repeat", type=int, default=3, help="darks processed per child process")
    ap.add_argument("--child", nargs=3, metavar=("ITEM", "LAKE", "REPEAT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return

    from hstcr_common.synthetic import write_sample

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        dark = write_sample(args.detector, 1, tmp / "darks", seed=2024)[0]
        print(f"synthetic {args.detector} dark {dark.dataset}: {dark.truth.num_rows:,} injected cosmic rays "
              f"(written in {time.perf_counter() - t0:.1f} s)")
        item = dark.manifest_item
        floor = min(io_floor(item["files"]["science"]) for _ in range(3))

        # first dark in a fresh process (imports + first-call set-up), then steady state
        out = subprocess.run([sys.executable, __file__, "--child", json.dumps(item), str(tmp / "lake"),
                              str(args.repeat)], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        runs = result["runs"]
        bad = [r for r in runs if r["status"] != "done"]
        if bad:
            raise SystemExit(f"processing failed: {bad[0]['error']}")
        steady = runs[1:] or runs
        wall = min(r["wall"] for r in steady)
        best = min(steady, key=lambda r: r["wall"])
        print(f"\nper-dark wall time, one worker (best of {len(steady)} after a warm-up dark):")
        for stage, sec in best["stages"].items():
            print(f"  {stage:8s} {sec:7.3f} s  {100 * sec / wall:5.1f} %")
        print(f"  {'total':8s} {wall:7.3f} s   (target <= 1.0 s: {'met' if wall <= 1.0 else 'NOT met'})")
        print(f"  first dark in a fresh process: {runs[0]['wall']:.3f} s (includes one-time set-up, e.g. IGRF/IERS tables:"
              f" {runs[0]['stages']})")
        print(f"  cosmic rays per dark: {best['n_cr']:,}; throughput {best['n_cr'] / wall:,.0f} CR/s")
        print(f"baseline (astropy read of SCI+DQ, the I/O floor): {floor:.3f} s -> pipeline/baseline = "
              f"{wall / floor:.1f}x")
        print(f"peak resident memory of the worker: {result['peak_rss_mb']:.0f} MB "
              f"(target <= 1024 MB: {'met' if result['peak_rss_mb'] <= 1024 else 'NOT met'})")


if __name__ == "__main__":
    main()
