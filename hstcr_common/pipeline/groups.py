"""Method ``auto`` in the pipeline: plan the groups, build each group's reference once, in the lake.

A run with ``auto`` (the default) goes in two steps, each a set of independent tasks:

1. **One task per group** (:func:`build_group_reference`): darks of one set-up
   (:func:`hstcr_common.detect.plan_groups`) with at least ``min_group_size`` CCD darks get a
   reference, built a strip of rows at a time (memory: about one dark plus the reference,
   whatever the group's size) and written atomically to
   ``<lake>/references/<name>.npz``.  The name carries the detector, period, first dataset
   and a digest of the members, the parameters and the software version, so a reference
   already in the lake for the same group and parameters is reused, and a changed group
   gets a new one.
2. **One task per dark** (:func:`hstcr_common.pipeline.process_one` with the item's
   ``reference`` set): the one-dark path, searching against the reference.

A dark with no group (alone in its set-up, an IR ramp, or a group whose reference could not
be built) is searched alone: ``threshold`` (``ramp`` for IR), and ``exposures`` says why.
"""

from __future__ import annotations

import hashlib
import json
import os

from ..detect import (GroupReference, build_reference, describe_group, open_dark_rows,
                      plan_groups)
from ..instruments import detectors
from ..lake import REFERENCES, SOFTWARE_VERSION, Lake, temporary_path
from ..model import AutoParams, WorkItem, params_hash, redact
from .resume import already_done


def is_ccd_item(item: WorkItem) -> bool:
    """True unless the item's header says it is an IR detector (unknown: tried as a CCD)."""
    det = detectors().get(str(item.get("instrument") or ""))
    return det is None or det.kind == "ccd"


