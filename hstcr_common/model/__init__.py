"""The objects a dark becomes: Dark and Chip, the cosmic-ray catalogue, errors."""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
_EXPORTS = {
    "CCD_METHODS": "constants",
    "Chip": "dark",
    "CosmicRayCatalog": "catalog",
    "CountParams": "params",
    "DEFAULT_METHOD": "constants",
    "Dark": "dark",
    "DarkResult": "work",
    "DetectionSummary": "catalog",
    "DqParams": "params",
    "ENV_DEFAULT_REGION": "constants",
    "ENV_ENDPOINT": "constants",
    "ENV_ENDPOINT_S3": "constants",
    "ENV_LAKE": "constants",
    "ENV_REGION": "constants",
    "ENV_RUNS": "constants",
    "ENV_S3_REGION": "constants",
    "ENV_S3_SIGNED": "constants",
    "EV_PER_ELECTRON": "catalog",
    "Files": "work",
    "HstcrError": "errors",
    "KnownFiles": "work",
    "LabelParams": "params",
    "METHODS": "constants",
    "MJD_EPOCH": "constants",
    "MJD_UNIX_EPOCH": "constants",
    "MethodParams": "params",
    "PARAMS_BY_METHOD": "params",
    "REFERENCE_CR_RATE_S_CM2": "constants",
    "RampParams": "params",
    "SEARCHED_AREA_RULES": "params",
    "SECONDS_PER_DAY": "constants",
    "SILICON_EV_PER_PAIR": "constants",
    "StackParams": "params",
    "Status": "work",
    "ThresholdParams": "params",
    "WorkItem": "work",
    "dark_result": "work",
    "no_known_files": "work",
    "params_hash": "params",
    "parse_params": "params",
    "redact": "errors",
    "truthy": "constants",
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
