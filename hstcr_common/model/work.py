"""The unit of work and its outcome: one dark in, one result out.

A work item and a result cross every boundary the pipeline has: JSON Lines manifests, the
process pool (pickled), Step Functions events and Lambda responses (JSON).  They are
therefore ``TypedDict``\\ s: typed for readers and type checkers, plain dicts on the wire, so
no boundary needs a converter.  :func:`hstcr_common.pipeline.validate_item` checks an item
read from outside; :func:`dark_result` is the only place a result is built.
"""

from __future__ import annotations

from typing import Literal, TypedDict

#: what became of a dark: written to the lake, refused (a ``failures`` row), or already
#: in the lake with the same software version and parameters.
Status = Literal["done", "failed", "skipped"]
TABLES = ("cosmic_rays", "exposures", "failures")


class Files(TypedDict, total=False):
    """role -> location (local path, ``file://``, ``s3://`` or ``https://``)."""

    science: str   # flt/flc/crj/raw/c0m/ima: the product searched for cosmic rays
    support: str   # spt (WFPC2: shm): HST's orbital elements
    dq: str        # WFPC2 c1m: data quality kept in a separate file


class _WorkItemKeys(TypedDict):
    dataset: str   # 9-character MAST dataset name, lower case
    files: Files


class WorkItem(_WorkItemKeys, total=False):
    """One dark to process.

    ``instrument`` and ``month`` (``YYYY-MM``) name the lake partition before the file is
    read (a dark that fails to load is filed there); ``exptime_s``, ``ccdamp`` and ``group``
    are the set-up keys that group darks for the ``stack`` method; ``urls`` are MAST's HTTPS
    fallbacks for ``files``.
    """

    instrument: str | None
    month: str | None
    exptime_s: float | None
    ccdamp: str | None
    group: str
    urls: dict[str, str]


class KnownFiles(TypedDict):
    """The lake files that already exist for one dark, per table (one listing per run)."""

    cosmic_rays: list[str]
    exposures: list[str]
    failures: list[str]


class DarkResult(TypedDict):
    """What :func:`hstcr_common.pipeline.process_item` did with one dark."""

    dataset: str | None
    instrument: str | None
    month: str | None
    status: Status
    n_cr: int                   # cosmic rays written (0 unless done)
    seconds: float              # wall-clock seconds for this dark
    error: str | None           # the failures row's message, when failed
    stage: str | None           # the stage that failed (fetch, load, detect, ...), when failed
    stages: dict[str, float]    # wall-clock seconds per stage (fetch, load, detect, ...)


def no_known_files() -> KnownFiles:
    return {"cosmic_rays": [], "exposures": [], "failures": []}


def dark_result(item: WorkItem, status: Status, *, dark=None, n_cr: int = 0, seconds: float = 0.0,
                error: str | None = None, stage: str | None = None,
                stages: dict[str, float] | None = None, partition: dict | None = None) -> DarkResult:
    """The result of one dark.  What the loaded dark says wins over what the item guessed;
    ``partition`` (instrument, month) is where a failures row was filed."""
    result: DarkResult = {
        "dataset": getattr(dark, "dataset", None) or item.get("dataset"),
        "instrument": getattr(dark, "instrument", None) or item.get("instrument"),
        "month": getattr(dark, "month", None) or item.get("month"),
        "status": status,
        "n_cr": int(n_cr),
        "seconds": round(float(seconds), 4),
        "error": error,
        "stage": stage,
        "stages": stages or {},
    }
    result.update(partition or {})  # type: ignore[typeddict-item]
    return result
