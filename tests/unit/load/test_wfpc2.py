"""WFPC2: c0m + c1m as image extensions, cubes and random groups; a c0m without its DQ."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from hstcr_common.load import load_dark
from hstcr_common.model import HstcrError
from unit.load.mast_files import spt_bytes, to_bytes, wfpc2_cube, wfpc2_mef


UTC = dt.timezone.utc


def check_wfpc2(dark):
    assert dark.instrument == "wfpc2" and dark.dataset == "u2eq0201t"
    assert dark.science_suffix == "c0m"
    assert [c.name for c in dark.chips] == ["PC1", "WF2", "WF3", "WF4"]
    assert dark.date_obs == dt.datetime(1994, 5, 19, 15, 41, 16, tzinfo=UTC)
    assert dark.month == "1994-05"
    assert dark.ccdgain == 7.0 and dark.gains == {"ATODGAIN": 7.0}
    for i, chip in enumerate(dark.chips):
        assert chip.shape == (800, 800) and chip.gain == 7.0
        assert np.all(chip.science == 7.0 * (i + 1))
        assert chip.dq[i, i] == 2 ** i and np.count_nonzero(chip.dq) == 1


def test_wfpc2_image_extensions_with_c1m():
    dark = load_dark(wfpc2_mef(), dq=wfpc2_mef(c1m=True), support=spt_bytes())
    check_wfpc2(dark)
    assert dark.header["layout"] == "image_extensions"
    assert dark.support_header is not None


@pytest.mark.parametrize("groups", [False, True], ids=["cube", "random_groups"])
def test_wfpc2_group_forms(groups):
    dark = load_dark(wfpc2_cube(groups=groups), dq=wfpc2_cube(c1m=True, groups=groups))
    check_wfpc2(dark)
    assert dark.header["layout"] == "groups"


def test_wfpc2_c0m_with_group_form_c1m_and_file_inputs(tmp_path):
    sci = tmp_path / "u2eq0201t_c0m.fits"
    sci.write_bytes(wfpc2_mef())
    with open(tmp_path / "c1m.fits", "wb") as f:
        f.write(wfpc2_cube(c1m=True))
    with open(tmp_path / "c1m.fits", "rb") as dq:
        dark = load_dark(Path(sci), dq=dq)
    check_wfpc2(dark)
    assert dark.source == str(sci)


def test_wfpc2_c0m_with_embedded_dq_extensions():
    with (fits.open(io.BytesIO(wfpc2_mef())) as sci,
          fits.open(io.BytesIO(wfpc2_mef(c1m=True))) as dq):
        hdus = [h.copy() for h in sci]
        for h in dq[1:]:
            ext = h.copy()
            ext.header["EXTNAME"] = "DQ"
            hdus.append(ext)
        data = to_bytes(hdus)
    check_wfpc2(load_dark(data, source="u2eq0201t_c0m.fits"))


def test_wfpc2_without_c1m_is_refused():
    with pytest.raises(HstcrError, match=r"u2eq.*c0m.*needs its c1m"):
        load_dark(wfpc2_mef(), source="u2eq0201t_c0m.fits")
