"""Where was HST? Its orbit track through an exposure, from the support file's elements.

The dark's support file (SPT; WFPC2: SHM) primary header carries the osculating element set
HST's ground system uploads to the spacecraft ("ONBOARD EPHEMERIS MODEL PARAMETERS").
:func:`hst_position_gcrs` evaluates it exactly as HST's own calibration software does
(calcos ``orbit.HSTOrbit.getPos``, after Tom Ake's IDL ``hst_pos_mjd.pro``), vectorised over
time.  With dt = (MJD - 46066) * 86400 - EPCHTIME (s since the element epoch; MJD 46066 is
1985-01-01):

* mean anomaly ``M = MEANANOM + 2 pi (FDMEANAN dt + SDMEANAN dt^2 / 2)``
* true anomaly ``nu = M + sin M (ECCENTX2 + ECBDX3 cos^2 M - ECBDX4D3 sin^2 M + ESQDX5D2 cos M)``
* radius ``r = SEMILREC / (1 + ECCENTRY cos nu)``
* perigee ``w = 2 pi (ARGPERIG + RCARGPER dt)``, node ``W = 2 pi (RASCASCN + RCASCNRV dt)``
* with ``u = w + nu``: ``x = r (cos W cos u - cos i sin W sin u)``,
  ``y = r (sin W cos u + cos i cos W sin u)``, ``z = r sin i sin u``.

Time scale: calcos feeds the header's MJD (EXPSTART/EXPEND, which are UTC-based) straight
into the formula, with no UTC->TT or leap-second handling; EPCHTIME is likewise a count of
86400-s days since 1985-01-01 on the same clock (the epochs are whole days).  We do the same,
so positions match calcos to rounding.  (A leap second between the element epoch and the
exposure would shift HST along-track by at most 7.6 km; element sets are refreshed every few
days, so this is rare and below the elements' own prediction error.)

The inertial frame is the mean equator and equinox of J2000 (the SPT header's EQUINOX), which
we take as GCRS (they differ by the ~20 mas frame bias, i.e. < 1 m at HST).  ERFA then
gives the Earth-fixed ITRS position with the same calls and IERS Earth orientation values
as astropy's GCRS -> ITRS (the table bundled in ``astropy-iers-data``: never downloaded at
run time; within 1 cm of astropy, without its ~0.5 s first-transform cost) and geodetic
WGS84 latitude, longitude in [-180, 180) and height.  calcos instead takes latitude = declination and longitude =
RA - GMST on a sphere; that differs from the geodetic WGS84 values by up to ~0.2 degree and
~5 km (precession since J2000 and the Earth's flattening).

At each sample the IGRF field strength and centred-dipole geomagnetic latitude are added
(:mod:`hstcr_common.ephemeris.geomag`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import numpy as np

from . import geomag
from ..model import HstcrError
from ..model.constants import MJD_UNIX_EPOCH, SECONDS_PER_DAY

TWO_PI = 2.0 * math.pi
MJD_1985 = 46066.0  # 1985-01-01, the zero of EPCHTIME

# Geodetic heights outside this range cannot come from a valid HST element set.
PLAUSIBLE_ALTITUDE_KM = (100.0, 2000.0)
# Longest span a track may cover: a dark lasts at most a few hours; a header claiming days
# is broken and would otherwise ask for an unbounded number of samples.
MAX_TRACK_DAYS = 2.0
# A final sample closer than this to the last 60-s step replaces it instead of being added.
_END_SNAP_S = 0.5


# --------------------------------------------------------------------------- elements
@dataclass(frozen=True)
class OrbitalElements:
    """HST's on-board ephemeris element set, as in the support-file header.

    Field names are the header keywords in lower case.  Units as in the header:
    ``epchtime`` s since 1985-01-01 (UTC days x 86400); ``meananom`` rad; ``fdmeanan``
    rev/s; ``sdmeanan`` rev/s^2; ``eccentry`` and the ``ecc*`` series coefficients
    dimensionless; ``semilrec`` m; ``argperig``, ``rascascn`` rev; ``rcargper``,
    ``rcascnrv`` rev/s; ``cosincli``, ``sineincl`` dimensionless; ``hsthorb`` s (half the
    orbital period), None when the header lacks it.
    """

    epchtime: float
    meananom: float
    fdmeanan: float
    sdmeanan: float
    eccentry: float
    eccentx2: float
    ecbdx3: float
    ecbdx4d3: float
    esqdx5d2: float
    semilrec: float
    argperig: float
    rcargper: float
    rascascn: float
    rcascnrv: float
    cosincli: float
    sineincl: float
    hsthorb: float | None = None

    @classmethod
    def from_header(cls, header: Mapping, source: str = "") -> OrbitalElements:
        """Read the element set from a support-file primary header.

        Parameters
        ----------
        header : Mapping
            An astropy ``Header`` or a plain dict (keys in any case).
        source : str, optional
            The support file's name, used in error messages.

        Raises
        ------
        HstcrError
            A keyword is missing, not a finite number, or the set is not an orbit
            (non-positive SEMILREC or FDMEANAN, eccentricity outside [0, 1),
            COSINCLI^2 + SINEINCL^2 != 1).
        """
        upper = {str(k).upper(): v for k, v in header.items()}
        source = source or str(upper.get("FILENAME", "")).strip() or "support file"
        values: dict[str, float | None] = {}
        for f in fields(cls):
            key = f.name.upper()
            if key not in upper or upper[key] is None:
                if f.name == "hsthorb":
                    values[f.name] = None
                    continue
                raise HstcrError(
                    f"support header has no {key} keyword (HST orbital elements)",
                    source=source,
                    stage="orbit",
                )
            raw = upper[key]
            try:
                if isinstance(raw, bool):
                    raise TypeError
                value = float(raw)
            except (TypeError, ValueError):
                raise HstcrError(
                    f"orbital element {key} = {raw!r} is not a number",
                    source=source,
                    stage="orbit",
                ) from None
            if not math.isfinite(value):
                raise HstcrError(
                    f"orbital element {key} = {value} is not finite", source=source, stage="orbit"
                )
            values[f.name] = value
        elements = cls(**values)
        problem = elements._problem()
        if problem:
            raise HstcrError(f"invalid orbital elements: {problem}", source=source, stage="orbit")
        return elements

    def _problem(self) -> str:
        """Why this set cannot describe an Earth orbit ('' when it can)."""
        if self.semilrec <= 0:
            return f"SEMILREC = {self.semilrec} m is not positive"
        if self.fdmeanan <= 0:
            return f"FDMEANAN = {self.fdmeanan} rev/s is not positive"
        if not 0.0 <= self.eccentry < 1.0:
            return f"ECCENTRY = {self.eccentry} is outside [0, 1)"
        if abs(self.cosincli**2 + self.sineincl**2 - 1.0) > 1e-4:
            return f"COSINCLI^2 + SINEINCL^2 = {self.cosincli**2 + self.sineincl**2:.6f}, not 1"
        return ""

    @property
    def inclination_deg(self) -> float:
        """Orbital inclination (degrees): ~28.47 for HST."""
        return math.degrees(math.atan2(self.sineincl, self.cosincli))

    @property
    def period_s(self) -> float:
        """Orbital period (s): 2 x HSTHORB when present, else 1 / FDMEANAN."""
        return 2.0 * self.hsthorb if self.hsthorb else 1.0 / self.fdmeanan


def hst_position_gcrs(elements: OrbitalElements, mjd_utc) -> np.ndarray:
    """HST's inertial (J2000 ~ GCRS) position from the element set: calcos' model, vectorised.

    Parameters
    ----------
    elements : OrbitalElements
        The support file's element set.
    mjd_utc : array_like
        Times as UTC-based MJD, as in the headers (EXPSTART/EXPEND).  Used as given, like
        calcos ``HSTOrbit.getPos`` (no leap-second or TT correction; see the module notes).

    Returns
    -------
    ndarray, float64, shape ``mjd_utc.shape + (3,)``
        Geocentric x, y, z in metres (calcos returns the same in km).
    """
    e = elements
    mjd = np.asarray(mjd_utc, dtype=np.float64)
    # seconds since the element epoch; (mjd - 46066) first, as calcos does, for identical rounding
    dt_s = (mjd - MJD_1985) * SECONDS_PER_DAY - e.epchtime

    mean_anomaly = e.meananom + TWO_PI * (e.fdmeanan * dt_s + 0.5 * e.sdmeanan * dt_s * dt_s)
    sin_m, cos_m = np.sin(mean_anomaly), np.cos(mean_anomaly)
    # equation of the centre, series in eccentricity to e^3
    true_anomaly = mean_anomaly + sin_m * (
        e.eccentx2 + e.ecbdx3 * cos_m * cos_m - e.ecbdx4d3 * sin_m * sin_m + e.esqdx5d2 * cos_m
    )
    radius = e.semilrec / (1.0 + e.eccentry * np.cos(true_anomaly))

    arg_perigee = TWO_PI * (e.argperig + e.rcargper * dt_s)
    node = TWO_PI * (e.rascascn + e.rcascnrv * dt_s)
    sin_node, cos_node = np.sin(node), np.cos(node)
    arg_latitude = arg_perigee + true_anomaly
    sin_u, cos_u = np.sin(arg_latitude), np.cos(arg_latitude)

    x = radius * (cos_node * cos_u - e.cosincli * sin_node * sin_u)
    y = radius * (sin_node * cos_u + e.cosincli * cos_node * sin_u)
    z = radius * e.sineincl * sin_u
    return np.stack([x, y, z], axis=-1)


# --------------------------------------------------------------------------- Earth-fixed
#: polar motion astropy assumes outside its IERS table (the 50-year mean, arcsec)
_DEFAULT_POLAR_MOTION_ARCSEC = (0.035, 0.29)
_ARCSEC = math.pi / (180.0 * 3600.0)


def _fixed_width_columns(path: str, spans: list[tuple[int, int]],
                         skip_prefix: bytes = b"#") -> list[np.ndarray]:
    """Numeric columns (1-based inclusive character spans) of a fixed-width text file;
    blank fields are NaN; leading lines starting with ``skip_prefix`` are skipped."""
    text = Path(path).read_bytes()
    start = 0
    while text.startswith(skip_prefix, start):
        start = text.index(b"\n", start) + 1
    body = text[start:] if text.endswith(b"\n") else text[start:] + b"\n"
    width = body.index(b"\n") + 1
    data = np.frombuffer(body, dtype=np.uint8)
    if data.size % width or np.any(data[width - 1::width] != ord("\n")):
        raise HstcrError(f"{path}: not fixed-width lines of {width - 1} characters",
                         stage="orbit")
    lines = data.reshape(-1, width)
    out = []
    for first, last in spans:
        field = np.ascontiguousarray(lines[:, first - 1:last])
        filled = (field != ord(" ")).any(axis=1)
        values = np.full(field.shape[0], np.nan)
        values[filled] = field[filled].view(f"S{last - first + 1}").ravel().astype(float)
        out.append(values)
    return out


@cache
def earth_orientation() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Earth orientation table: MJD (UTC), UT1-UTC (s), polar motion x, y (arcsec).

    What astropy uses when it does not download (``IERS_Auto`` from the files bundled in
    ``astropy-iers-data``): the IERS ``finals2000A.all`` rows, Bulletin B values where the
    file has them (replaced by the IERS-B ``eopc04`` series over those days), else Bulletin
    A (measured, then predicted).  Both files are fixed-width and read with numpy:
    astropy's table readers cost ~0.4 s at start-up.
    """
    from astropy_iers_data import IERS_A_FILE, IERS_B_FILE

    mjd, x_a, y_a, ut1_a, x_b, y_b, ut1_b = _fixed_width_columns(
        IERS_A_FILE, [(8, 15), (19, 27), (38, 46), (59, 68), (135, 144), (145, 154),
                      (155, 165)])
    keep = np.isfinite(ut1_a)                                # rows beyond the predictions
    mjd, x_a, y_a, ut1_a, x_b, y_b, ut1_b = (c[keep] for c in
                                             (mjd, x_a, y_a, ut1_a, x_b, y_b, ut1_b))
    # astropy overwrites the A file's B values with the IERS-B series where both exist
    b_mjd, b_x, b_y, b_ut1 = _fixed_width_columns(
        IERS_B_FILE, [(17, 26), (27, 38), (39, 50), (51, 62)])
    with_b = np.flatnonzero(np.isfinite(ut1_b))
    if with_b.size:
        lo = np.searchsorted(b_mjd, mjd[with_b[0]], side="left")
        hi = np.searchsorted(b_mjd, mjd[with_b[-1]], side="right")
        n_b = hi - lo
        if n_b and np.allclose(mjd[:n_b], b_mjd[lo:hi]):
            ut1_b[:n_b], x_b[:n_b], y_b[:n_b] = b_ut1[lo:hi], b_x[lo:hi], b_y[lo:hi]
    ut1 = np.where(np.isnan(ut1_b), ut1_a, ut1_b)
    b_bad = np.isnan(x_b) | np.isnan(y_b)
    return mjd, ut1, np.where(b_bad, x_a, x_b), np.where(b_bad, y_a, y_b)


