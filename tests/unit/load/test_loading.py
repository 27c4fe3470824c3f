"""Loading darks: real STIS/WFPC2 headers, MAST-shaped files built in memory, every refusal."""

from __future__ import annotations

import datetime as dt
import io
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from hstcr_common.model import Dark
from hstcr_common.model import HstcrError
from hstcr_common.instruments import get_detector
from hstcr_common.load import (
    ORBIT_KEYWORDS,
    chip_gain_columns,
    header_times,
    load_dark,
    parse_date_obs,
    read_header_facts,
    read_support_header,
)

UTC = dt.timezone.utc

# ---------------------------------------------------------------------------------------------
# Building MAST-shaped files in memory
# ---------------------------------------------------------------------------------------------


def to_bytes(hdus: list) -> bytes:
    hdul = fits.HDUList(hdus)
    if isinstance(hdus[0], fits.GroupsHDU):
        # astropy cannot write random groups to a BytesIO (non-contiguous buffer): use a file
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "groups.fits"
            hdul.writeto(path)
            return path.read_bytes()
    buf = io.BytesIO()
    hdul.writeto(buf)
    return buf.getvalue()


def primary_hdu(cards: dict) -> fits.PrimaryHDU:
    hdu = fits.PrimaryHDU()
    for key, value in cards.items():
        hdu.header[key] = value
    return hdu


def image(name: str, extver: int, data, cards: dict | None = None) -> fits.ImageHDU:
    hdu = fits.ImageHDU(data, name=name, ver=extver)
    for key, value in (cards or {}).items():
        hdu.header[key] = value
    return hdu


def acs_primary(**over) -> dict:
    cards = {
        "INSTRUME": "ACS", "DETECTOR": "WFC", "ROOTNAME": "J8XI01ABQ",
        "FILENAME": "j8xi01abq_flt.fits", "TARGNAME": "DARK", "IMAGETYP": "DARK",
        "SUBARRAY": False, "NEXTEND": 6,
        "DATE-OBS": "2019-03-04", "TIME-OBS": "05:06:07", "EXPSTART": 58546.21258102,
        "EXPEND": 58546.22415509, "EXPTIME": 1000.0, "DARKTIME": 1001.5, "FLASHDUR": 0.3,
        "CCDAMP": "ABCD", "CCDGAIN": 2.0, "ATODGNA": 2.02, "ATODGNB": 1.886,
        "ATODGNC": 2.017, "ATODGND": 2.0109, "CCDOFSTA": 3, "CCDOFSTB": 3, "CCDOFSTC": 3,
        "CCDOFSTD": 3, "READNSEA": 4.0, "READNSEB": 4.2, "READNSEC": 4.4, "READNSED": 4.6,
    }
    cards.update(over)
    return cards


def two_chip_file(primary: dict, shape, bunit: str, values=(5.0, 7.0), dq_values=(0, 0),
                  ccdchips=(2, 1), with_dq=True, with_sci=True) -> bytes:
    """ACS/WFC or WFC3/UVIS flt: SCI/ERR/DQ per chip, extension 1 = CCDCHIP 2."""
    hdus = [primary_hdu(primary)]
    for extver, (value, flag, ccdchip) in enumerate(zip(values, dq_values, ccdchips), start=1):
        sci = np.full(shape, value, np.float32)
        if with_sci:
            hdus.append(image("SCI", extver, sci, {"BUNIT": bunit, "CCDCHIP": ccdchip}))
        hdus.append(image("ERR", extver, np.ones(shape, np.float32)))
        if with_dq:
            hdus.append(image("DQ", extver, np.full(shape, flag, np.int16)))
    return to_bytes(hdus)


def acs_wfc_flt(**kw) -> bytes:
    primary = acs_primary(**kw.pop("primary", {}))
    return two_chip_file(primary, (2048, 4096), kw.pop("bunit", "ELECTRONS"), **kw)


