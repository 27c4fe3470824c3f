"""The one place hstcr makes network clients: boto3 clients, pyarrow's S3 file system and the
HTTPS session, each built once per process (and per configuration) and then reused.

Retries are botocore's *standard* mode (exponential backoff with jitter, throttling, 5xx and
dropped connections retried, a retry quota against storms), and the same standard strategy
of the AWS SDK inside pyarrow for the lake, so a throttled S3 or Lambda call is retried the
same way wherever it is made (:mod:`hstcr_common.remote.retry` covers only what these
clients cannot: HTTPS through requests, astroquery, streams that end early).  The endpoint
comes from boto3's own settings (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``), which is
how tests point hstcr at moto; credentials always come from the standard AWS chain
(environment, profile, role): hstcr never invents keys.
"""

from __future__ import annotations

import os
import threading

from ..model.constants import (ENV_DEFAULT_REGION, ENV_ENDPOINT, ENV_ENDPOINT_S3, ENV_REGION,
                               ENV_S3_REGION, ENV_S3_SIGNED, truthy)

#: Region of MAST's open-data bucket ``stpubdata``.
MAST_BUCKET_REGION = "us-east-1"
#: Connect / read timeouts for every client, s.  Short enough that a dead network is noticed
#: in seconds rather than minutes; a 64 MiB range read completes well within it.
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
#: Attempts per request, first try included (botocore's ``total_max_attempts``; pyarrow's
#: ``AwsStandardS3RetryStrategy(max_attempts)``), for the lake and the AWS services: a Map of
#: hundreds of Lambdas writing at once meets S3 throttling, which must not fail a dark.
MAX_ATTEMPTS = 8
#: Attempts for reading darks from MAST's bucket: it is only read and throttles rarely, and
#: a network that is down must fail a dark in seconds (the run's circuit breaker then stops
#: after a few darks, see hstcr_common.pipeline.pool) rather than after minutes.
MAST_READ_ATTEMPTS = 4

_cache: dict = {}
_lock = threading.Lock()


def region() -> str:
    """The AWS region in use: ``AWS_REGION`` (Lambda), ``AWS_DEFAULT_REGION``, else us-east-1."""
    return os.environ.get(ENV_REGION) or os.environ.get(ENV_DEFAULT_REGION) or MAST_BUCKET_REGION


def endpoint_url(service: str = "s3") -> str | None:
    """The endpoint override boto3 would use for ``service`` (None: AWS itself)."""
    if service == "s3" and os.environ.get(ENV_ENDPOINT_S3):
        return os.environ[ENV_ENDPOINT_S3]
    return os.environ.get(ENV_ENDPOINT) or None


def _cached(key: tuple, make):
    key = (os.getpid(),) + key  # a forked child must not share its parent's connections
    with _lock:
        value = _cache.get(key)
        if value is None:
            value = _cache[key] = make()
    return value


def aws_client(service: str, *, region_name: str | None = None, timeout_s: float | None = None,
               max_attempts: int = MAX_ATTEMPTS):
    """A signed boto3 client for ``service`` (the lake, Step Functions, Athena, Lambda, ...)."""
    region_name = region_name or region()
    read_timeout = timeout_s or READ_TIMEOUT_S

    def make():
        import boto3
        from botocore.config import Config

        config = Config(connect_timeout=min(CONNECT_TIMEOUT_S, read_timeout), read_timeout=read_timeout,
                        retries={"mode": "standard", "total_max_attempts": max_attempts},
                        max_pool_connections=32)
        return boto3.session.Session().client(service, region_name=region_name, config=config)

    return _cached(("aws", service, region_name, read_timeout, max_attempts, endpoint_url(service)), make)


def mast_s3_client(timeout_s: float | None = None, max_attempts: int = MAST_READ_ATTEMPTS):
    """The client that reads darks from MAST's bucket: anonymous unless ``HSTCR_S3_SIGNED``."""
    signed = truthy(os.environ.get(ENV_S3_SIGNED))
    region_name = os.environ.get(ENV_S3_REGION, MAST_BUCKET_REGION)
    read_timeout = timeout_s or READ_TIMEOUT_S

    def make():
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        config = Config(connect_timeout=min(CONNECT_TIMEOUT_S, read_timeout), read_timeout=read_timeout,
                        retries={"mode": "standard", "total_max_attempts": max_attempts},
                        max_pool_connections=32,
                        **({} if signed else {"signature_version": UNSIGNED}))
        return boto3.session.Session().client("s3", region_name=region_name, config=config)

    return _cached(("mast-s3", signed, region_name, read_timeout, max_attempts, endpoint_url("s3")), make)


def s3_filesystem(region_name: str | None = None):
    """pyarrow's S3 file system for the lake, with its own standard retry strategy.

    Credentials come from the AWS chain only.  (An emulator such as moto accepts any key,
    and tests set ``AWS_ACCESS_KEY_ID`` for it; hstcr itself never supplies one.)
    """
    region_name = region_name or region()
    endpoint = endpoint_url("s3")

    def make():
        import pyarrow.fs as pafs

        kwargs: dict = {"region": region_name, "connect_timeout": CONNECT_TIMEOUT_S,
                        "request_timeout": READ_TIMEOUT_S,
                        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=MAX_ATTEMPTS),
                        # an object written in one go under the part size (a dark's Parquet files,
                        # a few MB) is one PutObject, not a multipart upload's three requests
                        # (create, part, complete): 7 -> 3 PUT-class requests per dark.  Errors
                        # then surface when the stream closes, which Lake.write waits for.
                        "allow_delayed_open": True}
        if endpoint:
            scheme, _, host = endpoint.partition("://")
            if not host:
                scheme, host = "https", endpoint
            kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme)
        return pafs.S3FileSystem(**kwargs)

    return _cached(("pyarrow-s3", region_name, endpoint), make)


def http_session():
    """A requests session for HTTPS reads (one per process and thread)."""

    def make():
        import requests

        from .. import __version__

        session = requests.Session()
        session.headers["User-Agent"] = f"hstcr/{__version__} (+requests)"
        return with_timeouts(session)

    return _cached(("http", threading.get_ident()), make)


def with_timeouts(session, read_timeout_s: float = READ_TIMEOUT_S):
    """``session`` (a requests session) with :data:`CONNECT_TIMEOUT_S` / ``read_timeout_s``
    applied to every request that names no timeout of its own.

    requests waits forever by default, and libraries that bring their own session (astroquery)
    pass none: on a dead network such a call would hang instead of failing.
    """
    from requests.adapters import HTTPAdapter

    timeouts = (min(CONNECT_TIMEOUT_S, read_timeout_s), read_timeout_s)
    if getattr(session.adapters.get("https://"), "default_timeouts", None) == timeouts:
        return session  # already set: keep the adapter and its pooled connections

    class _DefaultTimeouts(HTTPAdapter):
        default_timeouts = timeouts

        def send(self, request, timeout=None, **kwargs):
            return super().send(request, timeout=timeouts if timeout is None else timeout, **kwargs)

    adapter = _DefaultTimeouts()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
