"""IGRF field strength and centred-dipole geomagnetic latitude.

|B| is checked against an independent evaluation of the IGRF: the scalar potential summed
here from the model's own coefficient file with scipy's Legendre functions, differentiated
numerically in Cartesian coordinates (so neither ppigrf's recursion, its derivative formulas
nor its geodetic conversion are reused; the geodetic -> Earth-fixed conversion is astropy's).
"""

from __future__ import annotations

import datetime as dt
import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy.special import lpmv

from hstcr_common.ephemeris import geomag

RE_KM = 6371.2  # IGRF reference radius


@cache
def shc_table() -> tuple[np.ndarray, dict[tuple[int, int], np.ndarray]]:
    """Epochs (decimal years) and coefficient rows {(n, m): values} of ppigrf's IGRF file;
    m < 0 rows are the h coefficients."""
    import ppigrf

    path = Path(ppigrf.__file__).parent / "IGRF14.shc"
    rows = [line.split() for line in path.read_text().splitlines() if line and not line.startswith("#")]
    epochs = np.array(rows[1], float)
    coeffs = {(int(r[0]), int(r[1])): np.array(r[2:], float) for r in rows[2:]}
    return epochs, coeffs


def potential_nt_km(xyz_km: np.ndarray, epoch_index: int) -> np.ndarray:
    """IGRF scalar potential V (nT km) at Earth-fixed Cartesian points, at a model epoch."""
    _, coeffs = shc_table()
    x, y, z = xyz_km
    r = np.sqrt(x * x + y * y + z * z)
    cos_theta = z / r
    phi = np.arctan2(y, x)
    total = np.zeros_like(r)
    for (n, m), values in coeffs.items():
        if m < 0:
            continue
        g = values[epoch_index]
        h = coeffs[(n, -m)][epoch_index] if m > 0 else 0.0
        # Schmidt semi-normalised P_n^m, without scipy's Condon-Shortley phase
        schmidt = 1.0 if m == 0 else math.sqrt(2.0 * math.factorial(n - m) / math.factorial(n + m))
        p_nm = (-1) ** m * schmidt * lpmv(m, n, cos_theta)
        total += (RE_KM / r) ** (n + 1) * (g * np.cos(m * phi) + h * np.sin(m * phi)) * p_nm
    return RE_KM * total


def reference_b_nt(lat_deg, lon_deg, alt_km, epoch_index) -> np.ndarray:
    """|B| = |grad V| by central differences at geodetic positions (astropy's WGS84)."""
    import astropy.units as u
    from astropy.coordinates import EarthLocation

    loc = EarthLocation.from_geodetic(lon_deg * u.deg, lat_deg * u.deg, alt_km * u.km, ellipsoid="WGS84")
    xyz = np.array([loc.x.to_value(u.km), loc.y.to_value(u.km), loc.z.to_value(u.km)])
    step = 1e-2  # km
    grad = []
    for axis in range(3):
        offset = np.zeros((3, 1))
        offset[axis] = step
        grad.append((potential_nt_km(xyz + offset, epoch_index) - potential_nt_km(xyz - offset, epoch_index)) / (2 * step))
    return np.sqrt(np.sum(np.square(grad), axis=0))


POINTS = [  # (lat, lon, alt_km): ppigrf's README example place (Bergen), poles, SAA, HST-like
    (60.39299, 5.32415, 0.0),
    (80.0, -72.0, 0.0),
    (-64.0, 137.0, 0.0),
    (-26.0, -50.0, 0.0),
    (-26.0, -50.0, 540.0),
    (28.0, 120.0, 600.0),
    (0.0, 0.0, 300.0),
    (-10.0, -170.0, 1500.0),
]


@pytest.mark.parametrize("year", [2000, 2015, 2020])
def test_field_strength_matches_independent_igrf_sum(year):
    epochs, _ = shc_table()
    index = int(np.flatnonzero(epochs == year)[0])
    lat, lon, alt = (np.array(col, float) for col in zip(*POINTS))
    ours = geomag.field_strength_nt(lat, lon, alt, dt.datetime(year, 1, 1))
    ref = reference_b_nt(lat, lon, alt, index)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=0.01)