def single_chip_file(primary: dict, sci: np.ndarray, dq: np.ndarray | None, sci_cards: dict,
                     n_imsets: int = 1, second_value: float | None = None) -> bytes:
    hdus = [primary_hdu(primary)]
    for extver in range(1, n_imsets + 1):
        data = sci if extver == 1 else np.full(sci.shape, second_value, sci.dtype)
        hdus.append(image("SCI", extver, data, sci_cards))
        err = image("ERR", extver, None, {"NPIX1": sci.shape[1], "NPIX2": sci.shape[0],
                                          "PIXVALUE": 0.0})
        hdus.append(err)
        if dq is None:  # a constant (header-only) DQ, as STIS raw files have
            hdus.append(image("DQ", extver, None, {"NPIX1": sci.shape[1],
                                                   "NPIX2": sci.shape[0], "PIXVALUE": 0}))
        else:
            hdus.append(image("DQ", extver, dq))
    return to_bytes(hdus)


def hrc_flt(sci=None, dq=None, **over) -> bytes:
    primary = acs_primary(DETECTOR="HRC", ROOTNAME="J6ME13QHQ", FILENAME="j6me13qhq_flt.fits",
                          CCDAMP="C", NEXTEND=3, DATE="2004-01-01")
    primary.update(over)
    sci = np.full((1024, 1024), 3.0, np.float32) if sci is None else sci
    dq = np.zeros((1024, 1024), np.int16) if dq is None else dq
    return single_chip_file(primary, sci, dq, {"BUNIT": primary.pop("BUNIT", "COUNTS")})


STIS_TIMES = {"DATE-OBS": "2012-05-06", "TIME-OBS": "07:08:09", "EXPSTART": 56053.29732639,
              "EXPEND": 56053.31005787, "EXPTIME": 1100.0}


def stis_primary(rootname="obrv1234q", suffix="flt", atodgain=1.0, **over) -> dict:
    cards = {"INSTRUME": "STIS", "DETECTOR": "CCD", "ROOTNAME": rootname,
             "FILENAME": f"{rootname}_{suffix}.fits", "SUBARRAY": False, "CCDAMP": "D",
             "CCDGAIN": 4, "ATODGAIN": atodgain, "CCDOFFST": 3, "TEXPTIME": 1100.0,
             "TARGNAME": "DARK", "BINAXIS1": 1, "BINAXIS2": 1}
    cards.update(over)
    return cards


def wfpc2_primary(**over) -> dict:
    cards = {"INSTRUME": "WFPC2", "ROOTNAME": "U2EQ0201T", "FILENAME": "u2eq0201t_c0m.fits",
             "IMAGETYP": "DARK", "DATE-OBS": "19/05/94", "TIME-OBS": "15:41:16",
             "EXPSTART": 49491.65366175, "EXPEND": 49491.67449508, "EXPTIME": 1800.0,
             "DARKTIME": 1800.0, "ATODGAIN": 7.0, "MODE": "FULL"}
    cards.update(over)
    return cards


def wfpc2_mef(values=(1.0, 2.0, 3.0, 4.0), c1m=False) -> bytes:
    primary = wfpc2_primary()
    if c1m:
        primary["FILENAME"] = "u2eq0201t_c1m.fits"
    hdus = [primary_hdu(primary)]
    for i, value in enumerate(values, start=1):
        if c1m:
            data = np.zeros((800, 800), np.int16)
            data[i - 1, i - 1] = 2 ** (i - 1)  # a distinct flag per chip
        else:
            data = np.full((800, 800), value, np.float32)
        hdus.append(image("SCI", i, data, {"DETECTOR": i, "BUNIT": "COUNTS"}))
    return to_bytes(hdus)


def wfpc2_cube(c1m=False, groups=False) -> bytes:
    """The single-HDU WFPC2 forms: a (4, 800, 800) cube + group table, or random groups."""
    primary = wfpc2_primary(FILENAME="u2eq0201t_c1f.fits" if c1m else "u2eq0201t_c0f.fits")
    if c1m:
        cube = np.zeros((4, 800, 800), np.int16)
        for g in range(4):
            cube[g, g, g] = 2 ** g
    else:
        cube = np.stack([np.full((800, 800), v, np.float32) for v in (1.0, 2.0, 3.0, 4.0)])
    if groups:
        data = fits.GroupData(cube, parnames=["DETECTOR"],
                              pardata=[np.array([1, 2, 3, 4], np.float32)],
                              bitpix=16 if c1m else -32)
        hdu = fits.GroupsHDU(data)
        for key, value in primary.items():
            hdu.header[key] = value
        return to_bytes([hdu])
    hdu = primary_hdu(primary)
    hdu.data = cube
    table = fits.TableHDU.from_columns([fits.Column(name="DETECTOR", format="I3",
                                                    array=np.array([1, 2, 3, 4]))])
    return to_bytes([hdu, table])


