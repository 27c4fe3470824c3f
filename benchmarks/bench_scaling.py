"""What each step after the search costs: the frame, or the cosmic-ray pixels?

Issue 15 asks that labelling (the split into cosmic rays), the halo, the measurement and the
spill fit cost in proportion to the cosmic-ray pixels (~0.5% of a 1000 s ACS/WFC frame),
not the frame.  This measures it, on synthetic ACS/WFC chips (:func:`simulate_chip`: noise,
dark current, hot pixels, cosmic-ray tracks of the quiet-orbit spectrum):

* the same number of cosmic rays on frames of 1, 4 and 8 Mpx (the rate scaled by the area);
* the same 8 Mpx frame holding 2,500 to 20,000 cosmic rays.

For each, after ``threshold``'s search of the chip (:func:`.single.threshold_chip`, kept out
of the timing), the best of ``--repeat`` runs of

* ``label``   :func:`label_cosmic_rays` on the search's components (split, renumber, halo);
* ``measure`` :func:`measure_cosmic_rays` (moments, energy, box, symmetry);
* ``spill``   :func:`spill_correction` (the fit of the charge past the footprints' edges);
* ``count``   the catalogue's per-chip counts (:func:`.catalogue.searched_pixel_count`, a
  pass over the chip's bad-pixel mask: frame-bound by design, 1 byte per pixel);

beside a frame-bound baseline measured in the same run: ``scipy.ndimage.label`` of the
chip's detection mask (what every hysteresis detector, the bare reference of
``bench_throughput`` included, pays per frame).  It prints each step's time per frame
size and per cosmic-ray pixel, and the growth ratios: a step that follows the cosmic-ray
pixels grows ~1x when only the frame grows 8x, and ~8x when the cosmic rays do.

    .venv/bin/python benchmarks/bench_scaling.py [--repeat 5]
"""

from __future__ import annotations

import argparse

from scipy import ndimage

from hstcr_common.detect.catalogue import searched_pixel_count
from hstcr_common.detect.single import threshold_chip
from hstcr_common.instruments import get_detector
from hstcr_common.measure import EIGHT, label_cosmic_rays, measure_cosmic_rays, spill_correction
from hstcr_common.model import Chip, LabelParams, ThresholdParams
from hstcr_common.synthetic import simulate_chip

from _timing import best

EXPOSURE_S = 1000.0
STEPS = ("label", "measure", "spill", "count")


def chip_with(det, shape: tuple[int, int], n_cosmic_rays: int, seed: int) -> Chip:
    """A synthetic chip of ``shape`` holding ~``n_cosmic_rays`` (the rate set by its area)."""
    area_cm2 = det.pixel_area_cm2 * shape[0] * shape[1]
    truth = simulate_chip(det, shape=shape, exposure_s=EXPOSURE_S, rng=seed,
                          fixed_pattern_seed=1,
                          cr_rate_per_s_cm2=n_cosmic_rays / (EXPOSURE_S * area_cm2))
    return Chip("WFC1", 1, science=truth.science_e, dq=truth.dq, gain=2.0,
                read_noise_e=truth.read_noise_e)


def measure_steps(det, chip: Chip, repeat: int) -> dict:
    """Times (s) of the steps after the search, and the frame-bound baseline."""
    found = threshold_chip(chip, det, ThresholdParams())
    params = LabelParams()

    def label():
        return label_cosmic_rays(None, found.image_e, params=params, noise_e=found.noise_e,
                                 background_e=found.background_e, halo_exclude=found.bad,
                                 components=found.mask, saturated=found.saturated)

    labelled = label()
    n = labelled.n

    def measure():
        return measure_cosmic_rays(labelled, n, found.image_e, background_e=found.background_e)

    def spill():
        return spill_correction(labelled.idx, labelled.pixel_label, labelled.is_core, n,
                                found.image_e, found.background_e, bad=found.bad,
                                n_merged=labelled.n_merged, saturated=labelled.saturated,
                                values_e=labelled.values_against(found.background_e))

    detected = found.mask.label_image != 0
    out = {"frame_px": chip.science.size, "n_cr": n, "cr_px": int(labelled.idx.size),
           "label": best(label, repeat), "measure": best(measure, repeat),
           "spill": best(spill, repeat),
           "count": best(lambda: searched_pixel_count(found.bad), repeat),
           "ndimage.label": best(lambda: ndimage.label(detected, structure=EIGHT), repeat)}
    return out


