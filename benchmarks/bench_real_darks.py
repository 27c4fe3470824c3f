"""Darks as they really are (issue 13): accuracy per condition, per CCD, per method.

For every CCD detector and every condition of issue 13's table this writes one sample (a
group of 3 darks of one set-up sharing one hot-pixel pattern, as between two anneals) with
its truth (``truth.parquet`` with ``energy_observed_e`` and ``saturated``,
``hot_pixels.parquet``), one calendar month per case so ``auto`` never groups two cases.
Each condition switches on one departure of the late-mission level alone (so a failure names
its cause), then all of them together, then zero cosmic rays and 2x, 3x, 5x the density.

Every detector's cases then go through the real ``hstcr run`` CLI (subprocess, ``--workers
2``) with the default method (``auto``), ``--method threshold`` and ``--method stack``, and
astroscrappy (L.A.Cosmic on the e- frame, labelled 8-connected; first dark of each case) is
run in-process.  Printed per detector, rows the cases, columns method x metric:
completeness (E_true > 300 e-), purity, median ``|E/E_true - 1|`` against the deposited and
against the observed energy (after CTE, bleeding, A/D limit), corrected rate / injected
(astroscrappy: raw count / injected); then the zero-cosmic-ray rate as % of the real flux
and the density up to which the rate holds within 2 %.  ACS/WFC and WFC3/UVIS use a smaller
chip by default (:data:`QUICK_SHAPES`; ``--full-frames`` for full chips).

    python benchmarks/bench_real_darks.py --out /tmp/real-darks [--detectors acs_hrc stis_ccd]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hstcr_common.model import REFERENCE_CR_RATE_S_CM2
from hstcr_common.synthetic import DarkConditions, match_to_truth, write_sample

CCDS = ("acs_wfc", "acs_hrc", "stis_ccd", "wfc3_uvis", "wfpc2")
#: late-mission fields each single-condition case keeps from the preset (the rest are off)
_SINGLE = {
    "hot-pixels": ("hot_fraction", "unflagged_share", "hot_rate_range_e_per_s"),
    "clusters": ("hot_fraction", "unflagged_share", "cluster_share", "hot_rate_range_e_per_s"),
    "telegraph": ("hot_fraction", "unflagged_share", "telegraph_share", "telegraph_low_ratio",
                  "hot_rate_range_e_per_s"),
    "cte": ("cte_fraction", "cte_trail_px"),
    "flash-amps": ("flash_e", "flash_gradient", "amp_offset_e"),
    "saturation": ("saturation", "full_well_e", "adc_limit_e"),
    "heavy-ions": ("heavy_ion_fraction",),
}
#: (condition name, cosmic-ray rate multiplier)
CASES = ([("nominal", 1.0)] + [(name, 1.0) for name in _SINGLE]
         + [("late-mission", 1.0), ("late-mission-zero-cr", 0.0),
            ("late-mission-dense-2x", 2.0), ("late-mission-dense-3x", 3.0),
            ("late-mission-dense-5x", 5.0)])


def conditions_for(detector: str, case: str) -> DarkConditions:
    """The conditions of one benchmark case for ``detector``.

    ``nominal`` is the ideal dark with its default 0.5 % hot pixels; a single-condition case
    keeps only that departure at its late-mission level (hot pixels off unless it is about
    them); ``late-mission*`` is :meth:`DarkConditions.late_mission`.
    """
    if case == "nominal":
        return DarkConditions.clean()
    late = DarkConditions.late_mission(detector)
    if case.startswith("late-mission"):
        return late
    keep = _SINGLE[case]
    base = dataclasses.replace(DarkConditions(), hot_fraction=0.0, label=case)
    return dataclasses.replace(base, **{name: getattr(late, name) for name in keep})


def case_start(detector, case_index: int) -> str:
    """First observation of case ``case_index``: one calendar month per case, so ``auto``
    (which groups by month among the rest of the set-up) never mixes two cases in one group,
    even when every case of a detector goes through one ``hstcr run``.  From January 2021, or
    for a detector retired before mid-2022 (ACS/HRC, WFPC2) from two years before its end."""
    end = detector.active[-1][1]
    year, month = (2021, 1) if end is None or end.year >= 2022 else (end.year - 2, end.month)
    k = (month - 1) + case_index
    return f"{year + k // 12}-{k % 12 + 1:02d}-02"


def write_condition_samples(out, detectors=CCDS, *, n_darks: int = 3, seed: int = 1300,
                            shapes=None, cases=CASES) -> list[dict]:
    """Write one sample per detector and case under ``out/<detector>/<case>/`` (a sample
    already written there is kept).

    Parameters
    ----------
    out : path
    detectors : iterable of str
    n_darks : int
        Darks per sample (one set-up, one hot-pixel pattern: ``write_sample`` gives them the
        same ``fixed_pattern_seed``).
    seed : int
        Seed of the first sample; each (detector, case) gets its own.
    shapes : dict of str to (ny, nx), optional
        Smaller chips per detector for a quicker run; missing: full frames.
    cases : sequence of (name, rate multiplier)

    Returns
    -------
    list of dict
        One row per sample: detector, case, folder, darks, injected cosmic rays, seconds.
    """
    from hstcr_common.instruments import get_detector

    rows = []
    for d, det_id in enumerate(detectors):
        det = get_detector(det_id)
        shape = (shapes or {}).get(det_id)
        for c, (case, multiplier) in enumerate(cases):
            folder = Path(out) / det_id / case
            t0 = time.perf_counter()
            if (folder / "truth_exposures.parquet").exists():
                injected = int(pq.read_table(folder / "truth_exposures.parquet",
                                             columns=["n_cr"])["n_cr"].to_numpy().sum())
                n = len(list(folder.glob("*_spt.fits")) or list(folder.glob("*_shm.fits")))
            else:
                darks = write_sample(det_id, n_darks, folder, seed=seed + 100 * d + c,
                                     start=case_start(det, c),
                                     cr_rate_per_s_cm2=REFERENCE_CR_RATE_S_CM2 * multiplier,
                                     conditions=conditions_for(det_id, case), shape=shape)
                injected, n = sum(x.exposure["n_cr"] for x in darks), len(darks)
            rows.append({"detector": det_id, "case": case, "folder": str(folder), "darks": n,
                         "injected": injected, "rate_multiplier": multiplier,
                         "shape": list(shape) if shape else None,
                         "seconds": round(time.perf_counter() - t0, 1)})
    return rows


# --------------------------------------------------------------------------- running


def run_method(folders, lake, method: str, *, workers: int = 2, timeout_s: float = 1800) -> float:
    """``hstcr run`` (the real CLI, in a subprocess) on ``folders`` into ``lake``.

    ``method='auto'`` passes no ``--method``, so the CLI's own default is what is measured.
    Returns the wall time (s).
    """
    cmd = [str(Path(sys.executable).with_name("hstcr")), "run", *map(str, folders), "--lake",
           str(lake), "--workers", str(workers), "--quiet", "--json"]
    if method != "auto":
        cmd += ["--method", method]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if res.returncode != 0:
        raise RuntimeError(f"hstcr run --method {method} failed ({res.returncode}):\n"
                           f"{res.stderr[-2000:]}")
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- scoring


class _Pixels:
    """The fields :func:`match_to_truth` reads, for the truth or for a lake catalogue."""

    def __init__(self, table: pa.Table, energy: np.ndarray, chip_index: np.ndarray):
        pixels = table.column("pixels").combine_chunks()
        self.pixel_offsets = pixels.offsets.to_numpy().astype(np.int64)
        flat = pixels.flatten()
        self.pixel_x = flat.field("x").to_numpy()
        self.pixel_y = flat.field("y").to_numpy()
        self.pixel_e = flat.field("e").to_numpy()
        self.energy_e = np.asarray(energy, dtype=np.float32)
        self.chip_index = np.asarray(chip_index, dtype=np.int16)

    def __len__(self) -> int:
        return self.energy_e.size


def score_dark(catalog, truth: pa.Table, *, min_true_e: float = 300.0) -> dict:
    """Per-dark sums: found/true above ``min_true_e``, real/detected, and the energy ratios
    of the one-to-one matches above ``min_true_e`` against deposited and observed energy."""
    out = {"n_true": 0, "n_found": 0, "n_det": 0, "n_real": 0, "ratio_dep": [], "ratio_obs": []}
    for ci in np.unique(np.r_[truth.column("chip_index").to_numpy(), catalog.chip_index]):
        t = truth.filter(pc.equal(truth.column("chip_index"), int(ci)))
        tr = _Pixels(t, t.column("energy_e").to_numpy(), np.full(t.num_rows, ci))
        m = match_to_truth(catalog, tr, int(ci))
        big = m.extra["energy_true"] > min_true_e
        out["n_true"] += int(big.sum())
        out["n_found"] += int(m.found[big].sum())
        out["n_det"] += int(m.real.size)
        out["n_real"] += int(m.real.sum())
        ti, di = m.truth_matched, m.detection_matched
        keep = tr.energy_e[ti] > min_true_e
        ti, di = ti[keep], di[keep]
        e = catalog.energy_e[di].astype(np.float64)
        out["ratio_dep"].append(e / tr.energy_e[ti])
        obs = t.column("energy_observed_e").to_numpy()[ti].astype(np.float64)
        out["ratio_obs"].append(e / np.where(obs > 0, obs, np.nan))
    return out


def lake_catalog(lake, dataset: str, chip_index_of: dict):
    """The cosmic rays of ``dataset`` in ``lake`` as the fields :func:`match_to_truth` reads."""
    files = list(Path(lake, "cosmic_rays").rglob(f"{dataset}.parquet"))
    if not files:
        raise FileNotFoundError(f"{dataset}: no cosmic_rays file in {lake}")
    t = pq.read_table(files[0], columns=["chip", "energy_e", "pixels"])
    chips = np.array([chip_index_of[c] for c in t.column("chip").to_pylist()], dtype=np.int16)
    return _Pixels(t, t.column("energy_e").to_numpy(), chips)


def lake_exposures(lake) -> dict:
    """Exposure rows of ``lake`` by dataset."""
    rows = {}
    for f in Path(lake, "exposures").rglob("*.parquet"):
        for r in pq.read_table(f, columns=["dataset", "method", "group_size", "n_cr_corrected",
                                           "integration_time_s",
                                           "searched_area_cm2"]).to_pylist():
            rows[r["dataset"]] = r
    return rows


def astroscrappy_catalog(science_path, *, dq_path=None, sigclip: float = 4.5):
    """astroscrappy (L.A.Cosmic, one iteration) on each chip's e- frame, the mask labelled
    8-connected; energy: the e- of each blob above the chip's median."""
    import astroscrappy
    from scipy import ndimage

    from hstcr_common.load import load_dark

    dark = load_dark(str(science_path), dq=None if dq_path is None else str(dq_path))
    px, py, pe, offs, ei, ci = [], [], [], [np.zeros(1, np.int64)], [], []
    for k, chip in enumerate(dark.chips):
        sci = np.asarray(chip.science, dtype=np.float32)
        bad = (chip.dq & dark.detector.bad_mask_bits) != 0
        mask, _ = astroscrappy.detect_cosmics(sci, inmask=bad, gain=1.0,
                                              readnoise=float(chip.read_noise_e),
                                              sigclip=sigclip, objlim=5.0, niter=1,
                                              sepmed=True, cleantype="meanmask", verbose=False)
        lab, n = ndimage.label(mask & ~bad, structure=np.ones((3, 3), bool))
        y, x = np.nonzero(lab)
        order = np.argsort(lab[y, x], kind="stable")
        y, x = y[order], x[order]
        e = sci[y, x] - np.median(sci[~bad])
        sizes = np.bincount(lab[y, x], minlength=n + 1)[1:]
        px.append(x), py.append(y), pe.append(e)
        offs.append(offs[-1][-1] + np.cumsum(sizes))
        ei.append(np.bincount(lab[y, x], weights=e, minlength=n + 1)[1:])
        ci.append(np.full(n, k))
    cat = _Pixels.__new__(_Pixels)
    cat.pixel_x, cat.pixel_y = np.concatenate(px), np.concatenate(py)
    cat.pixel_e = np.concatenate(pe)
    cat.pixel_offsets = np.concatenate(offs).astype(np.int64)
    cat.energy_e = np.concatenate(ei).astype(np.float32)
    cat.chip_index = np.concatenate(ci).astype(np.int16)
    return cat


