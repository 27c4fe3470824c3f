"""HST's orbit track: calcos' element model, astropy's Earth-fixed frame, the IGRF along it."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hstcr_common.model import Chip, Dark
from hstcr_common.model import HstcrError
from hstcr_common.instruments import get_detector
from hstcr_common.ephemeris import (
    OrbitalElements,
    Track,
    geodetic_from_gcrs,
    hst_position_gcrs,
    sample_offsets_s,
    track,
    track_for_dark,
)
from hstcr_common.lake import TRACK_POINT

from calcos import orbit as calcos_orbit

ELEMENT_KEYS = [
    "EPCHTIME", "MEANANOM", "FDMEANAN", "SDMEANAN", "ECCENTRY", "ECCENTX2", "ECBDX3",
    "ECBDX4D3", "ESQDX5D2", "SEMILREC", "ARGPERIG", "RCARGPER", "RASCASCN", "RCASCNRV",
    "COSINCLI", "SINEINCL",
]
MU_EARTH = 3.986004418e14  # m^3 s^-2


# ------------------------------------------------------------------ fixtures and helpers
@pytest.fixture(scope="module")
def real_sets(stis_fixture_dir, stis_datasets):
    """(dataset, spt path, spt header, EXPSTART, EXPEND) for every real STIS dark."""
    out = []
    for dataset in stis_datasets:
        spt = stis_fixture_dir / f"{dataset}_spt.fits"
        sci = fits.getheader(stis_fixture_dir / f"{dataset}_raw.fits", 1)
        out.append((dataset, spt, fits.getheader(spt), sci["EXPSTART"], sci["EXPEND"]))
    assert len(out) == 11
    return out


def make_dark(support_header, expstart_mjd=57660.98877427, expend_mjd=57660.98877427 + 1100 / 86400, **kw):
    det = get_detector("stis_ccd")
    chip = Chip(
        name="CCD", ccdchip=1, science=np.zeros((2, 2), np.float32), dq=np.zeros((2, 2), np.uint16),
        gain=1.0, read_noise_e=5.4,
    )
    args = dict(
        dataset="ocmv0lw6q", detector=det, chips=[chip],
        date_obs=dt.datetime(2016, 9, 29, 23, 43, 50, tzinfo=dt.timezone.utc),
        expstart_mjd=expstart_mjd, expend_mjd=expend_mjd, exptime_s=1100.0,
        support_header=support_header,
    )
    args.update(kw)
    return Dark(**args)


def write_fake_spt(path, elements: dict) -> fits.Header:
    """A minimal SPT primary header calcos' HSTOrbit can read; returns it as written."""
    header = fits.Header()
    for key, value in elements.items():
        header[key] = value
    fits.PrimaryHDU(header=header).writeto(path, overwrite=True)
    return fits.getheader(path)


def angle_between_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


# ------------------------------------------------------------------ inertial position vs calcos
def test_positions_match_calcos_on_every_real_spt(real_sets):
    worst = 0.0
    for dataset, spt, header, start, _ in real_sets:
        elements = OrbitalElements.from_header(header, source=spt.name)
        reference = calcos_orbit.HSTOrbit(str(spt))
        times = start + np.array([0.0, 30 / 1440, 0.25, 1.0, -0.5, 3.7])
        ours = hst_position_gcrs(elements, times)
        theirs = np.array([reference.getPos(t)[0] * 1000.0 for t in times])  # km -> m
        assert ours.shape == (len(times), 3)
        worst = max(worst, float(np.abs(ours - theirs).max()))
    assert worst < 1.0, f"max |ours - calcos| = {worst} m"


def test_position_shapes_follow_the_time_input(real_sets):
    elements = OrbitalElements.from_header(real_sets[0][2])
    t = real_sets[0][3]
    assert hst_position_gcrs(elements, t).shape == (3,)
    grid = hst_position_gcrs(elements, t + np.zeros((2, 4)))
    assert grid.shape == (2, 4, 3)
    np.testing.assert_array_equal(grid[1, 3], hst_position_gcrs(elements, t))


