"""FITS products to electrons per chip with DQ: CCD products and IR ramps.

Start at :func:`load_dark` (``dark``); ``header`` reads what the headers say, ``ccd`` (with
``chips``, ``wfpc2``, ``gain``) and ``ir`` turn pixels into electrons.
"""

from __future__ import annotations

from .._exports import attach

# name -> submodule, imported on first use (see hstcr_common/_exports.py)
_EXPORTS = {
    "HEADER_FACT_KEYWORDS": "header",
    "ORBIT_KEYWORDS": "header",
    "RawChip": "chips",
    "apply_gain": "gain",
    "chip_amplifiers": "gain",
    "chip_bunit": "gain",
    "chip_by_ccdchip": "chips",
    "chip_gain_columns": "gain",
    "dataset_name": "header",
    "detect_detector": "header",
    "extensions": "header",
    "first_sci_header": "header",
    "frame_shapes": "header",
    "hdu_summary": "header",
    "header_dict": "header",
    "header_facts": "header",
    "header_float": "keywords",
    "header_gains": "header",
    "header_times": "header",
    "header_true": "keywords",
    "header_value": "keywords",
    "load_ccd_dark": "ccd",
    "load_dark": "dark",
    "load_ir_dark": "ir",
    "parse_date_obs": "header",
    "read_header_facts": "header",
    "read_image_chips": "chips",
    "read_noise": "gain",
    "read_support_header": "header",
    "read_wfpc2_chips": "wfpc2",
    "scan_image_extensions": "chips",
    "sci_shapes": "header",
    "subarray_facts": "subarray",
    "subarray_origin": "subarray",
    "cte_corrected": "subarray",
    "STIS_LEADING_OVERSCAN": "subarray",
    "science_suffix": "header",
    "smaller_than_chip": "header",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
