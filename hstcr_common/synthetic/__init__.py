"""Synthetic MAST-shaped darks with injected cosmic rays of known pixels and energy, and
scoring against that truth."""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
_EXPORTS = {
    "ChipSpec": "chip",
    "ChipTruth": "chip",
    "CosmicRayTruth": "chip",
    "DARKTIME_OVERHEAD_S": "dark",
    "DIFFUSION_SIGMA_PX": "chip",
    "DQ_BITS": "ramp",
    "DarkSpec": "dark",
    "ENERGY_BINS": "scoring",
    "ENERGY_MEDIAN_E": "ramp",
    "ENERGY_SIGMA_LN": "ramp",
    "E_PER_UM_MEDIAN": "chip",
    "E_PER_UM_SIGMA": "chip",
    "FANO_FACTOR": "chip",
    "FLASH_E_PER_S": "dark",
    "HALO_FRACTION": "chip",
    "HALO_SIGMA_PX": "chip",
    "HOT_PIXEL_FRACTION": "chip",
    "HOT_RATE_RANGE_E_PER_S": "chip",
    "HgCdTeTracks": "ramp",
    "IR_DIFFUSION_SIGMA_PX": "ramp",
    "IR_MAX_TRACK_PX": "ramp",
    "IR_MIN_PIXEL_E": "ramp",
    "IrDarkFiles": "ir",
    "IrDarkSpec": "ir",
    "KERNEL_RADIUS_PX": "chip",
    "MAX_TRACK_PX": "chip",
    "MEAN_TRACK_PX": "ramp",
    "MIN_PIXEL_E": "chip",
    "MJD_1985": "support",
    "N_BAD_COLUMNS": "chip",
    "ORBITAL_ELEMENT_SETS": "support",
    "ORBIT_KEYWORDS": "support",
    "RAMP_TRUTH_SCHEMA": "truth",
    "RampSimulation": "ramp",
    "RampSpec": "ramp",
    "RampTruth": "ramp",
    "SATURATION_E": "ramp",
    "STEP_PX": "chip",
    "SiliconTracks": "chip",
    "SyntheticDark": "dark",
    "TRACK_STEPS": "ramp",
    "TRUTH_EXPOSURES_SCHEMA": "truth",
    "TRUTH_SCHEMA": "truth",
    "TruthMatch": "scoring",
    "UNFLAGGED_HOT_FRACTION": "chip",
    "chip_truth_table": "truth",
    "dataset_name": "exposure",
    "default_date": "exposure",
    "default_read_times": "ramp",
    "dq_bits": "chip",
    "exposures_table": "truth",
    "integration_time": "dark",
    "manifest_item": "exposure",
    "match_to_truth": "scoring",
    "mjd_from_datetime": "exposure",
    "orbital_elements": "support",
    "ramp_truth_table": "truth",
    "read_truth_exposures": "truth",
    "simulate_chip": "chip",
    "simulate_cosmic_ray_pixels": "ramp",
    "simulate_cosmic_rays": "chip",
    "simulate_dark": "dark",
    "simulate_detector_ramp": "ramp",
    "simulate_fixed_pattern": "chip",
    "simulate_ramp": "ramp",
    "write_dark": "dark",
    "write_files": "dark",
    "write_ir_dark": "ir",
    "write_sample": "sample",
    "write_truth": "truth",
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