def spt_bytes(**elements) -> bytes:
    cards = {"INSTRUME": "ACS", "ROOTNAME": "J8XI01ABQ"}
    cards.update({k: float(i + 1) for i, k in enumerate(ORBIT_KEYWORDS)})
    cards["HSTHORB"] = 2904.6
    cards.update(elements)
    return to_bytes([primary_hdu(cards)])


# ---------------------------------------------------------------------------------------------
# Real files
# ---------------------------------------------------------------------------------------------

REAL_STIS = {  # from ../shared/fixtures/hst/README.md
    "o4er06llq": ("1998-03-03", "04:42:21", 50875.19608305, 50875.19609157, 1),
    "oc7w11viq": ("2014-07-24", "22:05:06", 56862.92021364, 56862.9202148, 1),
    "ocmv0lw6q": ("2016-09-29", "23:43:50", 57660.98877427, 57660.98878005, 3),
    "ocui04xeq": ("2016-07-22", "06:10:30", 57591.25730138, 57591.25753286, 1),
}


@pytest.mark.parametrize("dataset", sorted(REAL_STIS))
def test_real_stis_headers_are_read_and_subarrays_refused(stis_fixture_dir, dataset):
    date, time, expstart, expend, n_imsets = REAL_STIS[dataset]
    raw = stis_fixture_dir / f"{dataset}_raw.fits"
    facts = read_header_facts(raw)
    assert facts["instrument"] == "stis_ccd"
    assert facts["dataset"] == dataset
    assert facts["science_suffix"] == "raw"
    assert facts["subarray"] is True
    assert facts["n_imsets"] == n_imsets
    assert facts["expstart_mjd"] == pytest.approx(expstart, abs=1e-8)
    assert facts["expend_mjd"] == pytest.approx(expend, abs=1e-8)
    assert facts["date_obs"] == dt.datetime.fromisoformat(f"{date}T{time}+00:00")
    assert facts["gains"]["ATODGAIN"] == 0.0 and facts["gains"]["CCDGAIN"] > 0
    with pytest.raises(HstcrError) as err:
        load_dark(raw, support=stis_fixture_dir / f"{dataset}_spt.fits")
    assert str(raw) in str(err.value)
    assert "subarray" in str(err.value) and "not supported" in str(err.value)


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
    with pytest.raises(HstcrError, match="o4sp040b0_raw.fits.*subarray.*not supported"):
        load_dark(path)


def test_astropy_wfpc2_test0_dates_and_refusal(astropy_test_file):
    path = astropy_test_file("test0.fits")
    facts = read_header_facts(path)
    assert facts["instrument"] == "wfpc2"
    assert facts["dataset"] == "u2eq0201t"
    assert facts["date_obs"] == dt.datetime(1994, 5, 19, 15, 41, 16, tzinfo=UTC)
    assert facts["expstart_mjd"] == pytest.approx(49491.65366175)
    assert facts["gains"] == {"ATODGAIN": 7.0}
    assert facts["sci_shapes"] == [(40, 40)] * 4
    with pytest.raises(HstcrError, match="test0.fits.*40x40.*subarray.*not supported"):
        load_dark(path)


# ---------------------------------------------------------------------------------------------
# Header helpers
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Loading each kind of product
# ---------------------------------------------------------------------------------------------


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


def test_non_seekable_stream_input():
    class Stream(io.RawIOBase):
        def __init__(self, data):
            self._inner = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self._inner.readinto(b)

    dark = load_dark(Stream(hrc_flt()), source="j6me13qhq_flt.fits")
    assert dark.chips[0].shape == (1024, 1024)


