"""The per-dark job and the run loop.

One dark goes ``fetch -> load -> detect (+measure) -> timing -> orbit -> rows -> write``:
:func:`process_item` does that for one manifest item and never raises for a problem with the
input - the problem becomes a ``failures`` row.  :func:`run` fans items out over a process
pool month by month, skipping darks already in the lake with the same software version and
parameters (resumable).

The AWS Lambda worker calls :func:`process_item` and :func:`summarize_lake` directly, so this
module imports only what the worker has (numpy, scipy, astropy, pyarrow): no duckdb,
matplotlib, rich or boto3 at module level.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..model import HstcrError, redact
from ..instruments import detectors
from ..lake import Lake, PartitionKey, partition_of
from ..lake import (SOFTWARE_VERSION, cosmic_rays_table, exposures_table, failures_table,
                   params_hash)

METHODS = ("threshold", "dq", "stack")

#: file name pattern of a dark product: ``<dataset>_<suffix>.fits`` (optionally .gz)
_PRODUCT = re.compile(r"^(?P<dataset>[a-z0-9]{9})_(?P<suffix>[a-z0-9]{3})\.fits(\.gz)?$", re.I)


# ---------------------------------------------------------------------------------------------
# Work items
# ---------------------------------------------------------------------------------------------

def _suffix_preferences() -> dict[str, dict]:
    """Per dataset prefix letter: science suffixes in order of preference, support and DQ.

    IR detectors come first so an ``ima`` wins over a WFC3 ``flt`` (both start with ``i``):
    a UVIS dark never has an ``ima``.
    """
    prefs: dict[str, dict] = {}
    ordered = sorted(detectors().values(), key=lambda d: d.kind != "ir")
    for det in ordered:
        p = prefs.setdefault(det.dataset_prefix, {"science": [], "support": [], "dq": []})
        for role, suffixes in (("science", det.science_suffixes), ("support", [det.support_suffix]),
                               ("dq", [det.dq_suffix] if det.dq_suffix else [])):
            for s in suffixes:
                if s not in p[role]:
                    p[role].append(s)
    return prefs


def items_from_folder(folder: str | os.PathLike) -> list[dict]:
    """Work items for every dark in a folder (searched recursively).

    Files are grouped by dataset (``<dataset>_<suffix>.fits``); the science product is the
    most preferred suffix of the instrument table present, plus the support (spt/shm) and
    DQ (c1m) files when there.  Datasets without any science product are skipped (e.g. a
    lone ``spt``).

    Raises
    ------
    HstcrError
        When the folder does not exist or holds no dark.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise HstcrError("not a folder", source=str(folder))
    by_dataset: dict[str, dict[str, str]] = defaultdict(dict)
    for path in sorted(folder.rglob("*.fits*")):
        m = _PRODUCT.match(path.name)
        if m:
            by_dataset[m["dataset"].lower()][m["suffix"].lower()] = str(path)
    prefs = _suffix_preferences()
    items = []
    for dataset, files in sorted(by_dataset.items()):
        p = prefs.get(dataset[0], {"science": [s for d in detectors().values() for s in d.science_suffixes],
                                   "support": ["spt", "shm"], "dq": ["c1m"]})
        roles = {}
        for role in ("science", "support", "dq"):
            found = next((s for s in p[role] if s in files), None)
            if found:
                roles[role] = files[found]
        if "science" in roles:
            items.append(_with_header_facts({"dataset": dataset, "instrument": None, "month": None,
                                             "files": roles}))
    if not items:
        raise HstcrError("no darks (<dataset>_<suffix>.fits) found", source=str(folder))
    return items


def _with_header_facts(item: dict) -> dict:
    """Fill ``instrument``, ``month`` and the stack grouping keys from the science header.

    Only headers are read.  A file whose header cannot be read keeps None: loading it
    fails later and the problem becomes its ``failures`` row.
    """
    from ..load import read_header_facts
    try:
        facts = read_header_facts(item["files"]["science"])
    except Exception:  # noqa: BLE001 - reported when the dark is loaded
        return item
    item["instrument"] = facts["instrument"]
    item["month"] = f"{facts['date_obs'].year:04d}-{facts['date_obs'].month:02d}"
    item["exptime_s"] = facts.get("exptime_s")
    item["ccdamp"] = facts.get("ccdamp")
    return item


