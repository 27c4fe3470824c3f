"""One dark, or one group of darks, from its files to the lake.

A dark goes ``fetch -> load -> detect (+measure) -> timing -> orbit -> rows -> write``.
With ``auto`` an item may name its group's ``reference`` in the lake (and its
``method_reason``), written by :mod:`.groups`; the dark is then searched against it.
:func:`process_item` (one dark) and :func:`process_group` (a ``stack`` group) are the one
path shared by ``hstcr run``, its process pool and the AWS Lambda worker.  Neither raises for
a problem with the input: every failure goes through :func:`_failed`, which files one
``failures`` row naming the file and the problem, and the run goes on.

This module imports only what the Lambda worker has (numpy, scipy, astropy, pyarrow).
"""

from __future__ import annotations

import os
import time
import traceback

from ..detect import (find_cosmic_rays, find_cosmic_rays_reference, find_cosmic_rays_stack,
                      find_ir_cosmic_rays)
from ..ephemeris import exposure_timing, track_for_dark
from ..lake import Lake, PartitionKey, cosmic_rays_table, exposures_table, failures_table
from ..load import load_dark
from ..model import (DarkResult, HstcrError, KnownFiles, MethodParams, StackParams, WorkItem, dark_result,
                     params_hash, parse_params, redact)
from ..model.constants import CCD_METHODS
from ..remote import fetch_dark_files
from .groups import read_reference
from .resume import already_done, clean_after_write, finish_skipped, partition_for


class Stages:
    """Wall-clock seconds per stage, and the stage a dark is in (named in its failure row)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.current = "fetch"
        self.t0 = self._t = time.perf_counter()

    def start(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[self.current] = self.seconds.get(self.current, 0.0) + now - self._t
        self.current, self._t = name, now

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def stop(self) -> dict[str, float]:
        self.start("done")
        self.seconds.pop("done", None)
        return {k: round(v, 4) for k, v in self.seconds.items()}


# --------------------------------------------------------------------------- the stages

def is_local(location) -> bool:
    """A local path or ``file://`` URL (not ``s3://``, ``https://``)."""
    loc = str(location)
    return "://" not in loc or loc.startswith("file://")


def fetch(item: WorkItem) -> dict:
    """role -> local path or bytes for the item's files.

    Local files are handed to the loader as paths (astropy reads them directly); remote
    ones (``s3://``, ``https://``) are read by :func:`hstcr_common.remote.fetch_dark_files`
    (partial reads: only the HDUs the measurement needs, in memory).
    """
    files = {r: loc for r, loc in (item.get("files") or {}).items()
             if r in ("science", "support", "dq") and loc}
    if "science" not in files:
        raise HstcrError("manifest item has no science file", source=item.get("dataset"), stage="fetch")
    if not all(is_local(loc) for loc in files.values()):
        return dict(fetch_dark_files(item))
    out = {}
    for role, loc in files.items():
        path = str(loc).removeprefix("file://")
        if not os.path.exists(path):
            raise HstcrError("file not found", source=str(loc), stage="fetch")
        out[role] = path
    return out


def load(item: WorkItem, files: dict):
    # the source is stored in the lake and shown in messages: no presigned query string
    dark = load_dark(files["science"], dq=files.get("dq"), support=files.get("support"),
                     source=redact(str(item["files"]["science"])))
    _refuse_constant_chips(dark)
    return dark


def _refuse_constant_chips(dark) -> None:
    """A CCD chip whose every pixel has one value (all 0, all NaN) is not a dark exposure.

    Read noise alone makes every real frame vary; searching a constant one finds no cosmic
    ray and would enter the statistics as a rate of 0.
    """
    if dark.detector.kind == "ir":
        return
    for chip in dark.chips:
        science = chip.science
        if science.size and science.min() == science.max():
            raise HstcrError(f"chip {chip.name}: every pixel is {float(science.min()):g} e- "
                             f"(constant frame, no read noise: not a real exposure"
                             f"{'; its NaN/Inf pixels were set to 0' if dark.header.get('n_nonfinite') else ''})",
                             source=dark.source, stage="load")


def as_params(method: str, params: MethodParams | dict | None) -> MethodParams:
    """The method's parameter object: given, or parsed (and validated) from CLI/event values."""
    if params is None or isinstance(params, dict):
        return parse_params(method, params)
    if params.method != method:
        raise HstcrError(f"parameters of {params.method!r} given for method {method!r}")
    return params


