"""Lambda ``summarize``: counts, failures and a Parquet table of the run."""

from __future__ import annotations

from hstcr_common.aws import summarize_run

from . import lake, log, runs_root


def handler(event, context=None):
    """Event: the state machine's state ``{"plan", "map"?, "map_error"?}``."""
    out = summarize_run(event, lake=lake(), runs_root=runs_root())
    log("summary", **{k: v for k, v in out.items() if k not in ("failures",)})
    return out
