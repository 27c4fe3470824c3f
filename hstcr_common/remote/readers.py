"""Byte ranges of a location: a local path, an object in S3, or a file behind HTTPS.

* S3 goes through :func:`hstcr_common.remote.clients.mast_s3_client`: anonymous (unsigned)
  unless ``HSTCR_S3_SIGNED`` is set, boto3's endpoint settings (``AWS_ENDPOINT_URL_S3`` /
  ``AWS_ENDPOINT_URL``) honoured so the same manifest runs against moto, throttling
  (``SlowDown``/503, 5xx, dropped connections) retried by botocore's standard mode.
* HTTPS is read with ``requests`` (streamed, ranged); 429/5xx answers and dropped
  connections are retried here (:mod:`hstcr_common.remote.retry`), as is a stream of either
  kind that ends early.
* A missing object becomes an :class:`HstcrError` saying "not found" and naming the
  location, which the pipeline turns into a ``failures`` row.

boto3 and requests are imported on first use: the science stack never imports them.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

from ..fits import BLOCK
from ..model import HstcrError
from .clients import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, http_session, mast_s3_client
from .locations import split_s3
from .retry import DEFAULT_RETRIES, with_retries

#: Skipped bytes up to this size are read through instead of starting a new request.
READ_THROUGH_GAP = 16 * BLOCK

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
#: S3 error codes that mean "try again": botocore's standard mode has retried them already.
_S3_TRANSIENT = ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
                 "Throttling", "ThrottlingException", "503", "500")


# --------------------------------------------------------------------------- errors

class _HttpStatus(Exception):
    def __init__(self, status: int, reason: str = ""):
        super().__init__(f"HTTP {status} {reason}".strip())
        self.status = status


class _ShortRead(Exception):
    """The server sent fewer bytes than asked for (a dropped stream): worth a retry."""


def _classify(exc: BaseException) -> str | None:
    """What a failed read means.

    ``"missing"``; ``"retry"`` (transient, and no client retried it); ``"exhausted"``
    (transient, and botocore already spent its attempts on it); ``"fatal"``; or None for
    exceptions that are not I/O.
    """
    if isinstance(exc, FileNotFoundError):
        return "missing"
    if isinstance(exc, _ShortRead):
        return "retry"
    if isinstance(exc, _HttpStatus):
        if exc.status in (404, 410):
            return "missing"
        if exc.status == 429 or exc.status >= 500:
            return "retry"
        return "fatal"
    # an exception of a library that was never imported cannot be raised: look, don't import
    bce = sys.modules.get("botocore.exceptions")
    if bce is not None:
        if isinstance(exc, bce.ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound") or status == 404:
                return "missing"
            if code in _S3_TRANSIENT or status in (429, 500, 502, 503, 504):
                return "exhausted"
            return "fatal"
        if isinstance(exc, (bce.ConnectionError, bce.HTTPClientError)):
            return "exhausted"
        if isinstance(exc, bce.NoCredentialsError):
            return "fatal"
    requests = sys.modules.get("requests")
    if requests is not None and isinstance(exc, (requests.ConnectionError, requests.Timeout,
                                                 requests.exceptions.ChunkedEncodingError)):
        return "retry"
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return "retry"
    if isinstance(exc, OSError):  # permission denied, a directory, a bad path ...
        return "fatal"
    return None


def _attempts(exc: BaseException, retries: int) -> int:
    """Attempts made before giving up: botocore counts its own in the response metadata."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        done = response.get("ResponseMetadata", {}).get("RetryAttempts")
        if done is not None:
            return int(done) + 1
    return retries + 1


def _guarded(call, location: str, retries: int):
    """``call()`` with transient failures retried; every I/O failure mapped to an HstcrError.

    Raises
    ------
    HstcrError
        ``not found`` for a missing object, ``read refused`` with the error text for a
        refused request, or ``gave up after N attempts`` when throttling outlasts the retries.
    """
    try:
        return with_retries(call, lambda exc: _classify(exc) == "retry", retries)
    except HstcrError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified below, unknown ones re-raised
        kind = _classify(exc)
        if kind is None:
            raise
        if kind == "missing":
            raise HstcrError("not found", source=location, stage="fetch") from exc
        if kind == "fatal":
            hint = ""
            if "AccessDenied" in str(exc) or "403" in str(exc):
                # a public bucket without list rights answers a missing key with 403
                hint = " (on an anonymous read of a public bucket this usually means not found)"
            raise HstcrError(f"read refused: {exc}{hint}", source=location, stage="fetch") from exc
        raise HstcrError(f"gave up after {_attempts(exc, retries)} attempts: {exc}",
                         source=location, stage="fetch") from exc


