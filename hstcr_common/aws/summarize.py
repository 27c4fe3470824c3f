"""The ``summarize`` Lambda's work: the Distributed Map's ResultWriter output -> counts,
failures, ``results.parquet`` and ``summary.json``.

Bounded for 100,000 darks: the Map's ResultWriter writes every child's output into a few
large ``SUCCEEDED_<n>.json`` / ``FAILED_<n>.json`` files listed in one ``manifest.json``, so
the summary is a handful of GETs, not one per dark (the per-dark receipts under
``runs/<run_id>/results/`` stay for audits and retries, see
:func:`hstcr_common.aws.process_event`).  ``benchmarks/bench_summarize.py`` times it.

ResultWriter record (one per child execution; ``Input``/``Output`` are JSON strings)::

    {"ExecutionArn", "Name", "Status": "SUCCEEDED" | "FAILED" | ..., "Input", "Output",
     "Error"?, "Cause"?, "StartDate", "StopDate", "RedriveCount", ...}
"""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from ..model import HstcrError
from .runs import RESULTS_TABLE_NAME, SUMMARY_NAME, run_path
from .s3io import put, read_json

#: Columns of ``results.parquet``: name and pyarrow type name.
RESULT_SCHEMA_FIELDS = [("dataset", "string"), ("instrument", "string"), ("month", "string"),
                        ("status", "string"), ("n_cr", "int64"), ("seconds", "float64"),
                        ("error", "string")]
#: Failed darks listed in the summary (all of them are in ``results.parquet``).
MAX_FAILURES_LISTED = 100
#: ``status`` of a dark whose child workflow failed (Lambda crash, time-out after retries):
#: no result, only the Map's record; a redrive re-runs exactly these.
MAP_FAILED = "map_failed"


def results_table(results: Iterable[dict]) -> pa.Table:
    """Per-dark results as a pyarrow Table (one row per dark)."""
    results = list(results)
    schema = pa.schema([(name, getattr(pa, t)()) for name, t in RESULT_SCHEMA_FIELDS])
    columns = {name: [r.get(name) for r in results] for name, _ in RESULT_SCHEMA_FIELDS}
    columns["n_cr"] = [int(v or 0) for v in columns["n_cr"]]
    columns["seconds"] = [float(v or 0.0) for v in columns["seconds"]]
    return pa.table(columns, schema=schema)


def _loads(text):
    if isinstance(text, str) and text:
        try:
            return json.loads(text)
        except ValueError:
            return None
    return text if isinstance(text, dict) else None


def _items_of(child_input: dict | None) -> list[dict]:
    """The work items a child got: one item, a stack group's members, or a batch."""
    if not child_input:
        return []
    entries = [e.get("item", e) for e in child_input["Items"]] if "Items" in child_input \
        else [child_input.get("item") or {}]
    out = []
    for entry in entries:
        out.extend(entry.get("items") or [entry])
    return out


def map_records(manifest: dict) -> Iterator[tuple[str, dict]]:
    """``(status, record)`` of every child in a ResultWriter manifest, file by file (one file
    in memory at a time)."""
    bucket = manifest["DestinationBucket"]
    for status, files in (manifest.get("ResultFiles") or {}).items():
        for entry in files:
            for record in read_json(f"s3://{bucket}/{entry['Key']}") or []:
                yield status, record


def results_from_map(manifest: dict, *, failed_children: bool = True) -> tuple[list[dict], int]:
    """Per-dark results from a ResultWriter manifest, and the number of failed children.

    A succeeded child's ``Output`` is :func:`hstcr_common.aws.process_event`'s answer (its
    ``results``); a failed or pending child becomes one :data:`MAP_FAILED` row per dark of
    its input, carrying the Map's error and cause, unless ``failed_children`` is False (the
    references map: a failed reference child's darks are searched by the darks' map).
    """
    results: list[dict] = []
    n_failed_children = 0
    for status, record in map_records(manifest):
        output = _loads(record.get("Output"))
        if status == "SUCCEEDED" and output is not None:
            results.extend(output.get("results") or [])
            continue
        n_failed_children += 1
        if not failed_children:
            continue
        error = f"{record.get('Error') or status}: {record.get('Cause') or ''}".strip(": ")
        for it in _items_of(_loads(record.get("Input"))) or [{}]:
            results.append({"dataset": it.get("dataset"), "instrument": it.get("instrument"),
                            "month": it.get("month"), "status": MAP_FAILED, "error": error[:1000]})
    return results, n_failed_children


