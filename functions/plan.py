"""Lambda ``plan``: MAST query (or a given manifest) -> ``runs/<run_id>/manifest.jsonl``."""

from __future__ import annotations

from hstcr_common.aws import instrumented, logger, plan_run, remaining_darks

from . import lake, runs_root


@instrumented
def handler(event, context=None):
    """Event: ``{"request": <execution input>, "execution_name": str}`` (see
    :func:`hstcr_common.aws.plan_run`), or between the two maps of method ``auto``
    ``{"remaining": <the state>}`` (:func:`hstcr_common.aws.remaining_darks`)."""
    if "remaining" in event:
        out = remaining_darks(event["remaining"], runs_root=runs_root())
        logger().info("darks left after the references", extra={"n_items": out.get("n_items")})
        return out
    out = plan_run(event.get("request") or {}, runs_root=runs_root(), lake=lake(),
                   execution_name=event.get("execution_name"))
    logger().info("planned", extra={k: out[k] for k in ("run_id", "n_items", "n_darks", "method",
                                                        "max_concurrency")})
    return out
