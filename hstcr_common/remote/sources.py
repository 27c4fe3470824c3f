"""Where a dark's bytes come from: a local path, the MAST open-data bucket, or MAST's HTTPS.

A location is a local path (or ``file://`` URL), ``s3://bucket/key`` or ``https://...``.

* S3 is read anonymously (unsigned requests, region us-east-1) unless ``HSTCR_S3_SIGNED=1``;
  boto3's standard endpoint settings (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``) are
  honoured, so the same manifest runs against a local S3 emulator (moto).
* HTTPS is read with ``requests`` (streamed, ranged).

**Partial reads.**  A FITS file is a chain of HDUs, each a header of 2880-byte blocks ending in
``END`` followed by a data block whose size follows from the header (BITPIX, NAXISn, PCOUNT,
GCOUNT).  :func:`read_fits_hdus` walks that chain with small ranged GETs of the headers only,
then fetches the byte ranges of the HDUs the measurement needs (primary + SCI + DQ; the ERR
arrays, a third of an ACS/WFC ``flt``, are skipped) and stitches them into a smaller, valid
FITS byte string that astropy opens normally.

Throttling (S3 ``SlowDown``/503, HTTP 429/5xx, dropped connections, short reads) is retried
with exponential backoff and full jitter; a missing object becomes an :class:`HstcrError`
saying "not found" and naming the location, which the pipeline turns into a ``failures`` row.

boto3 and requests are imported lazily: the science stack never imports them.
"""

from __future__ import annotations

import math
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..model import HstcrError

BLOCK = 2880  # FITS logical record (bytes)
CARD = 80
S3_BUCKET = "stpubdata"
S3_PREFIX = "hst/public"
S3_REGION = "us-east-1"
MAST_DOWNLOAD_URL = "https://mast.stsci.edu/api/v0.1/Download/file?uri=mast:HST/product/{filename}"

#: First ranged GET of an extension header: 8 blocks cover most HST extension headers.
HEADER_CHUNK = 8 * BLOCK
#: First GET of a file: 24 blocks (69 kB) cover HST primary headers (SPT ones run to ~20).
FIRST_CHUNK = 24 * BLOCK
#: Skipped bytes up to this size are read through instead of starting a new request.
READ_THROUGH_GAP = 16 * BLOCK
#: Files up to this size are read whole once their size is known (fewer requests).
SMALL_OBJECT = 256 * 1024
#: Headers longer than this are not FITS we know (HST primaries are ~10-40 blocks).
MAX_HEADER_BYTES = 2000 * BLOCK
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 5
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 20.0

#: Extensions the measurement reads from the science product, by product layout.  ``None``
#: keeps every HDU (WFPC2 c0m holds only SCI; its old single-HDU "waiver" form is one HDU).
SCIENCE_EXTNAMES: dict[str, tuple[str, ...] | None] = {
    "image_extensions": ("SCI", "DQ"),
    "ramp": ("SCI", "DQ", "SAMP", "TIME"),  # the ramp needs every read and its time
    "wfpc2": None,
}

# Tests replace this to keep retries instant.
_sleep = time.sleep


# --------------------------------------------------------------------------- locations

def s3_key(dataset: str, suffix: str) -> str:
    """Key of a product in the MAST bucket: ``hst/public/<first 4>/<dataset>/<dataset>_<suffix>.fits``."""
    dataset = dataset.lower()
    return f"{S3_PREFIX}/{dataset[:4]}/{dataset}/{dataset}_{suffix.lower()}.fits"


def s3_location(dataset: str, suffix: str, bucket: str = S3_BUCKET) -> str:
    """``s3://stpubdata/hst/public/...`` location of one product of a dataset."""
    return f"s3://{bucket}/{s3_key(dataset, suffix)}"


def mast_url(dataset: str, suffix: str) -> str:
    """MAST's HTTPS download URL of one product of a dataset."""
    return MAST_DOWNLOAD_URL.format(filename=f"{dataset.lower()}_{suffix.lower()}.fits")


def _split_s3(location: str) -> tuple[str, str]:
    bucket, _, key = location[len("s3://"):].partition("/")
    if not bucket or not key:
        raise HstcrError("not an s3://bucket/key location", source=location)
    return bucket, key