def read_items(path: str | os.PathLike) -> list[dict]:
    """Work items from a manifest (JSON Lines, JSON list or CSV)."""
    from .manifest import read_manifest
    return list(read_manifest(path))


# ---------------------------------------------------------------------------------------------
# The per-dark job
# ---------------------------------------------------------------------------------------------

class _Stages:
    """Wall-clock seconds per stage, and the stage we are in (for failure rows)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.current = "fetch"
        self._t = time.perf_counter()

    def start(self, name: str):
        now = time.perf_counter()
        self.seconds[self.current] = self.seconds.get(self.current, 0.0) + now - self._t
        self.current, self._t = name, now

    def stop(self) -> dict[str, float]:
        self.start("done")
        self.seconds.pop("done", None)
        return {k: round(v, 4) for k, v in self.seconds.items()}


def _is_local(location) -> bool:
    loc = str(location)
    return "://" not in loc or loc.startswith("file://")


def _fetch(item: dict) -> dict:
    """role -> local path or bytes for the item's files.

    Local files are handed to the loader as paths (astropy reads them directly); remote
    ones (``s3://``, ``https://``) are read by :func:`hstcr_common.remote.sources.fetch_dark_files`
    (partial reads: only the HDUs the measurement needs, in memory).
    """
    files = {r: loc for r, loc in (item.get("files") or {}).items()
             if r in ("science", "support", "dq") and loc}
    if "science" not in files:
        raise HstcrError("manifest item has no science file", source=item.get("dataset"), stage="fetch")
    if not all(_is_local(loc) for loc in files.values()):
        from ..remote import fetch_dark_files
        return dict(fetch_dark_files(item))
    out = {}
    for role, loc in files.items():
        path = str(loc).removeprefix("file://")
        if not os.path.exists(path):
            raise HstcrError("file not found", source=str(loc), stage="fetch")
        out[role] = path
    return out


def _load(item: dict, files: dict):
    from ..load import load_dark
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


def _effective_method(dark, method: str) -> str:
    """IR ramps are always searched for jumps between reads."""
    return "ramp" if dark.detector.kind == "ir" else method


def _detect(dark, method: str, params: dict | None):
    from ..detect import find_cosmic_rays
    used = _effective_method(dark, method)
    # user parameters belong to the CCD method asked for; a ramp uses its own defaults
    kwargs = dict(params or {}) if used == method else {}
    if used == "ramp":
        from ..detect import find_ir_cosmic_rays
        catalog, summary = find_ir_cosmic_rays(dark, **kwargs)
    else:
        catalog, summary = find_cosmic_rays(dark, method=used, **kwargs)
    return catalog, summary, used


def _key_for(instrument: str | None, month: str | None) -> PartitionKey:
    month = month or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    return PartitionKey.from_month(instrument or "unknown", month)


def _write_dark(lake: Lake, item: dict, dark, catalog, summary, used: str, params_key: str,
                stages: _Stages, known: dict | None) -> int:
    """timing -> orbit -> rows -> write, for a dark whose detection is done."""
    from ..ephemeris import track_for_dark
    from ..ephemeris import exposure_timing

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
    candidates = [key]
    if item.get("month"):
        candidates.append(_key_for(item.get("instrument"), item["month"]))
    _cleanup(lake, dark.dataset, keep=written, known=known, candidates=candidates)
    return len(catalog)


def _cleanup(lake: Lake, dataset: str, *, keep: set[str], known: dict | None,
             candidates: list[PartitionKey]):
    """Remove the dark's failures files, and stale rows of it in other partitions."""
    paths = set()
    if known is not None:
        for table in ("cosmic_rays", "exposures", "failures"):
            paths.update(known.get(table, []))
    for key in candidates:
        paths.add(lake.file_path("failures", key, dataset))
    for path in sorted(paths - keep):
        lake.delete(path)


def _already_done(lake: Lake, item: dict, params_key: str, known: dict | None) -> str | None:
    """The dark's exposures file when the lake has it with the same software version and
    params hash (a true value), else None."""
    if known is not None:
        paths = known.get("exposures", [])
    elif item.get("instrument") and item.get("month"):
        paths = [lake.file_path("exposures", _key_for(item["instrument"], item["month"]), item["dataset"])]
    else:
        paths = []
    for path in paths:
        try:
            t = lake.read_file(path, columns=["software_version", "params_hash"])
        except Exception:  # noqa: BLE001 - missing or unreadable: not done, process it again
            continue
        if t.num_rows and t["software_version"][0].as_py() == SOFTWARE_VERSION \
                and t["params_hash"][0].as_py() == params_key:
            return path
    return None


def _finish_skipped(lake: Lake, dataset: str, done_path: str, known: dict | None):
    """Remove what a run killed between a dark's exposures write and its cleanup left:
    a failures file of an earlier attempt, or rows of it in another partition."""
    if not known:
        return
    key = partition_of(done_path)
    keep = {done_path, lake.file_path("cosmic_rays", key, dataset)}
    for path in sorted({p for table in ("cosmic_rays", "exposures", "failures")
                        for p in known.get(table, [])} - keep):
        lake.delete(path)


def _record_failure(lake: Lake, item: dict, dark, stage: str, exc: BaseException, method: str,
                    known: dict | None) -> dict:
    dataset = getattr(dark, "dataset", None) or item.get("dataset") or "unknown"
    if dark is not None:
        key = PartitionKey.from_month(dark.instrument, dark.month)
    else:
        key = _key_for(item.get("instrument"), item.get("month"))
    source = redact(str((item.get("files") or {}).get("science") or "")) or None
    lake.write("failures", failures_table(dataset, stage, exc, source=source, method=method),
               key, dataset)
    return {"instrument": key.instrument, "month": f"{key.year:04d}-{key.month:02d}"}


def _result(item, status, *, dark=None, n_cr=0, seconds=0.0, error=None, stages=None, extra=None):
    out = {
        "dataset": getattr(dark, "dataset", None) or item.get("dataset"),
        "instrument": getattr(dark, "instrument", None) or item.get("instrument"),
        "status": status,
        "n_cr": int(n_cr),
        "seconds": round(float(seconds), 4),
        "error": error,
        "month": getattr(dark, "month", None) or item.get("month"),
        "stages": stages or {},
    }
    out.update(extra or {})
    return out


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, HstcrError):
        return str(exc)
    # a bug, not an input problem: keep where it happened for the failures row
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
    return redact(f"{type(exc).__name__}: {exc}{where}")