def detect(dark, params: MethodParams, reference=None, reason: str = ""):
    """(catalogue, summary, method used).  IR ramps are always searched for jumps between
    reads; the user's parameters belong to the CCD method asked for, so a ramp gets its own
    defaults.  With ``auto``, a dark with its group's ``reference`` is searched against it
    (``reference``), one without alone (``threshold``); the summary says why."""
    if dark.detector.kind == "ir":
        catalog, summary = find_ir_cosmic_rays(dark)
        if params.method == "auto":
            summary.method_reason = "IR ramp: jumps between reads"
        return catalog, summary, "ramp"
    if params.method == "auto" and reference is not None:
        catalog, summary = find_cosmic_rays_reference(dark, reference, params, reason=reason)
        return catalog, summary, "reference"
    catalog, summary = find_cosmic_rays(dark, params)
    if params.method == "auto" and reason:
        summary.method_reason = reason
    return catalog, summary, summary.method


def write(lake: Lake, item: WorkItem, dark, detection, params_key: str, stages: Stages,
          known: KnownFiles | None) -> int:
    """timing -> orbit -> rows -> write, for a dark whose detection is done."""
    catalog, summary, used = detection
    stages.start("timing")
    timing = exposure_timing(dark)
    stages.start("orbit")
    try:
        track, note = track_for_dark(dark)
    except HstcrError as exc:  # a bad support file loses the track, not the cosmic rays
        track, note = None, f"orbit failed: {exc}"
    stages.start("rows")
    crs = cosmic_rays_table(catalog, [c.name for c in dark.chips], dark.dataset, used)
    exp = exposures_table(dark, summary, timing, track, note, method=used, params_key=params_key)
    stages.start("write")
    key = PartitionKey.from_month(dark.instrument, dark.month)
    # cosmic rays first: the exposures file is the "dark is done" marker that resuming reads
    written = {lake.write("cosmic_rays", crs, key, dark.dataset),
               lake.write("exposures", exp, key, dark.dataset)}
    # a failure may have been filed under the manifest's month (the dark was never loaded)
    partitions = [key]
    if item.get("month"):
        partitions.append(partition_for(item.get("instrument"), item["month"]))
    clean_after_write(lake, dark.dataset, written=written, known=known, partitions=partitions)
    return len(catalog)


# --------------------------------------------------------------------------- the one failure path

def error_text(exc: BaseException) -> str:
    """The failures row's message: the input problem, or for a bug its type and place."""
    if isinstance(exc, HstcrError):
        return str(exc)
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
    return redact(f"{type(exc).__name__}: {exc}{where}")


def record_failure(lake: Lake, item: WorkItem, exc: BaseException, *, stage: str, method: str,
                   dark=None, known: KnownFiles | None = None, stages: Stages | None = None) -> DarkResult:
    """File one ``failures`` row for the dark (under its own partition when it loaded, else
    the item's) and return its failed result."""
    dataset = getattr(dark, "dataset", None) or item.get("dataset") or "unknown"
    if dark is not None:
        key = PartitionKey.from_month(dark.instrument, dark.month)
    else:
        key = partition_for(item.get("instrument"), item.get("month"))
    source = redact(str((item.get("files") or {}).get("science") or "")) or None
    stage = getattr(exc, "stage", None) or stage
    lake.write("failures", failures_table(dataset, stage, exc, source=source, method=method), key, dataset)
    return dark_result(item, "failed", dark=dark, error=error_text(exc), stage=stage,
                       seconds=stages.elapsed() if stages else 0.0,
                       stages=stages.stop() if stages else {},
                       partition={"instrument": key.instrument, "month": f"{key.year:04d}-{key.month:02d}"})


def _failed(lake, item, exc, method, dark, known, stages) -> DarkResult:
    return record_failure(lake, item, exc, stage=stages.current, method=method, dark=dark,
                          known=known, stages=stages)


# --------------------------------------------------------------------------- one dark

def _single_dark_params(method: str, params) -> MethodParams:
    if method not in CCD_METHODS:
        raise HstcrError(f"unknown method {method!r}; use one of {', '.join(CCD_METHODS)}")
    if method == "stack":
        raise HstcrError("the stack method processes groups of darks: use process_group")
    return as_params(method, params)


def process_one(item: WorkItem, lake: Lake, method: str, params: MethodParams | dict | None, reprocess: bool,
                known: KnownFiles | None = None, files: dict | None = None) -> DarkResult:
    """:func:`process_item` on an open lake, with the run's listing of the dark's files."""
    stages = Stages()
    dark = None
    try:
        params = _single_dark_params(method, params)
        params_key = params_hash(params)
        done_path = None if reprocess else already_done(lake, item, params_key, known)
        if done_path:
            finish_skipped(lake, item["dataset"], done_path, known)
            return dark_result(item, "skipped", seconds=stages.elapsed())
        if files is None:
            files = fetch(item)
        stages.start("load")
        dark = load(item, files)
        del files
        stages.start("detect")
        reference = None
        if params.method == "auto" and item.get("reference") and dark.detector.kind == "ccd":
            reference = read_reference(lake, item["reference"])
        detection = detect(dark, params, reference, item.get("method_reason") or "")
        del reference
        n_cr = write(lake, item, dark, detection, params_key, stages, known)
        return dark_result(item, "done", dark=dark, n_cr=n_cr, seconds=stages.elapsed(), stages=stages.stop())
    except Exception as exc:  # noqa: BLE001 - every failure becomes a row, the run goes on
        return _failed(lake, item, exc, method, dark, known, stages)


