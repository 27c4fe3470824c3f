"""Thin Lambda handlers: parse the event, call :mod:`hstcr_common.aws`, return JSON.

Logging, EMF metrics and X-Ray tracing are Powertools for AWS Lambda
(:mod:`hstcr_common.aws.observe`); the handlers keep no logic of their own.
"""

from __future__ import annotations

import os

from hstcr_common.model import ENV_LAKE, ENV_RUNS


def lake() -> str:
    """The lake root the stack gave this function (``s3://bucket/lake``)."""
    return os.environ[ENV_LAKE]


def runs_root() -> str:
    """Where run manifests and results go (``s3://bucket/runs``)."""
    return os.environ[ENV_RUNS]