def _process(item: dict, lake: Lake, method: str, params: dict | None, reprocess: bool,
             known: dict | None = None) -> dict:
    t0 = time.perf_counter()
    stages = _Stages()
    params_key = params_hash(method, params)
    dark = None
    try:
        if method not in METHODS:
            raise HstcrError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
        if method == "stack":
            raise HstcrError("the stack method processes groups of darks: use process_group")
        done_path = None if reprocess else _already_done(lake, item, params_key, known)
        if done_path:
            _finish_skipped(lake, item["dataset"], done_path, known)
            return _result(item, "skipped", seconds=time.perf_counter() - t0)
        files = _fetch(item)
        stages.start("load")
        dark = _load(item, files)
        del files
        stages.start("detect")
        catalog, summary, used = _detect(dark, method, params)
        n_cr = _write_dark(lake, item, dark, catalog, summary, used, params_key, stages, known)
        return _result(item, "done", dark=dark, n_cr=n_cr, seconds=time.perf_counter() - t0,
                       stages=stages.stop())
    except Exception as exc:  # noqa: BLE001 - every failure becomes a row, the run goes on
        stage = getattr(exc, "stage", None) or stages.current
        extra = _record_failure(lake, item, dark, stage, exc, method, known)
        return _result(item, "failed", dark=dark, seconds=time.perf_counter() - t0,
                       error=_error_text(exc), stages=stages.stop(), extra=extra)


def process_item(item: dict, *, lake: str, method: str = "threshold", params: dict | None = None,
                 reprocess: bool = False) -> dict:
    """Process one dark (one manifest item) into the lake.

    Parameters
    ----------
    item : dict
        Manifest item: ``{"dataset", "instrument", "month", "files": {"science", "support",
        "dq"?}}``.
    lake : str
        Lake root: local folder or ``s3://bucket/prefix``.
    method : {'threshold', 'dq'}
        CCD detection method (IR darks always use ``ramp``).
    params : dict, optional
        Detection parameters passed to :func:`hstcr_common.detect.methods.find_cosmic_rays`.
    reprocess : bool
        Process even when the lake already has the dark with the same software version and
        parameters.

    Returns
    -------
    dict
        ``dataset, instrument, status ('done'|'failed'|'skipped'), n_cr, seconds, error``
        (plus ``month`` and ``stages``: seconds per stage).  Never raises for bad input: a
        failed dark has a ``failures`` row.
    """
    return _process(item, Lake(lake), method, params, reprocess)


