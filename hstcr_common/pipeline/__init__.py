"""Work items through fetch -> load -> detect -> measure -> lake: the items (``items``,
``manifest``), one dark or one stack group (``process``), resuming (``resume``), the pool
(``pool``) and what a lake holds (``summary``)."""

from __future__ import annotations

from .._exports import attach

# name -> submodule, imported on first use (see hstcr_common/_exports.py)
_EXPORTS = {
    "InputScan": "items",
    "MAX_TASKS_PER_CHILD": "pool",
    "MONTH_RE": "manifest",
    "REQUIRED_KEYS": "manifest",
    "ROLES": "manifest",
    "RecyclingPool": "pool",
    "RunStopped": "pool",
    "RunSummary": "pool",
    "check_lake_is_writable": "pool",
    "Stages": "process",
    "already_done": "resume",
    "error_text": "process",
    "items_from_folder": "items",
    "known_files": "resume",
    "lake_index": "resume",
    "partition_for": "resume",
    "plan_auto": "groups",
    "build_group_reference": "groups",
    "reference_name": "groups",
    "reference_path": "groups",
    "process_group": "process",
    "process_item": "process",
    "process_one": "process",
    "read_items": "items",
    "read_manifest": "manifest",
    "record_failure": "process",
    "run": "pool",
    "scan_inputs": "items",
    "stack_groups": "pool",
    "summarize_lake": "summary",
    "validate_item": "manifest",
    "write_manifest": "manifest",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
