"""Earth's magnetic field along HST's track: IGRF field strength and geomagnetic latitude.

The field comes from the International Geomagnetic Reference Field as implemented and
shipped (coefficients included) by the PyPI package ``ppigrf`` (IGRF-14 by default, covering
1900-2030 with linear interpolation between the 5-year models).  Both functions take
**geodetic** (WGS84) latitude and height above the ellipsoid, which is what
:mod:`hstcr_common.ephemeris.orbit` produces and what ``ppigrf.igrf`` expects.

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
from functools import cache

import numpy as np

# WGS84 ellipsoid (the same constants ppigrf uses for its geodetic conversion)
WGS84_A_KM = 6378.137
WGS84_E2 = 0.00669437999014


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
        one ``ppigrf`` call per exposure keeps it fast.

    Returns
    -------
    ndarray, float64
        |B| in nT, shaped like the broadcast of the inputs.
    """
    import ppigrf  # imported here: it pulls in pandas, which most of hstcr never needs

    lat, lon, alt = np.broadcast_arrays(
        np.asarray(lat_deg, float), np.asarray(lon_deg, float), np.asarray(alt_km, float)
    )
    if lat.size == 0:
        return np.zeros(lat.shape)
    b_east, b_north, b_up = ppigrf.igrf(lon, lat, alt, _naive_utc(when))
    # ppigrf returns shape (n_dates, *coords); |B| does not depend on the frame
    return np.sqrt(b_east[0] ** 2 + b_north[0] ** 2 + b_up[0] ** 2).reshape(lat.shape)


@cache
def _dipole_table() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Model epochs (s since 1970) and g10, g11, h11 (nT) from ppigrf's default IGRF file."""
    from ppigrf import ppigrf as model

    g, h = model.read_shc(model.shc_fn)
    epochs = np.array(g.index.values, dtype="datetime64[s]").astype(np.int64).astype(float)
    return (
        epochs,
        g[(1, 0)].to_numpy(float),
        g[(1, 1)].to_numpy(float),
        h[(1, 1)].to_numpy(float),
    )


def dipole_coefficients(when) -> tuple[float, float, float]:
    """IGRF degree-1 Gauss coefficients (g10, g11, h11) in nT at ``when``.

    Linear interpolation in time between the model epochs, as ``ppigrf`` does for the full
    expansion (clamped to the first/last epoch outside the model's span).
    """
    epochs, g10, g11, h11 = _dipole_table()
    t = (_naive_utc(when) - dt.datetime(1970, 1, 1)).total_seconds()
    return (
        float(np.interp(t, epochs, g10)),
        float(np.interp(t, epochs, g11)),
        float(np.interp(t, epochs, h11)),
    )


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