def test_callers_file_object_is_left_open_and_unchanged():
    data = hrc_flt(ATODGNC=2.0)
    stream = io.BytesIO(data)
    first = load_dark(stream)
    assert not stream.closed and stream.getvalue() == data
    stream.seek(0)
    second = load_dark(stream)
    np.testing.assert_array_equal(first.chips[0].science, second.chips[0].science)
    assert first.chips[0].science[0, 0] == 6.0
    assert first.source == "<file>"


# ---------------------------------------------------------------------------------------------
# IR dispatch
# ---------------------------------------------------------------------------------------------


def ir_ima_bytes() -> bytes:
    primary = {"INSTRUME": "WFC3", "DETECTOR": "IR", "ROOTNAME": "IBXD02ZZQ",
               "FILENAME": "ibxd02zzq_ima.fits", "EXPTIME": 1402.9, "EXPSTART": 58000.0,
               "EXPEND": 58000.02, "DATE-OBS": "2017-09-04", "TIME-OBS": "00:00:00"}
    return to_bytes([primary_hdu(primary),
                     image("SCI", 1, np.zeros((4, 4), np.float32))])


def test_ir_files_go_to_loading_ir(monkeypatch):
    calls = {}

    def load_ir_dark(hdul, *, detector, source, support_header, support_note, science_suffix):
        calls.update(n_hdus=len(hdul), detector=detector.id, source=source,
                     support_note=support_note, science_suffix=science_suffix)
        return "the ir dark"

    fake = types.ModuleType("hstcr_common.load.ir")
    fake.load_ir_dark = load_ir_dark
    monkeypatch.setitem(sys.modules, "hstcr_common.load.ir", fake)
    import hstcr_common.load

    monkeypatch.setattr(hstcr_common.load, "ir", fake, raising=False)
    assert load_dark(ir_ima_bytes(), source="ibxd02zzq_ima.fits") == "the ir dark"
    assert calls == {"n_hdus": 2, "detector": "wfc3_ir", "source": "ibxd02zzq_ima.fits",
                     "support_note": "no support file (spt/shm) given", "science_suffix": "ima"}


def test_ir_without_loading_ir_is_a_clear_error(monkeypatch):
    import hstcr_common.load

    monkeypatch.setitem(sys.modules, "hstcr_common.load.ir", None)  # import fails
    monkeypatch.delattr(hstcr_common.load, "ir", raising=False)
    with pytest.raises(HstcrError, match="ibxd02zzq_ima.fits: .*IR loading not available"):
        load_dark(ir_ima_bytes(), source="ibxd02zzq_ima.fits")


# ---------------------------------------------------------------------------------------------
# Refusals: each names the file and the problem
# ---------------------------------------------------------------------------------------------


def test_not_fits_and_missing_file(tmp_path):
    with pytest.raises(HstcrError, match="notes.txt: not a readable FITS file"):
        load_dark(b"hello, this is not FITS" * 200, source="notes.txt")
    with pytest.raises(HstcrError, match="empty.fits: not a readable FITS file"):
        load_dark(b"", source="empty.fits")
    missing = tmp_path / "nope_flt.fits"
    with pytest.raises(HstcrError, match="nope_flt.fits: file not found"):
        load_dark(missing)
    with pytest.raises(HstcrError, match="cannot read a FITS file from a int"):
        load_dark(42)


@pytest.fixture(scope="module")
def hrc_bytes() -> bytes:
    return hrc_flt()


@pytest.mark.parametrize("cut, problem", [
    (100, "not a readable FITS file"),  # inside the primary header
    (2880, "truncated FITS file: NEXTEND=3"),  # right after the primary header
    (2880 + 1000, "truncated FITS file: NEXTEND=3"),  # inside the SCI header
    (2 * 2880 + 5000, "truncated FITS file: 10760 bytes"),  # inside the SCI data
    (-2880 * 200, "truncated FITS file"),  # inside the DQ data
    (-3000, "truncated FITS file"),
])
def test_truncated_files_are_refused(hrc_bytes, cut, problem):
    with pytest.raises(HstcrError) as err:
        load_dark(hrc_bytes[:cut], source="j6me13qhq_flt.fits")
    assert str(err.value).startswith(f"j6me13qhq_flt.fits: {problem}")


