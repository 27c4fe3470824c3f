"""Retries for what no client library retries itself: HTTPS reads through ``requests``,
astroquery's calls to MAST, and a stream that ends early after its request succeeded.

Everything else has one policy, set in :mod:`hstcr_common.remote.clients`: S3 and the other
AWS services are retried by botocore's *standard* mode and the lake's S3 file system by the
AWS SDK's standard strategy inside pyarrow.  An error from those clients has already used
its attempts when it gets here and is not retried again.

The backoff is exponential with full jitter (AWS Architecture Blog, "Exponential Backoff
and Jitter", 2015): the same shape botocore's standard mode uses.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Retries after the first attempt (so ``DEFAULT_RETRIES + 1`` attempts in all).
DEFAULT_RETRIES = 5
#: First backoff cap and longest wait, s.
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 20.0

# Tests replace this to keep retries instant and count them.
_sleep = time.sleep


def backoff_delay(attempt: int, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)] seconds."""
    return random.uniform(0.0, min(cap, base * 2.0**attempt))


def with_retries(call: Callable[[], T], transient: Callable[[BaseException], bool],
                 retries: int = DEFAULT_RETRIES) -> T:
    """``call()``, tried again after a backoff while it fails with an error ``transient`` accepts.

    Parameters
    ----------
    call : callable
        The operation, without arguments.
    transient : callable
        Exception -> whether another attempt may succeed.
    retries : int
        Attempts after the first.

    Raises
    ------
    Exception
        The last error: at once for one ``transient`` rejects, else when the retries run out.
    """
    for attempt in range(retries + 1):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - the caller's predicate decides
            if attempt == retries or not transient(exc):
                raise
            _sleep(backoff_delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover
