"""Many darks over a process pool, month by month, resumable: the engine of ``hstcr run``."""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..detect import group_for_stack
from ..lake import DEFAULT_LAKE, Lake
from ..model import DarkResult, HstcrError, MethodParams, WorkItem
from ..model.constants import CCD_METHODS, DEFAULT_METHOD
from .cores import one_blas_thread
from .groups import build_group_reference, plan_auto
from .memory import keep_freed_memory
from .process import as_params, process_group, process_one, record_failure
from .resume import known_files, lake_index
from .worker import start_worker

#: darks a worker handles before it is replaced, so memory cannot creep over a long run
MAX_TASKS_PER_CHILD = 32
#: darks in a row that fail to download before the run stops: past this the network (or the
#: archive) is down, and going on would only turn the rest of the run into failures rows
MAX_CONSECUTIVE_FETCH_FAILURES = 10


class RunStopped(HstcrError):
    """The run stopped before its end (Ctrl-C, or the network is down).

    ``summary`` holds what was done; every finished dark is in the lake and rerunning the
    same command resumes from there.
    """

    def __init__(self, reason: str, summary: "RunSummary"):
        super().__init__(reason)
        self.reason = reason
        self.summary = summary


@dataclass
class RunSummary:
    """What a run did.  ``seconds`` is wall-clock time of the whole run; ``n_items`` the
    darks it was given (more than ``len(results)`` when it stopped early)."""

    results: list[DarkResult] = field(default_factory=list)
    seconds: float = 0.0
    n_items: int = 0

    @property
    def not_started(self) -> int:
        return max(self.n_items - len(self.results), 0)

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


# --------------------------------------------------------------------------- tasks

@dataclass(frozen=True)
class _Job:
    """What every task of a run shares (pickled once per task to the worker)."""

    lake: Lake
    method: str
    params: MethodParams
    reprocess: bool


def _task(job: _Job, kind: str, payload, known) -> list[DarkResult]:
    """Pool entry point (module level so it pickles): one dark, one stack group, or (``auto``)
    one group's reference (its result: one dict, see :func:`build_group_reference`)."""
    if kind == "reference":
        return [build_group_reference(payload, job.lake, job.params, reprocess=job.reprocess,
                                      known=known)]
    if kind == "group":
        return process_group(payload, lake=job.lake, params=job.params, reprocess=job.reprocess, known=known)
    return [process_one(payload, job.lake, job.method, job.params, job.reprocess, known)]


def stack_groups(items: list[WorkItem]) -> list[list[WorkItem]]:
    """Groups for the stack method: :func:`hstcr_common.detect.group_for_stack` (same
    detector, CCDAMP, EXPTIME, gain, month; at most 30 darks), applied within each of the
    manifest's ``group`` values when items carry one."""
    by_manifest: dict = defaultdict(list)
    for it in items:
        by_manifest[str(it.get("group", ""))].append(it)
    return [list(g) for key in sorted(by_manifest) for g in group_for_stack(by_manifest[key])]


def _month_chunks(items: list[WorkItem]) -> list[tuple[str, list[WorkItem]]]:
    chunks: dict[str, list[WorkItem]] = defaultdict(list)
    for it in items:
        chunks[it.get("month") or ""].append(it)
    return sorted(chunks.items())


# --------------------------------------------------------------------------- the pool

class RecyclingPool(ProcessPoolExecutor):
    """ProcessPoolExecutor that always replaces a worker retired by ``max_tasks_per_child``.

    CPython's own (3.11 up to the gh-115634 fix, 2025-26) counts an idle-worker token per task
    completion; a stale token makes it skip spawning the replacement of a retired worker, and
    once every worker has retired the queued darks wait forever (a run of more than
    ``workers * max_tasks_per_child`` darks hung).  This is the upstream fix: replace a worker
    whenever the pool is below its size, without consulting the token.  ``_spawn_process``
    and ``_processes`` exist in CPython 3.9-3.14.
    """

    def _adjust_process_count(self):
        # called under the executor's shutdown lock, by submit() and by the manager thread
        # after a worker exits
        if len(self._processes) < self._max_workers:
            self._spawn_process()

    def _spawn_process(self):
        # A worker ignores Ctrl-C from its initializer on (worker.start_worker); one still starting
        # its interpreter when the terminal's SIGINT reaches the process group would die
        # with a KeyboardInterrupt traceback.  It inherits the spawning thread's signal mask,
        # so it starts with SIGINT blocked; the parent's other threads still take Ctrl-C.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            super()._spawn_process()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _new_pool(n_procs: int, max_tasks_per_child: int) -> ProcessPoolExecutor:
    import multiprocessing as mp
    # spawn: a fresh interpreter per worker (fork + pyarrow's threads is unsafe)
    return RecyclingPool(max_workers=n_procs, mp_context=mp.get_context("spawn"),
                         max_tasks_per_child=max_tasks_per_child,
                         initializer=start_worker, initargs=(os.getpid(),))


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now (Ctrl-C, network down)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # None after shutdown
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(5)


