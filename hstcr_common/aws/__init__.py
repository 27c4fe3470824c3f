"""The AWS side of hstcr.

Worker side, what the Lambda handlers in ``functions/`` call (one function each):
``plan`` (:func:`plan_run`), ``process`` (:func:`process_event`), ``summarize``
(:func:`summarize_run`); ``runs`` says where a run's files live and ``s3io`` reads and
writes them.  Client side, what ``hstcr aws`` runs on a laptop: ``client``
(:func:`stack_outputs`, :func:`submit`, :func:`execution_status`, :func:`athena_query`).
"""

from __future__ import annotations

from .._exports import attach

# name -> submodule, imported on first use (see hstcr_common/_exports.py)
_EXPORTS = {
    "AthenaLake": "athena_lake",
    "CONSOLE": "client",
    "ENV_MAX_CONCURRENCY": "runs",
    "MANIFEST_NAME": "runs",
    "METRICS_NAMESPACE": "observe",
    "RESULTS_DIR": "runs",
    "RESULT_SCHEMA_FIELDS": "summarize",
    "athena_dataframe": "client",
    "athena_query": "client",
    "auto_items": "plan",
    "concurrency_cap": "client",
    "console_url": "client",
    "execution_status": "client",
    "group_items": "plan",
    "instrumented": "observe",
    "lambda_concurrency": "client",
    "logger": "observe",
    "metrics": "observe",
    "open_athena": "athena_lake",
    "plan_run": "plan",
    "process_event": "process",
    "record_darks": "observe",
    "redrive": "client",
    "remaining_darks": "plan",
    "results_table": "summarize",
    "split_group": "plan",
    "split_s3": "s3io",
    "stack_outputs": "client",
    "submit": "client",
    "summarize_run": "summarize",
    "tracer": "observe",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