def _summary(parts: list[dict], rate: float) -> dict:
    dep = np.concatenate([r for p in parts for r in p["ratio_dep"]] or [np.zeros(0)])
    obs = np.concatenate([r for p in parts for r in p["ratio_obs"]] or [np.zeros(0)])
    n_true = sum(p["n_true"] for p in parts)
    n_det = sum(p["n_det"] for p in parts)

    def med(r):
        r = r[np.isfinite(r)]
        return float(np.median(np.abs(r - 1))) if r.size else float("nan")

    return {"completeness": sum(p["n_found"] for p in parts) / n_true if n_true else np.nan,
            "purity": sum(p["n_real"] for p in parts) / n_det if n_det else np.nan,
            "dE_dep": med(dep), "dE_obs": med(obs),
            "bias_dep": float(np.median(dep) - 1) if dep.size else np.nan,
            "bias_obs": float(np.nanmedian(obs) - 1) if obs.size else np.nan,
            "rate": rate, "n_det": n_det}


def score_case(folder, lake, *, astro_darks: int = 0) -> dict:
    """Scores of one case's darks from ``lake`` (and astroscrappy on its first
    ``astro_darks`` darks): one dict of metrics per method key."""
    folder = Path(folder)
    truth_all = pq.read_table(folder / "truth.parquet",
                              columns=["dataset", "chip", "chip_index", "energy_e",
                                       "energy_observed_e", "pixels"])
    texp = pq.read_table(folder / "truth_exposures.parquet").to_pylist()
    chip_index_of = {r["chip"]: r["chip_index"] for r in texp}
    datasets = sorted({r["dataset"] for r in texp})
    n_true = sum(r["n_cr"] for r in texp)
    t_area = {}
    for r in texp:
        t_area[r["dataset"]] = t_area.get(r["dataset"], 0.0) + r["integration_time_s"] * r[
            "area_cm2"]
    injected_rate = n_true / sum(t_area.values())
    exposures = lake_exposures(lake)
    parts, n_corr, t_a = [], 0.0, 0.0
    for ds in datasets:
        truth = truth_all.filter(pc.equal(truth_all.column("dataset"), ds))
        parts.append(score_dark(lake_catalog(lake, ds, chip_index_of), truth))
        row = exposures[ds]
        n_corr += row["n_cr_corrected"]
        t_a += row["integration_time_s"] * row["searched_area_cm2"]
    rate = n_corr / t_a
    out = _summary(parts, rate / injected_rate if injected_rate > 0 else np.nan)
    out["rate_abs"] = rate
    out["method_used"] = sorted({exposures[ds]["method"] for ds in datasets})
    out["group_size"] = sorted({exposures[ds]["group_size"] for ds in datasets})
    return out


