"""Resuming: what the lake already holds for a dark, and tidying after a write.

A dark is done when its ``exposures`` file carries this software version and the hash of the
method's parameters; the ``cosmic_rays`` file is written before it, so an ``exposures`` file
is the "done" marker.  A run lists each table once (:func:`known_files`) so no dark needs a
listing of its own.
"""

from __future__ import annotations

import datetime as dt

from ..lake import SOFTWARE_VERSION, Lake, PartitionKey, partition_of
from ..model import KnownFiles, WorkItem, no_known_files
from ..model.work import TABLES


def partition_for(instrument: str | None, month: str | None) -> PartitionKey:
    """The partition of a dark known only from its work item (it may never have loaded)."""
    month = month or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    return PartitionKey.from_month(instrument or "unknown", month)


def lake_index(lake: Lake) -> dict[str, dict[str, list[str]]]:
    """table -> dataset -> files: one listing per table for a whole run."""
    return {table: lake.index(table) for table in TABLES}


def known_files(index: dict[str, dict[str, list[str]]], dataset: str) -> KnownFiles:
    known = no_known_files()
    for table, by_dataset in index.items():
        known[table] = list(by_dataset.get(dataset, []))  # type: ignore[literal-required]
    return known


def already_done(lake: Lake, item: WorkItem, params_key: str, known: KnownFiles | None) -> str | None:
    """The dark's exposures file when the lake has it with the same software version and
    params hash, else None.  Without a listing the partition named by the item is tried."""
    if known is not None:
        paths = known["exposures"]
    elif item.get("instrument") and item.get("month"):
        paths = [lake.file_path("exposures", partition_for(item["instrument"], item["month"]), item["dataset"])]
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


def _all_known(known: KnownFiles | None) -> set[str]:
    return {path for table in TABLES for path in (known or {}).get(table, [])}


def finish_skipped(lake: Lake, dataset: str, done_path: str, known: KnownFiles | None) -> None:
    """Remove what a run killed between a dark's exposures write and its cleanup left:
    a failures file of an earlier attempt, or rows of it in another partition."""
    if not known:
        return
    key = partition_of(done_path)
    keep = {done_path, lake.file_path("cosmic_rays", key, dataset)}
    for path in sorted(_all_known(known) - keep):
        lake.delete(path)


def clean_after_write(lake: Lake, dataset: str, *, written: set[str], known: KnownFiles | None,
                      partitions: list[PartitionKey]) -> None:
    """Remove the dark's failures files, and stale rows of it in other partitions."""
    paths = _all_known(known)
    for key in partitions:
        paths.add(lake.file_path("failures", key, dataset))
    for path in sorted(paths - written):
        lake.delete(path)
