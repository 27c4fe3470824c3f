"""The objects a dark becomes: Dark and Chip, the cosmic-ray catalogue, errors."""

from __future__ import annotations

from .._exports import attach

# name -> submodule, imported on first use (see hstcr_common/_exports.py)
_EXPORTS = {
    "CCD_METHODS": "constants",
    "Chip": "dark",
    "CosmicRayCatalog": "catalog",
    "AutoParams": "params",
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
    "ReferenceParams": "params",
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

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
