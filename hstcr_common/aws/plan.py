"""The ``plan`` Lambda's work: a request (MAST query, a manifest, or inline items) -> the
run's manifest, one Distributed Map item per line."""

from __future__ import annotations

import json
import math
import os

from ..model import CCD_METHODS, DEFAULT_METHOD, HstcrError, truthy
from ..pipeline import read_manifest, validate_item
from .runs import ENV_MAX_CONCURRENCY, MANIFEST_NAME, run_id_for, run_path
from .s3io import put, split_s3

#: The run's second manifest (method ``auto``): one line per group reference to build.
REFERENCES_MANIFEST_NAME = "references.jsonl"
#: Method ``auto``: the darks left for the darks' map once the reference children ran.
REMAINING_MANIFEST_NAME = "remaining.jsonl"
#: Seconds one ``process_dark`` invocation may spend building a group's reference: 40 % of its
#: 180 s timeout (``infra.functions.WORKER_TIMEOUT_S``), the rest is room for slow S3 reads,
#: a cold start and a slower CPU than the one measured.
REFERENCE_BUILD_BUDGET_S = 72.0
#: Measured time to add one full-frame ACS/WFC or WFC3/UVIS dark (16.8 Mpix, the largest CCDs)
#: to a reference, reads included (docs/aws.md, "Per-child limits").
REFERENCE_SECONDS_PER_DARK = 3.5
#: Most darks one reference child builds from: larger groups are split by the plan.
MAX_REFERENCE_GROUP = int(REFERENCE_BUILD_BUDGET_S // REFERENCE_SECONDS_PER_DARK)


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


def split_group(members: list[dict], max_size: int = MAX_REFERENCE_GROUP) -> list[list[dict]]:
    """A group in time order cut into the fewest near-equal runs of at most ``max_size`` darks
    (so each reference fits one child's time limit); smaller groups are returned whole."""
    n_parts = max(1, math.ceil(len(members) / max_size))
    size, extra = divmod(len(members), n_parts)
    out, start = [], 0
    for k in range(n_parts):
        stop = start + size + (1 if k < extra else 0)
        out.append(members[start:stop])
        start = stop
    return out


def auto_items(items: list[dict], params: dict | None, lake: str,
               max_size: int = MAX_REFERENCE_GROUP) -> tuple[list[dict], list[dict]]:
    """Method ``auto`` on AWS: (one map item per group's reference, one map item per dark).

    Groups come from :func:`hstcr_common.pipeline.plan_auto`, split to at most ``max_size``
    darks (:func:`split_group`).  A reference item is ``{"kind": "reference", "dataset":
    "<first>+<n-1>", "instrument", "group": <reference name>, "reference": <lake path>,
    "items": [...]}``; each of its darks carries the same ``reference`` and ``group`` plus its
    ``method_reason``.  The path is known before the reference exists (the name is a digest
    of the members and parameters), so both manifests are written here; the dark's child
    checks the reference child's receipt and falls back to ``threshold`` when it failed.
    """
    from ..detect import describe_group
    from ..lake import Lake
    from ..pipeline import plan_auto, reference_name, reference_path
    from ..pipeline.process import as_params

    auto = as_params("auto", params)
    groups, alone = plan_auto(items, auto)
    lake_ = Lake(lake)
    references, darks = [], []
    for group in groups:
        for members in split_group(group, max_size):
            if len(members) < auto.min_group_size:
                alone.extend(members)
                continue
            name = reference_name(members, auto)
            path = reference_path(lake_, name)
            first = members[0]
            references.append({"kind": "reference", "instrument": first.get("instrument"),
                               "dataset": f"{first['dataset']}+{len(members) - 1}",
                               "month": first.get("month"), "group": name, "reference": path,
                               "items": members})
            reason = describe_group(members)
            group_darks = [dict(m, reference=path, reference_group=name, method_reason=reason)
                           for m in members]
            # the reference child searches these same items (hstcr_common.aws.run_reference_item)
            references[-1]["items"] = group_darks
            darks.extend(group_darks)
    return references, darks + alone


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


def _max_concurrency(request: dict) -> int:
    value = request.get("max_concurrency")
    if value is None:
        value = os.environ.get(ENV_MAX_CONCURRENCY) or 0
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise HstcrError(f"max_concurrency must be a whole number, not {value!r}") from None
    if n < 0:
        raise HstcrError(f"max_concurrency must be >= 0 (0: no limit), not {n}")
    return n


def _write_jsonl(uri: str, rows: list[dict]) -> None:
    body = "".join(json.dumps(it, separators=(",", ":"), default=str) + "\n" for it in rows).encode()
    put(uri, body, "application/x-ndjson")


def plan_run(request: dict, *, runs_root: str, lake: str, execution_name: str | None = None) -> dict:
    """Plan a run and write its manifest (JSON Lines) to ``<runs_root>/<run_id>/manifest.jsonl``.

    Parameters
    ----------
    request : dict
        ``{"instrument", "start": "YYYY-MM", "end": "YYYY-MM"}`` (MAST query), or
        ``{"manifest": "s3://..."}``, or ``{"items": [...]}``; plus optional ``method``
        (``auto``, the default: group references first, :func:`auto_items`; ``threshold``,
        ``dq``, ``stack``), ``params`` (dict), ``reprocess`` (bool) and
        ``max_concurrency`` (int, the Map's concurrency; default: ``HSTCR_MAX_CONCURRENCY``,
        the stack's setting; 0 lets Step Functions choose).
    runs_root : str
        ``s3://bucket/runs``.
    lake : str
        The lake root the workers write to (echoed for the summary).
    execution_name : str, optional
        The Step Functions execution name: the run id.

    Returns
    -------
    dict
        ``run_id, bucket, key, n_items, n_items_planned, references_key, n_groups, n_darks,
        method, params, reprocess, max_concurrency, lake`` (what the two Distributed Maps' ItemReader,
        ItemSelector and MaxConcurrencyPath read: references first, ``n_groups`` of them
        from ``references_key``, then ``n_items`` from ``key``).
    """
    method = request.get("method") or DEFAULT_METHOD
    if method not in CCD_METHODS:
        raise HstcrError(f"unknown method {method!r}: choose {', '.join(CCD_METHODS[:-1])} "
                         f"or {CCD_METHODS[-1]}")
    max_concurrency = _max_concurrency(request)
    items = _planned_items(request)
    references: list[dict] = []
    if method == "stack":
        work = group_items(items)
    elif method == "auto":
        references, work = auto_items(items, request.get("params"), lake)
    else:
        work = items
    run_id = run_id_for(execution_name)
    uri = run_path(runs_root, run_id, MANIFEST_NAME)
    _write_jsonl(uri, work)
    references_uri = run_path(runs_root, run_id, REFERENCES_MANIFEST_NAME)
    _write_jsonl(references_uri, references)
    bucket, key = split_s3(uri)
    return {"run_id": run_id, "bucket": bucket, "key": key, "n_items": len(work),
            "n_items_planned": len(work),
            "references_key": split_s3(references_uri)[1], "n_groups": len(references),
            "n_darks": len(items), "method": method, "params": request.get("params") or {},
            "reprocess": truthy(request.get("reprocess")), "max_concurrency": max_concurrency,
            "lake": lake}


def remaining_darks(state: dict, *, runs_root: str) -> dict:
    """Method ``auto``, between the two maps: the plan with its manifest cut to the darks no
    reference child searched.

    A reference child searches its group's darks and writes their receipts
    (:func:`hstcr_common.aws.run_reference_item`); those darks need no child of their own
    (each one would cost a Standard transition, an Express child and an invocation only to
    report the receipt).  Their results come from the references map's ResultWriter output,
    which :func:`hstcr_common.aws.summarize_run` reads too.  A failed reference child's darks
    all stay (they are searched alone or against a reference built by a retry).

    Parameters
    ----------
    state : dict
        The state machine's state: ``{"plan": plan_run's answer, "references":
        {"ResultWriterDetails": ...}}``.
    runs_root : str

    Returns
    -------
    dict
        The plan, ``key`` -> ``runs/<run_id>/remaining.jsonl`` and ``n_items`` -> its lines
        (``n_items_planned`` keeps the manifest's; unchanged without a references map).
    """
    from .summarize import searched_by_reference_children
    from .s3io import read_text

    plan = dict(state["plan"])
    if not (state.get("references") or {}).get("ResultWriterDetails"):
        return plan
    searched = {r.get("dataset") for r in searched_by_reference_children(state)}
    lines = read_text(f"s3://{plan['bucket']}/{plan['key']}").splitlines()
    left = [line for line in lines
            if line.strip() and json.loads(line).get("dataset") not in searched]
    uri = run_path(runs_root, plan["run_id"], REMAINING_MANIFEST_NAME)
    put(uri, "".join(f"{line}\n" for line in left).encode(), "application/x-ndjson")
    plan.update(key=split_s3(uri)[1], n_items=len(left))
    return plan
