"""The ``process_dark`` Lambda's work: one Distributed Map item (a dark, a stack group, or with
``auto`` a group's reference to build), or an ItemBatcher batch of them, into the lake.

With ``auto`` a run has two maps (:func:`hstcr_common.aws.plan_run`): first one child per
group reads the group's darks once into its ephemeral storage, builds the reference into
``<lake>/references/``, writes a receipt to ``<runs_root>/<run_id>/references/<group>.json``
and searches the darks it read against the reference while its time allows
(:func:`run_reference_item`), writing each one's result receipt; then one child per dark
reports that receipt when there is one, else reads the reference receipt
(:func:`resolve_reference`) and searches the dark itself, or, when the build failed or never
finished, searches it alone with ``threshold``, saying why in ``exposures``.  Reading each
dark once instead of twice (the build's read, then its own child's) and the reference never
(the child searches with the one it built, :func:`hstcr_common.pipeline.groups.remember_reference`)
is what the group's darks cost less for (``docs/aws.md``, Cost).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from typing import Callable

from ..model import DEFAULT_METHOD, truthy
from ..pipeline import build_group_reference, process_group, process_item
from ..pipeline.process import is_local
from .runs import RESULTS_DIR, run_path
from .s3io import exists, put, read_json

#: Receipts of the reference children: ``<runs_root>/<run_id>/references/<group>.json``.
REFERENCES_DIR = "references"
#: What a dark whose reference is missing says in ``exposures`` (after the group's description).
FALLBACK = "threshold with hot-pixel rejection"

#: Fields of each dark's result the map keeps: Step Functions caps state payloads at 256 KB.
SLIM_FIELDS = ("dataset", "instrument", "month", "status", "n_cr", "seconds", "error")
#: A reference child starts searching one more of its darks only while this much of its time
#: limit is left: a full-frame ACS/WFC dark takes ~2.5 s at 1769-2048 MB (search, its Parquet and
#: receipt), so this leaves room for a CPU ten times slower.  Darks it leaves are searched by
#: their own children, as when it fails.
SEARCH_RESERVE_S = 30.0
#: Folders a reference child keeps its darks' files in between the build and the searches,
#: under the temporary directory (Lambda's ephemeral storage, sized for the largest group by
#: ``infra.functions.WORKER_EPHEMERAL_MB``).
STAGING_PREFIX = "hstcr-group-"


def _with_receipt(item: dict, receipt: dict) -> dict:
    """A dark's item as its group's reference receipt tells it: the reference to search
    against and the reason, or no reference (``threshold``) when the build left it out."""
    told = {k: v for k, v in item.items() if k != "reference"}
    told["method_reason"] = receipt.get("reason") or item.get("method_reason") or ""
    if receipt.get("path") and item["dataset"] not in (receipt.get("errors") or {}):
        told["reference"] = receipt["path"]
    return told


def _sweep_staging(root: str) -> None:
    """Remove staging folders a killed invocation left (Lambda keeps /tmp between
    invocations and runs one at a time; elsewhere, other processes' folders are theirs)."""
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return
    for name in os.listdir(root):
        if name.startswith(STAGING_PREFIX):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def stage_darks(members: list[dict], folder: str) -> dict[str, dict[str, str]]:
    """Read each member's remote files once (the parts the measurement needs) into ``folder``.

    Returns
    -------
    dict
        dataset -> role -> local path, for the members read.  A member whose files are local
        already, or that cannot be read or written here, is left out: the build reads it
        itself (and says why it failed), and its own child searches it.
    """
    from ..remote import fetch_dark_files

    staged = {}
    for m in members:
        files = {r: loc for r, loc in (m.get("files") or {}).items() if loc}
        if all(is_local(loc) for loc in files.values()):
            continue
        try:
            fetched = fetch_dark_files(m)
            paths = {}
            for role, data in fetched.items():
                path = os.path.join(folder, f"{m['dataset']}_{role}.fits")
                with open(path, "wb") as out:
                    out.write(data)
                paths[role] = path
            del fetched
        except Exception:  # noqa: BLE001 - the build reads it again and records why it failed
            continue
        staged[m["dataset"]] = paths
    return staged


def build_reference_item(item: dict, *, lake: str, params: dict | None, reprocess: bool,
                         runs_root: str | None, run_id: str | None,
                         staged: dict | None = None) -> dict:
    """Build one group's reference (a ``kind: reference`` map item) and write its receipt.

    ``staged`` (dataset -> role -> local path, :func:`stage_darks`): darks already read.

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
                                      reprocess=reprocess, staged=staged)
    except Exception as exc:  # noqa: BLE001 - the group's darks fall back, saying why
        built = {"path": None, "status": "failed", "members": [], "errors": {},
                 "reason": f"reference failed ({type(exc).__name__}: {exc}); {FALLBACK}"}
    receipt = {"group": item.get("group"), **built}
    if runs_root and run_id:
        put(run_path(runs_root, run_id, REFERENCES_DIR, f"{item.get('group')}.json"),
            json.dumps(receipt, default=str).encode())
    return receipt


def run_reference_item(item: dict, *, lake: str, params: dict | None, reprocess: bool,
                       runs_root: str | None, run_id: str | None,
                       remaining_s: Callable[[], float] | None = None) -> tuple[dict, list[dict]]:
    """A reference child's work: read the group's darks once, build the reference, then search
    the darks against it while at least :data:`SEARCH_RESERVE_S` of the time limit is left.

    Each dark searched here is exactly what its own child would have made of it (same item,
    same receipt, same reference); its result receipt is written, so that child only reports
    it.  Nothing is searched when the reference was not built now (failed, already there from
    an earlier attempt, or every dark done): the darks' own children do as before.

    Returns
    -------
    (receipt, results)
        The reference receipt and the results of the darks searched here.
    """
    from ..lake import Lake
    from ..pipeline.groups import settled_reference
    from ..pipeline.process import as_params

    root = tempfile.gettempdir()
    _sweep_staging(root)
    folder = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root)
    try:
        # a retried child finds the reference built (or every dark done): nothing to read
        settled = settled_reference(item["items"], Lake(lake), as_params("auto", params),
                                    reprocess=reprocess)
        staged = stage_darks(item["items"], folder) if settled is None else {}
        receipt = build_reference_item(item, lake=lake, params=params, reprocess=reprocess,
                                       runs_root=runs_root, run_id=run_id, staged=staged)
        results = []
        if receipt.get("status") == "built":
            for member in item["items"]:
                dark = _with_receipt(member, receipt)
                local = staged.get(member["dataset"])
                remote = not all(is_local(v) for v in (member.get("files") or {}).values() if v)
                if "reference" not in dark or (remote and local is None):
                    continue                     # left out of the reference, or not read here
                if remaining_s is not None and remaining_s() < SEARCH_RESERVE_S:
                    break
                results.append(process_item(dark, lake=lake, method="auto", params=params,
                                            reprocess=reprocess, files=local))
                for path in (local or {}).values():      # its copy is no longer needed
                    os.unlink(path)
        if results and runs_root and run_id:
            results = _record(results, runs_root, run_id)
        return receipt, results
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def resolve_reference(item: dict, *, runs_root: str | None, run_id: str | None) -> dict:
    """The dark's item as its group's reference child left it: the built reference and its
    reason, or no reference (``threshold``) with the reason it is missing."""
    if not (item.get("reference") and item.get("reference_group") and runs_root and run_id):
        return item
    uri = run_path(runs_root, run_id, REFERENCES_DIR, f"{item['reference_group']}.json")
    if not exists(uri):
        told = {k: v for k, v in item.items() if k != "reference"}
        told["method_reason"] = (f"{item.get('method_reason') or 'group'}: reference not built "
                                 f"(its child did not finish); {FALLBACK}")
        return told
    return _with_receipt(item, read_json(uri))


def _searched_by_reference_child(item: dict, runs_root: str | None, run_id: str | None) -> dict | None:
    """This run's result receipt of a group's dark, when the group's reference child searched
    it (None otherwise: the dark's own child does the work)."""
    if not (item.get("reference_group") and runs_root and run_id):
        return None
    uri = run_path(runs_root, run_id, RESULTS_DIR, f"{item['dataset']}.json")
    return read_json(uri) if exists(uri) else None


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


def process_event(event: dict, *, lake: str, runs_root: str | None = None,
                  remaining_s: Callable[[], float] | None = None) -> dict:
    """Process a Distributed Map item (``{"item", "run_id", "method", "params", "reprocess"}``)
    or an ItemBatcher batch (``{"Items": [{"item"}...], "BatchInput": {...}}``).

    An item of ``"kind": "reference"`` (method ``auto``, first map) builds its group's
    reference and searches the group's darks against it while ``remaining_s()`` (seconds
    left of the invocation's limit; None: no limit) allows (:func:`run_reference_item`),
    and returns ``{"reference": receipt, "results": [the darks searched], ...}``.  A dark
    item naming a ``reference_group`` reports this run's receipt when that child searched it;
    otherwise it is resolved against the reference receipt (:func:`resolve_reference`).

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
    results, reported = [], []
    for entry in entries:
        if entry.get("kind") == "reference":
            receipt, searched = run_reference_item(entry, lake=lake, params=params,
                                                   reprocess=reprocess, runs_root=runs_root,
                                                   run_id=run_id, remaining_s=remaining_s)
            slim = {k: receipt.get(k) for k in ("group", "path", "status", "reason")}
            return dict(_answer(searched),
                        reference=dict(slim, n_members=len(receipt.get("members") or [])))
        done = _searched_by_reference_child(entry, runs_root, run_id)
        if done is not None:
            reported.append(done)
            continue
        entry = resolve_reference(entry, runs_root=runs_root, run_id=run_id)
        results.extend(_process_one(entry, lake=lake, method=method, params=params, reprocess=reprocess))
    if runs_root and run_id:
        results = _record(results, runs_root, run_id)
    return _answer(reported + results)


def _answer(results: list[dict]) -> dict:
    counts = Counter(r["status"] for r in results)
    slim = [{k: r.get(k) for k in SLIM_FIELDS} for r in results]
    return {"results": slim, "n_done": counts["done"], "n_failed": counts["failed"],
            "n_skipped": counts["skipped"]}