def score_astroscrappy(folder, n_darks: int = 1) -> dict:
    """astroscrappy on the first ``n_darks`` darks of a case; the rate is the raw count
    (no coincidence correction) over the injected count."""
    folder = Path(folder)
    truth_all = pq.read_table(folder / "truth.parquet",
                              columns=["dataset", "chip", "chip_index", "energy_e",
                                       "energy_observed_e", "pixels"])
    texp = pq.read_table(folder / "truth_exposures.parquet").to_pylist()
    parts, n_det, n_true, t_a = [], 0, 0, 0.0
    for ds in sorted({r["dataset"] for r in texp})[:n_darks]:
        sci = [p for p in folder.glob(f"{ds}_*.fits")
               if not p.stem.endswith(("spt", "shm", "c1m"))][0]
        dq = folder / f"{ds}_c1m.fits"                 # WFPC2: the DQ is a file of its own
        cat = astroscrappy_catalog(sci, dq_path=dq if dq.exists() else None)
        truth = truth_all.filter(pc.equal(truth_all.column("dataset"), ds))
        parts.append(score_dark(cat, truth))
        n_det += len(cat)
        rows = [r for r in texp if r["dataset"] == ds]
        n_true += sum(r["n_cr"] for r in rows)
        t_a += sum(r["integration_time_s"] * r["area_cm2"] for r in rows)
    out = _summary(parts, n_det / n_true if n_true else np.nan)
    out["rate_abs"] = n_det / t_a
    return out