# --------------------------------------------------------------------------- range readers

class RangeReader:
    """Byte ranges of one location, counting what crossed the wire.

    Use as a context manager (or call :meth:`close`).

    Attributes
    ----------
    location : str
    size : int or None
        Object size in bytes, known after the first request.
    bytes_read : int
        Bytes received (bodies only).
    requests : int
        Requests made (retries included).
    """

    def __init__(self, location: str, *, timeout: float = READ_TIMEOUT_S, retries: int = DEFAULT_RETRIES):
        self.location = location
        self.timeout = timeout
        self.retries = retries
        self.size: int | None = None
        self.bytes_read = 0
        self.requests = 0
        # The last range read: header scans ask again for bytes they already hold.
        self._buffer_start = 0
        self._buffer = b""

    # subclasses implement these two; ``stop`` is exclusive and within the object
    def _fetch(self, start: int, stop: int) -> bytes:
        raise NotImplementedError

    def _fetch_all(self) -> bytes:
        raise NotImplementedError

    def read_range(self, start: int, stop: int, *, view: bool = False) -> bytes | memoryview:
        """Bytes ``[start, stop)``, clipped to the object's end (empty past the end).

        Bytes already held from the previous read are not fetched again, and a gap of up to
        :data:`READ_THROUGH_GAP` bytes after them is read through rather than paying for a
        new request (a small skipped HDU costs less than a round trip).  ``view=True`` returns
        a zero-copy memoryview (valid after later reads: it keeps its buffer alive).
        """
        if self.size is not None:
            stop = min(stop, self.size)
        if stop <= start:
            return b""
        b0 = self._buffer_start
        b1 = b0 + len(self._buffer)
        if not (b0 <= start and stop <= b1):
            if self._buffer and b0 <= start <= b1 + READ_THROUGH_GAP:
                more = _guarded(lambda: self._fetch(b1, stop), self.location, self.retries)
                if start < b1:
                    self._buffer, self._buffer_start = self._buffer[start - b0:] + more, start
                else:
                    self._buffer, self._buffer_start = more, b1
            else:
                self._buffer = _guarded(lambda: self._fetch(start, stop), self.location, self.retries)
                self._buffer_start = start
            b0 = self._buffer_start
        out = memoryview(self._buffer)[start - b0:stop - b0]
        return out if view else bytes(out)

    def read_all(self) -> bytes:
        """The whole object."""
        data = _guarded(self._fetch_all, self.location, self.retries)
        self.size = len(data)
        return data

    def close(self) -> None:
        self._buffer = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class LocalReader(RangeReader):
    def __init__(self, location: str, **kwargs):
        super().__init__(location, **kwargs)
        self.path = Path(location[len("file://"):] if location.startswith("file://") else location)

    def _fetch(self, start, stop):
        self.requests += 1
        with open(self.path, "rb") as fh:
            if self.size is None:
                self.size = os.fstat(fh.fileno()).st_size
            fh.seek(start)
            data = fh.read(stop - start)
        self.bytes_read += len(data)
        return data

    def _fetch_all(self):
        self.requests += 1
        data = self.path.read_bytes()
        self.bytes_read += len(data)
        return data


class S3Reader(RangeReader):
    """An S3 object through the MAST bucket client, ``retries + 1`` botocore attempts a GET."""

    def __init__(self, location: str, **kwargs):
        super().__init__(location, **kwargs)
        self.bucket, self.key = split_s3(location)

    def _get(self, **kwargs) -> dict:
        response = mast_s3_client(self.timeout, self.retries + 1).get_object(
            Bucket=self.bucket, Key=self.key, **kwargs)
        self.requests += 1 + response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        return response

    def _read_body(self, response, expected: int | None) -> bytes:
        import botocore.exceptions as bce

        chunks = []
        got = 0
        try:
            for chunk in response["Body"].iter_chunks(chunk_size=1 << 20):
                chunks.append(chunk)
                got += len(chunk)
        except (bce.HTTPClientError, bce.IncompleteReadError) as exc:
            # the GET succeeded, so botocore will not retry its broken stream: retry.py does
            raise _ShortRead(f"stream broke after {got} bytes: {exc}") from exc
        finally:
            self.bytes_read += got
        if expected is not None and got != expected:
            raise _ShortRead(f"got {got} of {expected} bytes")
        return b"".join(chunks)

    def _fetch(self, start, stop):
        response = self._get(Range=f"bytes={start}-{stop - 1}")
        match = _CONTENT_RANGE.match(response.get("ContentRange") or "")
        if match:
            first, last, total = match.groups()
            if total != "*":
                self.size = int(total)
            expected = int(last) - int(first) + 1
        else:  # a whole-object answer (an emulator that ignores Range)
            expected = response.get("ContentLength")
        data = self._read_body(response, expected)
        if not match:
            self.size = len(data)
            data = data[start:stop]
        return data

    def _fetch_all(self):
        response = self._get()
        return self._read_body(response, response.get("ContentLength"))