# --------------------------------------------------------------------------- errors and retries

class _HttpStatus(Exception):
    def __init__(self, status: int, reason: str = ""):
        super().__init__(f"HTTP {status} {reason}".strip())
        self.status = status


class _ShortRead(Exception):
    """The server sent fewer bytes than asked for (a dropped stream): worth a retry."""


def _classify(exc: BaseException) -> str | None:
    """``"missing"``, ``"transient"``, ``"fatal"``, or None for exceptions that are not I/O."""
    if isinstance(exc, FileNotFoundError):
        return "missing"
    if isinstance(exc, _ShortRead):
        return "transient"
    if isinstance(exc, _HttpStatus):
        if exc.status in (404, 410):
            return "missing"
        if exc.status == 429 or exc.status >= 500:
            return "transient"
        return "fatal"
    try:
        import botocore.exceptions as bce
    except ImportError:  # pragma: no cover - boto3 is an extra
        bce = None
    if bce is not None:
        if isinstance(exc, bce.ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound") or status == 404:
                return "missing"
            if code in ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
                        "Throttling", "ThrottlingException", "503", "500") or status in (429, 500, 502, 503, 504):
                return "transient"
            return "fatal"
        if isinstance(exc, (bce.ConnectionError, bce.HTTPClientError, bce.ReadTimeoutError,
                            bce.ResponseStreamingError, bce.IncompleteReadError)):
            return "transient"
        if isinstance(exc, bce.NoCredentialsError):
            return "fatal"
    try:
        import requests
    except ImportError:  # pragma: no cover
        requests = None
    if requests is not None and isinstance(exc, (requests.ConnectionError, requests.Timeout,
                                                 requests.exceptions.ChunkedEncodingError)):
        return "transient"
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return "transient"
    if isinstance(exc, OSError):  # permission denied, a directory, a bad path ...
        return "fatal"
    return None


