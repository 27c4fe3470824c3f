"""Whole-process throughput of ``hstcr run`` against a bare detector, one worker.

Issue 15's figures, measured in one run on the same machine and the same files:

* ``hstcr run --workers 1`` on 1 and on 4 full-frame synthetic ACS/WFC darks, wall time of
  the whole process (interpreter start, imports, orbit, deblending, coincidence correction,
  Parquet lake), median of ``--repeat`` runs (every command below takes its turn in each
  round, so the machine's slow spells fall on all of them alike);
* the bare reference, written here independently of ``hstcr_common`` and launched the same
  way (a fresh ``python`` process): astropy read of SCI and DQ of both chips, a robust
  background, scipy hysteresis thresholding (seeds at 6 sigma grown to 2 sigma, the
  ``threshold`` defaults), ``ndimage.label``, per-cosmic-ray rows (pixels, energy, centroid,
  bounding box) written with pyarrow to Parquet.  No orbit, no deblending, no halo;
* the ratios (goals: <= 1.0 for one dark, <= 0.8 for four), of the median wall times, of
  the fastest runs and of the median CPU seconds (user + system of the process), and the
  median of the paired ratios: hstcr and the bare reference of one size run back to back in
  every round, so a slow spell of a shared machine that spans the pair cancels;
* start-up: import time and the first dark's extra cost over a steady-state dark, in
  ``--repeat`` fresh processes (the median and the range), and the per-stage seconds of that
  first dark and of a steady-state one (``DarkResult["stages"]``);
* the default pool (a worker per core) on the 4 darks, with one BLAS thread per worker (as
  shipped, :mod:`hstcr_common.pipeline.cores`) and with BLAS's own threads;
* the per-dark cost of the group methods beside ``threshold``'s marginal (T4 - T1) / 3:
  ``auto`` (the default: the 4 darks share a set-up, so they are one group searched against
  its reference) and ``stack``, each (T4 - fixed) / 4 with fixed = T1 - marginal of
  ``threshold``.  The headline ratios are ``--method threshold`` (the bare reference's
  algorithm, plus orbit, deblending and coincidence correction).

    .venv/bin/python benchmarks/bench_throughput.py [--repeat 3] [--darks DIR]
"""

from __future__ import annotations

import argparse
import json
import os
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
    """Import, then process the darks one by one in this process, with the allocator and
    collector settings ``hstcr run`` gives itself (:func:`hstcr_common.pipeline.memory.
    keep_freed_memory`: a steady dark reuses the last one's memory; the search imported with
    the garbage collector held off, :mod:`hstcr_common.pipeline.collector`); print times as
    JSON."""
    t0 = time.perf_counter()
    from hstcr_common.pipeline.collector import imports_without_collection

    with imports_without_collection():
        from hstcr_common.pipeline import process_item
        from hstcr_common.pipeline.memory import keep_freed_memory

    keep_freed_memory()

    t_import = time.perf_counter() - t0
    runs = []
    for item in items:
        t = time.perf_counter()
        res = process_item(item, lake=lake, method="threshold", reprocess=True)
        runs.append({"wall": time.perf_counter() - t, "stages": res["stages"],
                     "status": res["status"], "error": res["error"], "n_cr": res["n_cr"]})
    print(json.dumps({"import": t_import, "runs": runs}))


# ------------------------------------------------------------------------------ driver
def compile_hstcr_bytecode() -> str:
    """Compile ``hstcr_common``'s bytecode (the sources as they are now), as a regular install
    has it and as every package the bare reference imports has it.  Where
    ``PYTHONDONTWRITEBYTECODE`` is set (this machine's shells), Python never caches the bytecode
    of an editable install: every ``hstcr`` process would compile its ~70 modules again
    (~0.07 s a process here), which is the environment, not hstcr.  Returns a line saying so."""
    import compileall

    import hstcr_common

    compileall.compile_dir(os.path.dirname(hstcr_common.__file__), quiet=1)
    return ("hstcr_common's bytecode compiled first (as a regular install has it; "
            f"PYTHONDONTWRITEBYTECODE={'set' if sys.dont_write_bytecode else 'unset'} here)")