class HttpReader(RangeReader):
    """HTTPS with Range requests; a server that ignores Range is read once, whole, into a
    spooled temporary file (memory up to 64 MB, then disk) that later ranges are cut from."""

    SPOOL_MAX = 64 << 20

    def __init__(self, location: str, **kwargs):
        super().__init__(location, **kwargs)
        self._whole: tempfile.SpooledTemporaryFile | None = None

    def _get(self, headers: dict):
        self.requests += 1
        response = http_session().get(self.location, headers=headers, stream=True,
                                      timeout=(min(CONNECT_TIMEOUT_S, self.timeout), self.timeout))
        if response.status_code >= 400:
            response.close()
            raise _HttpStatus(response.status_code, response.reason or "")
        return response

    def _stream_into(self, response, sink) -> int:
        got = 0
        try:
            for chunk in response.iter_content(chunk_size=1 << 20):
                sink.write(chunk)
                got += len(chunk)
        finally:
            response.close()
            self.bytes_read += got
        return got

    def _fetch(self, start, stop):
        if self._whole is not None:
            self._whole.seek(start)
            return self._whole.read(stop - start)
        response = self._get({"Range": f"bytes={start}-{stop - 1}", "Accept-Encoding": "identity"})
        if response.status_code == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if match and match.group(3) != "*":
                self.size = int(match.group(3))
            sink = _Sink()
            got = self._stream_into(response, sink)
            expected = stop - start if self.size is None else min(stop, self.size) - start
            if match:
                expected = int(match.group(2)) - int(match.group(1)) + 1
            if got != expected:
                raise _ShortRead(f"got {got} of {expected} bytes")
            return sink.getvalue()
        # 200: the whole object; keep it for the remaining ranges
        spool = tempfile.SpooledTemporaryFile(max_size=self.SPOOL_MAX)
        got = self._stream_into(response, spool)
        length = response.headers.get("Content-Length")
        if length is not None and got != int(length):
            spool.close()
            raise _ShortRead(f"got {got} of {length} bytes")
        self._whole, self.size = spool, got
        spool.seek(start)
        return spool.read(stop - start)

    def _fetch_all(self):
        response = self._get({"Accept-Encoding": "identity"})
        sink = _Sink()
        got = self._stream_into(response, sink)
        length = response.headers.get("Content-Length")
        if length is not None and got != int(length):
            raise _ShortRead(f"got {got} of {length} bytes")
        return sink.getvalue()

    def close(self):
        super().close()
        if self._whole is not None:
            self._whole.close()
            self._whole = None


class _Sink:
    def __init__(self):
        self._parts = []

    def write(self, chunk):
        self._parts.append(chunk)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


def reader_for(location: str, *, timeout: float = READ_TIMEOUT_S, retries: int = DEFAULT_RETRIES) -> RangeReader:
    """The :class:`RangeReader` for a location (local path, ``file://``, ``s3://``, ``http(s)://``).

    Parameters
    ----------
    timeout : float
        Read timeout of one request, s (connecting gives up sooner).
    retries : int
        Retries of one request on throttling, dropped connections and short reads.
    """
    location = str(location)
    if location.startswith("s3://"):
        return S3Reader(location, timeout=timeout, retries=retries)
    if location.startswith(("https://", "http://")):
        return HttpReader(location, timeout=timeout, retries=retries)
    if "://" in location and not location.startswith("file://"):
        raise HstcrError("unsupported location scheme (use a path, s3:// or https://)", source=location)
    return LocalReader(location, timeout=timeout, retries=retries)


def read_location(location: str, *, timeout: float = READ_TIMEOUT_S, retries: int = DEFAULT_RETRIES) -> bytes:
    """All bytes of a location."""
    with reader_for(location, timeout=timeout, retries=retries) as reader:
        return reader.read_all()
