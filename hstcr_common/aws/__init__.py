"""The AWS side: Lambda worker functions and the laptop's client."""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
_EXPORTS = {
    "CONSOLE": "worker",
    "MANIFEST_NAME": "worker",
    "RESULTS_DIR": "worker",
    "RESULT_SCHEMA_FIELDS": "worker",
    "athena_query": "worker",
    "client": "worker",
    "console_url": "worker",
    "execution_status": "worker",
    "group_items": "worker",
    "plan_run": "worker",
    "process_event": "worker",
    "results_table": "worker",
    "split_s3": "worker",
    "stack_outputs": "worker",
    "submit": "worker",
    "summarize_run": "worker",
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
