"""Whole-process throughput of ``hstcr run`` against a bare detector, one worker.

Issue 15's figures, measured in one run on the same machine and the same files:

* ``hstcr run --workers 1`` on 1 and on 4 full-frame synthetic ACS/WFC darks, wall time of
  the whole process (interpreter start, imports, orbit, deblending, coincidence correction,
  Parquet lake), median of ``--repeat`` runs;
* the bare reference, written here independently of ``hstcr_common`` and launched the same
  way (a fresh ``python`` process): astropy read of SCI and DQ of both chips, a robust
  background, scipy hysteresis thresholding (seeds at 6 sigma grown to 2 sigma, the
  ``threshold`` defaults), ``ndimage.label``, per-cosmic-ray rows (pixels, energy, centroid,
  bounding box) written with pyarrow to Parquet.  No orbit, no deblending, no halo;
* the ratios (goals: <= 1.0 for one dark, <= 0.8 for four);
* start-up: import time and the first dark's extra cost over a steady-state dark
  (``python -c "import ...; first dark"``), and the per-stage seconds of a steady-state dark
  (``DarkResult["stages"]``);
* the marginal per-dark cost of the ``stack`` method beside ``threshold`` ((T4 - T1) / 3).

    .venv/bin/python benchmarks/bench_throughput.py [--repeat 3] [--darks DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: hysteresis thresholds of the bare reference (noise sigmas): ThresholdParams' defaults
SEED_SIGMA, GROW_SIGMA = 6.0, 2.0


# ------------------------------------------------------------------------------ bare reference
def bare(paths: list[str], out: str) -> None:
    """The bare detector: read, hysteresis, label, per-cosmic-ray rows to Parquet."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from astropy.io import fits
    from scipy import ndimage

    eight = np.ones((3, 3), dtype=bool)
    for path in paths:
        columns: dict[str, list] = {k: [] for k in ("chip", "n_pixels", "energy", "x", "y",
                                                     "x_min", "x_max", "y_min", "y_max")}
        with fits.open(path, memmap=False) as hdul:
            chips = [(hdu.data, hdul["DQ", hdu.ver].data) for hdu in hdul if hdu.name == "SCI"]
            for chip, (sci, dq) in enumerate(chips):
                image = sci.astype(np.float32)
                good = dq == 0
                sample = image[good][::37]
                level = float(np.median(sample))
                sigma = float(level - np.percentile(sample, 15.865525393145707))
                seed = (image > level + SEED_SIGMA * sigma) & good
                grow = (image > level + GROW_SIGMA * sigma) & good
                labels, n = ndimage.label(grow, structure=eight)
                keep = np.bincount(labels[seed], minlength=n + 1) > 0
                keep[0] = False
                labels = np.where(keep[labels], labels, 0)
                idx = np.flatnonzero(labels)
                lab = labels.ravel()[idx]
                y, x = np.divmod(idx, image.shape[1])
                e = image.ravel()[idx] - level
                ids = np.flatnonzero(keep)
                count = np.bincount(lab, minlength=n + 1)[ids]
                energy = np.bincount(lab, weights=e, minlength=n + 1)[ids]
                columns["chip"].append(np.full(ids.size, chip, np.int16))
                columns["n_pixels"].append(count.astype(np.int32))
                columns["energy"].append(energy.astype(np.float32))
                columns["x"].append((np.bincount(lab, x * e, n + 1)[ids] / energy).astype(np.float32))
                columns["y"].append((np.bincount(lab, y * e, n + 1)[ids] / energy).astype(np.float32))
                boxes = ndimage.find_objects(labels)
                box = [boxes[i - 1] for i in ids]
                columns["x_min"].append(np.array([b[1].start for b in box], np.int16))
                columns["x_max"].append(np.array([b[1].stop - 1 for b in box], np.int16))
                columns["y_min"].append(np.array([b[0].start for b in box], np.int16))
                columns["y_max"].append(np.array([b[0].stop - 1 for b in box], np.int16))
        table = pa.table({k: np.concatenate(v) for k, v in columns.items()})
        pq.write_table(table, Path(out) / (Path(path).name + ".parquet"))


# ------------------------------------------------------------------------------ start-up child
def startup_child(items: list[dict], lake: str) -> None:
    """Import, then process the darks one by one in this process; print times as JSON."""
    t0 = time.perf_counter()
    from hstcr_common.pipeline import process_item

    t_import = time.perf_counter() - t0
    runs = []
    for item in items:
        t = time.perf_counter()
        res = process_item(item, lake=lake, reprocess=True)
        runs.append({"wall": time.perf_counter() - t, "stages": res["stages"],
                     "status": res["status"], "error": res["error"], "n_cr": res["n_cr"]})
    print(json.dumps({"import": t_import, "runs": runs}))


