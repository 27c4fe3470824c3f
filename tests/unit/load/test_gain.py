"""Units and gains: the amplifier rule, counts to electrons, per-second units, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from hstcr_common.instruments import get_detector
from hstcr_common.load import chip_gain_columns, load_dark
from hstcr_common.model import HstcrError
from unit.load.mast_files import acs_wfc_flt, hrc_flt


def test_chip_gain_columns_rule():
    wfc = get_detector("acs_wfc")
    assert chip_gain_columns(wfc, 1, "ABCD", 4096) == [("A", slice(0, 2048)),
                                                        ("B", slice(2048, 4096))]
    assert chip_gain_columns(wfc, 2, "ABCD", 4096) == [("C", slice(0, 2048)),
                                                        ("D", slice(2048, 4096))]
    assert chip_gain_columns(wfc, 1, "AD", 4096) == [("A", slice(0, 4096))]
    assert chip_gain_columns(wfc, 2, "AD", 4096) == [("D", slice(0, 4096))]
    assert chip_gain_columns(wfc, 2, "A", 4096) == [("A", slice(0, 4096))]
    assert chip_gain_columns(wfc, 2, "", 4096) == [("C", slice(0, 2048)),
                                                    ("D", slice(2048, 4096))]
    assert chip_gain_columns(get_detector("acs_hrc"), 1, "C", 1024) == [("C", slice(0, 1024))]
    # a subarray starting at full-chip column x0: the boundary (2048) moves to 2048 - x0
    assert chip_gain_columns(wfc, 1, "ABCD", 512, x0=1948) == [("A", slice(0, 100)),
                                                               ("B", slice(100, 512))]
    assert chip_gain_columns(wfc, 2, "ABCD", 512, x0=0) == [("C", slice(0, 512))]
    assert chip_gain_columns(wfc, 2, "ABCD", 512, x0=3584) == [("D", slice(0, 512))]


def test_acs_wfc_counts_use_each_amplifiers_gain():
    gains = {"ATODGNA": 1.0, "ATODGNB": 2.0, "ATODGNC": 3.0, "ATODGND": 4.0}
    dark = load_dark(acs_wfc_flt(bunit="COUNTS", values=(10.0, 10.0), primary=gains))
    wfc2, wfc1 = dark.chips
    assert dark.bunit == "COUNTS"
    assert np.all(wfc1.science[:, :2048] == 10.0) and np.all(wfc1.science[:, 2048:] == 20.0)
    assert np.all(wfc2.science[:, :2048] == 30.0) and np.all(wfc2.science[:, 2048:] == 40.0)
    assert (wfc1.gain, wfc2.gain) == (1.5, 3.5)
    assert dark.support_header is None
    assert dark.support_note == "no support file (spt/shm) given"


def test_acs_wfc_two_amp_readout_and_per_second_units():
    over = {"CCDAMP": "BC", "ATODGNA": 0.0, "ATODGNB": 2.0, "ATODGNC": 3.0, "ATODGND": 0.0,
            "EXPTIME": 10.0}
    dark = load_dark(acs_wfc_flt(bunit="COUNTS/S", values=(1.0, 1.0), primary=over))
    wfc2, wfc1 = dark.chips
    assert np.all(wfc1.science == 20.0)  # 1 DN/s x 10 s x gain B
    assert np.all(wfc2.science == 30.0)  # gain C
    assert (wfc1.gain, wfc2.gain) == (2.0, 3.0)


def test_counts_without_any_gain_and_strange_bunit():
    with pytest.raises(HstcrError, match="j6me13qhq_flt.fits: no usable gain"):
        load_dark(hrc_flt(ATODGNC=0.0, CCDGAIN=0.0), source="j6me13qhq_flt.fits")
    with pytest.raises(HstcrError, match="j6me13qhq_flt.fits: unsupported BUNIT 'MJY/SR'"):
        load_dark(hrc_flt(BUNIT="MJY/SR"), source="j6me13qhq_flt.fits")