def process_item(item: WorkItem, *, lake: str | Lake, method: str = "auto",
                 params: MethodParams | dict | None = None,
                 reprocess: bool = False, files: dict | None = None) -> DarkResult:
    """Process one dark (one work item) into the lake.

    Parameters
    ----------
    item : WorkItem
        ``{"dataset", "instrument", "month", "files": {"science", "support", "dq"?}}``.
    lake : str or Lake
        Lake root: local folder or ``s3://bucket/prefix``.
    method : {'auto', 'threshold', 'dq'}
        CCD detection method (IR darks always use ``ramp``).  ``auto``: against the
        reference named by ``item["reference"]`` (a lake path, :mod:`.groups`), else
        ``threshold``.
    params : MethodParams or dict, optional
        The method's parameters (:func:`hstcr_common.model.parse_params`); a dict is parsed
        and validated, and a bad one becomes the dark's failures row.
    reprocess : bool
        Process even when the lake already has the dark with the same software version and
        parameters.
    files : dict, optional
        The dark's files already read (role -> local path or bytes, as :func:`fetch` gives
        them), e.g. by its group's reference child; ``item["files"]`` stays the provenance.

    Returns
    -------
    DarkResult
        Never raises for bad input: a failed dark has a ``failures`` row.
    """
    return process_one(item, lake if isinstance(lake, Lake) else Lake(lake), method, params, reprocess,
                       files=files)


# --------------------------------------------------------------------------- one stack group

def _load_group(items, lake, params_key, reprocess, known) -> tuple[list, list[DarkResult]]:
    """Load every dark of a group not yet done: ([(item, dark, stages)], results so far)."""
    loaded, results = [], []
    for item in items:
        stages, dark = Stages(), None
        mine = known.get(item.get("dataset"))
        try:
            if not reprocess and already_done(lake, item, params_key, mine):
                results.append(dark_result(item, "skipped", seconds=stages.elapsed()))
                continue
            files = fetch(item)
            stages.start("load")
            dark = load(item, files)
            loaded.append((item, dark, stages))
        except Exception as exc:  # noqa: BLE001 - this dark fails alone
            results.append(_failed(lake, item, exc, "stack", dark, mine, stages))
    return loaded, results


def _detect_group(loaded, params: StackParams) -> tuple[dict, BaseException | None]:
    """id(dark) -> detection for the group's CCD darks (a group needs two), or the error that
    fails the whole group."""
    ccd = [dark for _, dark, _ in loaded if dark.detector.kind != "ir"]
    if len(ccd) < 2:
        return {}, None
    try:
        detections = find_cosmic_rays_stack(ccd, params)
    except Exception as exc:  # noqa: BLE001 - the whole group fails together
        return {}, exc
    return {id(d): (c, s, "stack") for d, (c, s) in zip(ccd, detections)}, None


def process_group(items: list[WorkItem], *, lake: str | Lake, params: StackParams | dict | None = None,
                  reprocess: bool = False, known: dict[str, KnownFiles] | None = None) -> list[DarkResult]:
    """Process a group of darks with the ``stack`` method (crrej-like rejection).

    Darks that fail to load get ``failures`` rows; the rest are stacked together (a group
    needs at least two CCD darks; an IR ramp or a lone dark is searched on its own, with
    ``ramp`` or ``threshold``).  ``known`` maps each dataset to its files in the lake.
    """
    lake = lake if isinstance(lake, Lake) else Lake(lake)
    known = known or {}
    params = as_params("stack", params)
    params_key = params_hash(params)
    loaded, results = _load_group(items, lake, params_key, reprocess, known)
    if not loaded:
        return results
    t_detect = time.perf_counter()
    per_dark, group_error = _detect_group(loaded, params)
    detect_share = (time.perf_counter() - t_detect) / len(loaded)
    for item, dark, stages in loaded:
        mine = known.get(item.get("dataset"))
        try:
            stages.start("detect")
            stages.add("detect", detect_share)
            stages.t0 -= detect_share
            if group_error is not None:
                raise group_error
            detection = per_dark.get(id(dark)) or detect(dark, parse_params("threshold"))
            n_cr = write(lake, item, dark, detection, params_key, stages, mine)
            results.append(dark_result(item, "done", dark=dark, n_cr=n_cr, seconds=stages.elapsed(),
                                       stages=stages.stop()))
        except Exception as exc:  # noqa: BLE001
            results.append(_failed(lake, item, exc, "stack", dark, mine, stages))
    return results