class _FetchBreaker:
    """Counts darks in a row that failed to download; trips at ``limit``."""

    def __init__(self, limit: int):
        self.limit, self.in_a_row, self.last = limit, 0, ""

    def see(self, result: DarkResult) -> None:
        fetch_failed = result["status"] == "failed" and result.get("stage") == "fetch" \
            and "not found" not in (result.get("error") or "")
        self.in_a_row = self.in_a_row + 1 if fetch_failed else 0
        if fetch_failed:
            self.last = result.get("error") or ""

    @property
    def tripped(self) -> bool:
        return bool(self.limit) and self.in_a_row >= self.limit


def check_lake_is_writable(lake: Lake) -> None:
    """Refuse, before any work, a local lake path that cannot hold a lake."""
    if lake.is_s3:
        return
    path = os.path.abspath(lake.base)
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if os.path.exists(path) and not os.path.isdir(path):
        raise HstcrError("cannot write a lake here: it is a file, a lake is a folder", source=lake.uri)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        raise HstcrError(f"cannot write a lake here: {probe} is not a writable folder", source=lake.uri)


def _run_in_pool(pool, job: _Job, tasks, take) -> list[tuple]:
    """Submit tasks, hand results to ``take``; return the tasks whose worker died, with the error."""
    futures = {pool.submit(_task, job, kind, payload, known): (kind, payload, known)
               for kind, payload, known in tasks}
    crashed = []
    for fut in as_completed(futures):
        try:
            take(fut.result())
        except Exception as exc:  # noqa: BLE001 - a worker was killed (e.g. out of memory)
            crashed.append((*futures[fut], exc))
    return crashed


#: tasks in a row whose worker died even when run alone: past this, workers cannot run at
#: all (a broken install, an import error) and every further dark would die the same way
MAX_WORKER_DEATHS_IN_A_ROW = 3


def _retry_alone(job: _Job, crashed: list[tuple], take, summary: "RunSummary") -> None:
    """A dead worker breaks the whole pool and fails its innocent neighbours: retry each such
    task alone, so only a real crasher gets a failures row."""
    deaths = 0
    for kind, payload, known, _ in crashed:
        with _new_pool(1, 1) as solo:
            died = _run_in_pool(solo, job, [(kind, payload, known)], take)
        deaths = deaths + 1 if died else 0
        for kind_, payload_, known_, exc in died:
            for it in (payload_ if kind_ == "group" else [payload_]):
                mine = known_.get(it["dataset"]) if kind_ == "group" else known_
                take([record_failure(job.lake, it, exc, stage="worker", method=job.method, known=mine)])
            if deaths >= MAX_WORKER_DEATHS_IN_A_ROW:
                raise RunStopped(f"{deaths} worker processes in a row died, each running one dark "
                                 f"alone (last: {type(exc).__name__}: {exc}); a worker cannot run "
                                 f"here (check the installation)", summary)


