"""Loading each CCD product to electrons, and every shape or extension refusal."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from hstcr_common.instruments import get_detector
from hstcr_common.load import load_dark
from hstcr_common.model import Dark, HstcrError
from unit.load.mast_files import (
    STIS_TIMES,
    acs_primary,
    acs_wfc_flt,
    hrc_flt,
    single_chip_file,
    spt_bytes,
    stis_primary,
    two_chip_file,
)


UTC = dt.timezone.utc


def test_acs_wfc_flt_in_electrons():
    dark = load_dark(acs_wfc_flt(dq_values=(0, 16)), support=spt_bytes(),
                     source="s3://stpubdata/hst/public/j8xi/j8xi01abq/j8xi01abq_flt.fits")
    assert isinstance(dark, Dark)
    assert dark.instrument == "acs_wfc" and dark.dataset == "j8xi01abq"
    assert dark.science_suffix == "flt" and dark.bunit == "ELECTRONS"
    assert [c.name for c in dark.chips] == ["WFC2", "WFC1"]
    assert [c.ccdchip for c in dark.chips] == [2, 1]
    for chip, value, flag in zip(dark.chips, (5.0, 7.0), (0, 16)):
        assert chip.science.dtype == np.float32 and chip.shape == (2048, 4096)
        assert np.all(chip.science == value)  # electrons: no gain applied
        assert chip.dq.dtype == np.uint16 and np.all(chip.dq == flag)
    assert dark.chips[0].gain == pytest.approx((2.017 + 2.0109) / 2)
    assert dark.chips[1].read_noise_e == pytest.approx(4.1)
    assert dark.date_obs == dt.datetime(2019, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert dark.month == "2019-03"
    assert dark.expstart_mjd == 58546.21258102 and dark.expend_mjd == 58546.22415509
    assert (dark.exptime_s, dark.darktime_s, dark.flashdur_s) == (1000.0, 1001.5, 0.3)
    assert dark.ccdamp == "ABCD" and dark.ccdgain == 2.0
    assert dark.gains["ATODGNB"] == 1.886
    assert dark.support_header["HSTHORB"] == 2904.6 and dark.support_note == ""
    assert dark.source.startswith("s3://")
    assert dark.header["CCDOFSTA"] == 3 and dark.header["TARGNAME"] == "DARK"
    assert dark.header["IMAGETYP"] == "DARK" and dark.header["n_nonfinite"] == 0
    assert dark.subarray is False


def test_wfc3_uvis_flt():
    primary = acs_primary(INSTRUME="WFC3", DETECTOR="UVIS", ROOTNAME="IBXD01AAQ",
                          FILENAME="ibxd01aaq_flc.fits", ATODGNA=1.56, ATODGNB=1.56,
                          ATODGNC=1.56, ATODGND=1.56, CCDGAIN=1.5)
    dark = load_dark(two_chip_file(primary, (2051, 4096), "ELECTRONS", values=(2.0, 3.0)))
    assert dark.instrument == "wfc3_uvis" and dark.science_suffix == "flc"
    assert [c.name for c in dark.chips] == ["UVIS2", "UVIS1"]
    assert dark.chips[1].shape == (2051, 4096) and np.all(dark.chips[1].science == 3.0)
    assert dark.chips[0].gain == pytest.approx(1.56)


def test_acs_hrc_counts_nonfinite_pixels_flagged():
    sci = np.full((1024, 1024), 3.0, np.float32)
    sci[10, 20] = np.nan
    sci[5, 6] = np.inf
    dq = np.zeros((1024, 1024), np.int16)
    dq[5, 6] = 16
    dark = load_dark(hrc_flt(sci, dq, ATODGNC=2.2))
    (chip,) = dark.chips
    assert dark.instrument == "acs_hrc" and chip.name == "HRC"
    assert chip.gain == pytest.approx(2.2)
    assert chip.science[0, 0] == pytest.approx(6.6)
    assert chip.science[10, 20] == 0.0 and chip.science[5, 6] == 0.0
    assert chip.dq[10, 20] == 4 and chip.dq[5, 6] == 16 | 4
    assert np.count_nonzero(chip.dq) == 2
    assert dark.header["n_nonfinite"] == 2
    assert np.all(np.isfinite(chip.science))
    assert dark.flashdur_s == 0.0  # not applicable to HRC


@pytest.mark.parametrize("suffix", ["flt", "crj"])
def test_stis_flt_and_crj_times_in_sci_header(suffix):
    sci = np.full((1024, 1024), 2.0, np.float32)
    data = single_chip_file(stis_primary(suffix=suffix, atodgain=1.0), sci,
                            np.zeros((1024, 1024), np.int16), {"BUNIT": "COUNTS", **STIS_TIMES})
    dark = load_dark(data)
    assert dark.instrument == "stis_ccd" and dark.science_suffix == suffix
    assert dark.date_obs == dt.datetime(2012, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert dark.exptime_s == 1100.0 and dark.expstart_mjd == 56053.29732639
    (chip,) = dark.chips
    assert chip.name == "CCD" and np.all(chip.science == 2.0) and chip.gain == 1.0
    assert dark.header["n_imsets"] == 1 and dark.header["TEXPTIME"] == 1100.0


def test_stis_raw_is_trimmed_bias_subtracted_and_uses_ccdgain():
    raw = np.full((1044, 1062), 1500, np.uint16)  # bias level everywhere
    raw[0:1024, 19:1043] = 1510  # science region: 10 DN above the overscan bias
    raw[100, 19 + 200] = 1600  # a hit at science pixel (100, 200)
    cards = {"BUNIT": "COUNTS", "LTV1": 19.0, "LTV2": 0.0, **STIS_TIMES}
    data = single_chip_file(stis_primary(suffix="raw", atodgain=0.0), raw, None, cards,
                            n_imsets=3, second_value=9999)
    dark = load_dark(data, source="obrv1234q_raw.fits")
    (chip,) = dark.chips
    assert chip.shape == (1024, 1024) and chip.dq.shape == (1024, 1024)
    assert chip.gain == 4.0  # ATODGAIN 0 -> CCDGAIN
    assert chip.science[100, 200] == pytest.approx(400.0)  # (1600 - 1500) DN x 4 e-/DN
    assert np.count_nonzero(chip.science != 40.0) == 1  # first imset only (second is 9999)
    assert dark.header["n_imsets"] == 3 and dark.header["overscan_bias_dn"] == 1500.0
    assert dark.header["gain_fallback"] == ["ATODGAIN->CCDGAIN"]
    assert dark.science_suffix == "raw"


def test_stis_raw_with_impossible_offsets_is_refused():
    raw = np.zeros((1044, 1062), np.uint16)
    cards = {"BUNIT": "COUNTS", "LTV1": 50.0, "LTV2": 0.0, **STIS_TIMES}
    data = single_chip_file(stis_primary(suffix="raw", atodgain=0.0), raw, None, cards)
    with pytest.raises(HstcrError, match="raw.fits: raw frame 1044x1062.*science region"):
        load_dark(data, source="obrv1234q_raw.fits")


def test_missing_dq_and_sci_extensions():
    with pytest.raises(HstcrError, match=r"j8xi01abq_flt.fits: missing DQ extension for SCI 1"):
        load_dark(acs_wfc_flt(with_dq=False, primary={"NEXTEND": 4}),
                  source="j8xi01abq_flt.fits")
    with pytest.raises(HstcrError, match=r"j8xi01abq_flt.fits: no SCI extension"):
        load_dark(acs_wfc_flt(with_sci=False, primary={"NEXTEND": 4}),
                  source="j8xi01abq_flt.fits")


def test_subarrays_load_as_read():
    """SUBARRAY=T, or a chip smaller than the table's: loaded in its own frame, not refused."""
    dark = load_dark(hrc_flt(SUBARRAY=True), source="j6me13qhq_flt.fits")
    assert dark.subarray is True and dark.subarray_origin is None  # no LTV in this header
    assert dark.subarray_name == "1024x1024" and dark.chips[0].shape == (1024, 1024)
    small = single_chip_file(acs_primary(DETECTOR="HRC", SUBARRAY=False, NEXTEND=3,
                                         APERTURE="HRC-512"),
                             np.full((512, 1024), 2.0, np.float32),
                             np.zeros((512, 1024), np.int16),
                             {"BUNIT": "ELECTRONS", "LTV1": 0.0, "LTV2": -256.0})
    dark = load_dark(small, source="small_flt.fits")
    assert dark.subarray is True and dark.subarray_name == "HRC-512"
    assert dark.subarray_origin == (0, 256) and dark.aperture == "HRC-512"
    assert [c.shape for c in dark.chips] == [(512, 1024)]
    assert np.all(dark.chips[0].science == 2.0)
    wide = single_chip_file(acs_primary(DETECTOR="HRC", NEXTEND=3),
                            np.zeros((512, 1100), np.float32), np.zeros((512, 1100), np.int16),
                            {"BUNIT": "ELECTRONS"})
    with pytest.raises(HstcrError, match="w_flt.fits: chip HRC is 512x1100: larger than the "
                                         "1024x1024 frame in one axis"):
        load_dark(wide, source="w_flt.fits")


