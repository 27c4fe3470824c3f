"""Detector facts, one table (``instruments.toml``) with its sources."""

from __future__ import annotations

from .._exports import attach

# name -> submodule, imported on first use (see hstcr_common/_exports.py)
_EXPORTS = {
    "ChipLayout": "table",
    "Detector": "table",
    "ccd_detectors": "table",
    "detector_id": "table",
    "detectors": "table",
    "get_detector": "table",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
