"""Lambda ``summarize``: counts, failures and a Parquet table of the run."""

from __future__ import annotations

from hstcr_common.aws import instrumented, logger, summarize_run

from . import lake, runs_root


@instrumented
def handler(event, context=None):
    """Event: the state machine's state ``{"plan", "map"?}``."""
    out = summarize_run(event, lake=lake(), runs_root=runs_root())
    logger().info("summary", extra={k: v for k, v in out.items() if k != "failures"})
    return out
