"""Work items through load -> detect -> measure -> lake; resume; the pool."""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
_EXPORTS = {
    "METHODS": "core",
    "MONTH_RE": "manifest",
    "REQUIRED_KEYS": "manifest",
    "ROLES": "manifest",
    "RunSummary": "core",
    "items_from_folder": "core",
    "process_group": "core",
    "process_item": "core",
    "read_items": "core",
    "read_manifest": "manifest",
    "run": "core",
    "summarize_lake": "core",
    "validate_item": "manifest",
    "write_manifest": "manifest",
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
