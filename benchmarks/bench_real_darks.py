"""Darks as they really are (issue 13): the generator of the per-condition benchmark samples.

For every CCD detector and every condition of issue 13's table this writes one sample (a
group of darks of one set-up sharing one hot-pixel pattern, as ``stack`` needs) with its
truth: ``truth.parquet`` (cosmic rays, with ``energy_observed_e`` and ``saturated``),
``hot_pixels.parquet`` and ``manifest.jsonl``, ready for ``hstcr run --manifest``.  Each
condition switches on one departure of the late-mission level alone (so a failure names its
cause), then all of them together, then the zero-cosmic-ray and dense cases.  The scoring is
written elsewhere; run this part alone with

    python benchmarks/bench_real_darks.py --out /tmp/real-darks [--detectors acs_hrc stis_ccd]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from hstcr_common.model import REFERENCE_CR_RATE_S_CM2
from hstcr_common.synthetic import DarkConditions, write_sample

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
            ("late-mission-dense-2x", 2.0), ("late-mission-dense-5x", 5.0)])


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


def write_condition_samples(out, detectors=CCDS, *, n_darks: int = 3, seed: int = 1300,
                            start: str = "2021-06-02", shape=None) -> list[dict]:
    """Write one sample per detector and case under ``out/<detector>/<case>/``.

    Parameters
    ----------
    out : path
    detectors : iterable of str
    n_darks : int
        Darks per sample (one set-up, one hot-pixel pattern).
    seed : int
        Seed of the first sample; each (detector, case) gets its own.
    start : str
        First observation (clipped to the detector's active years by its own dates for
        ACS/HRC and WFPC2, which ended before 2021).
    shape : (ny, nx), optional
        Smaller chips for a quick run; None: full frames.

    Returns
    -------
    list of dict
        One row per sample: detector, case, folder, darks, injected cosmic rays, seconds.
    """
    from hstcr_common.instruments import get_detector

    rows = []
    for d, det_id in enumerate(detectors):
        det = get_detector(det_id)
        end = det.active[-1][1]
        first = start if end is None or end.isoformat() > start else (
            f"{end.year - 1}-{end.month:02d}-02")
        for c, (case, multiplier) in enumerate(CASES):
            folder = Path(out) / det_id / case
            t0 = time.perf_counter()
            darks = write_sample(det_id, n_darks, folder, seed=seed + 100 * d + c, start=first,
                                 cr_rate_per_s_cm2=REFERENCE_CR_RATE_S_CM2 * multiplier,
                                 conditions=conditions_for(det_id, case), shape=shape)
            rows.append({"detector": det_id, "case": case, "folder": str(folder),
                         "darks": len(darks),
                         "injected": sum(x.exposure["n_cr"] for x in darks),
                         "rate_multiplier": multiplier,
                         "seconds": round(time.perf_counter() - t0, 1)})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--detectors", nargs="+", default=list(CCDS))
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--shape", type=int, nargs=2, default=None)
    args = parser.parse_args(argv)
    rows = write_condition_samples(args.out, args.detectors, n_darks=args.n,
                                   shape=tuple(args.shape) if args.shape else None)
    Path(args.out, "cases.json").write_text(json.dumps(rows, indent=1))
    for row in rows:
        print(f"{row['detector']:10s} {row['case']:24s} {row['darks']} darks "
              f"{row['injected']:8d} CRs  {row['seconds']:6.1f} s")


if __name__ == "__main__":
    main()
