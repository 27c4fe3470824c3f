"""The ``process_dark`` Lambda's work: one Distributed Map item (a dark, a stack group, or with
``auto`` a group's reference to build), or an ItemBatcher batch of them, into the lake.

With ``auto`` a run has two maps (:func:`hstcr_common.aws.plan_run`): first one child per
group builds its reference into ``<lake>/references/`` and writes a receipt to
``<runs_root>/<run_id>/references/<group>.json``; then one child per dark reads that receipt
(:func:`resolve_reference`) and searches the dark against the reference, or, when the build
failed or never finished, alone with ``threshold``, saying why in ``exposures``.
"""

from __future__ import annotations

import json
from collections import Counter

from ..model import DEFAULT_METHOD, truthy
from ..pipeline import build_group_reference, process_group, process_item
from .runs import RESULTS_DIR, run_path
from .s3io import exists, put, read_json

#: Receipts of the reference children: ``<runs_root>/<run_id>/references/<group>.json``.
REFERENCES_DIR = "references"
#: What a dark whose reference is missing says in ``exposures`` (after the group's description).
FALLBACK = "threshold with hot-pixel rejection"

#: Fields of each dark's result the map keeps: Step Functions caps state payloads at 256 KB.
SLIM_FIELDS = ("dataset", "instrument", "month", "status", "n_cr", "seconds", "error")


def build_reference_item(item: dict, *, lake: str, params: dict | None, reprocess: bool,
                         runs_root: str | None, run_id: str | None) -> dict:
    """Build one group's reference (a ``kind: reference`` map item) and write its receipt.

    Returns
    -------
    dict
        The receipt: ``group, path, reason, status, members, errors`` (see
        :func:`hstcr_common.pipeline.build_group_reference`).  Never raises for a bad dark:
        a failed build is a receipt with ``path: None`` whose darks fall back.
    """
    from ..lake import Lake
    from ..pipeline.process import as_params

    try:
        built = build_group_reference(item["items"], Lake(lake), as_params("auto", params),
                                      reprocess=reprocess)
    except Exception as exc:  # noqa: BLE001 - the group's darks fall back, saying why
        built = {"path": None, "status": "failed", "members": [], "errors": {},
                 "reason": f"reference failed ({type(exc).__name__}: {exc}); {FALLBACK}"}
    receipt = {"group": item.get("group"), **built}
    if runs_root and run_id:
        put(run_path(runs_root, run_id, REFERENCES_DIR, f"{item.get('group')}.json"),
            json.dumps(receipt, default=str).encode())
    return receipt


def resolve_reference(item: dict, *, runs_root: str | None, run_id: str | None) -> dict:
    """The dark's item as its group's reference child left it: the built reference and its
    reason, or no ``reference`` (``threshold``) with the reason it is missing."""
    if not (item.get("reference") and item.get("reference_group") and runs_root and run_id):
        return item
    uri = run_path(runs_root, run_id, REFERENCES_DIR, f"{item['reference_group']}.json")
    told = {k: v for k, v in item.items() if k != "reference"}
    if not exists(uri):
        told["method_reason"] = (f"{item.get('method_reason') or 'group'}: reference not built "
                                 f"(its child did not finish); {FALLBACK}")
        return told
    receipt = read_json(uri)
    told["method_reason"] = receipt.get("reason") or item.get("method_reason") or ""
    if receipt.get("path") and item["dataset"] not in (receipt.get("errors") or {}):
        told["reference"] = receipt["path"]
    return told


def _process_one(item: dict, *, lake: str, method: str, params: dict | None, reprocess: bool) -> list[dict]:
    if item.get("items"):
        return process_group(item["items"], lake=lake, params=params, reprocess=reprocess)
    return [process_item(item, lake=lake, method=method, params=params, reprocess=reprocess)]


def _record(results: list[dict], runs_root: str, run_id: str) -> list[dict]:
    """Write each dark's result (its receipt) to ``<runs_root>/<run_id>/results/<dataset>.json``
    and return the results the map should report.

    A retried invocation (a Lambda retry after a success whose answer was lost, a duplicate
    Express delivery, a redriven child) finds the dark in the lake and skips it; when this
    run's receipt is already there, the dark was done by this run, so the receipt (``done``)
    is reported instead of ``skipped`` and kept as written.  The existence check lists the
    exact key (``s3:ListBucket`` with an ``s3:prefix`` under ``runs/``): a GET of a missing
    key without an unconditional ``s3:ListBucket`` answers 403, not 404.
    """
    reported = []
    for res in results:
        uri = run_path(runs_root, run_id, RESULTS_DIR, f"{res['dataset']}.json")
        if res["status"] == "skipped" and exists(uri):
            reported.append(read_json(uri))
            continue
        put(uri, json.dumps(res, default=str).encode())
        reported.append(res)
    return reported


def process_event(event: dict, *, lake: str, runs_root: str | None = None) -> dict:
    """Process a Distributed Map item (``{"item", "run_id", "method", "params", "reprocess"}``)
    or an ItemBatcher batch (``{"Items": [{"item"}...], "BatchInput": {...}}``).

    An item of ``"kind": "reference"`` (method ``auto``, first map) builds its group's
    reference (:func:`build_reference_item`) and returns ``{"reference": receipt, "results":
    [], ...}``; a dark item naming a ``reference`` is first resolved against that receipt
    (:func:`resolve_reference`).

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
        if entry.get("kind") == "reference":
            receipt = build_reference_item(entry, lake=lake, params=params, reprocess=reprocess,
                                           runs_root=runs_root, run_id=run_id)
            slim = {k: receipt.get(k) for k in ("group", "path", "status", "reason")}
            return {"reference": dict(slim, n_members=len(receipt.get("members") or [])),
                    "results": [], "n_done": 0, "n_failed": 0, "n_skipped": 0}
        entry = resolve_reference(entry, runs_root=runs_root, run_id=run_id)
        results.extend(_process_one(entry, lake=lake, method=method, params=params, reprocess=reprocess))
    if runs_root and run_id:
        results = _record(results, runs_root, run_id)
    counts = Counter(r["status"] for r in results)
    slim = [{k: r.get(k) for k in SLIM_FIELDS} for r in results]
    return {"results": slim, "n_done": counts["done"], "n_failed": counts["failed"],
            "n_skipped": counts["skipped"]}