@st.composite
def hst_like_elements(draw):
    """An element set near HST's orbit, with the derived series coefficients consistent."""
    semilrec = draw(st.floats(6.85e6, 7.05e6))
    ecc = draw(st.floats(0.0, 2e-3))
    incl = math.radians(draw(st.floats(28.3, 28.7)))
    a = semilrec / (1 - ecc**2)
    mean_motion = math.sqrt(MU_EARTH / a**3) / (2 * math.pi) * draw(st.floats(0.999, 1.001))
    return {
        "EPCHTIME": 86400.0 * draw(st.integers(1900, 15000)),  # 1990 .. 2026
        "MEANANOM": draw(st.floats(0.0, 2 * math.pi)),
        "FDMEANAN": mean_motion,
        "SDMEANAN": draw(st.floats(0.0, 3e-15)),
        "ECCENTRY": ecc,
        "ECCENTX2": 2 * ecc,
        "ECBDX3": 3 * ecc**3,
        "ECBDX4D3": 4 / 3 * ecc**3,
        "ESQDX5D2": 2.5 * ecc**2,
        "SEMILREC": semilrec,
        "ARGPERIG": draw(st.floats(0.0, 1.0)),
        "RCARGPER": draw(st.floats(1e-7, 4e-7)),
        "RASCASCN": draw(st.floats(0.0, 1.0)),
        "RCASCNRV": draw(st.floats(-2.2e-7, -1.9e-7)),
        "COSINCLI": math.cos(incl),
        "SINEINCL": math.sin(incl),
        "HSTHORB": 0.5 / mean_motion,
        "CIRVELOC": math.sqrt(MU_EARTH / semilrec),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=hst_like_elements(), offsets_day=st.lists(st.floats(-10.0, 10.0), min_size=1, max_size=4))
def test_random_hst_like_elements_match_calcos(tmp_path, values, offsets_day):
    spt = tmp_path / "fake_spt.fits"
    header = write_fake_spt(spt, values)  # both sides read the same (FITS-rounded) values
    elements = OrbitalElements.from_header(header, source=spt.name)
    assert elements.hsthorb == header["HSTHORB"]
    reference = calcos_orbit.HSTOrbit(str(spt))
    epoch_mjd = 46066.0 + values["EPCHTIME"] / 86400.0
    times = epoch_mjd + np.array(offsets_day)
    ours = hst_position_gcrs(elements, times)
    theirs = np.array([reference.getPos(t)[0] * 1000.0 for t in times])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1.0)
    radius_km = np.linalg.norm(ours, axis=1) / 1e3
    assert np.all((radius_km > 6800) & (radius_km < 7100))


# ------------------------------------------------------------------ reading the elements
def test_from_header_reads_every_keyword_and_accepts_lower_case_dicts(real_sets):
    _, spt, header, _, _ = real_sets[0]
    from_fits = OrbitalElements.from_header(header)
    lower = {k.lower(): v for k, v in header.items() if k}
    from_dict = OrbitalElements.from_header(lower)
    assert from_fits == from_dict
    for key in ELEMENT_KEYS:
        assert getattr(from_fits, key.lower()) == header[key]
    assert from_fits.hsthorb == header["HSTHORB"]
    assert from_fits.period_s == pytest.approx(2 * header["HSTHORB"])
    assert 28.3 < from_fits.inclination_deg < 28.6


@pytest.mark.parametrize("missing", ["EPCHTIME", "SEMILREC", "SINEINCL"])
def test_missing_keyword_is_named_with_the_file(real_sets, missing):
    header = dict(real_sets[0][2])
    del header[missing]
    with pytest.raises(HstcrError) as info:
        OrbitalElements.from_header(header, source="o4er06llq_spt.fits")
    assert missing in str(info.value) and "o4er06llq_spt.fits" in str(info.value)