def run(items: Iterable[WorkItem], *, lake: str = DEFAULT_LAKE, method: str = DEFAULT_METHOD,
        params: MethodParams | dict | None = None, reprocess: bool = False, workers: int | None = None,
        on_result: Callable[[DarkResult], None] | None = None,
        on_chunk: Callable[[str, int], None] | None = None,
        max_tasks_per_child: int = MAX_TASKS_PER_CHILD,
        max_consecutive_fetch_failures: int = MAX_CONSECUTIVE_FETCH_FAILURES) -> RunSummary:
    """Process many darks into the lake, month by month, over a process pool.

    Parameters
    ----------
    items : iterable of WorkItem
        See :func:`scan_inputs`, :func:`read_items`.
    lake : str
        Lake root; checked before any work.
    method : {'auto', 'threshold', 'dq', 'stack'}
        Detection method for CCD darks (IR always ``ramp``).  ``auto`` (the default): the
        darks are grouped by set-up, each group's reference is built once (one task per
        group, written to ``<lake>/references/``), then each dark is searched against it
        (one task per dark); a dark with no group is searched alone with ``threshold``
        (:mod:`hstcr_common.pipeline.groups`).
    params : MethodParams or dict, optional
        The method's parameters; a dict is parsed and validated before any work.
    reprocess : bool
        Re-do darks already in the lake with the same version and parameters.
    workers : int, optional
        Processes; default all cores.  1 runs in this process (no pool).
    on_result : callable, optional
        Called with each per-dark result as it arrives (progress bars).
    on_chunk : callable, optional
        Called with (month, number of darks) before each month starts.
    max_tasks_per_child : int
        Darks a worker process handles before it is replaced (bounds memory growth).
    max_consecutive_fetch_failures : int
        Stop after this many darks in a row failed to download (0: never).

    Raises
    ------
    RunStopped
        On Ctrl-C or when the network looks down; it carries the summary so far.
    """
    items = list(items)
    if method not in CCD_METHODS:
        raise HstcrError(f"unknown method {method!r}; use one of {', '.join(CCD_METHODS)}")
    # parsed once, before any work: a bad parameter is one error, not a failures row per dark
    job = _Job(Lake(lake), method, as_params(method, params), reprocess)
    check_lake_is_writable(job.lake)
    summary = RunSummary(n_items=len(items))
    breaker = _FetchBreaker(max_consecutive_fetch_failures)
    t0 = time.perf_counter()
    keep_freed_memory()            # for the darks searched here and the workers spawned
    one_blas_thread()              # for the workers spawned (and here, if numpy is not loaded)
    # a run killed before its renames left hidden temporary files: remove those of dead writers
    job.lake.sweep_temporary()
    index = lake_index(job.lake)

    def references_for(chunk) -> list:
        """``auto``: one task per group; the items of the chunk, each told its reference."""
        groups, alone = plan_auto(chunk, job.params)
        built: dict[int, dict] = {}

        def took(k, results):
            built[k] = results[0]

        tasks = [("reference", g, {it["dataset"]: known_files(index, it["dataset"]) for it in g})
                 for g in groups]
        if pool is None:
            for k, (kind, payload, known) in enumerate(tasks):
                took(k, _task(job, kind, payload, known))
        else:
            futures = {pool.submit(_task, job, kind, payload, known): k
                       for k, (kind, payload, known) in enumerate(tasks)}
            for fut in as_completed(futures):
                try:
                    took(futures[fut], fut.result())
                except Exception as exc:  # noqa: BLE001 - a worker died building it
                    took(futures[fut], [{"path": None, "status": "failed", "errors": {},
                                         "reason": f"reference failed ({type(exc).__name__}: "
                                                   f"{exc}); threshold with hot-pixel rejection"}])
        out = []
        for k, g in enumerate(groups):
            ref = built[k]
            for it in g:
                told = dict(it, method_reason=ref["reason"])
                if ref["path"] and it["dataset"] not in ref.get("errors", {}):
                    told["reference"] = ref["path"]
                out.append(told)
        return out + list(alone)

    def tasks_for(chunk):
        if method == "auto":
            chunk = references_for(chunk)
        if method == "stack":
            return [("group", group, {it["dataset"]: known_files(index, it["dataset"]) for it in group})
                    for group in stack_groups(chunk)]
        return [("item", it, known_files(index, it["dataset"])) for it in chunk]

    def take(results):
        for r in results:
            summary.results.append(r)
            breaker.see(r)
            if on_result:
                on_result(r)
        if breaker.tripped:
            raise RunStopped(f"{breaker.in_a_row} darks in a row could not be downloaded (last: "
                             f"{breaker.last}); the network or the archive looks down", summary)

    n_procs = min(workers or os.cpu_count() or 1, len(items))
    pool = _new_pool(n_procs, max_tasks_per_child) if n_procs > 1 else None
    try:
        for month, chunk in _month_chunks(items):
            if on_chunk:
                on_chunk(month, len(chunk))
            if pool is None:
                for kind, payload, known in tasks_for(chunk):
                    take(_task(job, kind, payload, known))
                continue
            crashed = _run_in_pool(pool, job, tasks_for(chunk), take)
            if crashed:
                pool.shutdown(wait=True, cancel_futures=True)
                _retry_alone(job, crashed, take, summary)
                pool = _new_pool(n_procs, max_tasks_per_child)
    except KeyboardInterrupt:
        if pool is not None:
            _stop_pool(pool)
            pool = None
        summary.seconds = time.perf_counter() - t0
        raise RunStopped("interrupted (Ctrl-C)", summary) from None
    except RunStopped:
        if pool is not None:
            _stop_pool(pool)
            pool = None
        summary.seconds = time.perf_counter() - t0
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    summary.seconds = time.perf_counter() - t0
    return summary
