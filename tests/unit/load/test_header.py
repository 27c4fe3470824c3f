"""Header readers: real STIS/WFPC2 headers, dates, times, support files, detectors."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from astropy.io import fits

from hstcr_common.instruments import get_detector
from hstcr_common.load import (
    ORBIT_KEYWORDS,
    header_times,
    load_dark,
    parse_date_obs,
    read_header_facts,
    read_support_header,
    subarray_origin,
)
from hstcr_common.model import HstcrError
from unit.load.mast_files import hrc_flt, spt_bytes


UTC = dt.timezone.utc


REAL_STIS = {  # from ../shared/fixtures/hst/README.md; origin = (-LTV1, -LTV2) of SCI,1
    "o4er06llq": ("1998-03-03", "04:42:21", 50875.19608305, 50875.19609157, 1, (32, 32),
                  (501, 500)),
    "oc7w11viq": ("2014-07-24", "22:05:06", 56862.92021364, 56862.9202148, 1, (32, 1022),
                  (5, 499)),
    "ocmv0lw6q": ("2016-09-29", "23:43:50", 57660.98877427, 57660.98878005, 3, (100, 100),
                  (467, 465)),
    "ocui04xeq": ("2016-07-22", "06:10:30", 57591.25730138, 57591.25753286, 1, (32, 32),
                  (504, 882)),
}


@pytest.mark.parametrize("dataset", sorted(REAL_STIS))
def test_real_stis_subarrays_load_with_their_real_headers(stis_fixture_dir, dataset):
    """Real STIS/CCD target acquisitions (subarrays, not darks) load as subarray exposures:
    times, gains and HST's orbital elements as the headers say, pixels as read."""
    date, time, expstart, expend, n_imsets, shape, origin = REAL_STIS[dataset]
    raw = stis_fixture_dir / f"{dataset}_raw.fits"
    facts = read_header_facts(raw)
    assert facts["instrument"] == "stis_ccd"
    assert facts["dataset"] == dataset
    assert facts["science_suffix"] == "raw"
    assert facts["subarray"] is True and facts["subarray_origin"] == origin
    assert facts["n_imsets"] == n_imsets
    assert facts["expstart_mjd"] == pytest.approx(expstart, abs=1e-8)
    assert facts["expend_mjd"] == pytest.approx(expend, abs=1e-8)
    assert facts["date_obs"] == dt.datetime.fromisoformat(f"{date}T{time}+00:00")
    assert facts["gains"]["ATODGAIN"] == 0.0 and facts["gains"]["CCDGAIN"] > 0
    dark = load_dark(raw, support=stis_fixture_dir / f"{dataset}_spt.fits")
    assert dark.dataset == dataset and dark.science_suffix == "raw"
    assert dark.subarray is True and dark.subarray_origin == origin
    assert dark.subarray_name == f"{shape[0]}x{shape[1]}"  # STIS's APERTURE is the slit
    assert dark.aperture == facts["header"]["APERTURE"] and dark.cte_corrected is False
    assert [c.shape for c in dark.chips] == [shape]
    assert dark.expstart_mjd == pytest.approx(expstart, abs=1e-8)
    assert dark.date_obs == facts["date_obs"] and dark.header["n_imsets"] == n_imsets
    # ATODGAIN is 0 in raw files: CCDGAIN (4) is the gain, DN x 4 = electrons
    assert dark.chips[0].gain == facts["gains"]["CCDGAIN"] == 4.0
    assert dark.header["gain_fallback"] == ["ATODGAIN->CCDGAIN"]
    with fits.open(raw) as hdul:
        np.testing.assert_allclose(dark.chips[0].science, hdul[1].data * 4.0, rtol=1e-6)
    assert "bias level not removed" in dark.header["bias_note"]  # no overscan in a subarray
    assert dark.support_note == ""
    assert all(isinstance(dark.support_header[k], float) for k in ORBIT_KEYWORDS)
    assert 6.5e6 < dark.support_header["SEMILREC"] < 7.5e6  # metres: HST's orbit