#: the fastest of each command's runs, beside the medians: on a shared machine the bare
#: reference's own times scatter by up to 2x between runs, the minimum much less
BEST: dict = {}
#: median CPU seconds (user + system) of each command's process tree: what a busy shared
#: machine inflates less than the wall time (time spent waiting for a core is not counted)
CPU: dict = {}
#: every run's wall time (s) per command, in round order: a command's run in round k is next
#: to the other commands' runs of round k (hstcr and the bare reference of one size run back
#: to back), so their ratio round by round cancels a slow spell that spans the pair
ROUNDS: dict = {}


def _walls(commands: dict, repeat: int) -> dict:
    """Median wall time (s) of ``repeat`` fresh processes of each named ``(cmd, env)``; the
    fastest of each is kept in :data:`BEST`, the median CPU time in :data:`CPU`.  The
    commands take turns, round after round, so a slow spell of a shared machine falls on
    all of them, not on one (the ratios are what this script reports)."""
    import resource

    times: dict = {name: [] for name in commands}
    cpu: dict = {name: [] for name in commands}
    for _ in range(repeat):
        for name, (cmd, env) in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           env=env)
            times[name].append(time.perf_counter() - t)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    BEST.update({name: min(t) for name, t in times.items()})
    ROUNDS.update(times)
    CPU.update({name: statistics.median(c) for name, c in cpu.items()})
    return {name: statistics.median(t) for name, t in times.items()}


def _folders(darks: Path, tmp: Path) -> dict[int, tuple[Path, list[str]]]:
    """Folders holding the first 1 and all 4 darks of the sample's manifest (every file of a
    dark linked), with their science products (``flt`` or ``flc``)."""
    items = [json.loads(line) for line in (darks / "manifest.jsonl").read_text().splitlines()]
    if len(items) < 4:
        raise SystemExit(f"{darks}: need a manifest.jsonl of >= 4 ACS/WFC darks")
    out = {}
    for n in (1, 4):
        folder = tmp / f"darks{n}"
        folder.mkdir()
        for item in items[:n]:
            for f in item["files"].values():
                if f:
                    (folder / Path(f).name).symlink_to(Path(f).resolve())
        out[n] = folder, [str(folder / Path(it["files"]["science"]).name) for it in items[:n]]
    return out


def _methods_used(lake: Path) -> str:
    """The ``method`` column of the lake's exposures rows, counted (what ``auto`` chose)."""
    import collections

    import pyarrow.parquet as pq

    files = sorted(lake.rglob("exposures/**/*.parquet"))
    used = collections.Counter(m for f in files for m in pq.read_table(f, columns=["method"])
                               ["method"].to_pylist())
    return ", ".join(f"{n} x {m}" for m, n in sorted(used.items())) or "no rows"


def fixed_and_marginal(t1: float, t4: float) -> tuple[float, float]:
    """A process's fixed cost F and its cost per dark m (s), from its wall times on 1 and 4
    darks (T = F + n * m)."""
    m = (t4 - t1) / 3
    return t1 - m, m


