"""The ``process_dark`` Lambda's work: one Distributed Map item (a dark or a stack group), or
an ItemBatcher batch of them, through the pipeline into the lake."""

from __future__ import annotations

import json
from collections import Counter

from ..model import DEFAULT_METHOD, truthy
from ..pipeline import process_group, process_item
from .runs import RESULTS_DIR, run_path
from .s3io import exists, put

#: Fields of each dark's result the map keeps: Step Functions caps state payloads at 256 KB.
SLIM_FIELDS = ("dataset", "instrument", "status", "n_cr", "seconds", "error")


def _process_one(item: dict, *, lake: str, method: str, params: dict | None, reprocess: bool) -> list[dict]:
    if item.get("items"):
        return process_group(item["items"], lake=lake, params=params, reprocess=reprocess)
    return [process_item(item, lake=lake, method=method, params=params, reprocess=reprocess)]


def _record(results: list[dict], runs_root: str, run_id: str) -> None:
    """Write each dark's result to ``<runs_root>/<run_id>/results/<dataset>.json``."""
    for res in results:
        uri = run_path(runs_root, run_id, RESULTS_DIR, f"{res['dataset']}.json")
        # a retried invocation (Lambda retry, duplicate delivery) finds the dark done and
        # skips it: keep the first attempt's "done" result so the summary still counts it
        if res["status"] == "skipped" and exists(uri):
            continue
        put(uri, json.dumps(res, default=str).encode())


def process_event(event: dict, *, lake: str, runs_root: str | None = None) -> dict:
    """Process a Distributed Map item (``{"item", "run_id", "method", "params", "reprocess"}``)
    or an ItemBatcher batch (``{"Items": [{"item"}...], "BatchInput": {...}}``).

    Bad darks never raise: :func:`hstcr_common.pipeline.process_item` records them as
    ``failures`` rows and returns ``status="failed"``.  Each dark's result is also written to
    ``<runs_root>/<run_id>/results/<dataset>.json`` for :func:`hstcr_common.aws.summarize_run`.

    Returns
    -------
    dict
        ``{"results": [per-dark result dicts], "n_done", "n_failed", "n_skipped"}``
    """
    if "Items" in event:
        settings = event.get("BatchInput") or {}
        entries = [e.get("item", e) for e in event["Items"]]
    else:
        settings = event
        entries = [event["item"]]
    method = settings.get("method") or DEFAULT_METHOD
    params = settings.get("params") or None
    reprocess = truthy(settings.get("reprocess"))
    run_id = settings.get("run_id")
    results = []
    for entry in entries:
        results.extend(_process_one(entry, lake=lake, method=method, params=params, reprocess=reprocess))
    if runs_root and run_id:
        _record(results, runs_root, run_id)
    counts = Counter(r["status"] for r in results)
    slim = [{k: r.get(k) for k in SLIM_FIELDS} for r in results]
    return {"results": slim, "n_done": counts["done"], "n_failed": counts["failed"],
            "n_skipped": counts["skipped"]}