# ------------------------------------------------------------------------------ driver
def _wall(cmd: list[str], repeat: int) -> float:
    """Median wall time (s) of ``repeat`` fresh processes running ``cmd``."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _folders(darks: Path, tmp: Path) -> dict[int, Path]:
    """Folders holding the first 1 and all 4 darks (science + support files linked)."""
    science = sorted(darks.glob("*_flt.fits"))[:4]
    if len(science) < 4:
        raise SystemExit(f"{darks}: need 4 ACS/WFC *_flt.fits darks")
    out = {}
    for n in (1, 4):
        folder = tmp / f"darks{n}"
        folder.mkdir()
        for flt in science[:n]:
            for f in darks.glob(flt.name.replace("_flt.fits", "_*.fits")):
                (folder / f.name).symlink_to(f.resolve())
        out[n] = folder
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--darks", help="folder with >= 4 synthetic ACS/WFC darks (default: made)")
    ap.add_argument("--bare", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--startup", nargs=2, metavar=("ITEMS", "LAKE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare:
        bare(args.bare, args.out)
        return
    if args.startup:
        startup_child(json.loads(args.startup[0]), args.startup[1])
        return

    hstcr = str(Path(sys.executable).with_name("hstcr"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        darks = Path(args.darks) if args.darks else tmp / "all"
        if not args.darks:
            subprocess.run([hstcr, "sample", "--instrument", "acs_wfc", "--n", "4",
                            "--out", str(darks), "--seed", "15"], check=True,
                           stdout=subprocess.DEVNULL)
        folders = _folders(darks, tmp)
        (tmp / "bare").mkdir()
        results = {}
        for n, folder in folders.items():
            lake = tmp / f"lake{n}"
            results[("threshold", n)] = _wall(
                [hstcr, "run", str(folder), "--lake", str(lake), "--workers", "1",
                 "--reprocess", "--quiet"], args.repeat)
            results[("bare", n)] = _wall(
                [sys.executable, __file__, "--bare", *map(str, sorted(folder.glob("*_flt.fits"))),
                 "--out", str(tmp / "bare")], args.repeat)
            results[("stack", n)] = _wall(
                [hstcr, "run", str(folder), "--lake", str(tmp / f"stack{n}"), "--workers", "1",
                 "--reprocess", "--quiet", "--method", "stack"], args.repeat) if n == 4 else None
        # the stack method needs a group: its per-dark cost from 4 darks against threshold's
        items = [json.loads(line) for line in (darks / "manifest.jsonl").read_text().splitlines()
                 ][:3] if (darks / "manifest.jsonl").exists() else None
        print(f"whole process, one worker, median of {args.repeat} (s):")
        print(f"{'work':10s} {'hstcr':>8s} {'bare':>8s} {'ratio':>7s}  goal")
        for n, goal in ((1, 1.0), (4, 0.8)):
            ours, ref = results[("threshold", n)], results[("bare", n)]
            print(f"{n} dark{'s' if n > 1 else ' '}    {ours:8.2f} {ref:8.2f} {ours / ref:7.2f}  "
                  f"<= {goal}: {'met' if ours / ref <= goal else 'NOT met'}")
        per_dark = (results[("threshold", 4)] - results[("threshold", 1)]) / 3
        per_bare = (results[("bare", 4)] - results[("bare", 1)]) / 3
        print(f"marginal per dark (T4 - T1) / 3: hstcr threshold {per_dark:.2f} s, "
              f"bare {per_bare:.2f} s")
        print(f"stack method, 4 darks (one group): {results[('stack', 4)]:.2f} s whole process, "
              f"~{(results[('stack', 4)] - results[('threshold', 1)] + per_dark) / 4:.2f} s per "
              f"dark beside threshold's {per_dark:.2f} s")
        if items:
            out = subprocess.run([sys.executable, __file__, "--startup", json.dumps(items),
                                  str(tmp / "lake_startup")], capture_output=True, text=True,
                                 check=True)
            child = json.loads(out.stdout.strip().splitlines()[-1])
            runs = child["runs"]
            bad = [r for r in runs if r["status"] != "done"]
            if bad:
                raise SystemExit(f"processing failed: {bad[0]['error']}")
            steady = min(r["wall"] for r in runs[1:])
            startup = child["import"] + runs[0]["wall"] - steady
            print(f"start-up: import {child['import']:.2f} s, first dark {runs[0]['wall']:.2f} s, "
                  f"steady dark {steady:.2f} s -> fixed cost {startup:.2f} s "
                  f"(goal < 1 s: {'met' if startup < 1.0 else 'NOT met'})")
            best = min(runs[1:], key=lambda r: r["wall"])
            print("per-stage seconds of a steady-state dark: " + ", ".join(
                f"{k} {v:.3f}" for k, v in best["stages"].items()) + f"; {best['n_cr']:,} CRs")
        shutil.rmtree(tmp / "bare", ignore_errors=True)


if __name__ == "__main__":
    main()
