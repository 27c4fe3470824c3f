"""Synthetic MAST-shaped darks with injected cosmic rays of known pixels and energy, and scoring against that truth."""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
_EXPORTS = {
    "ChipTruth": "chip",
    "CosmicRayTruth": "chip",
    "DARKTIME_OVERHEAD_S": "files",
    "DIFFUSION_SIGMA_PX": "chip",
    "DQ_BITS": "ir",
    "ENERGY_BINS": "scoring",
    "ENERGY_MEDIAN_E": "ir",
    "ENERGY_SIGMA_LN": "ir",
    "E_PER_UM_MEDIAN": "chip",
    "E_PER_UM_SIGMA": "chip",
    "FANO_FACTOR": "chip",
    "FLASH_E_PER_S": "files",
    "HALO_FRACTION": "chip",
    "HALO_SIGMA_PX": "chip",
    "HOT_RATE_RANGE_E_PER_S": "chip",
    "IrDarkFiles": "ir",
    "KERNEL_RADIUS_PX": "chip",
    "MAX_TRACK_PX": "chip",
    "MEAN_TRACK_PX": "ir",
    "MIN_PIXEL_E": "chip",
    "MJD_1985": "files",
    "MJD_UNIX": "files",
    "ORBITAL_ELEMENT_SETS": "files",
    "ORBIT_KEYWORDS": "files",
    "RampSimulation": "ir",
    "RampTruth": "ir",
    "SATURATION_E": "ir",
    "STEP_PX": "chip",
    "SyntheticDark": "files",
    "TRACK_STEPS": "ir",
    "TRUTH_EXPOSURES_SCHEMA": "files",
    "TRUTH_SCHEMA": "files",
    "TruthMatch": "scoring",
    "dataset_name": "files",
    "default_date": "files",
    "default_read_times": "ir",
    "dq_bits": "chip",
    "exposures_table": "files",
    "integration_time": "files",
    "manifest_item": "files",
    "match_to_truth": "scoring",
    "mjd_from_datetime": "files",
    "orbital_elements": "files",
    "read_truth_exposures": "files",
    "simulate_chip": "chip",
    "simulate_cosmic_ray_pixels": "ir",
    "simulate_cosmic_rays": "chip",
    "simulate_dark": "files",
    "simulate_detector_ramp": "ir",
    "simulate_fixed_pattern": "chip",
    "simulate_ramp": "ir",
    "truth_table": "files",
    "write_dark": "files",
    "write_files": "files",
    "write_ir_dark": "ir",
    "write_sample": "files",
    "write_truth": "files",
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