def growth(a: dict, b: dict, key: str) -> float:
    return b[key] / a[key]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    det = get_detector("acs_wfc")

    print("synthetic ACS/WFC chips, 1000 s; best of", args.repeat, "runs per step (ms)\n")
    header = (f"{'frame':>11s} {'Mpx':>5s} {'CRs':>7s} {'CR px':>8s} "
              + " ".join(f"{s:>8s}" for s in STEPS) + f" {'ndimage.label':>14s}")
    rows = {}
    print("the same cosmic rays, growing frames:")
    print(header)
    fixed_cr = [(1024, 1024), (2048, 2048), (2048, 4096)]
    for k, shape in enumerate(fixed_cr):
        r = measure_steps(det, chip_with(det, shape, 5000, seed=10 + k), args.repeat)
        rows[("frame", shape)] = r
        _print_row(f"{shape[0]}x{shape[1]}", r)
    print("\nthe same 2048x4096 frame, growing numbers of cosmic rays:")
    print(header)
    counts = [2500, 5000, 10000, 20000]
    for k, n in enumerate(counts):
        r = measure_steps(det, chip_with(det, (2048, 4096), n, seed=20 + k), args.repeat)
        rows[("cr", n)] = r
        _print_row("2048x4096", r)

    small, large = rows[("frame", fixed_cr[0])], rows[("frame", fixed_cr[-1])]
    few, many = rows[("cr", counts[0])], rows[("cr", counts[-1])]
    frame_x = large["frame_px"] / small["frame_px"]
    cr_x = many["cr_px"] / few["cr_px"]
    print("\ngrowth of each step's time (a step following the cosmic-ray pixels grows with "
          "the second column, not the first):")
    print(f"{'step':>14s} {'frame x' + format(frame_x, '.1f'):>12s} "
          f"{'CR px x' + format(cr_x, '.1f'):>12s} {'us per 1000 CR px':>18s} {'ms per Mpx':>11s}")
    for step in STEPS + ("ndimage.label",):
        per_cr = 1e6 * many[step] / (many["cr_px"] / 1000)
        per_mpx = 1e3 * many[step] / (many["frame_px"] / 1e6)
        print(f"{step:>14s} {growth(small, large, step):12.2f} {growth(few, many, step):12.2f} "
              f"{per_cr:18.1f} {per_mpx:11.2f}")
    sparse = sum(many[s] for s in ("label", "measure", "spill"))
    print(f"\nlabel + measure + spill on the 20,000-CR frame: {1e3 * sparse:.1f} ms = "
          f"{sparse / many['ndimage.label']:.2f}x one ndimage.label of the same frame "
          f"(the frame-bound baseline); at 1 Mpx -> 8 Mpx with the same cosmic rays: "
          f"{sum(large[s] for s in ('label', 'measure', 'spill')) / sum(small[s] for s in ('label', 'measure', 'spill')):.2f}x "
          f"against ndimage.label's {growth(small, large, 'ndimage.label'):.2f}x")


def _print_row(name: str, r: dict) -> None:
    print(f"{name:>11s} {r['frame_px'] / 1e6:5.1f} {r['n_cr']:7,d} {r['cr_px']:8,d} "
          + " ".join(f"{1e3 * r[s]:8.1f}" for s in STEPS) + f" {1e3 * r['ndimage.label']:14.1f}")


if __name__ == "__main__":
    main()
