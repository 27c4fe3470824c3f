"""Work items through fetch -> load -> detect -> measure -> lake: the items (``items``,
``manifest``), one dark or one stack group (``process``), resuming (``resume``), the pool
(``pool``) and what a lake holds (``summary``)."""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
_EXPORTS = {
    "InputScan": "items",
    "MAX_TASKS_PER_CHILD": "pool",
    "MONTH_RE": "manifest",
    "REQUIRED_KEYS": "manifest",
    "ROLES": "manifest",
    "RecyclingPool": "pool",
    "RunStopped": "pool",
    "RunSummary": "pool",
    "check_lake_is_writable": "pool",
    "Stages": "process",
    "already_done": "resume",
    "error_text": "process",
    "items_from_folder": "items",
    "known_files": "resume",
    "lake_index": "resume",
    "partition_for": "resume",
    "process_group": "process",
    "process_item": "process",
    "process_one": "process",
    "read_items": "items",
    "read_manifest": "manifest",
    "record_failure": "process",
    "run": "pool",
    "scan_inputs": "items",
    "stack_groups": "pool",
    "summarize_lake": "summary",
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
