"""What the Lambda handlers report: Powertools for AWS Lambda logger, EMF metrics and tracer.

One set per process (a Lambda execution environment runs one handler), built on first use so
that importing :mod:`hstcr_common.aws` costs nothing on a laptop.  Metrics are CloudWatch
embedded-metric-format lines in the function's log (no PutMetricData call, no extra IAM):

===============  =======  ==================================================================
metric           unit     per invocation of ``process_dark``
===============  =======  ==================================================================
DarksDone        Count    darks processed into the lake
DarksSkipped     Count    darks already in the lake with the same software and parameters
DarksFailed      Count    darks that became a ``failures`` row (bad input, not a crash)
CosmicRays       Count    cosmic rays found
Seconds          Seconds  processing time of each dark (one value per dark: a distribution)
===============  =======  ==================================================================

Namespace :data:`METRICS_NAMESPACE`, dimension ``service`` (``POWERTOOLS_SERVICE_NAME``,
``hstcr``); the stack's dashboard and its failed-darks alarm read these names.
"""

from __future__ import annotations

import functools
import logging
import os

#: CloudWatch namespace of the EMF metrics (the stack's dashboard and alarms use it).
METRICS_NAMESPACE = "hstcr"
SERVICE = "hstcr"
#: Metric names, shared with ``infra/stack.py``.
DARKS_DONE, DARKS_SKIPPED, DARKS_FAILED = "DarksDone", "DarksSkipped", "DarksFailed"
COSMIC_RAYS, SECONDS = "CosmicRays", "Seconds"


def _service() -> str:
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE


@functools.cache
def logger():
    """The Powertools JSON logger (one per process).

    botocore logs every signed request at DEBUG, session token included: the AWS libraries
    never log below INFO here, whatever ``POWERTOOLS_LOG_LEVEL`` says.
    """
    from aws_lambda_powertools import Logger

    for name in ("botocore", "boto3", "s3transfer", "urllib3"):
        lib = logging.getLogger(name)
        lib.setLevel(max(logging.INFO, lib.getEffectiveLevel()))
    return Logger(service=_service())


@functools.cache
def metrics():
    """The Powertools EMF metrics object (namespace :data:`METRICS_NAMESPACE`)."""
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or METRICS_NAMESPACE,
                   service=_service())


@functools.cache
def tracer():
    """The Powertools X-Ray tracer (disabled outside Lambda, e.g. in tests)."""
    from aws_lambda_powertools import Tracer

    return Tracer(service=_service())


def record_darks(results: list[dict]) -> None:
    """Add one invocation's per-dark results to the EMF metrics and log one line per dark.

    Parameters
    ----------
    results : list of dict
        :func:`hstcr_common.aws.process_event`'s ``results`` (``status``, ``n_cr``,
        ``seconds``, ``dataset``, ...).
    """
    from aws_lambda_powertools.metrics import MetricUnit

    m, log = metrics(), logger()
    counts = {DARKS_DONE: 0, DARKS_SKIPPED: 0, DARKS_FAILED: 0}
    n_cr = 0
    for res in results:
        status = res.get("status")
        counts[{"done": DARKS_DONE, "skipped": DARKS_SKIPPED}.get(status, DARKS_FAILED)] += 1
        n_cr += int(res.get("n_cr") or 0)
        if status == "done":
            m.add_metric(name=SECONDS, unit=MetricUnit.Seconds, value=float(res.get("seconds") or 0.0))
        log.info("dark", extra={k: v for k, v in res.items() if v is not None})
    for name, value in counts.items():
        m.add_metric(name=name, unit=MetricUnit.Count, value=value)
    m.add_metric(name=COSMIC_RAYS, unit=MetricUnit.Count, value=n_cr)


def instrumented(handler=None, *, with_metrics: bool = False):
    """Wrap a Lambda handler with Powertools: an X-Ray subsegment for the invocation, the
    Lambda context (request id, function) in every log line, and, with ``with_metrics``,
    the EMF metrics flushed to the log when the invocation ends.

    Tests call handlers with ``context=None``; the Lambda context is then simply not logged.
    """
    if handler is None:
        return functools.partial(instrumented, with_metrics=with_metrics)
    inner = tracer().capture_lambda_handler(handler)
    if with_metrics:
        inner = metrics().log_metrics(inner)
    injected = logger().inject_lambda_context(inner)

    @functools.wraps(handler)
    def wrapper(event, context=None):
        return injected(event, context) if context is not None else inner(event, context)

    return wrapper
