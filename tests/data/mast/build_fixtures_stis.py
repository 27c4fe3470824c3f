"""Writes the replayed MAST responses for STIS/CCD 2019-06 (tests/test_plan_run_e2e.py).

Run once from this folder (``python build_fixtures_stis.py``); the JSON is committed.  Same
Portal API format as build_fixtures.py.  The flt and spt sizes are those of the synthetic
STIS/CCD files hstcr writes (``write_dark("stis_ccd", ...)``), measured here, so the
planner's full-frame size rule treats the test's uploaded objects exactly as it treats the
listed products.

Scenario: three full-frame 1100 s darks (flt + raw + spt) and one 1024x512 subarray dark
(dropped by the size rule, never uploaded).  Rootnames and obsids are invented.
"""

import datetime as dt
import tempfile
from pathlib import Path

from build_fixtures import OBS_FIELDS, PRODUCT_FIELDS, obs, page, prod, write

from hstcr_common.synthetic import write_dark

PROJECT = "CALSTIS"
#: obsid, rootname, t_min (MJD), exptime (s), subarray
DARKS = [
    ("2005600101", "oe3a01abq", 58636.12340, 1100.0, False),
    ("2005600102", "oe3a01acq", 58645.50211, 1100.0, False),
    ("2005600103", "oe3a02x1q", 58650.00420, 1100.0, True),    # 1024x512 subarray
    ("2005600104", "oe3a03d4q", 58660.25000, 1100.0, False),
]


def synthetic_sizes() -> dict[str, int]:
    """Bytes of a synthetic full-frame STIS/CCD flt and spt, as the test uploads them."""
    with tempfile.TemporaryDirectory() as tmp:
        dark = write_dark("stis_ccd", tmp, seed=0, dataset="oe3a01abq",
                          date=dt.datetime(2019, 6, 2, 2, 57, 41))
        return {"flt": Path(dark.paths["science"]).stat().st_size,
                "spt": Path(dark.paths["support"]).stat().st_size}


def stis_ccd():
    sizes = synthetic_sizes()
    flt, spt = sizes["flt"], sizes["spt"]
    sub_flt = 1024 * 512 * 10 + (flt - 1024 * 1024 * 10)     # half the rows, same headers
    raw, sub_raw = 1024 * 1062 * 2 + 20 * 2880, 1024 * 531 * 2 + 20 * 2880
    rows = [obs(o, r, "STIS/CCD", t, e, proposal="15543", title="CCD Dark Monitor-Part 1")
            for o, r, t, e, _ in DARKS]
    write("filtered_stis_ccd_2019-06_p1.json", page(rows, OBS_FIELDS, 1, 2000, len(rows)))
    products = []
    for obsid, root, _, _, sub in DARKS:
        for suffix, size in (("flt", sub_flt if sub else flt), ("raw", sub_raw if sub else raw), ("spt", spt)):
            row = prod(obsid, root, f"{root}_{suffix}.fits", size, proposal="15543")
            row["project"] = PROJECT
            products.append(row)
    write("products_stis_ccd_2019-06.json", page(products, PRODUCT_FIELDS, 1, 50000, len(products)))


if __name__ == "__main__":
    stis_ccd()