def searched_by_reference_children(state: dict) -> list[dict]:
    """Method auto: the results of the darks the reference children searched, from the
    references map's ResultWriter output (``state["references"]``; none without it).  A
    failed reference child contributes nothing: its darks went to the darks' map."""
    details = (state.get("references") or {}).get("ResultWriterDetails")
    if not details:
        return []
    manifest = read_json(f"s3://{details['Bucket']}/{details['Key']}")
    return results_from_map(manifest, failed_children=False)[0]


def summarize_run(event: dict, *, lake: str, runs_root: str) -> dict:
    """Summarize one run: counts per status, cosmic rays, time, failures.

    Reads the Distributed Map's ResultWriter manifest (``event["map"]["ResultWriterDetails"]``;
    absent when the plan had no darks), writes ``results.parquet`` (one row per dark) and
    ``summary.json`` beside the run's manifest.

    Parameters
    ----------
    event : dict
        The state machine's state: ``{"plan": {...}, "map": {"ResultWriterDetails": ...}?}``.
    lake : str
        The lake root (echoed in the summary).
    runs_root : str
        ``s3://bucket/runs``.
    """
    plan = event.get("plan") or {}
    run_id = plan.get("run_id") or event.get("run_id")
    if not run_id:
        raise HstcrError("summarize needs the plan's run_id")
    details = (event.get("map") or {}).get("ResultWriterDetails")
    if details:
        results, n_map_failures = results_from_map(read_json(f"s3://{details['Bucket']}/{details['Key']}"))
    elif int(plan.get("n_items") or 0) > 0:
        raise HstcrError(f"run {run_id}: {plan['n_items']} items planned but no ResultWriter output "
                         "in the Map's result ($.map.ResultWriterDetails)")
    else:
        results, n_map_failures = [], 0
    # method auto: the darks the reference children searched never reached the darks' map
    searched = searched_by_reference_children(event)
    results += searched
    results.sort(key=lambda r: r.get("dataset") or "")
    counts = Counter(r.get("status") for r in results)
    buf = io.BytesIO()
    pq.write_table(results_table(results), buf, compression="zstd")
    table_uri = run_path(runs_root, run_id, RESULTS_TABLE_NAME)
    put(table_uri, buf.getvalue(), "application/vnd.apache.parquet")
    summary = {
        "run_id": run_id,
        "lake": lake,
        "method": plan.get("method"),
        "n_items": plan.get("n_items_planned", plan.get("n_items", 0)),
        "n_darks_planned": plan.get("n_darks", plan.get("n_items", 0)),
        "n_results": len(results),
        "n_done": counts.get("done", 0),
        "n_failed": counts.get("failed", 0),
        "n_skipped": counts.get("skipped", 0),
        "n_map_failed": counts.get(MAP_FAILED, 0),
        "n_map_failures": n_map_failures,
        "n_searched_by_references": len(searched),
        "cosmic_rays": int(sum(int(r.get("n_cr") or 0) for r in results)),
        "seconds": round(sum(float(r.get("seconds") or 0.0) for r in results), 3),
        "failures": [{"dataset": r.get("dataset"), "instrument": r.get("instrument"), "error": r.get("error")}
                     for r in results if r.get("status") in ("failed", MAP_FAILED)][:MAX_FAILURES_LISTED],
        "results": table_uri,
    }
    put(run_path(runs_root, run_id, SUMMARY_NAME), json.dumps(summary, indent=1, default=str).encode())
    return summary
