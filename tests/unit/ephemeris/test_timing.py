"""Exposure timing: DATE-OBS/EXPSTART/EXPEND as UTC and the integration time rule per detector."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time

from hstcr_common.model import Chip, Dark
from hstcr_common.model import HstcrError
from hstcr_common.instruments import detectors, get_detector
from hstcr_common.ephemeris import (
    ExposureTiming,
    exposure_timing,
    integration_time,
    integration_time_2021,
    mjd_to_datetime,
    readout_time_s,
)

UTC = dt.timezone.utc


def make_dark(det_id="acs_wfc", **kw) -> Dark:
    detector = get_detector(det_id)
    chip = Chip(
        name=detector.chips[0].name,
        ccdchip=detector.chips[0].ccdchip,
        science=np.zeros((4, 4), np.float32),
        dq=np.zeros((4, 4), np.uint16),
        gain=detector.typical_gain,
        read_noise_e=detector.read_noise_e,
    )
    args = dict(
        dataset="j8xi01abq",
        detector=detector,
        chips=[chip],
        date_obs=dt.datetime(2019, 3, 4, 5, 6, 7, tzinfo=UTC),
        expstart_mjd=58546.21258102,
        expend_mjd=58546.22415509,
        exptime_s=1000.0,
        source="/data/j8xi01abq_flt.fits",
    )
    args.update(kw)
    return Dark(**args)


# ------------------------------------------------------------------ integration_time rules
def test_darktime_is_preferred_when_present():
    total, rule = integration_time(get_detector("acs_wfc"), 1000.0, darktime_s=1051.3, flashdur_s=4.0)
    assert (total, rule) == (1051.3, "DARKTIME")


@pytest.mark.parametrize("darktime", [None, 0.0, -3.0, float("nan")])
def test_missing_or_unusable_darktime_falls_back_to_the_sum(darktime):
    total, rule = integration_time(get_detector("acs_hrc"), 1000.0, darktime_s=darktime)
    assert total == pytest.approx(1015.0)
    assert rule == "EXPTIME+READOUT(15s)"


@pytest.mark.parametrize("det_id", ["acs_wfc", "wfc3_uvis"])
def test_flashdur_counts_for_post_flashed_detectors(det_id):
    total, rule = integration_time(get_detector(det_id), 900.0, flashdur_s=12.5)
    assert total == pytest.approx(900.0 + 12.5 + 50.0)
    assert rule == "EXPTIME+FLASHDUR+READOUT(50s)"


@pytest.mark.parametrize("det_id", ["acs_wfc", "wfc3_uvis"])
def test_unflashed_dark_of_a_flashing_detector_has_no_flashdur_term(det_id):
    total, rule = integration_time(get_detector(det_id), 900.0, flashdur_s=0.0)
    assert (total, rule) == (950.0, "EXPTIME+READOUT(50s)")


@pytest.mark.parametrize("det_id", ["acs_hrc", "stis_ccd", "wfpc2", "wfc3_ir"])
def test_flashdur_ignored_where_it_does_not_apply(det_id):
    det = get_detector(det_id)
    with_flash = integration_time(det, 1100.0, flashdur_s=30.0)
    without = integration_time(det, 1100.0)
    assert with_flash == without
    assert "FLASHDUR" not in with_flash[1]


@pytest.mark.parametrize(
    "exptime, readout", [(0.5, 30.0), (100.0, 30.0), (180.0, 30.0), (180.01, 60.0), (1800.0, 60.0)]
)
def test_wfpc2_readout_is_30s_up_to_180s_exposures_else_60s(exptime, readout):
    det = get_detector("wfpc2")
    assert readout_time_s(det, exptime) == readout
    total, rule = integration_time(det, exptime)
    assert total == pytest.approx(exptime + readout)
    assert rule == f"EXPTIME+READOUT({readout:g}s)"


def test_each_detectors_readout_from_the_table():
    expected = {"acs_wfc": 50, "acs_hrc": 15, "stis_ccd": 15, "wfc3_uvis": 50, "wfc3_ir": 1}
    for det_id, readout in expected.items():
        total, rule = integration_time(get_detector(det_id), 1000.0)
        assert total == 1000.0 + readout, det_id
        assert rule == f"EXPTIME+READOUT({readout}s)", det_id


def test_ir_ramp_adds_one_second():
    total, rule = integration_time(get_detector("wfc3_ir"), 1402.94)
    assert total == pytest.approx(1403.94)
    assert rule == "EXPTIME+READOUT(1s)"


def test_zero_readout_detector_rule_is_plain_exptime():
    total, rule = integration_time(get_detector("nicmos_nic2"), 255.9)
    assert (total, rule) == (255.9, "EXPTIME")


@pytest.mark.parametrize("exptime", [0.0, -5.0, float("nan"), float("inf")])
def test_non_positive_exptime_is_an_input_error(exptime):
    with pytest.raises(HstcrError, match="EXPTIME"):
        integration_time(get_detector("stis_ccd"), exptime)


def test_negative_flashdur_is_an_input_error():
    with pytest.raises(HstcrError, match="FLASHDUR"):
        integration_time(get_detector("wfc3_uvis"), 900.0, flashdur_s=-1.0)


def test_every_detector_gives_a_positive_time_and_a_rule():
    for det in detectors().values():
        total, rule = integration_time(det, det.typical_exptime_s, flashdur_s=1.0)
        assert total >= det.typical_exptime_s > 0
        assert rule.startswith("EXPTIME")


# ------------------------------------------------------------------ exposure_timing(dark)
def test_exposure_timing_of_an_acs_dark():
    dark = make_dark(darktime_s=None, flashdur_s=3.0)
    timing = exposure_timing(dark)
    assert isinstance(timing, ExposureTiming)
    assert timing.integration_time_s == pytest.approx(1053.0)
    assert timing.integration_rule == "EXPTIME+FLASHDUR+READOUT(50s)"
    assert timing.date_obs == dt.datetime(2019, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert timing.expstart_mjd == dark.expstart_mjd and timing.expend_mjd == dark.expend_mjd
    assert timing.exptime_s == 1000.0 and timing.flashdur_s == 3.0 and timing.darktime_s is None
    # EXPSTART/EXPEND as UTC datetimes agree with astropy's MJD -> ISO conversion to 1 us
    for mjd, when in ((dark.expstart_mjd, timing.expstart), (dark.expend_mjd, timing.expend)):
        assert when.tzinfo is not None and when.utcoffset() == dt.timedelta(0)
        ref = Time(mjd, format="mjd", scale="utc").to_datetime(timezone=UTC)
        assert abs((when - ref).total_seconds()) < 2e-6


def test_exposure_timing_prefers_darktime():
    timing = exposure_timing(make_dark(darktime_s=1062.5, flashdur_s=3.0))
    assert (timing.integration_time_s, timing.integration_rule) == (1062.5, "DARKTIME")
    assert timing.darktime_s == 1062.5


def test_the_2021_rule_is_kept_beside_darktime():
    """DARKTIME = EXPTIME + FLASHDUR + 3 s idle on a 1000 s ACS/WFC dark; the 2021 rule adds
    50 s of readout instead, so rates on the DARKTIME scale are 4.6% higher."""
    timing = exposure_timing(make_dark(darktime_s=1006.0, flashdur_s=3.0))
    assert timing.integration_time_s == 1006.0
    assert timing.integration_time_2021_s == pytest.approx(1053.0)
    assert timing.readout_time_s == 50.0 and timing.short_exposure is False
    assert timing.integration_time_2021_s / timing.integration_time_s == pytest.approx(1.0467,
                                                                                      abs=1e-4)
    # without DARKTIME both scales are the same
    same = exposure_timing(make_dark(darktime_s=None, flashdur_s=3.0))
    assert same.integration_time_2021_s == same.integration_time_s == pytest.approx(1053.0)


@pytest.mark.parametrize("det_id, exptime, flash, expected", [
    ("acs_wfc", 1000.0, 4.0, 1054.0), ("wfc3_uvis", 900.0, 0.0, 950.0),
    ("acs_hrc", 1000.0, 4.0, 1015.0),            # FLASHDUR does not apply to HRC
    ("stis_ccd", 1100.0, 0.0, 1115.0), ("wfpc2", 10.0, 0.0, 40.0),
    ("wfc3_ir", 1402.9, 0.0, 1403.9), ("nicmos_nic2", 255.9, 0.0, 255.9),
])
def test_integration_time_2021_for_every_detector(det_id, exptime, flash, expected):
    det = get_detector(det_id)
    assert integration_time_2021(det, exptime, flash) == pytest.approx(expected)


@pytest.mark.parametrize("det_id, exptime, short", [
    ("wfpc2", 10.0, True),        # 10 s against 30 s of readout: 75% of the time is readout
    ("wfpc2", 1800.0, False), ("acs_wfc", 30.0, True), ("acs_wfc", 50.0, False),
    ("stis_ccd", 1.0, True), ("wfc3_ir", 0.83, True), ("nicmos_nic1", 0.6, False),
])
def test_darks_shorter_than_their_readout_are_flagged(det_id, exptime, short):
    dark = make_dark(det_id, exptime_s=exptime, expend_mjd=58546.21258102 + exptime / 86400)
    timing = exposure_timing(dark)
    assert timing.short_exposure is short
    assert timing.readout_time_s == readout_time_s(get_detector(det_id), exptime)


def test_naive_date_obs_is_taken_as_utc_and_aware_is_converted():
    naive = exposure_timing(make_dark(date_obs=dt.datetime(1994, 5, 19, 12, 0, 0)))
    assert naive.date_obs == dt.datetime(1994, 5, 19, 12, 0, 0, tzinfo=UTC)
    est = dt.timezone(dt.timedelta(hours=-5))
    aware = exposure_timing(make_dark(date_obs=dt.datetime(1994, 5, 19, 7, 0, 0, tzinfo=est)))
    assert aware.date_obs == naive.date_obs
    assert aware.date_obs.tzinfo == UTC


def test_wfpc2_dark_timing():
    dark = make_dark(
        "wfpc2",
        dataset="u2a20101t",
        exptime_s=1800.0,
        expstart_mjd=49491.5,
        expend_mjd=49491.5 + 1800 / 86400,
        date_obs=dt.datetime(1994, 5, 19, 12, tzinfo=UTC),
    )
    timing = exposure_timing(dark)
    assert (timing.integration_time_s, timing.integration_rule) == (1860.0, "EXPTIME+READOUT(60s)")


def test_expend_before_expstart_names_the_file():
    dark = make_dark(expstart_mjd=58546.3, expend_mjd=58546.2)
    with pytest.raises(HstcrError, match="EXPEND") as info:
        exposure_timing(dark)
    assert "j8xi01abq_flt.fits" in str(info.value)


def test_zero_exposure_time_names_the_file():
    with pytest.raises(HstcrError, match="EXPTIME") as info:
        exposure_timing(make_dark(exptime_s=0.0))
    assert "j8xi01abq_flt.fits" in str(info.value)


def test_non_finite_expstart_is_an_input_error():
    with pytest.raises(HstcrError, match="EXPSTART"):
        exposure_timing(make_dark(expstart_mjd=float("nan")))


def test_mjd_to_datetime_known_instants():
    assert mjd_to_datetime(51544.5) == dt.datetime(2000, 1, 1, 12, tzinfo=UTC)
    assert mjd_to_datetime(46066.0) == dt.datetime(1985, 1, 1, tzinfo=UTC)


def test_real_stis_headers_give_consistent_times(stis_fixture_dir, stis_datasets):
    """DATE-OBS/TIME-OBS of each real STIS dark equals EXPSTART to the second."""
    for dataset in stis_datasets:
        sci = fits.getheader(stis_fixture_dir / f"{dataset}_raw.fits", 1)
        date_obs = dt.datetime.fromisoformat(f"{sci['DATE-OBS']}T{sci['TIME-OBS']}").replace(tzinfo=UTC)
        dark = make_dark(
            "stis_ccd",
            dataset=dataset,
            date_obs=date_obs,
            expstart_mjd=sci["EXPSTART"],
            expend_mjd=sci["EXPEND"],
            exptime_s=sci["EXPTIME"],
        )
        timing = exposure_timing(dark)
        assert abs((timing.expstart - timing.date_obs).total_seconds()) < 1.0, dataset
        assert timing.expend >= timing.expstart
        assert timing.integration_time_s == pytest.approx(sci["EXPTIME"] + 15.0)
