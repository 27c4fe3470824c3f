"""Reading a dark by rows: the amplifier segments of a subarray follow its place on the chip."""

from __future__ import annotations

import glob

from hstcr_common.detect import open_dark_rows, rows_of_dark
from hstcr_common.load import load_dark
from hstcr_common.synthetic import write_sample


def test_a_subarray_across_the_amplifier_boundary_has_a_level_per_amplifier(tmp_path):
    # a 512-column frame cut from the middle of an ACS/WFC chip (LTV1 = -1792): amplifiers C
    # and D each read 256 of its columns.  Both readers said one amplifier (the boundary was
    # taken at column 2048 of the array), so a step between their offsets stayed in every
    # energy (+-1.9 e- per pixel on the benchmark's post-flash darks: median |dE| 2.3% -> 1.6%)
    write_sample("acs_wfc", 1, tmp_path, seed=3, shape=(256, 512))
    science = glob.glob(str(tmp_path / "*_fl?.fits"))[0]
    dark = load_dark(science)
    assert dark.subarray_origin == (1792, 0)
    for rows in (open_dark_rows({"science": science}), rows_of_dark(dark)):
        for chip in rows.chips:
            assert [(s.start, s.stop) for s in chip.segments] == [(0, 256), (256, 512)]
    # a frame at the chip's left edge is read by one amplifier
    full = load_dark(science)
    full.subarray_origin = (0, 0)
    assert [(s.start, s.stop) for s in rows_of_dark(full).chips[0].segments] == [(0, 512)]
