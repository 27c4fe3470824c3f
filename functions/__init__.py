"""Thin Lambda handlers: parse the event, call :mod:`hstcr_common.aws`, return JSON.

Each handler logs one structured line per invocation (Powertools style: JSON with the
service, the function and the key figures) and keeps no logic of its own.
"""

from __future__ import annotations

import json
import logging
import os

from hstcr_common.model import ENV_LAKE, ENV_RUNS

logger = logging.getLogger("hstcr")
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
# botocore logs every signed request at DEBUG, session token (X-Amz-Security-Token) and
# signature included: the AWS libraries never log below INFO here, whatever LOG_LEVEL says
for _name in ("botocore", "boto3", "s3transfer", "urllib3"):
    _lib = logging.getLogger(_name)
    _lib.setLevel(max(logging.INFO, _lib.getEffectiveLevel()))


def log(event: str, **fields) -> None:
    """One JSON log line (CloudWatch Logs Insights can query the fields)."""
    logger.info(json.dumps({"service": os.environ.get("POWERTOOLS_SERVICE_NAME", "hstcr"),
                            "event": event, **fields}, default=str))


def lake() -> str:
    """The lake root the stack gave this function (``s3://bucket/lake``)."""
    return os.environ[ENV_LAKE]


def runs_root() -> str:
    """Where run manifests and results go (``s3://bucket/runs``)."""
    return os.environ[ENV_RUNS]