# --------------------------------------------------------------------------- report

METHODS = ("auto", "threshold", "stack")
_COLS = (("completeness", "compl", "{:.4f}"), ("purity", "purity", "{:.4f}"),
         ("dE_dep", "dE/dep", "{:.4f}"), ("dE_obs", "dE/obs", "{:.4f}"),
         ("rate", "rate", "{:.4f}"))


def format_table(detector: str, scores: dict, keys) -> str:
    """One table: rows cases, columns method x metric (dE: median |E/E_true - 1| against
    the deposited and against the observed energy; rate: corrected rate / injected)."""
    head = f"{'case':22s}" + "".join(
        f" | {k[:10]:^{len(_COLS) * 7 - 1}s}" for k in keys)
    sub = f"{'':22s}" + "".join(" | " + " ".join(f"{c[1]:>6s}" for c in _COLS) for _ in keys)
    lines = [f"== {detector} ==", head, sub]
    for case, by_key in scores.items():
        cells = []
        for k in keys:
            m = by_key.get(k)
            cells.append(" ".join(f"{c[2].format(m[c[0]]):>6s}"[-6:] if m else f"{'-':>6s}"
                                  for c in _COLS))
        lines.append(f"{case:22s} | " + " | ".join(cells))
    return "\n".join(lines)