def test_one_chip_acs_wfc_subarray_across_the_amplifier_boundary():
    """An ACS/WFC subarray holds one chip (CCDCHIP 1: amplifiers A and B); the A|B boundary
    (column 2048 of the full chip) falls at column 2048 - x0 of the subarray."""
    primary = acs_primary(SUBARRAY=True, APERTURE="WFC1-CTE", NEXTEND=3, CCDAMP="AB")
    data = single_chip_file(primary, np.full((512, 512), 10.0, np.float32),
                            np.zeros((512, 512), np.int16),
                            {"BUNIT": "COUNTS", "CCDCHIP": 1, "LTV1": -1948.0, "LTV2": -1000.0})
    dark = load_dark(data, source="jsub01abq_flt.fits")
    assert [c.name for c in dark.chips] == ["WFC1"]
    assert dark.subarray_origin == (1948, 1000) and dark.subarray_name == "WFC1-CTE"
    science = dark.chips[0].science
    assert np.all(science[:, :100] == np.float32(10.0 * 2.02))    # amplifier A
    assert np.all(science[:, 100:] == np.float32(10.0 * 1.886))   # amplifier B
    assert dark.chips[0].gain == pytest.approx((2.02 + 1.886) / 2)
    assert dark.chips[0].read_noise_e == pytest.approx((4.0 + 4.2) / 2)
    full = acs_primary(NEXTEND=3)  # a full-frame product must hold both chips
    with pytest.raises(HstcrError, match="ACS/WFC needs 2 SCI extensions"):
        load_dark(single_chip_file(full, np.zeros((2048, 4096), np.float32),
                                   np.zeros((2048, 4096), np.int16),
                                   {"BUNIT": "ELECTRONS", "CCDCHIP": 1}), source="x_flt.fits")


