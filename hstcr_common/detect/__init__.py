"""Which pixels a cosmic ray hit: dq, threshold, stack, ramp; coincidence."""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
_EXPORTS = {
    "DEFAULT_PARAMS": "ramp",
    "JumpResult": "ramp",
    "LABEL_DEFAULTS": "methods",
    "MAD_TO_SIGMA": "ramp",
    "MAX_GROUP": "methods",
    "METHODS": "methods",
    "MIN_EXPECTED_FOR_UNFLAGGED": "methods",
    "PER_READ_STRUCTURE": "ramp",
    "STACK_DEFAULTS": "methods",
    "TAIL_QUANTILE": "ramp",
    "THRESHOLD_DEFAULTS": "methods",
    "background_mean": "noise",
    "bad_pixel_mask": "methods",
    "chip_noise": "methods",
    "coincidence_correction": "methods",
    "detect_dq": "methods",
    "detect_jumps": "ramp",
    "detect_stack": "methods",
    "detect_threshold": "methods",
    "difference_sigma": "ramp",
    "dq_has": "methods",
    "find_cosmic_rays": "methods",
    "find_cosmic_rays_ramp": "ramp",
    "find_cosmic_rays_stack": "methods",
    "find_ir_cosmic_rays": "ramp",
    "find_spikes": "methods",
    "fit_jump_steps": "ramp",
    "group_for_stack": "methods",
    "group_key": "methods",
    "label_jumps": "ramp",
    "mean_touching_area": "methods",
    "measure_jumps": "ramp",
    "measured_noise_scale": "ramp",
    "noise_model_calibration": "ramp",
    "ramp_rate": "ramp",
    "rate_differences": "ramp",
    "read_differences": "ramp",
    "robust_background": "noise",
    "searched_pixel_count": "methods",
    "stack_reference": "methods",
    "valid_differences": "ramp",
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
