"""Detection mask -> labelled cosmic rays -> measurements (background, split, halo, moments)."""

from __future__ import annotations

from .._exports import attach

# name -> submodule, imported on first use (see hstcr_common/_exports.py)
_EXPORTS = {
    "EIGHT": "connectivity",
    "HALF_NEIGHBOURS_8": "connectivity",
    "MIN_BASIN_PIXELS": "split",
    "NEIGHBOURS_4": "connectivity",
    "NEIGHBOURS_8": "connectivity",
    "add_halo": "halo",
    "background_at": "background",
    "background_mean": "background",
    "Components": "connectivity",
    "contains": "connectivity",
    "CosmicRayLabels": "labelled",
    "grow_halo": "halo",
    "kept_of": "connectivity",
    "label_cosmic_rays": "label",
    "mask_components": "label",
    "measure_cosmic_rays": "moments",
    "neighbour_positions": "connectivity",
    "pointer_jump": "split",
    "robust_background": "background",
    "sorted_unique": "connectivity",
    "split_components": "split",
    "spill_correction": "spill",
    "SpillFit": "spill",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