def test_stis_centera_sizaxis_give_the_same_origin_as_ltv(stis_fixture_dir, stis_datasets):
    """Without LTV, STIS's CENTERA/SIZAXIS place the subarray identically (11 real files)."""
    det = get_detector("stis_ccd")
    for dataset in stis_datasets:
        with fits.open(stis_fixture_dir / f"{dataset}_raw.fits") as hdul:
            primary, sci = hdul[0].header, hdul[1].header.copy()
        from_ltv = subarray_origin(det, (sci, primary))
        assert from_ltv == (-int(sci["LTV1"]), -int(sci["LTV2"])), dataset
        del sci["LTV1"], sci["LTV2"]
        assert subarray_origin(det, (sci, primary)) == from_ltv, dataset


def test_real_stis_header_times_come_from_the_sci_header(stis_fixture_dir):
    with fits.open(stis_fixture_dir / "ocui04xeq_raw.fits") as hdul:
        assert "EXPSTART" not in hdul[0].header  # STIS keeps times per imset
        times = header_times(hdul[0].header, hdul[1].header, "ocui04xeq_raw.fits")
    assert times["expstart_mjd"] == pytest.approx(57591.25730138)
    assert times["date_obs"] == dt.datetime(2016, 7, 22, 6, 10, 30, tzinfo=UTC)
    assert times["exptime_s"] > 0
    assert times["flashdur_s"] == 0.0 and times["darktime_s"] is None


def test_real_spt_support_headers(stis_fixture_dir, stis_datasets):
    assert len(stis_datasets) >= 10
    for dataset in stis_datasets:
        path = stis_fixture_dir / f"{dataset}_spt.fits"
        header, note = read_support_header(path)
        assert note == ""
        for key in ORBIT_KEYWORDS + ("HSTHORB",):
            assert isinstance(header[key], float), (dataset, key)
        assert 6.5e6 < header["SEMILREC"] < 7.5e6  # metres: HST's orbit
        assert "COMMENT" not in header and "HISTORY" not in header
    # the same from bytes and from a file object
    data = (stis_fixture_dir / "o4er06llq_spt.fits").read_bytes()
    assert read_support_header(data)[0]["EPCHTIME"] == 415497600.0
    assert read_support_header(io.BytesIO(data))[0]["EPCHTIME"] == 415497600.0


def test_astropy_stis_raw_is_a_small_two_imset_raw(astropy_test_file):
    path = astropy_test_file("o4sp040b0_raw.fits")
    facts = read_header_facts(path)
    assert facts["instrument"] == "stis_ccd"
    assert facts["n_imsets"] == 2
    assert facts["sci_shapes"] == [(44, 62), (44, 62)]
    assert facts["subarray"] is True  # SUBARRAY=F, but far smaller than 1024x1024
    assert facts["exptime_s"] == 30.0
    assert facts["date_obs"] == dt.datetime(1998, 4, 20, 18, 38, 15, tzinfo=UTC)
    # astropy cut a full raw (LTV 19, 20: overscan first) down to 44x62: loaded as read, its
    # first pixel 19 columns and 20 rows before the science region
    dark = load_dark(path)
    assert dark.subarray is True and [c.shape for c in dark.chips] == [(44, 62)]
    assert dark.subarray_origin == (-19, -20) and dark.header["n_imsets"] == 2


def test_astropy_wfpc2_test0_dates_and_missing_c1m(astropy_test_file):
    path = astropy_test_file("test0.fits")
    facts = read_header_facts(path)
    assert facts["instrument"] == "wfpc2"
    assert facts["dataset"] == "u2eq0201t"
    assert facts["date_obs"] == dt.datetime(1994, 5, 19, 15, 41, 16, tzinfo=UTC)
    assert facts["expstart_mjd"] == pytest.approx(49491.65366175)
    assert facts["gains"] == {"ATODGAIN": 7.0}
    assert facts["sci_shapes"] == [(40, 40)] * 4
    with pytest.raises(HstcrError, match="test0.fits: WFPC2 needs its c1m data-quality file"):
        load_dark(path)


