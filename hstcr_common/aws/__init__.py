"""The AWS side of hstcr.

Worker side, what the Lambda handlers in ``functions/`` call (one function each):
``plan`` (:func:`plan_run`), ``process`` (:func:`process_event`), ``summarize``
(:func:`summarize_run`); ``runs`` says where a run's files live and ``s3io`` reads and
writes them.  Client side, what ``hstcr aws`` runs on a laptop: ``client``
(:func:`stack_outputs`, :func:`submit`, :func:`execution_status`, :func:`athena_query`).
"""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
_EXPORTS = {
    "CONSOLE": "client",
    "MANIFEST_NAME": "runs",
    "RESULTS_DIR": "runs",
    "RESULT_SCHEMA_FIELDS": "summarize",
    "athena_query": "client",
    "console_url": "client",
    "execution_status": "client",
    "group_items": "plan",
    "plan_run": "plan",
    "process_event": "process",
    "results_table": "summarize",
    "split_s3": "s3io",
    "stack_outputs": "client",
    "submit": "client",
    "summarize_run": "summarize",
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
