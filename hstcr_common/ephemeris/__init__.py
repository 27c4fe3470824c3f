"""When and where: integration time, HST's orbit, the geomagnetic field."""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
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
    "mjd_to_datetime": "timing",
    "readout_time_s": "timing",
    "sample_offsets_s": "orbit",
    "track": "orbit",
    "track_for_dark": "orbit",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