@pytest.mark.parametrize("when", [dt.datetime(1991, 7, 3, 5), dt.datetime(2016, 9, 29, 23, 43, 50),
                                  dt.datetime(2027, 6, 1)])
def test_field_strength_equals_ppigrf(when):
    """The numpy expansion (no ppigrf/pandas import on the hot path) is ppigrf's to rounding,
    between model epochs and on the predicted 2025-2030 stretch."""
    import ppigrf

    rng = np.random.default_rng(5)
    lat, lon, alt = rng.uniform(-89, 89, 200), rng.uniform(-180, 180, 200), rng.uniform(0, 1500, 200)
    b_e, b_n, b_u = ppigrf.igrf(lon, lat, alt, when)
    ref = np.sqrt(b_e[0] ** 2 + b_n[0] ** 2 + b_u[0] ** 2)
    np.testing.assert_allclose(geomag.field_strength_nt(lat, lon, alt, when), ref, rtol=1e-12)
    g10, g11, h11 = geomag.dipole_coefficients(when)
    b_r, _, _ = ppigrf.igrf_gc(6371.2, 0.0 + 1e-9, 0.0, when, max_degree=1)
    assert float(b_r.ravel()[0]) == pytest.approx(2 * g10, rel=1e-9)


def test_readme_example_place_and_surface_range():
    """Bergen, 2021-03-28 (ppigrf's README example): |B| of a high-latitude site ~51,000 nT;
    the surface field everywhere lies between ~22,000 (SAA) and ~67,000 nT (south pole)."""
    b_bergen = geomag.field_strength_nt(60.39299, 5.32415, 0.0, dt.datetime(2021, 3, 28))
    assert b_bergen.shape == ()
    assert 50_000 < float(b_bergen) < 52_500
    lat, lon = np.meshgrid(np.arange(-89.0, 90.0, 4.0), np.arange(-180.0, 180.0, 5.0))
    surface = geomag.field_strength_nt(lat, lon, 0.0, dt.datetime(2010, 6, 1))
    assert surface.shape == lat.shape
    assert 20_000 < surface.min() < 25_000  # South Atlantic Anomaly
    assert 60_000 < surface.max() < 68_000
    i_min = np.unravel_index(np.argmin(surface), surface.shape)
    assert -50 < lat[i_min] < 0 and -90 < lon[i_min] < 0


def test_field_falls_with_altitude_roughly_as_r_cubed():
    b0 = geomag.field_strength_nt(0.0, 30.0, 0.0, dt.datetime(2005, 1, 1))
    b540 = geomag.field_strength_nt(0.0, 30.0, 540.0, dt.datetime(2005, 1, 1))
    assert float(b540 / b0) == pytest.approx((6378.0 / 6918.0) ** 3, rel=0.05)


def test_field_strength_vectorised_equals_one_by_one_and_accepts_date_types():
    lat = np.array([-20.0, 5.0, 28.5])
    lon = np.array([-45.0, 100.0, 179.9])
    alt = np.array([540.0, 545.0, 550.0])
    when = dt.datetime(2016, 9, 29, 23, 43, 50)
    together = geomag.field_strength_nt(lat, lon, alt, when)
    single = [float(geomag.field_strength_nt(a, b, c, when)) for a, b, c in zip(lat, lon, alt)]
    np.testing.assert_allclose(together, single, rtol=1e-12)
    aware = when.replace(tzinfo=dt.timezone.utc)
    np.testing.assert_allclose(geomag.field_strength_nt(lat, lon, alt, aware), together, rtol=1e-12)
    np.testing.assert_allclose(
        geomag.field_strength_nt(lat, lon, alt, np.datetime64("2016-09-29T23:43:50")), together, rtol=1e-12
    )
    assert geomag.field_strength_nt(np.array([]), np.array([]), 540.0, when).shape == (0,)


def test_dipole_coefficients_are_the_published_igrf_values():
    # IGRF DGRF 2000 degree-1 Gauss coefficients (nT), e.g. Macmillan & Maus 2005 table
    assert geomag.dipole_coefficients(dt.datetime(2000, 1, 1)) == pytest.approx((-29619.4, -1728.2, 5186.1))
    # linear in time between model epochs
    mid = geomag.dipole_coefficients(dt.datetime(2002, 7, 2, 12))
    ends = np.array([geomag.dipole_coefficients(dt.datetime(y, 1, 1)) for y in (2000, 2005)])
    np.testing.assert_allclose(mid, ends.mean(axis=0), rtol=2e-5)


