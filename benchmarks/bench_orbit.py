"""Cost of HST's orbit track per dark, and of its parts.

Run:  .venv/bin/python benchmarks/bench_orbit.py [--repeat N]

Prints, for the real STIS element sets in ../shared/fixtures/hst/stis_ccd:
* inertial positions: hstcr's vectorised model vs calcos' HSTOrbit.getPos called per sample
  (the baseline, measured in the same run) -- ratio and max |difference|;
* one full track (positions + astropy GCRS->ITRS->WGS84 + IGRF |B| + dipole latitude) for a
  1100-s and an 1800-s exposure, with the time spent in each stage, against the 0.1 s budget.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from hstcr_common.ephemeris import geomag
from hstcr_common.ephemeris import orbit

from _timing import median_time

SHARED = Path(os.environ.get("HSTCR_SHARED", Path(__file__).resolve().parents[2] / "shared"))
FIXTURES = SHARED / "fixtures" / "hst" / "stis_ccd"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    from calcos.orbit import HSTOrbit

    sets = []
    for spt in sorted(FIXTURES.glob("*_spt.fits")):
        start = fits.getheader(spt.with_name(spt.name.replace("_spt", "_raw")), 1)["EXPSTART"]
        sets.append((spt, orbit.OrbitalElements.from_header(fits.getheader(spt)), start))
    print(f"{len(sets)} real element sets from {FIXTURES}")

    # warm-up: astropy's IERS tables and ppigrf/pandas load once per process
    t0 = time.perf_counter()
    orbit.track(sets[0][1], sets[0][2], sets[0][2] + 0.01)
    print(f"first track in a process (loads IERS tables, pandas, IGRF file): {time.perf_counter() - t0:.2f} s")

    # positions: vectorised vs calcos per sample
    n = 1441  # a day at one-minute steps
    worst = 0.0
    t_ours, t_calcos = [], []
    for spt, elements, start in sets:
        mjd = start + np.arange(n) / 1440.0
        reference = HSTOrbit(str(spt))
        t_ours.append(median_time(lambda: orbit.hst_position_gcrs(elements, mjd), max(3, args.repeat // 4)))
        t0 = time.perf_counter()
        theirs = np.array([reference.getPos(t)[0] for t in mjd]) * 1000.0
        t_calcos.append(time.perf_counter() - t0)
        worst = max(worst, float(np.abs(orbit.hst_position_gcrs(elements, mjd) - theirs).max()))
    ours_s, calcos_s = sum(t_ours), sum(t_calcos)
    print(
        f"positions, {len(sets)} x {n} samples: hstcr {ours_s * 1e3:.2f} ms, calcos getPos loop "
        f"{calcos_s * 1e3:.1f} ms -> {calcos_s / ours_s:.0f}x faster; max |diff| {worst:.2e} m"
    )

    # one track per dark, and its stages
    for exptime in (1100.0, 1800.0):
        spt, elements, start = sets[2]
        end = start + exptime / 86400.0
        full = median_time(lambda: orbit.track(elements, start, end), args.repeat)
        tr = orbit.track(elements, start, end)
        mjd = tr.time_mjd
        pos = orbit.hst_position_gcrs(elements, mjd)
        mid = tr.time[len(tr) // 2]
        stages = {
            "positions": median_time(lambda: orbit.hst_position_gcrs(elements, mjd), args.repeat),
            "astropy GCRS->ITRS->WGS84": median_time(lambda: orbit.geodetic_from_gcrs(pos, mjd), args.repeat),
            "IGRF |B| (ppigrf)": median_time(
                lambda: geomag.field_strength_nt(tr.latitude_deg, tr.longitude_deg, tr.altitude_km, mid),
                args.repeat,
            ),
            "dipole latitude": median_time(
                lambda: geomag.geomagnetic_latitude_deg(tr.latitude_deg, tr.longitude_deg, mid, tr.altitude_km),
                args.repeat,
            ),
        }
        detail = ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in stages.items())
        print(
            f"track of a {exptime:.0f}-s dark ({len(tr)} samples): {full * 1e3:.1f} ms "
            f"= {full / 0.1:.2f} of the 0.1 s budget [{detail}]"
        )


if __name__ == "__main__":
    main()
