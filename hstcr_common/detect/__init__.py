"""Which pixels a cosmic ray hit: dq, threshold, stack, ramp; coincidence."""

from __future__ import annotations

from .._exports import attach

# name -> submodule, imported on first use (see hstcr_common/_exports.py)
_EXPORTS = {
    "ChipDetection": "catalogue",
    "HOT_PIXEL_TEST": "find",
    "JumpResult": "ramp",
    "MAD_TO_SIGMA": "ramp_noise",
    "MAX_GROUP": "grouping",
    "MIN_EXPECTED_FOR_UNFLAGGED": "dq",
    "PER_READ_STRUCTURE": "ramp",
    "TAIL_QUANTILE": "ramp_noise",
    "bad_pixel_mask": "dq",
    "catalog_and_summary": "catalogue",
    "chip_noise": "threshold",
    "coincidence_correction": "coincidence",
    "detect_dq": "dq",
    "detect_jumps": "ramp",
    "detect_stack": "stack",
    "detect_threshold": "threshold",
    "difference_sigma": "ramp_noise",
    "dq_has": "dq",
    "find_cosmic_rays": "find",
    "find_cosmic_rays_stack": "stack",
    "find_ir_cosmic_rays": "ramp",
    "find_spikes": "threshold",
    "fit_jump_steps": "ramp",
    "group_for_stack": "grouping",
    "group_key": "grouping",
    "label_jumps": "ramp",
    "mean_touching_area": "coincidence",
    "measure_jumps": "ramp",
    "measured_noise_scale": "ramp_noise",
    "noise_model_calibration": "ramp_noise",
    "ramp_rate": "ramp_noise",
    "rate_differences": "ramp_noise",
    "read_differences": "ramp_noise",
    "require_cr_flags": "dq",
    "searched_pixel_count": "catalogue",
    "stack_reference": "stack",
    "valid_differences": "ramp_noise",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