def test_missing_final_padding_only_is_accepted(hrc_bytes):
    # the data are complete; only the zero padding of the last 2880-byte block is missing
    dark = load_dark(hrc_bytes[:-10], source="j6me13qhq_flt.fits")
    assert dark.chips[0].shape == (1024, 1024)


def test_truncated_wfpc2_group_file_is_refused():
    data = wfpc2_cube()
    with pytest.raises(HstcrError, match="u2eq0201t_c0f.fits: truncated FITS file"):
        load_dark(data[: len(data) // 2], source="u2eq0201t_c0f.fits")


def test_missing_dq_and_sci_extensions():
    with pytest.raises(HstcrError, match=r"j8xi01abq_flt.fits: missing DQ extension for SCI 1"):
        load_dark(acs_wfc_flt(with_dq=False, primary={"NEXTEND": 4}),
                  source="j8xi01abq_flt.fits")
    with pytest.raises(HstcrError, match=r"j8xi01abq_flt.fits: no SCI extension"):
        load_dark(acs_wfc_flt(with_sci=False, primary={"NEXTEND": 4}),
                  source="j8xi01abq_flt.fits")


def test_unknown_instrument():
    data = hrc_flt(INSTRUME="FOC", DETECTOR="F/96")
    with pytest.raises(HstcrError, match=r"x.fits: unknown instrument: INSTRUME='FOC', "
                                         r"DETECTOR='F/96'; supported: ACS/WFC"):
        load_dark(data, source="x.fits")
    with pytest.raises(HstcrError, match="DETECTOR='SBC'"):
        load_dark(hrc_flt(DETECTOR="SBC"), source="x.fits")


def test_subarrays_are_refused():
    with pytest.raises(HstcrError, match="j6me13qhq_flt.fits: subarray product.*not supported"):
        load_dark(hrc_flt(SUBARRAY=True), source="j6me13qhq_flt.fits")
    small = single_chip_file(acs_primary(DETECTOR="HRC", SUBARRAY=False, NEXTEND=3),
                             np.zeros((512, 1024), np.float32), np.zeros((512, 1024), np.int16),
                             {"BUNIT": "ELECTRONS"})
    with pytest.raises(HstcrError, match="small_flt.fits: SCI 512x1024 is smaller.*subarray"):
        load_dark(small, source="small_flt.fits")


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


@pytest.mark.parametrize("exptime", [0.0, -5.0])
def test_zero_or_negative_exptime(exptime):
    with pytest.raises(HstcrError, match=f"j6me13qhq_flt.fits: EXPTIME is {exptime} s"):
        load_dark(hrc_flt(EXPTIME=exptime), source="j6me13qhq_flt.fits")


def test_counts_without_any_gain_and_strange_bunit():
    with pytest.raises(HstcrError, match="j6me13qhq_flt.fits: no usable gain"):
        load_dark(hrc_flt(ATODGNC=0.0, CCDGAIN=0.0), source="j6me13qhq_flt.fits")
    with pytest.raises(HstcrError, match="j6me13qhq_flt.fits: unsupported BUNIT 'MJY/SR'"):
        load_dark(hrc_flt(BUNIT="MJY/SR"), source="j6me13qhq_flt.fits")


# ---------------------------------------------------------------------------------------------
# Round trip through the synthetic generator (every CCD detector, both units)
# ---------------------------------------------------------------------------------------------


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


def test_synthetic_ir_ramp_goes_through_load_dark(tmp_path):
    from hstcr_common.synthetic import ir as synthetic_ir
    made = synthetic_ir.write_ir_dark("nicmos_nic2", tmp_path, seed=2, n_reads=4)
    paths = made.paths
    dark = load_dark(paths["science"], support=paths["support"])
    assert dark.instrument == "nicmos_nic2" and dark.science_suffix == "ima"
    assert dark.chips[0].reads.shape[0] == 4
    assert dark.support_note == "" and "EPCHTIME" in dark.support_header
    facts = read_header_facts(paths["science"])
    assert facts["instrument"] == "nicmos_nic2" and facts["subarray"] is False