def test_cte_corrected_from_the_suffix_or_pctecorr():
    assert load_dark(acs_wfc_flt(), source="j8xi01abq_flt.fits").cte_corrected is False
    assert load_dark(acs_wfc_flt(), source="j8xi01abq_flc.fits").cte_corrected is True
    flt = acs_wfc_flt(primary={"PCTECORR": "COMPLETE"})
    assert load_dark(flt, source="j8xi01abq_flt.fits").cte_corrected is True
    omitted = acs_wfc_flt(primary={"PCTECORR": "OMIT"})
    assert load_dark(omitted, source="j8xi01abq_flt.fits").cte_corrected is False


def test_binned_and_odd_shapes_are_refused():
    data = single_chip_file(stis_primary(BINAXIS1=2, BINAXIS2=2),
                            np.zeros((512, 512), np.float32), np.zeros((512, 512), np.int16),
                            {"BUNIT": "COUNTS", **STIS_TIMES})
    with pytest.raises(HstcrError, match="b.fits: binned product"):
        load_dark(data, source="b.fits")
    big = single_chip_file(acs_primary(DETECTOR="HRC", NEXTEND=3),
                           np.zeros((1044, 1062), np.float32),
                           np.zeros((1044, 1062), np.int16), {"BUNIT": "COUNTS"})
    with pytest.raises(HstcrError, match="raw.fits: chip HRC is 1044x1062, expected 1024x1024"):
        load_dark(big, source="raw.fits")


@pytest.mark.parametrize("det_id, bunit", [
    ("acs_wfc", "COUNTS"), ("acs_hrc", None), ("stis_ccd", "COUNTS"), ("wfc3_uvis", None),
    ("wfpc2", "COUNTS"),
])
def test_synthetic_darks_load_to_their_truth(tmp_path, det_id, bunit):
    from hstcr_common import synthetic
    made = synthetic.write_dark(det_id, tmp_path, seed=11, bunit=bunit, exptime_s=100.0)
    dark = load_dark(made.paths["science"], dq=made.paths.get("dq"),
                     support=made.paths["support"])
    assert dark.instrument == det_id and dark.dataset == made.dataset
    assert dark.exptime_s == 100.0
    assert dark.date_obs == dt.datetime.fromisoformat(made.exposure["date_obs"])
    assert dark.expstart_mjd == pytest.approx(made.exposure["expstart_mjd"], abs=1e-9)
    assert [c.name for c in dark.chips] == [c.name for c in get_detector(det_id).chips]
    for chip, truth in zip(dark.chips, made.chips):
        # COUNTS files hold electrons / gain in float32: equal to float32 rounding
        np.testing.assert_allclose(chip.science, truth.science_e, rtol=2e-7, atol=1e-3)
        np.testing.assert_array_equal(chip.dq, truth.dq)
        assert chip.gain == pytest.approx(made.exposure["gain"])
    assert dark.support_note == ""
    for key, value in made.exposure["orbital_elements"].items():
        assert dark.support_header[key] == pytest.approx(value, rel=1e-12)
