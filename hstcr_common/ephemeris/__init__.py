"""When and where: integration time, HST's orbit, the geomagnetic field."""

from __future__ import annotations

from .._exports import attach

# name -> submodule, imported on first use (see hstcr_common/_exports.py)
_EXPORTS = {
    "ExposureTiming": "timing",
    "MAX_TRACK_DAYS": "orbit",
    "MJD_1985": "orbit",
    "MJD_UNIX_EPOCH": "orbit",
    "OrbitalElements": "orbit",
    "PLAUSIBLE_ALTITUDE_KM": "orbit",
    "TWO_PI": "orbit",
    "Track": "orbit",
    "WGS84_A_KM": "geomag",
    "WGS84_E2": "geomag",
    "dipole_coefficients": "geomag",
    "dipole_pole": "geomag",
    "exposure_timing": "timing",
    "field_strength_nt": "geomag",
    "geocentric_latitude_deg": "geomag",
    "geodetic_from_gcrs": "orbit",
    "geomagnetic_latitude_deg": "geomag",
    "hst_position_gcrs": "orbit",
    "integration_time": "timing",
    "integration_time_2021": "timing",
    "mjd_to_datetime": "timing",
    "readout_time_s": "timing",
    "sample_offsets_s": "orbit",
    "track": "orbit",
    "track_for_dark": "orbit",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
