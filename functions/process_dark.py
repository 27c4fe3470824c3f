"""Lambda ``process_dark``: one dark (or a stack group, or a batch) from stpubdata -> the lake."""

from __future__ import annotations

from hstcr_common.aws import instrumented, process_event, record_darks

from . import lake, runs_root


@instrumented(with_metrics=True)
def handler(event, context=None):
    """Event: a Distributed Map item ``{"item", "run_id", "method", "params", "reprocess"}``
    or a batch ``{"Items": [...], "BatchInput": {...}}`` (see
    :func:`hstcr_common.aws.process_event`)."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    out = process_event(event, lake=lake(), runs_root=runs_root(),
                        remaining_s=(lambda: remaining_ms() / 1000.0) if remaining_ms else None)
    record_darks(out["results"])  # EMF metrics + one log line per dark
    return out
