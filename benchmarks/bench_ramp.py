"""Benchmark: jump detection (method ``ramp``) on a 16-read 1024x1024 WFC3/IR ramp.

Compares, on the same synthetic SPARS100 ramp (injected cosmic rays at 1.2 CR/s/cm2):

* **floor** - a plain numpy two-point difference: differences, per-pixel median rate, the
  read-noise + Poisson sigma, one threshold.  No validity masks, no labelling, no
  measurement: the least any jump detector has to do.
* **hstcr detect** - :func:`hstcr_common.detect.ramp.detect_jumps` (DQ masks, noise calibration,
  hysteresis, per-read 8-connected labels, step fits of the jump pixels).
* **hstcr total** - detect + :func:`hstcr_common.detect.ramp.measure_jumps` (the full catalogue).
* **stcal** - the JWST pipeline's ``stcal.jump.jump.detect_jumps_data`` (two-point
  difference, JWST defaults except the rejection threshold set to ours, 5 sigma; one core),
  if stcal is installed (``pip install stcal``).  It flags jump *pixels* in the group DQ;
  for the quality comparison its flags are labelled per read like ours.

Each contender runs ``--repeat`` times, interleaved (a busy machine slows all alike); the
best wall-clock and the best CPU time of this process are kept.  Ratios are to the floor
measured in the same run.  Usage::

    .venv/bin/python benchmarks/bench_ramp.py [--repeat 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hstcr_common.instruments import get_detector
from hstcr_common.detect import detect_jumps, label_jumps, measure_jumps
from hstcr_common.model import RampParams
from hstcr_common.synthetic import DQ_BITS, SATURATION_E, default_read_times, simulate_ramp


def floor_two_point(reads: np.ndarray, times: np.ndarray, read_noise_e: float,
                    threshold: float = 5.0) -> np.ndarray:
    """Plain numpy two-point difference: the cost floor."""
    dt = np.diff(times).astype(np.float32)[:, None, None]
    diffs = np.diff(reads, axis=0)
    rate = np.median(diffs / dt, axis=0)
    sigma = np.sqrt(2.0 * read_noise_e**2 + np.maximum(rate, 0.0) * dt)
    return (diffs - rate * dt) > threshold * sigma


def run_stcal(reads, times, read_dq, read_noise_e, threshold=5.0):
    """stcal's jump step on the same ramp; returns the (ndiff, ny, nx) jump mask."""
    from stcal.jump.jump import detect_jumps_data
    from stcal.jump.jump_class import JumpData

    nreads, ny, nx = reads.shape
    flags = {"GOOD": 0, "DO_NOT_USE": 1, "SATURATED": 2, "JUMP_DET": 4, "NO_GAIN_VALUE": 8,
             "REFERENCE_PIXEL": 16}
    gdq = np.zeros((1, nreads, ny, nx), dtype=np.uint8)
    gdq[0][(read_dq & 256) != 0] = flags["SATURATED"]
    gdq[0][(read_dq & 4) != 0] = flags["DO_NOT_USE"]
    # stcal's difference variance is rnoise^2 / (0.5 * 2 frames): give it sqrt(2) x the
    # per-read noise so both use 2 rn^2 for one difference
    jd = JumpData(gain2d=np.ones((ny, nx), np.float32),
                  rnoise2d=np.full((ny, nx), np.sqrt(2.0) * read_noise_e, np.float32),
                  dqflags=flags)
    jd.nframes = 1
    jd.dt_group = np.diff(times)
    jd.n_reads_groupdiff = np.full(nreads - 1, 2.0)
    jd.rejection_thresh = threshold
    jd.max_cores = "none"
    jd.init_arrays_from_arrays(reads[None].astype(np.float32), gdq, np.zeros((ny, nx), np.uint32))
    out_gdq, _, n_primary, _ = detect_jumps_data(jd)
    return (out_gdq[0, 1:] & flags["JUMP_DET"]) != 0, int(n_primary)