def process_group(items: list[dict], *, lake: str, params: dict | None = None,
                  reprocess: bool = False, known: dict | None = None) -> list[dict]:
    """Process a group of darks with the ``stack`` method (crrej-like rejection).

    Darks that fail to load get ``failures`` rows; the rest are stacked together (a group
    needs at least two darks; a single one falls back to ``threshold``).
    """
    from ..detect import find_cosmic_rays_stack

    lake = Lake(lake) if isinstance(lake, str) else lake
    known = known or {}
    params_key = params_hash("stack", params)
    results, loaded = [], []
    for item in items:
        t0 = time.perf_counter()
        stages = _Stages()
        dark = None
        try:
            if not reprocess and _already_done(lake, item, params_key, known.get(item.get("dataset"))):
                results.append(_result(item, "skipped", seconds=time.perf_counter() - t0))
                continue
            files = _fetch(item)
            stages.start("load")
            dark = _load(item, files)
            loaded.append((item, dark, stages, t0))
        except Exception as exc:  # noqa: BLE001
            extra = _record_failure(lake, item, dark, getattr(exc, "stage", None) or stages.current,
                                    exc, "stack", known.get(item.get("dataset")))
            results.append(_result(item, "failed", dark=dark, seconds=time.perf_counter() - t0,
                                   error=_error_text(exc), stages=stages.stop(), extra=extra))
    if not loaded:
        return results
    t_detect = time.perf_counter()
    try:
        ccd = [(i, d, s, t) for i, d, s, t in loaded if d.detector.kind != "ir"]
        if len(ccd) >= 2:
            detections = find_cosmic_rays_stack([d for _, d, _, _ in ccd], **(params or {}))
            per_dark = {id(d): (c, s, "stack") for (_, d, _, _), (c, s) in zip(ccd, detections)}
        else:
            per_dark = {}
        group_error = None
    except Exception as exc:  # noqa: BLE001 - the whole group fails together
        per_dark, group_error = {}, exc
    detect_share = (time.perf_counter() - t_detect) / len(loaded)
    for item, dark, stages, t0 in loaded:
        try:
            stages.start("detect")
            if group_error is not None:
                raise group_error
            if id(dark) in per_dark:
                catalog, summary, used = per_dark[id(dark)]
            else:  # IR, or a group of one: single-frame search
                catalog, summary, used = _detect(dark, "threshold", None)
            stages.seconds["detect"] = stages.seconds.get("detect", 0.0) + detect_share
            n_cr = _write_dark(lake, item, dark, catalog, summary, used, params_key, stages,
                               known.get(item.get("dataset")))
            results.append(_result(item, "done", dark=dark, n_cr=n_cr,
                                   seconds=time.perf_counter() - t0 + detect_share, stages=stages.stop()))
        except Exception as exc:  # noqa: BLE001
            extra = _record_failure(lake, item, dark, getattr(exc, "stage", None) or stages.current,
                                    exc, "stack", known.get(item.get("dataset")))
            results.append(_result(item, "failed", dark=dark, seconds=time.perf_counter() - t0,
                                   error=_error_text(exc), stages=stages.stop(), extra=extra))
    return results


# ---------------------------------------------------------------------------------------------
# The run loop
# ---------------------------------------------------------------------------------------------

