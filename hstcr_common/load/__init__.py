"""FITS products to electrons per chip with DQ: CCD products and IR ramps."""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
_EXPORTS = {
    "FileInput": "ccd",
    "HEADER_FACT_KEYWORDS": "ccd",
    "MAX_DATA_FACTOR": "ccd",
    "MAX_HEADER_CARDS": "ccd",
    "ORBIT_KEYWORDS": "ccd",
    "ORBIT_OPTIONAL_KEYWORDS": "ccd",
    "check_data_sizes": "ccd",
    "chip_gain_columns": "ccd",
    "dataset_name": "ccd",
    "detect_detector": "ccd",
    "display_name": "ccd",
    "header_dict": "ccd",
    "header_facts": "ccd",
    "header_times": "ccd",
    "load_dark": "ccd",
    "load_ir_dark": "ir",
    "open_fits": "ccd",
    "parse_date_obs": "ccd",
    "read_header_facts": "ccd",
    "read_support_header": "ccd",
    "science_suffix": "ccd",
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
