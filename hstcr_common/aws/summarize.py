"""The ``summarize`` Lambda's work: a run's per-dark results -> counts, failures,
``results.parquet`` and ``summary.json``."""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from ..model import HstcrError
from .runs import RESULTS_DIR, RESULTS_TABLE_NAME, SUMMARY_NAME, run_path
from .s3io import list_uris, put, read_json

#: Columns of ``results.parquet``: name and pyarrow type name.
RESULT_SCHEMA_FIELDS = [("dataset", "string"), ("instrument", "string"), ("month", "string"),
                        ("status", "string"), ("n_cr", "int64"), ("seconds", "float64"),
                        ("error", "string")]
#: Failed darks listed in the summary (all of them are in ``results.parquet``).
MAX_FAILURES_LISTED = 100


def results_table(results: Iterable[dict]) -> pa.Table:
    """Per-dark results as a pyarrow Table (one row per dark)."""
    results = list(results)
    schema = pa.schema([(name, getattr(pa, t)()) for name, t in RESULT_SCHEMA_FIELDS])
    columns = {name: [r.get(name) for r in results] for name, _ in RESULT_SCHEMA_FIELDS}
    columns["n_cr"] = [int(v or 0) for v in columns["n_cr"]]
    columns["seconds"] = [float(v or 0.0) for v in columns["seconds"]]
    return pa.table(columns, schema=schema)


def _map_failures(map_output: dict | None) -> int:
    """Items the Distributed Map itself failed (Lambda errors after retries), from the
    ResultWriter manifest; 0 when there is none."""
    details = (map_output or {}).get("ResultWriterDetails")
    if not details:
        return 0
    try:
        manifest = read_json(f"s3://{details['Bucket']}/{details['Key']}")
    except Exception:  # noqa: BLE001 - the summary must still be written
        return 0
    n = 0
    for entry in (manifest.get("ResultFiles") or {}).get("FAILED", []):
        try:
            n += len(read_json(f"s3://{manifest['DestinationBucket']}/{entry['Key']}"))
        except Exception:  # noqa: BLE001
            n += 1
    return n


def summarize_run(event: dict, *, lake: str, runs_root: str) -> dict:
    """Summarize one run: counts per status, cosmic rays, time, failures.

    Reads ``<runs_root>/<run_id>/results/*.json`` (written by
    :func:`hstcr_common.aws.process_event`), writes ``results.parquet`` (one row per dark) and
    ``summary.json`` beside the manifest.

    Parameters
    ----------
    event : dict
        The state machine's state: ``{"plan": {...}, "map": {...}?, "map_error": {...}?}``.
    lake : str
        The lake root (echoed in the summary).
    runs_root : str
        ``s3://bucket/runs``.
    """
    plan = event.get("plan") or {}
    run_id = plan.get("run_id") or event.get("run_id")
    if not run_id:
        raise HstcrError("summarize needs the plan's run_id")
    results = [read_json(uri) for uri in list_uris(run_path(runs_root, run_id, RESULTS_DIR))
               if uri.endswith(".json")]
    results.sort(key=lambda r: r.get("dataset", ""))
    counts = Counter(r.get("status") for r in results)
    buf = io.BytesIO()
    pq.write_table(results_table(results), buf, compression="zstd")
    table_uri = run_path(runs_root, run_id, RESULTS_TABLE_NAME)
    put(table_uri, buf.getvalue(), "application/vnd.apache.parquet")
    summary = {
        "run_id": run_id,
        "lake": lake,
        "method": plan.get("method"),
        "n_items": plan.get("n_items", 0),
        "n_darks_planned": plan.get("n_darks", plan.get("n_items", 0)),
        "n_results": len(results),
        "n_done": counts.get("done", 0),
        "n_failed": counts.get("failed", 0),
        "n_skipped": counts.get("skipped", 0),
        "n_map_failures": _map_failures(event.get("map")),
        "cosmic_rays": int(sum(int(r.get("n_cr") or 0) for r in results)),
        "seconds": round(sum(float(r.get("seconds") or 0.0) for r in results), 3),
        "failures": [{"dataset": r.get("dataset"), "instrument": r.get("instrument"), "error": r.get("error")}
                     for r in results if r.get("status") == "failed"][:MAX_FAILURES_LISTED],
        "map_error": event.get("map_error"),
        "results": table_uri,
    }
    put(run_path(runs_root, run_id, SUMMARY_NAME), json.dumps(summary, indent=1, default=str).encode())
    return summary