@dataclass
class RunSummary:
    """What a run did.  ``seconds`` is wall-clock time of the whole run."""

    results: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.results)

    @property
    def done(self) -> int:
        return self.count("done")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    @property
    def n_cr(self) -> int:
        return sum(r["n_cr"] for r in self.results)

    @property
    def darks_per_s(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def cr_per_s(self) -> float:
        return self.n_cr / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {"done": self.done, "failed": self.failed, "skipped": self.skipped,
                "n_cr": self.n_cr, "seconds": round(self.seconds, 3),
                "darks_per_s": round(self.darks_per_s, 4), "cr_per_s": round(self.cr_per_s, 1)}


def _known_paths(indexes: dict[str, dict[str, list[str]]], dataset: str) -> dict:
    return {table: idx.get(dataset, []) for table, idx in indexes.items()}


def _task(kind: str, payload, lake: Lake, method: str, params, reprocess: bool, known):
    """Pool entry point (module level so it pickles)."""
    if kind == "group":
        return process_group(payload, lake=lake, params=params, reprocess=reprocess, known=known)
    return [_process(payload, lake, method, params, reprocess, known)]


def _stack_groups(items: list[dict]) -> list[list[dict]]:
    """Groups for the stack method: :func:`hstcr_common.detect.methods.group_for_stack` (same
    detector, CCDAMP, EXPTIME, gain, month; at most 30 darks), applied within each of the
    manifest's ``group`` values when items carry one."""
    from ..detect import group_for_stack
    by_manifest: dict = defaultdict(list)
    for it in items:
        by_manifest[str(it.get("group", ""))].append(it)
    return [list(g) for key in sorted(by_manifest) for g in group_for_stack(by_manifest[key])]


def _month_chunks(items: list[dict]) -> list[tuple[str, list[dict]]]:
    chunks: dict[str, list[dict]] = defaultdict(list)
    for it in items:
        chunks[it.get("month") or ""].append(it)
    return sorted(chunks.items())


def _recycling_pool_class():
    """ProcessPoolExecutor that always replaces a worker retired by ``max_tasks_per_child``.

    CPython's own (3.11 up to the gh-115634 fix, 2025-26) counts an idle-worker token per task
    completion; a stale token makes it skip spawning the replacement of a retired worker, and
    once every worker has retired the queued darks wait forever (a run of more than
    ``workers * max_tasks_per_child`` darks hung).  This is the upstream fix: replace a worker
    whenever the pool is below its size, without consulting the token.
    """
    from concurrent.futures import ProcessPoolExecutor

    class RecyclingPool(ProcessPoolExecutor):
        def _adjust_process_count(self):
            # called under the executor's shutdown lock, by submit() and by the manager thread
            # after a worker exits; _spawn_process/_processes exist in CPython 3.9-3.14
            if len(self._processes) < self._max_workers:
                self._spawn_process()

    return RecyclingPool if hasattr(ProcessPoolExecutor, "_spawn_process") else ProcessPoolExecutor


def _new_pool(n_procs: int, max_tasks_per_child: int):
    import multiprocessing as mp
    # spawn: a fresh interpreter per worker (fork + pyarrow's threads is unsafe), and
    # max_tasks_per_child recycles workers so memory cannot creep up over a long run
    return _recycling_pool_class()(max_workers=n_procs, mp_context=mp.get_context("spawn"),
                                   max_tasks_per_child=max_tasks_per_child)


def _run_in_pool(pool, tasks, take, lake, method, params, reprocess) -> list[tuple]:
    """Submit tasks, hand results to ``take``; return the tasks whose worker died, with the error."""
    from concurrent.futures import as_completed

    futures = {pool.submit(_task, kind, payload, lake, method, params, reprocess, known): (kind, payload, known)
               for kind, payload, known in tasks}
    crashed = []
    for fut in as_completed(futures):
        try:
            take(fut.result())
        except Exception as exc:  # noqa: BLE001 - a worker was killed (e.g. out of memory)
            crashed.append((*futures[fut], exc))
    return crashed


def run(items: Iterable[dict], *, lake: str = "./hstcr-lake", method: str = "threshold",
        params: dict | None = None, reprocess: bool = False, workers: int | None = None,
        on_result: Callable[[dict], None] | None = None, on_chunk: Callable[[str, int], None] | None = None,
        keep_downloads: bool = False, max_tasks_per_child: int = 32) -> RunSummary:
    """Process many darks into the lake, month by month, over a process pool.

    Parameters
    ----------
    items : iterable of dict
        Manifest items (see :func:`items_from_folder`, :func:`read_items`).
    lake : str
        Lake root.
    method : {'threshold', 'dq', 'stack'}
        Detection method for CCD darks (IR always ``ramp``).
    params : dict, optional
        Detection parameters.
    reprocess : bool
        Re-do darks already in the lake with the same version and parameters.
    workers : int, optional
        Processes; default all cores.  1 runs in this process (no pool).
    on_result : callable, optional
        Called with each per-dark result dict as it arrives (progress bars).
    on_chunk : callable, optional
        Called with (month, number of darks) before each month starts.
    keep_downloads : bool
        Keep files fetched from remote locations (by :mod:`hstcr_common.remote.sources`) after each
        month; by default they are deleted.
    max_tasks_per_child : int
        Darks a worker process handles before it is replaced (bounds memory growth).

    Returns
    -------
    RunSummary
    """
    items = list(items)
    if method not in METHODS:
        raise HstcrError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    lake_obj = Lake(lake)
    workers = workers or os.cpu_count() or 1
    summary = RunSummary()
    t0 = time.perf_counter()
    # a run killed before its renames left hidden temporary files: remove those of dead writers
    lake_obj.sweep_temporary()
    # one listing per table up front: resuming and cleaning up then need no per-dark listing
    indexes = {t: lake_obj.index(t) for t in ("cosmic_rays", "exposures", "failures")}

    def tasks_for(chunk):
        if method == "stack":
            for group in _stack_groups(chunk):
                yield "group", group, {it["dataset"]: _known_paths(indexes, it["dataset"]) for it in group}
        else:
            for it in chunk:
                yield "item", it, _known_paths(indexes, it["dataset"])

    def take(results):
        for r in results:
            summary.results.append(r)
            if on_result:
                on_result(r)

    n_procs = min(workers, len(items))
    pool = _new_pool(n_procs, max_tasks_per_child) if n_procs > 1 else None
    try:
        for month, chunk in _month_chunks(items):
            if on_chunk:
                on_chunk(month, len(chunk))
            tasks = [(kind, payload, known) for kind, payload, known in tasks_for(chunk)]
            if pool is None:
                for kind, payload, known in tasks:
                    take(_task(kind, payload, lake_obj, method, params, reprocess, known))
            else:
                crashed = _run_in_pool(pool, tasks, take, lake_obj, method, params, reprocess)
                if crashed:
                    # a dead worker breaks the whole pool and fails its innocent neighbours:
                    # retry each such task alone, so only a real crasher gets a failures row
                    pool.shutdown(wait=True, cancel_futures=True)
                    for task in crashed:
                        with _new_pool(1, 1) as solo:
                            for kind, payload, known, exc in _run_in_pool(solo, [task[:3]], take, lake_obj,
                                                                           method, params, reprocess):
                                for it in (payload if kind == "group" else [payload]):
                                    k = known.get(it["dataset"]) if kind == "group" else known
                                    extra = _record_failure(lake_obj, it, None, "worker", exc, method, k)
                                    take([_result(it, "failed", error=_error_text(exc), extra=extra)])
                    pool = _new_pool(n_procs, max_tasks_per_child)
            if not keep_downloads:
                _delete_downloads(chunk)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    summary.seconds = time.perf_counter() - t0
    return summary


def _delete_downloads(items: list[dict]):
    """Delete inputs that :mod:`hstcr_common.remote.sources` downloaded for these items."""
    try:
        from ..remote import delete_downloads
    except ImportError:
        return
    delete_downloads(items)


# ---------------------------------------------------------------------------------------------
# Lake summary (Lambda "summarize" and ``hstcr run``'s closing table)
# ---------------------------------------------------------------------------------------------

def summarize_lake(lake: str) -> dict:
    """Counts per table and instrument, and the failures, read from Parquet footers.

    Returns
    -------
    dict
        ``{"lake", "tables": {table: {instrument: {"files", "rows"}}}, "darks", "cosmic_rays",
        "n_failures", "failures": [{"dataset", "instrument", "stage", "message"}, ...]}``
        (at most 100 failures listed).
    """
    lake_obj = Lake(lake)
    tables: dict = {}
    for table in ("cosmic_rays", "exposures", "failures"):
        per_inst: dict = {}
        for path in lake_obj.files(table):
            inst = partition_of(path).instrument
            entry = per_inst.setdefault(inst, {"files": 0, "rows": 0})
            entry["files"] += 1
            entry["rows"] += lake_obj.num_rows(path)
        tables[table] = per_inst
    failures = []
    for path in lake_obj.files("failures")[:100]:
        t = lake_obj.read_file(path, columns=["dataset", "stage", "message"]).to_pylist()
        for row in t:
            row["instrument"] = partition_of(path).instrument
            failures.append(row)
    return {
        "lake": lake_obj.uri,
        "tables": tables,
        "darks": sum(v["files"] for v in tables["exposures"].values()),
        "cosmic_rays": sum(v["rows"] for v in tables["cosmic_rays"].values()),
        "n_failures": sum(v["rows"] for v in tables["failures"].values()),
        "failures": failures,
    }
