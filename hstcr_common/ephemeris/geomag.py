"""Earth's magnetic field along HST's track: IGRF field strength and geomagnetic latitude.

The field is the International Geomagnetic Reference Field, from the coefficient file the
PyPI package ``ppigrf`` ships (``IGRF14.shc``: 1900-2030, linear in time between the 5-year
models, as ``ppigrf`` interpolates).  The expansion is summed here with numpy (Schmidt
semi-normalised Legendre functions by the same recursion as ``ppigrf``, Wertz 1978), so
neither ``ppigrf`` nor the pandas it imports (~0.4 s) is loaded on the way to a dark.  Both
functions take **geodetic** (WGS84) latitude and height above the ellipsoid, which is what
:mod:`hstcr_common.ephemeris.orbit` produces.

* :func:`field_strength_nt` -- |B| in nT from the full IGRF expansion (degree 13).  The
  South Atlantic Anomaly is where |B| at HST's altitude is lowest.
* :func:`geomagnetic_latitude_deg` -- latitude in the centred-dipole frame defined by the
  degree-1 Gauss coefficients g10, g11, h11 of the *same* IGRF model at the same date.

Centred dipole (e.g. Fraser-Smith 1987, Rev. Geophys. 25, 1; Laundal & Richmond 2017,
Space Sci. Rev. 206, 27): with B0 = sqrt(g10^2 + g11^2 + h11^2), the dipole axis meets the
northern hemisphere at geocentric colatitude theta0 = arccos(-g10 / B0) and east longitude
phi0 = atan2(-h11, -g11) (the "geomagnetic north pole", ~80.7 N, 72.7 W in 2020).  The
geomagnetic latitude of a point at geocentric latitude lat_c and longitude lon is

    sin(lat_m) = sin(lat_c) sin(lat0) + cos(lat_c) cos(lat0) cos(lon - phi0),  lat0 = 90 - theta0.

A centred dipole lives in geocentric spherical coordinates, so the geodetic latitude is first
converted to geocentric latitude on the WGS84 ellipsoid at the given height.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from functools import cache
from pathlib import Path

import numpy as np

# WGS84 ellipsoid (the same constants ppigrf uses for its geodetic conversion)
WGS84_A_KM = 6378.137
WGS84_E2 = 0.00669437999014
#: IGRF reference radius (km)
IGRF_RE_KM = 6371.2
#: the IGRF coefficient file ppigrf ships (its default model)
IGRF_FILE = "IGRF14.shc"
_UNIX_EPOCH = dt.datetime(1970, 1, 1)


def _shc_path() -> Path:
    """``IGRF14.shc`` inside the installed ppigrf package, found without importing it."""
    spec = importlib.util.find_spec("ppigrf")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the IGRF coefficients come from the 'ppigrf' package: pip install ppigrf")
    return Path(list(spec.submodule_search_locations)[0]) / IGRF_FILE


@cache
def igrf_table() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The IGRF coefficient file as arrays.

    Returns
    -------
    epochs_s : ndarray (k,)
        Model epochs, seconds since 1970-01-01 (1 January of each model year).
    n, m : ndarray of int (j,)
        Degree and order of each coefficient row; ``m < 0`` rows are the h coefficients of
        order ``-m``.
    values : ndarray (j, k)
        Coefficients (nT) per row and epoch.
    """
    rows = [line.split() for line in _shc_path().read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    years = np.array(rows[1], float)
    table = np.array(rows[2:], float)
    whole = years.astype(int)
    if np.any(years != whole):
        raise ValueError(f"{IGRF_FILE}: model epochs are not whole years")
    epochs = np.array([(dt.datetime(int(y), 1, 1) - _UNIX_EPOCH).total_seconds() for y in whole])
    return epochs, table[:, 0].astype(int), table[:, 1].astype(int), table[:, 2:]


def _coefficients_at(when) -> tuple[np.ndarray, np.ndarray]:
    """Gauss coefficients g[n, m], h[n, m] (nT, (N+1, N+1)) linear in time at ``when``
    (clamped to the first/last model epoch)."""
    epochs, n, m, values = igrf_table()
    t = (_naive_utc(when) - _UNIX_EPOCH).total_seconds()
    k = int(np.clip(np.searchsorted(epochs, t, side="right") - 1, 0, epochs.size - 2))
    f = float(np.clip((t - epochs[k]) / (epochs[k + 1] - epochs[k]), 0.0, 1.0))
    now = values[:, k] * (1.0 - f) + values[:, k + 1] * f
    size = int(n.max()) + 1
    g = np.zeros((size, size))
    h = np.zeros((size, size))
    g[n[m >= 0], m[m >= 0]] = now[m >= 0]
    h[n[m < 0], -m[m < 0]] = now[m < 0]
    return g, h


def _schmidt_legendre(cos_t: np.ndarray, sin_t: np.ndarray, nmax: int):
    """Schmidt semi-normalised P_n^m(cos theta) and dP/dtheta, lists [n][m] of arrays
    (the Wertz recursion ppigrf uses)."""
    zero = np.zeros_like(cos_t)
    p = [[zero] * (nmax + 1) for _ in range(nmax + 1)]
    dp = [[zero] * (nmax + 1) for _ in range(nmax + 1)]
    p[0][0] = np.ones_like(cos_t)
    for n in range(1, nmax + 1):
        for m in range(n + 1):
            if n == m:
                p[n][n] = sin_t * p[n - 1][n - 1]
                dp[n][n] = sin_t * dp[n - 1][n - 1] + cos_t * p[n - 1][n - 1]
            elif n == 1:
                p[n][m] = cos_t * p[n - 1][m]
                dp[n][m] = cos_t * dp[n - 1][m] - sin_t * p[n - 1][m]
            else:
                k = ((n - 1) ** 2 - m**2) / ((2 * n - 1) * (2 * n - 3))
                p[n][m] = cos_t * p[n - 1][m] - k * p[n - 2][m]
                dp[n][m] = cos_t * dp[n - 1][m] - sin_t * p[n - 1][m] - k * dp[n - 2][m]
    schmidt = np.zeros((nmax + 1, nmax + 1))
    schmidt[0, 0] = 1.0
    for n in range(1, nmax + 1):
        schmidt[n, 0] = schmidt[n - 1, 0] * (2.0 * n - 1) / n
        for m in range(1, n + 1):
            schmidt[n, m] = schmidt[n, m - 1] * np.sqrt((n - m + 1) * (int(m == 1) + 1.0) / (n + m))
    return ([[p[n][m] * schmidt[n, m] for m in range(nmax + 1)] for n in range(nmax + 1)],
            [[dp[n][m] * schmidt[n, m] for m in range(nmax + 1)] for n in range(nmax + 1)])


def _geocentric(lat_deg: np.ndarray, alt_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geocentric radius (km) and colatitude (rad) of geodetic WGS84 positions."""
    lat = np.radians(lat_deg)
    n = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    rho = (n + alt_km) * np.cos(lat)
    z = (n * (1.0 - WGS84_E2) + alt_km) * np.sin(lat)
    return np.hypot(rho, z), np.arctan2(rho, z)


def igrf_field_nt(r_km, colat_rad, lon_rad, when) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IGRF field (nT) in geocentric spherical components (B_r, B_theta, B_phi).

    Parameters
    ----------
    r_km, colat_rad, lon_rad : ndarray
        Geocentric radius (km), colatitude and east longitude (radians), one shape.
    when : datetime, numpy.datetime64 or astropy Time
        One date for all points.
    """
    g, h = _coefficients_at(when)
    nmax = g.shape[0] - 1
    cos_t, sin_t = np.cos(colat_rad), np.sin(colat_rad)
    p, dp = _schmidt_legendre(cos_t, sin_t, nmax)
    b_r = np.zeros_like(r_km)
    b_t = np.zeros_like(r_km)
    b_p = np.zeros_like(r_km)
    ratio = IGRF_RE_KM / r_km
    cos_m = [np.cos(m * lon_rad) for m in range(nmax + 1)]
    sin_m = [np.sin(m * lon_rad) for m in range(nmax + 1)]
    for n in range(1, nmax + 1):
        scale = ratio ** (n + 2)
        for m in range(n + 1):
            cs = g[n, m] * cos_m[m] + h[n, m] * sin_m[m]
            b_r += scale * (n + 1) * cs * p[n][m]
            b_t -= scale * cs * dp[n][m]
            b_p += scale * m * (g[n, m] * sin_m[m] - h[n, m] * cos_m[m]) * p[n][m]
    with np.errstate(divide="ignore", invalid="ignore"):
        b_p = b_p / sin_t
    return b_r, b_t, b_p


def _naive_utc(when) -> dt.datetime:
    """One instant as a naive UTC ``datetime`` (what ppigrf compares with its table).

    Accepts a ``datetime`` (naive = UTC, aware = converted), a ``date``, a
    ``numpy.datetime64`` or an astropy ``Time``.
    """
    if hasattr(when, "to_datetime") and hasattr(when, "jd"):  # astropy Time
        when = when.utc.to_datetime()
    if isinstance(when, np.datetime64):
        micro = when.astype("datetime64[us]").astype(np.int64)
        return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(micro))
    if isinstance(when, dt.datetime):
        if when.tzinfo is not None:
            when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return when
    if isinstance(when, dt.date):
        return dt.datetime(when.year, when.month, when.day)
    raise TypeError(f"cannot interpret {when!r} as a date")


def field_strength_nt(lat_deg, lon_deg, alt_km, when) -> np.ndarray:
    """IGRF magnetic field strength |B| (nT) at geodetic positions, one date for all.

    Parameters
    ----------
    lat_deg : array_like
        Geodetic (WGS84) latitude (degrees).
    lon_deg : array_like
        East longitude (degrees).
    alt_km : array_like
        Height above the WGS84 ellipsoid (km).
    when : datetime, numpy.datetime64 or astropy Time
        The instant the model is evaluated at (a naive datetime is UTC).  One date for all
        positions: within an exposure the secular variation (~100 nT/yr) is negligible, and
        one evaluation per exposure keeps it fast.

    Returns
    -------
    ndarray, float64
        |B| in nT, shaped like the broadcast of the inputs.
    """
    lat, lon, alt = np.broadcast_arrays(
        np.asarray(lat_deg, float), np.asarray(lon_deg, float), np.asarray(alt_km, float)
    )
    if lat.size == 0:
        return np.zeros(lat.shape)
    r, colat = _geocentric(lat.ravel(), alt.ravel())
    b_r, b_t, b_p = igrf_field_nt(r, colat, np.radians(lon.ravel()), when)
    # |B| does not depend on the frame: no rotation back to the ellipsoid's north/up
    return np.sqrt(b_r**2 + b_t**2 + b_p**2).reshape(lat.shape)


def dipole_coefficients(when) -> tuple[float, float, float]:
    """IGRF degree-1 Gauss coefficients (g10, g11, h11) in nT at ``when``.

    Linear interpolation in time between the model epochs, as ``ppigrf`` does for the full
    expansion (clamped to the first/last epoch outside the model's span).
    """
    g, h = _coefficients_at(when)
    return float(g[1, 0]), float(g[1, 1]), float(h[1, 1])


def dipole_pole(when) -> tuple[float, float]:
    """Geocentric latitude and east longitude (degrees) of the centred dipole's north pole.

    This is the "geomagnetic north pole" (where the dipole axis meets the northern
    hemisphere; field lines point down there).  Longitude in [-180, 180).
    """
    g10, g11, h11 = dipole_coefficients(when)
    b0 = np.sqrt(g10**2 + g11**2 + h11**2)
    pole_lat = 90.0 - np.degrees(np.arccos(-g10 / b0))
    pole_lon = np.degrees(np.arctan2(-h11, -g11))
    return float(pole_lat), float((pole_lon + 180.0) % 360.0 - 180.0)


def geocentric_latitude_deg(lat_deg, alt_km=0.0) -> np.ndarray:
    """Geocentric latitude (degrees) of a point at geodetic latitude ``lat_deg``, height ``alt_km``.

    From the WGS84 ellipsoid: with N the prime-vertical radius of curvature,
    tan(lat_c) = (N (1 - e^2) + h) sin(lat) / ((N + h) cos(lat)).
    """
    lat = np.radians(np.asarray(lat_deg, float))
    alt = np.asarray(alt_km, float)
    n = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    return np.degrees(
        np.arctan2((n * (1.0 - WGS84_E2) + alt) * np.sin(lat), (n + alt) * np.cos(lat))
    )


def geomagnetic_latitude_deg(lat_deg, lon_deg, when, alt_km=0.0) -> np.ndarray:
    """Centred-dipole geomagnetic latitude (degrees) of geodetic positions.

    Parameters
    ----------
    lat_deg : array_like
        Geodetic (WGS84) latitude (degrees).
    lon_deg : array_like
        East longitude (degrees).
    when : datetime, numpy.datetime64 or astropy Time
        Date of the IGRF dipole coefficients (g10, g11, h11).
    alt_km : array_like, optional
        Height above the ellipsoid (km), used only to turn geodetic into geocentric
        latitude (at HST's altitude the difference from using 0 is < 0.01 degree).

    Returns
    -------
    ndarray, float64
        Geomagnetic latitude in degrees, [-90, 90], shaped like the broadcast inputs.
    """
    pole_lat, pole_lon = dipole_pole(when)
    lat_c = np.radians(geocentric_latitude_deg(lat_deg, alt_km))
    lon = np.radians(np.asarray(lon_deg, float))
    lat0, lon0 = np.radians(pole_lat), np.radians(pole_lon)
    sin_lat_m = np.sin(lat_c) * np.sin(lat0) + np.cos(lat_c) * np.cos(lat0) * np.cos(lon - lon0)
    return np.degrees(np.arcsin(np.clip(sin_lat_m, -1.0, 1.0)))
