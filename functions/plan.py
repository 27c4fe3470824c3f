"""Lambda ``plan``: MAST query (or a given manifest) -> ``runs/<run_id>/manifest.jsonl``."""

from __future__ import annotations

from hstcr_common.aws import plan_run

from . import lake, log, runs_root


def handler(event, context=None):
    """Event: ``{"request": <execution input>, "execution_name": str}`` (see
    :func:`hstcr_common.aws.plan_run`)."""
    out = plan_run(event.get("request") or {}, runs_root=runs_root(), lake=lake(),
                   execution_name=event.get("execution_name"))
    log("planned", run_id=out["run_id"], n_items=out["n_items"], n_darks=out["n_darks"],
        method=out["method"])
    return out
