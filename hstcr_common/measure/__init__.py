"""Detection mask -> labelled cosmic rays -> measurements (background, split, halo, moments)."""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
_EXPORTS = {
    "EIGHT": "connectivity",
    "HALF_NEIGHBOURS_8": "connectivity",
    "MIN_BASIN_PIXELS": "split",
    "NEIGHBOURS_4": "connectivity",
    "NEIGHBOURS_8": "connectivity",
    "add_halo": "halo",
    "background_at": "background",
    "background_mean": "background",
    "label_cosmic_rays": "label",
    "measure_cosmic_rays": "moments",
    "pointer_jump": "split",
    "robust_background": "background",
    "split_components": "split",
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