def _interpolate_eop(mjd_utc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UT1-UTC (s) and polar motion (rad) at UTC MJDs: linear between the table's days,
    leap-second jumps of UT1-UTC removed, UT1-UTC held at the ends and polar motion set to
    astropy's 50-year mean outside the table (as astropy does)."""
    table_mjd, ut1, xp, yp = earth_orientation()
    i = np.searchsorted(table_mjd, mjd_utc, side="right")
    i1 = np.clip(i, 1, table_mjd.size - 1)
    i0 = i1 - 1
    f = (mjd_utc - table_mjd[i0]) / (table_mjd[i1] - table_mjd[i0])
    d_ut1 = ut1[i1] - ut1[i0]
    d_ut1 -= np.round(d_ut1)
    dut1 = ut1[i0] + f * d_ut1
    x = xp[i0] + f * (xp[i1] - xp[i0])
    y = yp[i0] + f * (yp[i1] - yp[i0])
    before, after = i == 0, i == table_mjd.size
    dut1 = np.where(before, ut1[0], np.where(after, ut1[-1], dut1))
    outside = before | after
    x = np.where(outside, _DEFAULT_POLAR_MOTION_ARCSEC[0], x)
    y = np.where(outside, _DEFAULT_POLAR_MOTION_ARCSEC[1], y)
    return dut1, x * _ARCSEC, y * _ARCSEC


def gcrs_to_itrs_matrix(mjd_utc: np.ndarray) -> np.ndarray:
    """GCRS -> ITRS rotation matrices (n, 3, 3) at UTC MJDs, as astropy builds them.

    ``c2tcio(c2i06a(TT), era00(UT1), pom00(xp, yp, sp00(TT)))``: IAU 2006/2000A
    precession-nutation (CIO based), Earth rotation angle, polar motion; the same ERFA calls
    as astropy's GCRS -> CIRS -> ITRS, with the same IERS values (:func:`earth_orientation`),
    without astropy's frame machinery (its first transform costs ~0.5 s).
    """
    import erfa

    mjd = np.atleast_1d(np.asarray(mjd_utc, dtype=np.float64))
    day = np.floor(mjd)
    utc1, utc2 = day + 2400000.5, mjd - day
    tai1, tai2 = erfa.utctai(utc1, utc2)
    tt1, tt2 = erfa.taitt(tai1, tai2)
    dut1, xp, yp = _interpolate_eop(mjd)
    ut11, ut12 = erfa.utcut1(utc1, utc2, dut1)
    pm = erfa.pom00(xp, yp, erfa.sp00(tt1, tt2))
    return erfa.c2tcio(erfa.c2i06a(tt1, tt2), erfa.era00(ut11, ut12), pm)


def geodetic_from_gcrs(position_m: np.ndarray, mjd_utc: np.ndarray) -> tuple[np.ndarray, ...]:
    """Earth-fixed geodetic coordinates of geocentric inertial positions.

    GCRS -> ITRS (IAU 2006/2000A precession-nutation, Earth rotation with UT1, polar motion:
    :func:`gcrs_to_itrs_matrix`) -> WGS84 geodetic (ERFA ``gc2gd``), as astropy computes
    them (within 1 cm; ``tests/unit/ephemeris/test_orbit.py`` checks it).

    Parameters
    ----------
    position_m : ndarray, shape (n, 3)
        GCRS positions (m).
    mjd_utc : ndarray, shape (n,)
        UTC MJD of each position.

    Returns
    -------
    latitude_deg, longitude_deg, altitude_km, itrs_m : ndarray
        Geodetic latitude (degrees), east longitude in [-180, 180) (degrees), height above
        the WGS84 ellipsoid (km), and the ITRS position (m, shape (n, 3)).
    """
    import erfa

    pos = np.atleast_2d(np.asarray(position_m, dtype=np.float64))
    mjd = np.broadcast_to(np.atleast_1d(np.asarray(mjd_utc, dtype=np.float64)), pos.shape[:1])
    itrs_m = np.einsum("nij,nj->ni", gcrs_to_itrs_matrix(mjd), pos)
    lon, lat, height = erfa.gc2gd(1, itrs_m)                  # 1 = WGS84
    longitude = np.degrees(lon)
    longitude = (longitude + 180.0) % 360.0 - 180.0            # [-180, 180)
    return np.degrees(lat), longitude, height / 1e3, itrs_m


# --------------------------------------------------------------------------- track
@dataclass
class Track:
    """HST's position through one exposure, one value per sample (every 60 s, both ends).

    Attributes
    ----------
    time_mjd : ndarray, float64
        UTC MJD of each sample.
    time : ndarray, datetime64[us]
        The same instants as UTC timestamps.
    latitude_deg : ndarray
        Geodetic (WGS84) latitude (degrees).
    longitude_deg : ndarray
        East longitude in [-180, 180) (degrees).
    altitude_km : ndarray
        Height above the WGS84 ellipsoid (km).
    b_nt : ndarray
        IGRF magnetic field strength |B| at HST (nT).
    geomag_latitude_deg : ndarray
        Centred-dipole geomagnetic latitude (degrees).
    """

    time_mjd: np.ndarray
    time: np.ndarray
    latitude_deg: np.ndarray
    longitude_deg: np.ndarray
    altitude_km: np.ndarray
    b_nt: np.ndarray
    geomag_latitude_deg: np.ndarray

    def __len__(self) -> int:
        return len(self.time_mjd)

    @property
    def mean_latitude_deg(self) -> float:
        return float(np.mean(self.latitude_deg))

    @property
    def mean_longitude_deg(self) -> float:
        """Circular mean longitude in [-180, 180) (a track crossing the date line averages right)."""
        lon = np.radians(self.longitude_deg)
        mean = math.degrees(math.atan2(np.mean(np.sin(lon)), np.mean(np.cos(lon))))
        return mean - 360.0 if mean >= 180.0 else mean

    @property
    def mean_altitude_km(self) -> float:
        return float(np.mean(self.altitude_km))

    @property
    def min_b_nt(self) -> float:
        return float(np.min(self.b_nt))

    def points(self) -> list[dict]:
        """The samples as dicts matching ``schemas.TRACK_POINT`` (time is an aware UTC datetime)."""
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        micros = self.time.astype("datetime64[us]").astype(np.int64)
        return [
            {
                "time": epoch + dt.timedelta(microseconds=int(t)),
                "latitude_deg": float(la),
                "longitude_deg": float(lo),
                "altitude_km": float(al),
                "b_nt": float(b),
                "geomag_latitude_deg": float(gm),
            }
            for t, la, lo, al, b, gm in zip(
                micros,
                self.latitude_deg,
                self.longitude_deg,
                self.altitude_km,
                self.b_nt,
                self.geomag_latitude_deg,
            )
        ]


def sample_offsets_s(duration_s: float, step_s: float = 60.0) -> np.ndarray:
    """Offsets (s) from the exposure start: every ``step_s``, plus the end; at least 2.

    The end is always the last sample; a regular step falling within 0.5 s of it is replaced
    by the end rather than duplicated.  A zero-length exposure gives two samples at 0.
    """
    if not step_s > 0:
        raise ValueError(f"step_s must be positive, got {step_s}")
    regular = np.arange(int(math.floor(duration_s / step_s)) + 1) * step_s
    regular = regular[regular <= duration_s]
    if len(regular) > 1 and duration_s - regular[-1] <= _END_SNAP_S:
        regular[-1] = duration_s
        return regular
    return np.append(regular, duration_s)


def track(elements: OrbitalElements, expstart_mjd: float, expend_mjd: float, step_s: float = 60.0) -> Track:
    """HST's track through an exposure: position, IGRF |B| and geomagnetic latitude.

    Parameters
    ----------
    elements : OrbitalElements
        From the exposure's support file.
    expstart_mjd, expend_mjd : float
        EXPSTART / EXPEND (UTC MJD).
    step_s : float, optional
        Sampling interval (s); samples run from EXPSTART to EXPEND inclusive.

    Returns
    -------
    Track

    Raises
    ------
    HstcrError
        Non-finite times, EXPEND before EXPSTART, a span over ``MAX_TRACK_DAYS``, or
        elements placing HST outside 100-2000 km altitude.
    """
    if not (math.isfinite(expstart_mjd) and math.isfinite(expend_mjd)):
        raise HstcrError(f"EXPSTART/EXPEND not finite ({expstart_mjd}, {expend_mjd})", stage="orbit")
    if expend_mjd < expstart_mjd:
        raise HstcrError(
            f"EXPEND {expend_mjd} is before EXPSTART {expstart_mjd}", stage="orbit"
        )
    if expend_mjd - expstart_mjd > MAX_TRACK_DAYS:
        raise HstcrError(
            f"EXPSTART {expstart_mjd} to EXPEND {expend_mjd} spans "
            f"{expend_mjd - expstart_mjd:.1f} days (more than {MAX_TRACK_DAYS:g}): not one exposure",
            stage="orbit",
        )
    duration_s = (expend_mjd - expstart_mjd) * SECONDS_PER_DAY
    offsets = sample_offsets_s(duration_s, step_s)
    mjd = expstart_mjd + offsets / SECONDS_PER_DAY
    mjd[-1] = expend_mjd  # exactly the header value, free of rounding

    start_us = round((expstart_mjd - MJD_UNIX_EPOCH) * SECONDS_PER_DAY * 1e6)
    time = (start_us + np.round(offsets * 1e6).astype(np.int64)).astype("datetime64[us]")

    position = hst_position_gcrs(elements, mjd)
    lat, lon, alt, _ = geodetic_from_gcrs(position, mjd)
    lo, hi = PLAUSIBLE_ALTITUDE_KM
    if not (np.all(alt > lo) and np.all(alt < hi)):
        raise HstcrError(
            f"orbital elements put HST at {alt.min():.0f}-{alt.max():.0f} km altitude "
            f"(expected {lo:.0f}-{hi:.0f} km): invalid element set",
            stage="orbit",
        )
    # one IGRF evaluation per exposure: all samples share the mid-exposure date
    mid = time[0] + (time[-1] - time[0]) // 2
    b_nt = geomag.field_strength_nt(lat, lon, alt, mid)
    geomag_lat = geomag.geomagnetic_latitude_deg(lat, lon, mid, alt_km=alt)
    return Track(
        time_mjd=mjd,
        time=time,
        latitude_deg=lat,
        longitude_deg=lon,
        altitude_km=alt,
        b_nt=b_nt,
        geomag_latitude_deg=geomag_lat,
    )


def _support_name(dark) -> str:
    header = dark.support_header or {}
    for key in ("FILENAME", "filename"):
        if header.get(key):
            return str(header[key]).strip()
    suffix = dark.detector.support_suffix or "spt"
    return f"{dark.dataset}_{suffix}.fits"


def track_for_dark(dark) -> tuple[Track | None, str]:
    """The track of one dark, or None with the reason (never raises for bad input).

    Parameters
    ----------
    dark : hstcr_common.model.dark.Dark
        Uses ``support_header`` (orbital elements), ``expstart_mjd`` and ``expend_mjd``.

    Returns
    -------
    (Track or None, str)
        The track and '' or None and why: no support file, missing/invalid elements,
        EXPEND before EXPSTART, implausible position.  The reason names the file.
    """
    if dark.support_header is None:
        suffix = (dark.detector.support_suffix or "support").upper()
        note = dark.support_note or f"no {suffix} support file"
        return None, f"{dark.dataset}: {note}"
    name = _support_name(dark)
    try:
        elements = OrbitalElements.from_header(dark.support_header, source=name)
    except HstcrError as err:
        return None, str(err)
    start, end = float(dark.expstart_mjd), float(dark.expend_mjd)
    if not (math.isfinite(start) and math.isfinite(end)) or not 0 <= end - start <= MAX_TRACK_DAYS:
        # a problem of the science file's header, named as such
        science = dark.source or dark.dataset
        return None, (
            f"{science}: EXPSTART {start} / EXPEND {end} (MJD): not finite, EXPEND before "
            f"EXPSTART, or more than {MAX_TRACK_DAYS:g} days apart"
        )
    try:
        return track(elements, start, end), ""
    except HstcrError as err:  # elements that put HST somewhere it cannot be
        return None, f"{name}: {err}"
