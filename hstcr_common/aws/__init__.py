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
    "CONSOLE": "client",
    "ENV_MAX_CONCURRENCY": "runs",
    "METRICS_NAMESPACE": "observe",
    "MANIFEST_NAME": "runs",
    "RESULTS_DIR": "runs",
    "RESULT_SCHEMA_FIELDS": "summarize",
    "athena_query": "client",
    "console_url": "client",
    "execution_status": "client",
    "group_items": "plan",
    "instrumented": "observe",
    "logger": "observe",
    "metrics": "observe",
    "plan_run": "plan",
    "process_event": "process",
    "record_darks": "observe",
    "results_table": "summarize",
    "split_s3": "s3io",
    "stack_outputs": "client",
    "submit": "client",
    "tracer": "observe",
    "summarize_run": "summarize",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
