"""Lambda ``process_dark``: one dark (or a stack group, or a batch) from stpubdata -> the lake."""

from __future__ import annotations

from hstcr_common.aws import process_event

from . import lake, log, runs_root


def handler(event, context=None):
    """Event: a Distributed Map item ``{"item", "run_id", "method", "params", "reprocess"}``
    or a batch ``{"Items": [...], "BatchInput": {...}}`` (see
    :func:`hstcr_common.aws.process_event`)."""
    out = process_event(event, lake=lake(), runs_root=runs_root())
    for res in out["results"]:
        log("dark", **res)
    return out
