"""The ``plan`` Lambda's work: a request (MAST query, a manifest, or inline items) -> the
run's manifest, one Distributed Map item per line."""

from __future__ import annotations

import json

from ..model import CCD_METHODS, DEFAULT_METHOD, HstcrError, truthy
from ..pipeline import read_manifest, validate_item
from .runs import MANIFEST_NAME, run_id_for, run_path
from .s3io import put, split_s3


def group_items(items: list[dict]) -> list[dict]:
    """Stack-method work items: darks grouped by set-up and month (the manifest's ``group``
    key when every item has one, as ``hstcr run`` does, else
    :func:`hstcr_common.detect.group_for_stack`); each group is one map item
    ``{"dataset": "<first>+<n-1>", "instrument", "month", "group", "items": [...]}``."""
    if items and all(it.get("group") for it in items):
        by_key: dict[str, list[dict]] = {}
        for it in items:
            by_key.setdefault(str(it["group"]), []).append(it)
        grouped = sorted(by_key.items())
    else:
        # imported on use, as plan_darks below: a cold start pays only for what the request needs
        from ..detect import group_for_stack

        grouped = []
        for members in group_for_stack(items):
            first = members[0]
            key = f"{first['instrument']}-{first.get('month', '')}-{first['dataset']}"
            grouped.append((key, [dict(m, group=key) for m in members]))
    out = []
    for key, members in grouped:
        first = members[0]
        out.append({
            "dataset": first["dataset"] if len(members) == 1 else f"{first['dataset']}+{len(members) - 1}",
            "instrument": first["instrument"],
            "month": first.get("month"),
            "group": key,
            "items": members,
        })
    return out


def _planned_items(request: dict) -> list[dict]:
    if request.get("items") is not None:
        return [validate_item(it, f"request item {i}") for i, it in enumerate(request["items"])]
    if request.get("manifest"):
        return list(read_manifest(request["manifest"]))
    missing = [k for k in ("instrument", "start", "end") if not request.get(k)]
    if missing:
        raise HstcrError(f"plan request needs 'items', 'manifest' or instrument/start/end (missing {missing})")
    from ..remote import plan_darks

    return list(plan_darks(request["instrument"], request["start"], request["end"]))


def plan_run(request: dict, *, runs_root: str, lake: str, execution_name: str | None = None) -> dict:
    """Plan a run and write its manifest (JSON Lines) to ``<runs_root>/<run_id>/manifest.jsonl``.

    Parameters
    ----------
    request : dict
        ``{"instrument", "start": "YYYY-MM", "end": "YYYY-MM"}`` (MAST query), or
        ``{"manifest": "s3://..."}``, or ``{"items": [...]}``; plus optional ``method``
        (``threshold``, ``dq``, ``stack``), ``params`` (dict) and ``reprocess`` (bool).
    runs_root : str
        ``s3://bucket/runs``.
    lake : str
        The lake root the workers write to (echoed for the summary).
    execution_name : str, optional
        The Step Functions execution name: the run id.

    Returns
    -------
    dict
        ``run_id, bucket, key, n_items, n_darks, method, params, reprocess, lake`` (what the
        Distributed Map's ItemReader and ItemSelector read).
    """
    method = request.get("method") or DEFAULT_METHOD
    if method not in CCD_METHODS:
        raise HstcrError(f"unknown method {method!r}: choose {', '.join(CCD_METHODS[:-1])} "
                         f"or {CCD_METHODS[-1]}")
    items = _planned_items(request)
    work = group_items(items) if method == "stack" else items
    run_id = run_id_for(execution_name)
    uri = run_path(runs_root, run_id, MANIFEST_NAME)
    body = "".join(json.dumps(it, separators=(",", ":")) + "\n" for it in work).encode()
    put(uri, body, "application/x-ndjson")
    bucket, key = split_s3(uri)
    return {"run_id": run_id, "bucket": bucket, "key": key, "n_items": len(work),
            "n_darks": len(items), "method": method, "params": request.get("params") or {},
            "reprocess": truthy(request.get("reprocess")), "lake": lake}