def test_hsthorb_is_optional(real_sets):
    header = dict(real_sets[0][2])
    del header["HSTHORB"]
    elements = OrbitalElements.from_header(header)
    assert elements.hsthorb is None
    assert elements.period_s == pytest.approx(1 / header["FDMEANAN"])


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("SEMILREC", "lots", "not a number"),
        ("MEANANOM", float("nan"), "not finite"),
        ("SEMILREC", 0.0, "SEMILREC"),
        ("ECCENTRY", 1.5, "ECCENTRY"),
        ("COSINCLI", 0.2, "COSINCLI"),
        ("FDMEANAN", -1e-4, "FDMEANAN"),
    ],
)
def test_invalid_elements_are_input_errors(real_sets, key, value, match):
    header = dict(real_sets[0][2])
    header[key] = value
    with pytest.raises(HstcrError, match=match):
        OrbitalElements.from_header(header, source="x_spt.fits")


# ------------------------------------------------------------------ Earth-fixed coordinates
def test_earth_fixed_conversion_is_consistent_and_close_to_the_calcos_convention(real_sets):
    """astropy's GCRS->ITRS->WGS84 conversion, checked three ways.

    1. A rotation: |ITRS| = |GCRS|, and the geodetic triple maps back to the same ITRS point.
    2. Against calcos' simple convention (latitude = declination, longitude = RA - GMST on a
       sphere): the difference is precession/nutation since J2000 plus flattening, bounded by
       0.3 degree (lon) and 0.25 degree (geocentric lat vs declination).
    3. Geodetic minus geocentric latitude follows the WGS84 formula at HST's height.
    """
    import astropy.units as u
    from astropy.coordinates import EarthLocation
    from astropy.time import Time

    from hstcr_common.ephemeris import geocentric_latitude_deg

    for _, _, header, start, _ in real_sets:
        elements = OrbitalElements.from_header(header)
        mjd = start + np.arange(0, 0.2, 1 / 1440)
        gcrs = hst_position_gcrs(elements, mjd)
        lat, lon, alt, itrs = geodetic_from_gcrs(gcrs, mjd)
        np.testing.assert_allclose(np.linalg.norm(itrs, axis=1), np.linalg.norm(gcrs, axis=1), rtol=0, atol=1e-3)
        back = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, alt * u.km, ellipsoid="WGS84")
        back_xyz = np.stack([back.x.to_value(u.m), back.y.to_value(u.m), back.z.to_value(u.m)], axis=1)
        np.testing.assert_allclose(back_xyz, itrs, rtol=0, atol=1e-3)

        gmst = Time(mjd, format="mjd", scale="utc").sidereal_time("mean", "greenwich").deg
        ra = np.degrees(np.arctan2(gcrs[:, 1], gcrs[:, 0]))
        dec = np.degrees(np.arcsin(gcrs[:, 2] / np.linalg.norm(gcrs, axis=1)))
        lon_calcos = (ra - gmst + 180.0) % 360.0 - 180.0
        dlon = (lon - lon_calcos + 180.0) % 360.0 - 180.0
        lat_c = np.degrees(np.arctan2(itrs[:, 2], np.hypot(itrs[:, 0], itrs[:, 1])))
        assert np.abs(dlon).max() < 0.3
        assert np.abs(lat_c - dec).max() < 0.25
        np.testing.assert_allclose(geocentric_latitude_deg(lat, alt), lat_c, atol=1e-7)
        assert np.abs(lat - lat_c).max() > 0.1  # geodetic latitude is not the geocentric one


def test_longitude_is_wrapped_to_minus_180_plus_180(real_sets):
    _, _, header, start, _ = real_sets[2]
    elements = OrbitalElements.from_header(header)
    mjd = start + np.arange(0, 1.0, 1 / 1440)  # a day: many date-line crossings
    _, lon, _, _ = geodetic_from_gcrs(hst_position_gcrs(elements, mjd), mjd)
    assert np.all(lon >= -180.0) and np.all(lon < 180.0)
    assert lon.min() < -170 and lon.max() > 170