@pytest.mark.parametrize("date, time, expected", [
    ("19/05/94", "15:41:16", dt.datetime(1994, 5, 19, 15, 41, 16, tzinfo=UTC)),
    ("01/12/03", "00:00:01", dt.datetime(2003, 12, 1, 0, 0, 1, tzinfo=UTC)),
    ("2019-03-04", "05:06:07.25", dt.datetime(2019, 3, 4, 5, 6, 7, 250000, tzinfo=UTC)),
    ("2019-03-04T05:06:07", None, dt.datetime(2019, 3, 4, 5, 6, 7, tzinfo=UTC)),
    ("2019-03-04", "", dt.datetime(2019, 3, 4, tzinfo=UTC)),
])
def test_parse_date_obs(date, time, expected):
    assert parse_date_obs(date, time) == expected


@pytest.mark.parametrize("date, time", [("94/05/19", "1:2:3"), ("2019-13-01", "00:00:00"),
                                        ("2019-03-04", "noon"), ("", "00:00:00")])
def test_parse_date_obs_refuses_nonsense(date, time):
    with pytest.raises(ValueError):
        parse_date_obs(date, time)


def test_header_times_fallbacks_and_refusals():
    primary = fits.Header({"EXPTIME": 100.0, "EXPSTART": 58000.5})
    times = header_times(primary, None, "x.fits")
    assert times["expend_mjd"] == pytest.approx(58000.5 + 100 / 86400)
    assert times["date_obs"] == dt.datetime(2017, 9, 4, 12, tzinfo=UTC)
    assert set(times["derived"]) == {"EXPEND", "DATE-OBS"}
    for cards, problem in [({"EXPSTART": 58000.5}, "EXPTIME"),
                           ({"EXPTIME": 1.0}, "EXPSTART"),
                           ({"EXPTIME": -1.0, "EXPSTART": 58000.5}, "EXPTIME is -1.0"),
                           ({"EXPTIME": 1.0, "EXPSTART": 58000.5, "DATE-OBS": "May 1"},
                            "DATE-OBS")]:
        with pytest.raises(HstcrError, match=f"x.fits: .*{problem}"):
            header_times(fits.Header(cards), None, "x.fits")


def test_support_header_notes():
    assert read_support_header(None) == (None, "no support file (spt/shm) given")
    header, note = read_support_header(b"not fits at all" * 300, "j8xi01abq_spt.fits")
    assert header is None and "j8xi01abq_spt.fits" in note and "unreadable" in note
    header, note = read_support_header(spt_bytes(MEANANOM=None), "s.fits")
    assert header is None and "lacks orbital elements: MEANANOM" in note
    header, note = read_support_header(spt_bytes(), "s.fits")
    assert note == "" and header["HSTHORB"] == 2904.6 and header["SINEINCL"] == 16.0


def test_unknown_instrument():
    data = hrc_flt(INSTRUME="FOC", DETECTOR="F/96")
    with pytest.raises(HstcrError, match=r"x.fits: unknown instrument: INSTRUME='FOC', "
                                         r"DETECTOR='F/96'; supported: ACS/WFC"):
        load_dark(data, source="x.fits")
    with pytest.raises(HstcrError, match="DETECTOR='SBC'"):
        load_dark(hrc_flt(DETECTOR="SBC"), source="x.fits")


@pytest.mark.parametrize("exptime", [0.0, -5.0])
def test_zero_or_negative_exptime(exptime):
    with pytest.raises(HstcrError, match=f"j6me13qhq_flt.fits: EXPTIME is {exptime} s"):
        load_dark(hrc_flt(EXPTIME=exptime), source="j6me13qhq_flt.fits")