def budget_line(t1: float, t4: float, bare1: float, bare4: float, goal: float = 0.8) -> str:
    """What the four-dark goal asks of each dark, from the four whole-process medians (s).

    Each process costs F + n * m (a fixed cost F: interpreter, imports, the first dark's
    first touch of its memory; m per dark).  With hstcr's F as measured, four darks at
    ``goal`` x the bare reference leave (goal * bare4 - F) / 4 per dark: the line prints that
    budget beside the measured m, both also as multiples of the bare reference's own m.
    """
    fixed, m = fixed_and_marginal(t1, t4)
    fixed_bare, m_bare = fixed_and_marginal(bare1, bare4)
    budget = (goal * bare4 - fixed) / 4
    return (f"fixed cost T1 - marginal: hstcr {fixed:.2f} s, bare {fixed_bare:.2f} s; "
            f"four darks <= {goal} leave hstcr {budget:.2f} s per dark "
            f"({budget / m_bare:.2f}x the bare's {m_bare:.2f} s; "
            f"{goal * bare4 / 4:.2f} s even with no fixed cost), measured {m:.2f} s "
            f"({m / m_bare:.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--darks", help="folder with >= 4 synthetic ACS/WFC darks and their "
                    "manifest.jsonl (default: made)")
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

    # here, not at the top: the bare reference's child runs this file and imports nothing of hstcr
    from hstcr_common.pipeline.cores import ONE_THREAD_ENVIRONMENT

    hstcr = str(Path(sys.executable).with_name("hstcr"))
    print(compile_hstcr_bytecode())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        darks = Path(args.darks) if args.darks else tmp / "all"
        if not args.darks:
            subprocess.run([hstcr, "sample", "--instrument", "acs_wfc", "--n", "4",
                            "--out", str(darks), "--seed", "15"], check=True,
                           stdout=subprocess.DEVNULL)
        folders = _folders(darks, tmp)
        (tmp / "bare").mkdir()
        commands = {}
        for n, (folder, science) in folders.items():
            commands[("threshold", n)] = (
                [hstcr, "run", str(folder), "--lake", str(tmp / f"lake{n}"), "--workers", "1",
                 "--reprocess", "--quiet", "--method", "threshold"], None)
            commands[("bare", n)] = ([sys.executable, __file__, "--bare", *science,
                                      "--out", str(tmp / "bare")], None)
        for method in ("stack", "auto"):
            commands[(method, 4)] = (
                [hstcr, "run", str(folders[4][0]), "--lake", str(tmp / f"{method}4"),
                 "--workers", "1", "--reprocess", "--quiet", "--method", method], None)
        # the default pool (a worker per core) on the 4 darks, as shipped (one BLAS thread per
        # worker) and with BLAS's own threads back (the user's environment wins over
        # hstcr_common.pipeline.cores): what switching them off is worth
        cores = os.cpu_count() or 1
        pool_cmd = [hstcr, "run", str(folders[4][0]), "--lake", str(tmp / "pool"), "--workers",
                    str(cores), "--reprocess", "--quiet", "--method", "threshold"]
        commands["pool"] = (pool_cmd, None)
        commands["pool_blas"] = (pool_cmd, {**os.environ,
                                            **{k: str(cores) for k in ONE_THREAD_ENVIRONMENT}})
        results = _walls(commands, args.repeat)
        # the stack method needs a group: its per-dark cost from 4 darks against threshold's
        items = [json.loads(line) for line in (darks / "manifest.jsonl").read_text().splitlines()
                 ][:3] if (darks / "manifest.jsonl").exists() else None
        print(f"whole process, one worker, median of {args.repeat} (s):")
        print(f"{'work':10s} {'hstcr':>8s} {'bare':>8s} {'ratio':>7s}  goal")
        for n, goal in ((1, 1.0), (4, 0.8)):
            ours, ref = results[("threshold", n)], results[("bare", n)]
            print(f"{n} dark{'s' if n > 1 else ' '}    {ours:8.2f} {ref:8.2f} {ours / ref:7.2f}  "
                  f"<= {goal}: {'met' if ours / ref <= goal else 'NOT met'}")
        print("fastest runs: " + ", ".join(
            f"{n} dark{'s' if n > 1 else ''} {BEST[('threshold', n)]:.2f} / {BEST[('bare', n)]:.2f}"
            f" = {BEST[('threshold', n)] / BEST[('bare', n)]:.2f}" for n in (1, 4)))
        print("CPU seconds (user + system), medians: " + ", ".join(
            f"{n} dark{'s' if n > 1 else ''} {CPU[('threshold', n)]:.2f} / {CPU[('bare', n)]:.2f}"
            f" = {CPU[('threshold', n)] / CPU[('bare', n)]:.2f}" for n in (1, 4)))
        paired = {n: sorted(a / b for a, b in zip(ROUNDS[("threshold", n)], ROUNDS[("bare", n)]))
                  for n in (1, 4)}
        print("paired ratios (hstcr / bare run back to back, median over the rounds, range): "
              + ", ".join(f"{n} dark{'s' if n > 1 else ''} {statistics.median(r):.2f} "
                          f"({r[0]:.2f}-{r[-1]:.2f})" for n, r in paired.items()))
        fixed, per_dark = fixed_and_marginal(results[("threshold", 1)], results[("threshold", 4)])
        per_bare = fixed_and_marginal(results[("bare", 1)], results[("bare", 4)])[1]
        print(f"marginal per dark (T4 - T1) / 3: hstcr threshold {per_dark:.2f} s, "
              f"bare {per_bare:.2f} s")
        print(budget_line(results[("threshold", 1)], results[("threshold", 4)],
                          results[("bare", 1)], results[("bare", 4)]))
        for method in ("auto", "stack"):
            whole = results[(method, 4)]
            print(f"{method} method, 4 darks ({_methods_used(tmp / f'{method}4')}): {whole:.2f} s "
                  f"whole process, ~{(whole - fixed) / 4:.2f} s per dark beside threshold's "
                  f"{per_dark:.2f} s")
        print(f"pool of {cores} workers (the default), 4 darks: {results['pool']:.2f} s with one "
              f"BLAS thread per worker, {results['pool_blas']:.2f} s with BLAS's own threads "
              f"(ratio {results['pool'] / results['pool_blas']:.2f}); one worker "
              f"{results[('threshold', 4)]:.2f} s")
        if items:
            # one fresh process per round, like every figure above: a single start-up swings
            # by 2x on a shared machine (the first dark faults in the worker's memory)
            startups = []
            for _ in range(args.repeat):
                # the environment `hstcr` gives itself before numpy loads (pipeline.cores)
                out = subprocess.run([sys.executable, __file__, "--startup", json.dumps(items),
                                      str(tmp / "lake_startup")], capture_output=True,
                                     text=True, check=True,
                                     env={**os.environ, **ONE_THREAD_ENVIRONMENT})
                child = json.loads(out.stdout.strip().splitlines()[-1])
                runs = child["runs"]
                bad = [r for r in runs if r["status"] != "done"]
                if bad:
                    raise SystemExit(f"processing failed: {bad[0]['error']}")
                steady = min(runs[1:], key=lambda r: r["wall"])
                startups.append({"import": child["import"], "first": runs[0],
                                 "steady": steady,
                                 "fixed": child["import"] + runs[0]["wall"] - steady["wall"]})
            startups.sort(key=lambda r: r["fixed"])
            mid = startups[len(startups) // 2]
            print(f"start-up, median of {len(startups)} fresh processes: import "
                  f"{mid['import']:.2f} s, first dark {mid['first']['wall']:.2f} s, steady dark "
                  f"{mid['steady']['wall']:.2f} s -> fixed cost {mid['fixed']:.2f} s "
                  f"(range {startups[0]['fixed']:.2f}-{startups[-1]['fixed']:.2f}; goal < 1 s: "
                  f"{'met' if mid['fixed'] < 1.0 else 'NOT met'})")
            first, best = mid["first"], mid["steady"]
            print("per-stage seconds of that first dark: " + ", ".join(
                f"{k} {v:.3f}" for k, v in first["stages"].items()))
            print("per-stage seconds of a steady-state dark: " + ", ".join(
                f"{k} {v:.3f}" for k, v in best["stages"].items()) + f"; {best['n_cr']:,} CRs")
        shutil.rmtree(tmp / "bare", ignore_errors=True)


if __name__ == "__main__":
    main()