def test_real_tracks_stay_in_hsts_orbit(real_sets):
    """Over a day from each real element set: altitude 480-640 km, |geocentric latitude| <=
    28.6 degree (inclination 28.4-28.5 plus precession of the equator since J2000), and
    ~3.8 degree of orbit per minute.  Geodetic latitude reaches ~0.15 degree higher."""
    for dataset, _, header, start, _ in real_sets:
        elements = OrbitalElements.from_header(header)
        tr = track(elements, start, start + 0.25)
        assert np.all((tr.altitude_km > 480) & (tr.altitude_km < 640)), dataset
        assert np.abs(tr.latitude_deg).max() < 28.8, dataset
        gcrs = hst_position_gcrs(elements, tr.time_mjd)
        _, _, _, itrs = geodetic_from_gcrs(gcrs, tr.time_mjd)
        lat_c = np.degrees(np.arctan2(itrs[:, 2], np.hypot(itrs[:, 0], itrs[:, 1])))
        assert np.abs(lat_c).max() <= 28.6, dataset
        step = angle_between_deg(gcrs[1:], gcrs[:-1])
        assert np.all((step > 3.6) & (step < 3.95)), dataset  # 360 deg / ~95 min


# ------------------------------------------------------------------ sampling
@pytest.mark.parametrize(
    "duration, expected",
    [
        (0.0, [0.0, 0.0]),
        (0.1, [0.0, 0.1]),
        (59.9, [0.0, 59.9]),
        (60.0, [0.0, 60.0]),
        (60.3, [0.0, 60.3]),
        (61.0, [0.0, 60.0, 61.0]),
        (1100.0, [*range(0, 1081, 60), 1100.0]),
        (1200.0, list(range(0, 1201, 60))),
    ],
)
def test_sample_offsets_every_minute_both_ends_included(duration, expected):
    np.testing.assert_allclose(sample_offsets_s(duration, 60.0), expected)


def test_track_sampling_times(real_sets):
    _, _, header, start, _ = real_sets[0]
    elements = OrbitalElements.from_header(header)
    end = start + 1100.0 / 86400
    tr = track(elements, start, end)
    assert isinstance(tr, Track) and len(tr) == 20
    assert tr.time_mjd[0] == start and tr.time_mjd[-1] == end
    np.testing.assert_allclose(np.diff(tr.time_mjd[:-1]) * 86400, 60.0, atol=1e-4)
    assert tr.time.dtype == np.dtype("datetime64[us]")
    # the datetime64 column and the MJD column are the same instants
    unix_s = (tr.time - np.datetime64("1970-01-01T00:00:00", "us")) / np.timedelta64(1, "s")
    np.testing.assert_allclose(unix_s / 86400 + 40587.0, tr.time_mjd, rtol=0, atol=2e-11)
    for column in (tr.latitude_deg, tr.longitude_deg, tr.altitude_km, tr.b_nt, tr.geomag_latitude_deg):
        assert column.shape == (20,) and np.all(np.isfinite(column))
    short = track(elements, start, start + 0.7 / 86400)
    assert len(short) == 2


def test_track_summaries_and_circular_mean_longitude():
    n = 4
    tr = Track(
        time_mjd=np.arange(n) + 57000.0,
        time=np.arange(n).astype("datetime64[m]").astype("datetime64[us]"),
        latitude_deg=np.array([-10.0, 0.0, 10.0, 20.0]),
        longitude_deg=np.array([178.0, 179.0, -179.0, -178.0]),
        altitude_km=np.array([540.0, 541.0, 542.0, 543.0]),
        b_nt=np.array([30000.0, 22000.0, 25000.0, 27000.0]),
        geomag_latitude_deg=np.zeros(n),
    )
    assert tr.mean_latitude_deg == pytest.approx(5.0)
    assert abs(tr.mean_longitude_deg) == pytest.approx(180.0)  # not 0, the arithmetic mean
    assert -180.0 <= tr.mean_longitude_deg < 180.0
    assert tr.mean_altitude_km == pytest.approx(541.5)
    assert tr.min_b_nt == 22000.0


def test_track_points_fit_the_lake_schema(real_sets):
    _, _, header, start, end = real_sets[8]
    tr = track(OrbitalElements.from_header(header), start, end)
    points = tr.points()
    assert len(points) == len(tr)
    array = pa.array(points, type=TRACK_POINT)
    assert array.type == TRACK_POINT
    assert points[0]["time"].tzinfo is not None
    assert points[-1]["latitude_deg"] == pytest.approx(tr.latitude_deg[-1])


