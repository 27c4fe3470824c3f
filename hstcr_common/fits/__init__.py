"""FITS at the byte level: header cards, guarded opening (size and card limits before any
data is allocated), and partial HDU reads of remote products."""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
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