def test_dipole_pole_is_where_the_dipole_field_is_vertical():
    """At the computed pole the degree-1 IGRF field (ppigrf, max_degree=1) points straight down."""
    import ppigrf

    when = dt.datetime(2020, 1, 1)
    pole_lat, pole_lon = geomag.dipole_pole(when)
    assert 79.5 < pole_lat < 81.5 and -74 < pole_lon < -71  # ~80.6 N, 72.7 W in 2020
    b_r, b_theta, b_phi = ppigrf.igrf_gc(7000.0, 90.0 - pole_lat, pole_lon, when, max_degree=1)
    assert abs(float(b_theta.ravel()[0])) < 1e-6 * abs(float(b_r.ravel()[0]))
    assert abs(float(b_phi.ravel()[0])) < 1e-6 * abs(float(b_r.ravel()[0]))
    assert float(b_r.ravel()[0]) < 0  # downward: the geomagnetic *north* pole


def test_geomagnetic_latitude_obeys_the_dipole_inclination_law():
    """For the centred dipole, tan(inclination) = 2 tan(geomagnetic latitude) everywhere."""
    import ppigrf

    when = dt.datetime(2012, 5, 3)
    rng = np.random.default_rng(4)
    lat_c = rng.uniform(-85, 85, 50)
    lon = rng.uniform(-180, 180, 50)
    # geocentric input: altitude chosen so the geodetic->geocentric step is exercised too
    b_r, b_theta, b_phi = ppigrf.igrf_gc(6900.0, 90.0 - lat_c, lon, when, max_degree=1)
    inclination = np.arctan2(-b_r[0], np.hypot(b_theta[0], b_phi[0]))
    # turn geocentric (r=6900 km) into geodetic for the public function
    import astropy.units as u
    from astropy.coordinates import EarthLocation

    xyz = 6900.0 * np.array([np.cos(np.radians(lat_c)) * np.cos(np.radians(lon)),
                             np.cos(np.radians(lat_c)) * np.sin(np.radians(lon)),
                             np.sin(np.radians(lat_c))])
    geo = EarthLocation.from_geocentric(*xyz, unit=u.km).to_geodetic("WGS84")
    mlat = geomag.geomagnetic_latitude_deg(geo.lat.deg, lon, when, alt_km=geo.height.to_value(u.km))
    np.testing.assert_allclose(np.tan(inclination), 2 * np.tan(np.radians(mlat)), rtol=1e-7, atol=1e-9)


def test_geomagnetic_latitude_extremes_and_shape():
    when = dt.datetime(2016, 1, 1)
    pole_lat, pole_lon = geomag.dipole_pole(when)
    # the pole is given in geocentric latitude; at the surface on the pole's meridian
    lat = np.array([[pole_lat, -pole_lat]])
    lon = np.array([[pole_lon, pole_lon + 180.0]])
    lat_geodetic = np.degrees(np.arctan(np.tan(np.radians(lat)) / (1 - geomag.WGS84_E2)))
    mlat = geomag.geomagnetic_latitude_deg(lat_geodetic, lon, when)
    assert mlat.shape == (1, 2)
    np.testing.assert_allclose(mlat, [[90.0, -90.0]], atol=1e-4)


def test_geocentric_latitude_matches_astropy():
    import astropy.units as u
    from astropy.coordinates import EarthLocation

    lat = np.array([-28.6, -10.0, 0.0, 15.0, 28.6, 60.0])
    alt = np.array([540.0, 0.0, 600.0, 550.0, 545.0, 10.0])
    loc = EarthLocation.from_geodetic(0 * u.deg, lat * u.deg, alt * u.km)
    ref = np.degrees(np.arctan2(loc.z.value, np.hypot(loc.x.value, loc.y.value)))
    np.testing.assert_allclose(geomag.geocentric_latitude_deg(lat, alt), ref, atol=1e-9)
    # at HST's height the geodetic/geocentric difference is ~0.15 degree at 28 degrees
    diff = lat[4] - geomag.geocentric_latitude_deg(lat[4], alt[4])
    assert 0.12 < diff < 0.17