def reference_name(members: list[WorkItem], params: AutoParams) -> str:
    """``<detector>-<period>-<first dataset>-<digest>``: same group + parameters -> same name."""
    text = json.dumps({"members": sorted(str(m.get("dataset")) for m in members),
                       "params": params_hash(params), "version": SOFTWARE_VERSION},
                      sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    first = members[0]
    period = str(first.get("anneal_cycle") or first.get("month") or "undated")
    return f"{first.get('instrument') or 'unknown'}-{period}-{first.get('dataset')}-{digest}"


def reference_path(lake: Lake, name: str) -> str:
    return f"{lake.base}/{REFERENCES}/{name}.npz"


def write_reference(lake: Lake, name: str, data: bytes) -> str:
    """Write a reference atomically (temporary file + rename; one upload on S3)."""
    path = reference_path(lake, name)
    if lake.is_s3:
        with lake.fs.open_output_stream(path) as out:
            out.write(data)
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


# the last reference read in this process: a worker searches a group's darks one after the
# other, and each read of a full-frame ACS/WFC reference (~100 MB) cost ~65 ms
_LAST_REFERENCE: dict = {}


def forget_reference() -> None:
    """Drop the reference :func:`read_reference` keeps: the next read goes to the lake, as a
    fresh process's (a new Lambda invocation's) would."""
    _LAST_REFERENCE.clear()


def _reference_key(lake: Lake, path: str) -> tuple:
    info = lake.fs.get_file_info(path)
    return (lake.uri, path, info.size, info.mtime_ns)


def read_reference(lake: Lake, path: str) -> GroupReference:
    """The group reference at ``path``; the one read (or built and written) last is reused
    while the file is unchanged (same size and modification time)."""
    key = _reference_key(lake, path)
    if _LAST_REFERENCE.get("key") == key:
        return _LAST_REFERENCE["reference"]
    forget_reference()                      # never two held at once
    with lake.fs.open_input_file(path) as f:
        reference = GroupReference.from_bytes(f.read())
    _LAST_REFERENCE.update(key=key, reference=reference)
    return reference


def remember_reference(lake: Lake, path: str, reference: GroupReference) -> None:
    """Keep a reference this process has just written to ``path`` as the one read last:
    its darks searched next here (a reference child's, a single worker's) take it as
    :func:`read_reference` would have read it back (:meth:`GroupReference.as_stored`), at
    the cost of one HEAD instead of a GET of the whole file (~60 MB for ACS/WFC) and its
    decompression."""
    forget_reference()
    _LAST_REFERENCE.update(key=_reference_key(lake, path), reference=reference.as_stored())


def plan_auto(items: list[WorkItem], params: AutoParams) -> tuple[list[list[WorkItem]], list[WorkItem]]:
    """(groups that get a reference, darks searched alone) for a run's items.

    Items carrying a manifest ``group`` are grouped within it.
    """
    by_manifest: dict[str, list[WorkItem]] = {}
    alone = []
    for it in items:
        if is_ccd_item(it):
            by_manifest.setdefault(str(it.get("group", "")), []).append(it)
        else:
            alone.append(it)
    groups = []
    for key in sorted(by_manifest):
        for g in plan_groups(by_manifest[key], max_size=params.max_group_size,
                             exptime_tolerance=params.exptime_tolerance):
            (groups.append(g) if len(g) >= params.min_group_size else alone.extend(g))
    return groups, alone


def settled_reference(members: list[WorkItem], lake: Lake, params: AutoParams, *,
                      reprocess: bool = False, known: dict | None = None) -> dict | None:
    """What :func:`build_group_reference` answers without reading a dark: every member is
    done already ("all done") or the reference is in the lake ("reused"); None when it has
    to be built."""
    if reprocess:
        return None
    description = describe_group(members)
    params_key = params_hash(params)
    known = known or {}
    if all(already_done(lake, m, params_key, known.get(m["dataset"])) for m in members):
        return {"path": None, "reason": description, "members": [], "status": "all done",
                "errors": {}}
    path = reference_path(lake, reference_name(members, params))
    if lake.exists(path):
        return {"path": path, "reason": description,
                "members": [m["dataset"] for m in members], "status": "reused", "errors": {}}
    return None


def build_group_reference(members: list[WorkItem], lake: Lake, params: AutoParams, *,
                          reprocess: bool = False, known: dict | None = None,
                          staged: dict | None = None) -> dict:
    """Build (or reuse) one group's reference.

    ``staged`` (dataset -> role -> local path): members' files already read here, used
    instead of their locations (which messages still name).

    Returns
    -------
    dict
        ``path`` (None when there is no reference to use), ``reason`` (the darks' method
        reason), ``members`` (datasets in the reference), ``status`` ("built", "reused",
        "all done", "failed"), ``errors`` (dataset -> why it was left out).
    """
    settled = settled_reference(members, lake, params, reprocess=reprocess, known=known)
    if settled is not None:
        return settled
    description = describe_group(members)
    params_key = params_hash(params)
    name = reference_name(members, params)
    opened, errors = [], {}
    try:
        for m in members:
            try:
                files = {r: v for r, v in (m.get("files") or {}).items() if r in ("science", "dq")}
                local = (staged or {}).get(m.get("dataset")) or {}
                read_from = {r: local.get(r, v) for r, v in files.items()}
                opened.append(open_dark_rows(read_from, source=redact(str(files.get("science"))),
                                             dataset=m.get("dataset")))
            except Exception as exc:  # noqa: BLE001 - that dark fails on its own later
                errors[m["dataset"]] = f"{type(exc).__name__}: {exc}"
        if len(opened) < params.min_group_size:
            return {"path": None, "members": [],
                    "reason": f"{description}: only {len(opened)} readable, no reference; "
                              "threshold with hot-pixel rejection",
                    "status": "failed", "errors": errors}
        usable = [m for m in members if m["dataset"] not in errors]
        if len(usable) != len(members):
            description = describe_group(usable)
            name = reference_name(usable, params)
        meta = {"description": description, "name": name, "params_hash": params_key,
                "software_version": SOFTWARE_VERSION,
                "how": sorted({d.how for d in opened})}
        # the last group's reference, if this process holds one, goes before this one is built
        forget_reference()
        try:
            reference = build_reference(opened, params, meta=meta)
        except Exception as exc:  # noqa: BLE001 - the group's darks fall back, saying why
            return {"path": None, "members": [], "status": "failed", "errors": errors,
                    "reason": f"{description}: reference failed ({type(exc).__name__}: {exc}); "
                              "threshold with hot-pixel rejection"}
        path = write_reference(lake, name, reference.to_bytes())
        remember_reference(lake, path, reference)
        return {"path": path, "reason": description, "members": reference.members,
                "status": "built", "errors": errors}
    finally:
        for d in opened:
            d.close()
