"""Where one run's files live: the contract between the plan, process and summarize Lambdas.

::

    <runs_root>/<run_id>/manifest.jsonl        plan: one work item per line (the map's ItemReader)
    <runs_root>/<run_id>/results/<dataset>.json  process: one result per dark
    <runs_root>/<run_id>/results.parquet       summarize: the results, one row per dark
    <runs_root>/<run_id>/summary.json          summarize: counts and failures
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

from .s3io import join

MANIFEST_NAME = "manifest.jsonl"
#: ``process_dark`` writes one small JSON result per dark here (summarize reads them back).
RESULTS_DIR = "results"
RESULTS_TABLE_NAME = "results.parquet"
SUMMARY_NAME = "summary.json"
#: The ``plan`` function's environment: the Map's default MaxConcurrency (the stack's
#: ``hstcr:maxConcurrency``), used when the request carries no ``max_concurrency``.
ENV_MAX_CONCURRENCY = "HSTCR_MAX_CONCURRENCY"


def run_id_for(execution_name: str | None) -> str:
    """The run id: the Step Functions execution name made key-safe, else a UTC time stamp
    plus a random suffix (two runs started in the same second stay apart)."""
    if execution_name:
        return re.sub(r"[^A-Za-z0-9._-]", "-", execution_name)
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


def run_path(runs_root: str, run_id: str, *parts: str) -> str:
    """``<runs_root>/<run_id>/<parts...>``."""
    return join(runs_root, run_id, *parts)