def timed(fn, *args, **kw):
    """(wall s, CPU s of this process, result) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return time.perf_counter() - w0, time.process_time() - c0, out


def truth_cube(sim) -> np.ndarray:
    t = sim.truth
    ndiff = sim.reads.shape[0] - 1
    cube = np.zeros((ndiff,) + sim.reads.shape[1:], dtype=np.int32)
    ids = np.repeat(np.arange(1, len(t) + 1), np.diff(t.pixel_offsets))
    cube[t.read_index[ids - 1] - 1, t.pixel_y, t.pixel_x] = ids
    return cube


def quality(labels, n, cube, sim):
    both = (labels > 0) & (cube > 0)
    pairs = np.unique(np.stack([labels[both], cube[both]]), axis=1)
    found = np.zeros(len(sim.truth) + 1, bool)
    found[pairs[1]] = True
    real = np.zeros(n + 1, bool)
    real[pairs[0]] = True
    bright = sim.truth.peak_e() >= 10 * np.sqrt(2) * sim.read_noise_e
    return found[1:][bright].mean(), real[1:].mean() if n else 1.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reads", type=int, default=16)
    args = ap.parse_args(argv)

    det = get_detector("wfc3_ir")
    times = default_read_times(det, args.reads)
    defective, saturated = DQ_BITS["WFC3"]
    sim = simulate_ramp((1024, 1024), times, seed=args.seed, read_noise_e=det.read_noise_e,
                        dark_current_e_per_s=det.dark_current_e_per_s,
                        pixel_area_cm2=det.pixel_area_cm2, saturation_e=SATURATION_E["WFC3"],
                        dq_defective=defective, dq_saturated=saturated)
    reads, rn = sim.reads, sim.read_noise_e
    print(f"WFC3/IR ramp: {reads.shape[0]} reads x {reads.shape[1]}x{reads.shape[2]}, "
          f"{len(sim.truth)} injected cosmic rays, best of {args.repeat}")

    kw = dict(read_dq=sim.read_dq, bad_bits=det.bad_mask_bits | det.saturation_bit,
              saturation_bit=det.saturation_bit)

    def hstcr_detect():
        return detect_jumps(reads, times, rn, RampParams(), **kw)

    def hstcr_total():
        j = detect_jumps(reads, times, rn, RampParams(), **kw)
        return j, measure_jumps(j, times)

    runs = {"floor": floor_two_point, "detect": hstcr_detect, "total": hstcr_total}
    args_of = {"floor": (reads, times, rn), "detect": (), "total": ()}
    try:
        import logging

        import stcal
        logging.getLogger("stcal").setLevel(logging.WARNING)
        runs["stcal"] = run_stcal
        args_of["stcal"] = (reads, times, sim.read_dq, rn)
    except ImportError:
        stcal = None
    # interleaved, so a busy machine slows every contender alike; best wall and CPU times
    wall = {k: np.inf for k in runs}
    cpu = {k: np.inf for k in runs}
    result = {}
    for _ in range(args.repeat):
        for name, fn in runs.items():
            w, c, result[name] = timed(fn, *args_of[name])
            wall[name], cpu[name] = min(wall[name], w), min(cpu[name], c)

    cube = truth_cube(sim)
    jumps, catalog = result["total"]
    comp, pur = quality(jumps.labels, jumps.n, cube, sim)
    print(f"{'':34s} {'wall s':>8s} {'ratio':>6s} {'CPU s':>8s} {'ratio':>6s}")

    def line(label, name, extra=""):
        print(f"{label:34s} {wall[name]:8.3f} {wall[name] / wall['floor']:5.2f}x "
              f"{cpu[name]:8.3f} {cpu[name] / cpu['floor']:5.2f}x  {extra}")

    line("floor (plain numpy 2-pt diff)", "floor")
    line("hstcr detect_jumps", "detect")
    line("hstcr detect + measure (catalogue)", "total",
         f"{len(catalog)} CRs, completeness(>=10 sigma) {comp:.4f}, purity {pur:.4f}")
    if stcal is None:
        print("stcal: not installed (pip install stcal) - skipped")
        return
    mask, _ = result["stcal"]
    labels, n = label_jumps(mask, np.flatnonzero(mask))
    comp_s, pur_s = quality(labels, n, cube, sim)
    line(f"stcal {stcal.__version__} detect_jumps_data", "stcal",
         f"{n} CRs (its flags, labelled per read), completeness {comp_s:.4f}, purity {pur_s:.4f}")
    print(f"stcal / hstcr total: {wall['stcal'] / wall['total']:.2f}x wall, "
          f"{cpu['stcal'] / cpu['total']:.2f}x CPU")


if __name__ == "__main__":
    main()
