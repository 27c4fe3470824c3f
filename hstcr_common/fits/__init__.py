"""FITS at the byte level: header cards, guarded opening (size and card limits before any
data is allocated), and partial HDU reads of remote products."""

from __future__ import annotations

from .._exports import attach

# name -> submodule, imported on first use (see hstcr_common/_exports.py)
_EXPORTS = {
    "BLOCK": "cards",
    "ByteRanges": "partial",
    "CARD": "cards",
    "FIRST_CHUNK": "partial",
    "FileInput": "guard",
    "HEADER_CHUNK": "partial",
    "HduSpan": "cards",
    "MAX_DATA_FACTOR": "guard",
    "MAX_HEADER_BYTES": "partial",
    "MAX_HEADER_CARDS": "guard",
    "SMALL_OBJECT": "partial",
    "check_data_sizes": "guard",
    "data_size": "cards",
    "display_name": "guard",
    "iter_hdus": "partial",
    "open_fits": "guard",
    "parse_header_cards": "cards",
    "read_array": "guard",
    "read_fits_hdus": "partial",
    "scan_hdus": "partial",
    "short_error": "guard",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
