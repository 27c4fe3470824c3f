"""The one exception type a user can cause.

Anything wrong with *input* (a corrupt FITS file, an unknown instrument, a missing keyword,
a zero exposure time) raises :class:`HstcrError` with a message that names the file and the
problem.  The pipeline turns these into ``failures`` rows; anything else is a bug.
"""

from __future__ import annotations

import re

#: query parameters that may carry credentials: presigned S3 URLs (``X-Amz-Signature``,
#: ``X-Amz-Credential``, ``X-Amz-Security-Token``...), S3 SigV2 and CloudFront signed URLs
_SECRET_PARAM = re.compile(
    r"(?i)(?<![A-Za-z0-9_-])(X-Amz-[A-Za-z-]+|Signature|AWSAccessKeyId|Policy|Key-Pair-Id|"
    r"access_token|token|sig)=[^&\s'\")]*")
_URL_QUERY = re.compile(r"(https?://[^\s?#'\"]+)\?([^\s#'\"]*)")
#: query parameters that name a product and carry no secret (MAST's download URLs)
_KEPT_PARAMS = ("uri",)


def _strip_query(match: re.Match) -> str:
    kept = [p for p in match[2].split("&") if p.split("=", 1)[0] in _KEPT_PARAMS]
    return match[1] + ("?" + "&".join(kept) if kept else "")


def redact(text: str) -> str:
    """``text`` safe to show or store: URL query strings removed (a MAST ``uri=`` kept) and
    signed-request parameters blanked wherever they appear (``...?X-Amz-Signature=<redacted>``).

    A presigned URL *is* a credential; messages, logs and lake rows name files with this.
    """
    text = _URL_QUERY.sub(_strip_query, str(text))
    return _SECRET_PARAM.sub(lambda m: f"{m[1]}=<redacted>", text)


class HstcrError(Exception):
    """A problem with the input that a user can fix or skip.

    Parameters
    ----------
    message : str
        What is wrong, in words a user understands.
    source : str, optional
        The file (path, ``s3://`` or ``https://`` location) the problem is in.  It is put in
        front of the message so the message always names the file.
    stage : str, optional
        Pipeline stage where it happened (``load``, ``detect``, ``orbit``, ``write``...).
    """

    def __init__(self, message: str, source: str | None = None, stage: str | None = None):
        # a presigned URL's query string is a credential: never in a message (see redact)
        source = redact(source) if source else source
        message = redact(message)
        self.source = source
        self.stage = stage
        self.problem = message
        super().__init__(f"{source}: {message}" if source else message)