def test_track_rejects_end_before_start(real_sets):
    elements = OrbitalElements.from_header(real_sets[0][2])
    with pytest.raises(HstcrError, match="before EXPSTART"):
        track(elements, 57000.5, 57000.4)
    with pytest.raises(HstcrError, match="not finite"):
        track(elements, float("nan"), 57000.4)
    with pytest.raises(HstcrError, match="days"):
        track(elements, 57000.0, 57400.0)  # a broken EXPEND must not ask for 576,000 samples


# ------------------------------------------------------------------ the geomagnetic field along the track
def test_minimum_field_over_a_day_of_orbits_is_the_south_atlantic_anomaly(real_sets):
    _, _, header, start, _ = real_sets[2]  # 2016
    tr = track(OrbitalElements.from_header(header), start, start + 1.0)
    assert len(tr) == 1441
    i = int(np.argmin(tr.b_nt))
    assert -50 < tr.latitude_deg[i] < 0 and -90 < tr.longitude_deg[i] < 0
    assert 15_000 < tr.min_b_nt < 22_000
    assert 25_000 < np.median(tr.b_nt) < 40_000
    # geomagnetic latitude spans the tilted dipole: HST reaches beyond 28.5 in magnetic latitude
    assert np.abs(tr.geomag_latitude_deg).max() > 35


def test_track_field_equals_geomag_functions(real_sets):
    from hstcr_common.ephemeris import geomag

    _, _, header, start, end = real_sets[4]
    tr = track(OrbitalElements.from_header(header), start, start + 0.02)
    mid = tr.time[0] + (tr.time[-1] - tr.time[0]) // 2
    np.testing.assert_allclose(
        tr.b_nt, geomag.field_strength_nt(tr.latitude_deg, tr.longitude_deg, tr.altitude_km, mid), rtol=1e-12
    )
    np.testing.assert_allclose(
        tr.geomag_latitude_deg,
        geomag.geomagnetic_latitude_deg(tr.latitude_deg, tr.longitude_deg, mid, alt_km=tr.altitude_km),
        atol=1e-12,
    )


# ------------------------------------------------------------------ per dark
def test_track_for_dark_with_real_support_header(real_sets):
    dataset, _, header, start, end = real_sets[8]  # ocui04xeq, 20 s
    dark = make_dark(dict(header), expstart_mjd=start, expend_mjd=end, dataset=dataset)
    tr, note = track_for_dark(dark)
    assert note == ""
    assert len(tr) == 2
    assert 480 < tr.mean_altitude_km < 640


def test_track_for_dark_without_support_file_keeps_the_reason():
    dark = make_dark(None, support_note="no SPT file in MAST for ocmv0lw6q")
    tr, note = track_for_dark(dark)
    assert tr is None and "no SPT file in MAST" in note
    tr, note = track_for_dark(make_dark(None))
    assert tr is None and "SPT" in note and "ocmv0lw6q" in note


def test_wfpc2_dark_without_shm_and_with_one(real_sets):
    det = get_detector("wfpc2")
    tr, note = track_for_dark(make_dark(None, detector=det, dataset="u2a20101t"))
    assert tr is None and "SHM" in note and "u2a20101t" in note
    # an SHM carries the same element keywords: the track works alike
    tr, note = track_for_dark(make_dark(dict(real_sets[2][2]), detector=det, dataset="u2a20101t"))
    assert note == "" and len(tr) == 20


def test_track_for_dark_with_missing_keyword_names_it(real_sets):
    header = dict(real_sets[2][2])
    del header["MEANANOM"]
    tr, note = track_for_dark(make_dark(header))
    assert tr is None
    assert "MEANANOM" in note and "ocmv0lw6q_spt.fits" in note


def test_track_for_dark_with_end_before_start(real_sets):
    tr, note = track_for_dark(make_dark(dict(real_sets[2][2]), expstart_mjd=57660.99, expend_mjd=57660.98))
    assert tr is None and "before EXPSTART" in note and "ocmv0lw6q" in note


def test_track_for_dark_with_implausible_orbit(real_sets):
    header = dict(real_sets[2][2])
    header["SEMILREC"] = 4.0e7  # geostationary-ish: not HST
    tr, note = track_for_dark(make_dark(header))
    assert tr is None and "altitude" in note


# ------------------------------------------------------------------ offline IERS
def test_no_iers_download_even_when_astropy_would_try(real_sets, monkeypatch):
    """With astropy's download functions broken and its cached IERS table dropped, tracks are
    still computed (bundled astropy-iers-data), also for a date past the measured values."""
    import astropy.utils.data
    from astropy.utils import iers

    attempts = []

    def refuse(*args, **kwargs):  # astropy catches download errors, so record attempts too
        attempts.append(args)
        raise OSError("no network in this test")

    monkeypatch.setattr(astropy.utils.data, "download_file", refuse)
    monkeypatch.setattr(iers.IERS_Auto, "iers_table", None)
    monkeypatch.setattr(iers.conf, "auto_download", True)
    elements = OrbitalElements.from_header(real_sets[2][2])
    for start in (real_sets[2][3], 61600.0):  # 2016 and mid-2027
        tr = track(elements, start, start + 0.01)
        assert np.all(np.isfinite(tr.latitude_deg)) and np.all(np.isfinite(tr.longitude_deg))
    assert attempts == []


def test_erfa_transform_equals_astropys_gcrs_to_itrs():
    """The ERFA GCRS -> ITRS (no astropy frames) is astropy's, to 1 mm, at HST-like radii over
    1985-2035: inside the measured IERS values, the predictions, and beyond the table (UT1-UTC
    held, polar motion at astropy's 50-year mean), including across a leap second."""
    import warnings

    import astropy.units as u
    from astropy.coordinates import GCRS, ITRS, CartesianRepresentation
    from astropy.time import Time
    from astropy.utils import iers

    rng = np.random.default_rng(11)
    mjd = np.r_[np.sort(rng.uniform(46066.0, 64000.0, 300)), 57753.999, 57754.0, 57754.5, 40000.0]
    theta, phi = rng.uniform(0, np.pi, mjd.size), rng.uniform(0, 2 * np.pi, mjd.size)
    r = rng.uniform(6.8e6, 7.1e6, mjd.size)
    pos = np.stack([r * np.sin(theta) * np.cos(phi), r * np.sin(theta) * np.sin(phi),
                    r * np.cos(theta)], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lat, lon, alt, itrs = geodetic_from_gcrs(pos, mjd)
        with iers.conf.set_temp("auto_download", False), iers.conf.set_temp("auto_max_age", None), \
                iers.conf.set_temp("iers_degraded_accuracy", "warn"):
            when = Time(mjd, format="mjd", scale="utc")
            ref = GCRS(CartesianRepresentation(pos.T, unit=u.m), obstime=when).transform_to(
                ITRS(obstime=when))
            ref_xyz = ref.cartesian.xyz.to_value(u.m).T
            ref_lon, ref_lat, ref_h = ref.earth_location.to_geodetic("WGS84")
    assert np.linalg.norm(itrs - ref_xyz, axis=1).max() < 1e-3
    np.testing.assert_allclose(lat, ref_lat.deg, atol=1e-9)
    np.testing.assert_allclose(alt, ref_h.to_value(u.km), atol=1e-6)
    dlon = (lon - ref_lon.deg + 180.0) % 360.0 - 180.0
    assert np.abs(dlon).max() < 1e-9 and lon.min() >= -180.0 and lon.max() < 180.0


def test_first_track_needs_no_astropy_frames():
    """Start-up: a track loads neither astropy.coordinates nor pandas (a fresh process)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from hstcr_common.ephemeris import orbit; "
            "orbit.geodetic_from_gcrs(np.array([[7e6, 0, 0]]), np.array([58000.0])); "
            "from hstcr_common.ephemeris import geomag; "
            "geomag.field_strength_nt(0.0, 0.0, 540.0, np.datetime64('2018-01-01')); "
            "print(sorted(m for m in ('astropy.coordinates', 'pandas', 'ppigrf') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