def dense_limit(by_case: dict, key: str, tol: float = 0.02) -> str:
    """Largest density multiplier (of 1, 2, 3, 5) up to which the corrected rate of ``key``
    stays within ``tol`` of the injected rate."""
    mults = {"late-mission": 1, "late-mission-dense-2x": 2, "late-mission-dense-3x": 3,
             "late-mission-dense-5x": 5}
    ok = 0
    for case, mult in sorted(mults.items(), key=lambda kv: kv[1]):
        m = by_case.get(case, {}).get(key)
        if m is None or not abs(m["rate"] - 1) <= tol:
            break
        ok = mult
    return f"{ok}x" if ok else "<1x"


#: smaller chips where full frames are too slow for a ~20-minute run on two shared cores:
#: ACS/WFC and WFC3/UVIS one 1024 x 1024 corner per chip (split between two amplifiers
#: as the full chip is), the others full frames
QUICK_SHAPES = {"acs_wfc": (1024, 1024), "wfc3_uvis": (1024, 1024)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--detectors", nargs="+", default=list(CCDS))
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--full-frames", action="store_true",
                        help="full chips everywhere (default: QUICK_SHAPES)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--astroscrappy-darks", type=int, default=1,
                        help="darks per case searched by astroscrappy (0: none)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--seed", type=int, default=1300,
                        help="seed of the first sample (each detector and case its own)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    t_start = time.perf_counter()
    rows = write_condition_samples(out, args.detectors, n_darks=args.n, seed=args.seed,
                                   shapes=None if args.full_frames else QUICK_SHAPES)
    out.mkdir(parents=True, exist_ok=True)
    tag = "-".join(args.detectors)       # two runs with other detectors can share ``out``
    Path(out, f"cases-{tag}.json").write_text(json.dumps(rows, indent=1))
    for row in rows:
        print(f"{row['detector']:10s} {row['case']:24s} {row['darks']} darks "
              f"{row['injected']:8d} CRs  shape {row['shape'] or 'full'}  {row['seconds']:6.1f} s",
              flush=True)
    if args.generate_only:
        return
    results = {}
    keys = list(args.methods) + (["astroscrappy"] if args.astroscrappy_darks else [])
    for det in args.detectors:
        det_rows = [r for r in rows if r["detector"] == det]
        by_case = {r["case"]: {} for r in det_rows}
        for method in args.methods:
            lake = out / "lakes" / det / method
            wall = run_method([r["folder"] for r in det_rows], lake, method,
                              workers=args.workers)
            print(f"{det} {method}: hstcr run {wall:.0f} s", flush=True)
            for r in det_rows:
                by_case[r["case"]][method] = score_case(r["folder"], lake)
        if args.astroscrappy_darks:
            t0 = time.perf_counter()
            for r in det_rows:
                by_case[r["case"]]["astroscrappy"] = score_astroscrappy(
                    r["folder"], args.astroscrappy_darks)
            print(f"{det} astroscrappy: {time.perf_counter() - t0:.0f} s", flush=True)
        results[det] = by_case
        report_detector(det, by_case, keys)
    Path(out, f"scores-{tag}.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")


def report_detector(det: str, by_case: dict, keys) -> None:
    """Print the table of one detector, the zero-cosmic-ray flux and the density limit."""
    print("\n" + format_table(det, by_case, keys))
    used = {k: (m["method_used"], m["group_size"]) for k, m in
            by_case.get("late-mission", {}).items() if "method_used" in m}
    print(f"methods recorded (late-mission): {used}")
    zero = by_case.get("late-mission-zero-cr", {})
    print("zero cosmic rays, corrected rate as % of the real flux "
          f"({REFERENCE_CR_RATE_S_CM2} CR/s/cm2): " + ", ".join(
              f"{k} {100 * m['rate_abs'] / REFERENCE_CR_RATE_S_CM2:.2f}% ({m['n_det']} det.)"
              for k, m in zero.items()))
    print("rate within 2 % up to: " + ", ".join(
        f"{k} {dense_limit(by_case, k)}" for k in keys if k != "astroscrappy"))
    late = by_case.get("late-mission", {})
    print("late-mission median E/E_true - 1 (signed; deposited / observed): " + ", ".join(
        f"{k} {m['bias_dep']:+.4f} / {m['bias_obs']:+.4f}" for k, m in late.items()), flush=True)


if __name__ == "__main__":
    main()