def backoff_delay(attempt: int, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)] seconds."""
    return random.uniform(0.0, min(cap, base * 2.0**attempt))


def with_retries(call, location: str, retries: int = DEFAULT_RETRIES):
    """Run ``call()``; retry transient I/O failures with backoff, map the rest to HstcrError.

    Raises
    ------
    HstcrError
        ``not found`` for a missing object, the error text for a refused request, or
        ``gave up after N attempts`` when throttling outlasts the retries.
    """
    for attempt in range(retries + 1):
        try:
            return call()
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
            if attempt == retries:
                raise HstcrError(f"gave up after {retries + 1} attempts: {exc}",
                                 source=location, stage="fetch") from exc
            _sleep(backoff_delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- clients

_clients: dict = {}
_clients_lock = threading.Lock()


def s3_client(timeout: float = DEFAULT_TIMEOUT_S):
    """A boto3 S3 client for reading darks (one per process, timeout and endpoint).

    Unsigned (anonymous) unless ``HSTCR_S3_SIGNED`` is set; region ``HSTCR_S3_REGION`` or
    us-east-1 (the bucket's region); the endpoint comes from boto3's own settings
    (``AWS_ENDPOINT_URL_S3``), which is how tests point it at moto.  botocore's own retries
    are off: :func:`with_retries` does them, with jitter, for S3 and HTTPS alike.
    """
    signed = os.environ.get("HSTCR_S3_SIGNED", "").lower() not in ("", "0", "false", "no")
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("HSTCR_S3_REGION", S3_REGION)
    key = ("s3", os.getpid(), timeout, signed, endpoint, region)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            import boto3
            from botocore import UNSIGNED
            from botocore.config import Config

            config = Config(
                connect_timeout=timeout,
                read_timeout=timeout,
                retries={"mode": "standard", "total_max_attempts": 1},
                max_pool_connections=32,
                **({} if signed else {"signature_version": UNSIGNED}),
            )
            client = boto3.session.Session().client("s3", region_name=region, config=config)
            _clients[key] = client
    return client


def http_session():
    """A requests session (one per process and thread)."""
    key = ("http", os.getpid(), threading.get_ident())
    with _clients_lock:
        session = _clients.get(key)
        if session is None:
            import requests

            from .. import __version__

            session = requests.Session()
            session.headers["User-Agent"] = f"hstcr/{__version__} (+requests)"
            _clients[key] = session
    return session


# --------------------------------------------------------------------------- range readers

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class RangeReader:
    """Byte ranges of one location, counting what crossed the wire.

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

    def __init__(self, location: str, *, timeout: float = DEFAULT_TIMEOUT_S, retries: int = DEFAULT_RETRIES):
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
                more = with_retries(lambda: self._fetch(b1, stop), self.location, self.retries)
                if start < b1:
                    self._buffer, self._buffer_start = self._buffer[start - b0:] + more, start
                else:
                    self._buffer, self._buffer_start = more, b1
            else:
                self._buffer = with_retries(lambda: self._fetch(start, stop), self.location, self.retries)
                self._buffer_start = start
            b0 = self._buffer_start
        out = memoryview(self._buffer)[start - b0:stop - b0]
        return out if view else bytes(out)

    def read_all(self) -> bytes:
        """The whole object."""
        data = with_retries(self._fetch_all, self.location, self.retries)
        self.size = len(data)
        return data

    def close(self) -> None:
        self._buffer = b""


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
    def __init__(self, location: str, **kwargs):
        super().__init__(location, **kwargs)
        self.bucket, self.key = _split_s3(location)

    def _read_body(self, response, expected: int | None) -> bytes:
        chunks = []
        got = 0
        for chunk in response["Body"].iter_chunks(chunk_size=1 << 20):
            chunks.append(chunk)
            got += len(chunk)
        self.bytes_read += got
        if expected is not None and got != expected:
            raise _ShortRead(f"got {got} of {expected} bytes")
        return b"".join(chunks)

    def _fetch(self, start, stop):
        self.requests += 1
        response = s3_client(self.timeout).get_object(
            Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{stop - 1}"
        )
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
        self.requests += 1
        response = s3_client(self.timeout).get_object(Bucket=self.bucket, Key=self.key)
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
        response = http_session().get(self.location, headers=headers, stream=True, timeout=self.timeout)
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


def reader_for(location: str, *, timeout: float = DEFAULT_TIMEOUT_S, retries: int = DEFAULT_RETRIES) -> RangeReader:
    """The :class:`RangeReader` for a location (local path, ``file://``, ``s3://``, ``http(s)://``)."""
    location = str(location)
    if location.startswith("s3://"):
        return S3Reader(location, timeout=timeout, retries=retries)
    if location.startswith(("https://", "http://")):
        return HttpReader(location, timeout=timeout, retries=retries)
    if "://" in location and not location.startswith("file://"):
        raise HstcrError("unsupported location scheme (use a path, s3:// or https://)", source=location)
    return LocalReader(location, timeout=timeout, retries=retries)


def read_location(location: str, *, timeout: float = DEFAULT_TIMEOUT_S, retries: int = DEFAULT_RETRIES) -> bytes:
    """All bytes of a location."""
    reader = reader_for(location, timeout=timeout, retries=retries)
    try:
        return reader.read_all()
    finally:
        reader.close()


def open_location(location: str, *, timeout: float = DEFAULT_TIMEOUT_S, retries: int = DEFAULT_RETRIES) -> BinaryIO:
    """A binary file object over a location (close it, or use ``with``).

    Local files are opened directly; remote objects are streamed into a spooled temporary
    file (memory, then disk past 64 MB) that disappears when closed.
    """
    location = str(location)
    reader = reader_for(location, timeout=timeout, retries=retries)
    if isinstance(reader, LocalReader):
        if not reader.path.exists():
            raise HstcrError("not found", source=location, stage="fetch")
        return open(reader.path, "rb")
    spool = tempfile.SpooledTemporaryFile(max_size=HttpReader.SPOOL_MAX)
    try:
        spool.write(reader.read_all())
    except BaseException:
        spool.close()
        raise
    finally:
        reader.close()
    spool.seek(0)
    return spool


# --------------------------------------------------------------------------- FITS structure

@dataclass
class HduSpan:
    """Where one HDU sits in a FITS file (byte offsets)."""

    index: int
    header_offset: int
    header: bytes          # the raw header blocks, END included, padded to 2880
    data_offset: int
    data_size: int         # bytes of data, unpadded (0 for a header-only HDU)
    extname: str
    extver: int

    @property
    def padded_data_size(self) -> int:
        return _padded(self.data_size)

    @property
    def end(self) -> int:
        return self.data_offset + self.padded_data_size


def _padded(n: int) -> int:
    return -(-n // BLOCK) * BLOCK


def _card_value(card: bytes) -> str | None:
    """Raw value text of a ``KEY     = value / comment`` card (strings unquoted)."""
    if card[8:10] != b"= ":
        return None
    text = card[10:].decode("ascii", "replace").strip()
    if text.startswith("'"):
        out, i = [], 1
        while i < len(text):
            if text[i] == "'":
                if text[i + 1:i + 2] == "'":
                    out.append("'")
                    i += 2
                    continue
                break
            out.append(text[i])
            i += 1
        return "".join(out).rstrip()
    return text.split("/", 1)[0].strip()


def parse_header_cards(header: bytes) -> tuple[dict[str, str], int | None]:
    """The keyword values of a header and its length (bytes, padded), or None if no END yet.

    Only what locating HDUs needs is parsed (first occurrence of each keyword).
    """
    values: dict[str, str] = {}
    n_cards = len(header) // CARD
    for i in range(n_cards):
        card = header[i * CARD:(i + 1) * CARD]
        key = card[:8].rstrip().decode("ascii", "replace")
        if key == "END":
            return values, _padded((i + 1) * CARD)
        if key and key not in values:
            value = _card_value(card)
            if value is not None:
                values[key] = value
    return values, None


def _int(values: dict, key: str, default: int, where: str) -> int:
    text = values.get(key)
    if text is None:
        return default
    try:
        return int(float(text))
    except ValueError:
        raise HstcrError(f"header keyword {key} = {text!r} is not a number", source=where) from None


def data_size(values: dict[str, str], where: str = "") -> int:
    """Bytes of an HDU's data (unpadded) from its header: |BITPIX|/8 * GCOUNT * (PCOUNT + prod NAXISn).

    A random-groups primary (``GROUPS = T``, ``NAXIS1 = 0``) leaves NAXIS1 out of the product.
    """
    naxis = _int(values, "NAXIS", 0, where)
    if naxis == 0:
        return 0
    bitpix = _int(values, "BITPIX", 0, where)
    if bitpix not in (8, 16, 32, 64, -32, -64):
        raise HstcrError(f"BITPIX {bitpix} is not valid FITS", source=where)
    dims = [_int(values, f"NAXIS{i}", 0, where) for i in range(1, naxis + 1)]
    if values.get("GROUPS", "").upper() == "T" and dims[0] == 0:
        dims = dims[1:]
    return abs(bitpix) // 8 * _int(values, "GCOUNT", 1, where) * (_int(values, "PCOUNT", 0, where) + math.prod(dims))


def scan_hdus(reader: RangeReader) -> list[HduSpan]:
    """Every HDU of a FITS file, found with ranged reads of the headers only."""
    return list(iter_hdus(reader))


def iter_hdus(reader: RangeReader, whole_below: int = SMALL_OBJECT) -> Iterator[HduSpan]:
    """Walk a FITS file's HDUs lazily, reading each header when the previous HDU is done.

    Reading a wanted HDU's data between two steps keeps the reads sequential, so the reader
    serves the next header from bytes it already holds whenever it can.

    A file no larger than ``whole_below`` bytes is fetched whole after the first read: one
    more request is cheaper than a request per header.

    Raises
    ------
    HstcrError
        Not a FITS file, a header without END, or an HDU running past the end of the file.
    """
    spans: list[HduSpan] = []
    offset = 0
    while reader.size is None or offset < reader.size:
        chunk = reader.read_range(offset, offset + (FIRST_CHUNK if offset == 0 else HEADER_CHUNK))
        if not chunk:
            break
        if offset == 0 and reader.size is not None and len(chunk) < reader.size <= whole_below:
            chunk = reader.read_range(0, reader.size)
        expected = b"SIMPLE  =" if offset == 0 else b"XTENSION="
        if not chunk.startswith(expected):
            if offset == 0:
                raise HstcrError("not a FITS file (no SIMPLE card)", source=reader.location, stage="load")
            break  # trailing padding or junk after the last HDU: nothing more to read
        values, header_len = parse_header_cards(chunk)
        while header_len is None:
            if len(chunk) >= MAX_HEADER_BYTES or (reader.size is not None and offset + len(chunk) >= reader.size):
                raise HstcrError(f"header of HDU {len(spans)} has no END card", source=reader.location, stage="load")
            more = reader.read_range(offset + len(chunk), offset + 2 * len(chunk))
            if not more:
                raise HstcrError(f"header of HDU {len(spans)} has no END card", source=reader.location, stage="load")
            chunk += more
            values, header_len = parse_header_cards(chunk)
        size = data_size(values, reader.location)
        span = HduSpan(
            index=len(spans),
            header_offset=offset,
            header=bytes(chunk[:header_len]),
            data_offset=offset + header_len,
            data_size=size,
            extname=values.get("EXTNAME", "PRIMARY" if offset == 0 else "").upper(),
            extver=_int(values, "EXTVER", 1, reader.location),
        )
        if reader.size is not None and span.data_offset + size > reader.size:
            raise HstcrError(f"HDU {span.index} ({span.extname}) runs past the end of the file "
                             f"(truncated download?)", source=reader.location, stage="load")
        spans.append(span)
        yield span
        offset = span.end


def _set_nextend(header: bytes, n: int) -> bytes:
    """Rewrite NEXTEND's value in place (fixed format, same card length)."""
    for i in range(0, len(header), CARD):
        card = header[i:i + CARD]
        if card.startswith(b"NEXTEND =") and _card_value(card) not in (None, ""):
            new = card[:10] + f"{n:>20d}".encode("ascii") + card[30:]
            return header[:i] + new + header[i + CARD:]
        if card.startswith(b"END     "):
            break
    return header


def read_fits_hdus(
    location: str | RangeReader,
    extnames: tuple[str, ...] | None = ("SCI", "DQ"),
    *,
    primary_only: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
) -> bytes:
    """A smaller FITS file holding the primary HDU and the extensions named ``extnames``.

    Parameters
    ----------
    location : str or RangeReader
        Where the FITS file is.
    extnames : tuple of str or None
        EXTNAMEs to keep (case-insensitive); None keeps every HDU.
    primary_only : bool
        Keep only the primary HDU (the support file's header is all the orbit needs).

    Returns
    -------
    bytes
        A valid FITS byte string: the HDUs' original header and data blocks, in file order,
        with NEXTEND rewritten to the kept count.

    Raises
    ------
    HstcrError
        Missing object ("not found"), unreadable or malformed FITS, naming the location.
    """
    reader = location if isinstance(location, RangeReader) else reader_for(location, timeout=timeout, retries=retries)
    try:
        wanted = {name.upper() for name in extnames} if extnames is not None else None
        parts: list[bytes] = []
        n_ext = 0
        for span in iter_hdus(reader, whole_below=0 if primary_only else SMALL_OBJECT):
            if span.index == 0:
                parts.append(span.header)
            elif wanted is None or span.extname in wanted:
                parts.append(span.header)
                n_ext += 1
            else:
                continue  # skipped: its data is never requested
            if span.data_size:
                # the next HDU's header follows the data: fetch it in the same request
                end = span.data_offset + span.padded_data_size
                data = reader.read_range(span.data_offset, end + (0 if primary_only else HEADER_CHUNK),
                                         view=True)[:span.padded_data_size]
                if len(data) < span.data_size:
                    raise HstcrError(f"HDU {span.index} ({span.extname}) is truncated",
                                     source=reader.location, stage="load")
                parts.append(data)
                if len(data) < span.padded_data_size:  # a file whose last block lacks padding
                    parts.append(b"\0" * (span.padded_data_size - len(data)))
            if primary_only:
                break
        if not parts:
            raise HstcrError("empty file", source=reader.location, stage="load")
        parts[0] = _set_nextend(parts[0], n_ext)
        return b"".join(parts)
    finally:
        if not isinstance(location, RangeReader):
            reader.close()


# --------------------------------------------------------------------------- darks

@dataclass
class DarkFiles(Mapping):
    """The bytes of one dark's files, by role (``science``, ``support``, ``dq``).

    Behaves as a read-only dict role -> bytes.

    Attributes
    ----------
    locations : dict
        Role -> the location actually read (the ``urls`` fallback if the primary failed).
    bytes_read : int
        Bytes received over all files.
    bytes_total : int
        Full sizes of the files read (what whole-file downloads would have cost).
    seconds : float
        Wall time of the fetch.
    requests : int
        GET requests made (retries included).
    """

    files: dict[str, bytes] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    bytes_read: int = 0
    bytes_total: int = 0
    seconds: float = 0.0
    requests: int = 0

    def __getitem__(self, role: str) -> bytes:
        return self.files[role]

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


ROLES = ("science", "dq", "support")


def _fetch_one(location: str, role: str, layout: str, partial: bool, timeout: float, retries: int):
    reader = reader_for(location, timeout=timeout, retries=retries)
    try:
        if not partial:
            data = reader.read_all()
        elif role == "support":
            data = read_fits_hdus(reader, primary_only=True)
        elif role == "science":
            data = read_fits_hdus(reader, SCIENCE_EXTNAMES.get(layout, ("SCI", "DQ")))
        else:  # dq (WFPC2 c1m): every HDU is DQ
            data = read_fits_hdus(reader, None)
        return data, reader.bytes_read, reader.size or reader.bytes_read, reader.requests
    finally:
        reader.close()


def fetch_dark_files(
    item: dict,
    *,
    partial: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
) -> DarkFiles:
    """Read the files of one manifest item.

    Parameters
    ----------
    item : dict
        A manifest item: ``instrument`` and ``files`` (role -> location), optionally ``urls``
        (role -> HTTPS fallback).  Unknown roles are ignored.
    partial : bool
        Read only what the measurement needs: science -> primary + SCI + DQ (IR ramps also
        SAMP/TIME), support -> primary header, dq -> all HDUs.  False reads whole files.
    timeout : float
        Per-request connect/read timeout (s).
    retries : int
        Retries per request on throttling / dropped connections.

    Raises
    ------
    HstcrError
        A file is missing ("not found") or unreadable, naming its location.  When ``urls``
        has a fallback for the role it is tried first; the error then names both.
    """
    from ..instruments import get_detector

    files = item.get("files") or {}
    if not files.get("science"):
        raise HstcrError(f"manifest item {item.get('dataset', '?')} has no science file")
    layout = get_detector(str(item.get("instrument", ""))).layout
    urls = item.get("urls") or {}
    out = DarkFiles()
    start = time.perf_counter()
    for role in ROLES:
        location = files.get(role)
        if not location:
            continue
        try:
            data, nread, ntotal, nreq = _fetch_one(str(location), role, layout, partial, timeout, retries)
            out.locations[role] = str(location)
        except HstcrError as first:
            fallback = urls.get(role)
            if not fallback or fallback == location:
                raise
            try:
                data, nread, ntotal, nreq = _fetch_one(str(fallback), role, layout, partial, timeout, retries)
            except HstcrError as second:
                raise HstcrError(f"{first}; fallback {second}", source=None, stage="fetch") from second
            out.locations[role] = str(fallback)
        out.files[role] = data
        out.bytes_read += nread
        out.bytes_total += ntotal
        out.requests += nreq
    out.seconds = time.perf_counter() - start
    return out


def delete_downloads(items: list[dict]) -> int:
    """Remove what :func:`fetch_dark_files` left on disk for these items; returns the count.

    Nothing is ever left: remote files are read into memory (the HTTPS whole-file fallback
    spools to a temporary file that is deleted when the read ends).  The function exists so
    callers can clean up per month without knowing that.
    """
    return 0
