"""Opening FITS files with limits: nothing is allocated before the headers are judged.

:func:`open_fits` turns a path, bytes or a binary file object into an astropy HDU list with
only the headers parsed, refusing (:class:`HstcrError` naming the file) anything that is not
a complete FITS file: not FITS, cut short, or a header longer than :data:`MAX_HEADER_CARDS`
cards (walked block by block before astropy parses it).  :func:`check_data_sizes` then
refuses an HDU that announces far more data than a detector's frame, and
:func:`read_array` reads one HDU's data, expanding HST's header-only constant arrays.

Gzip- and bzip2-compressed FITS are read transparently.  Files are opened with
``memmap=False, lazy_load_hdus=True``; a caller's file object is left open.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Union

import numpy as np
from astropy.io import fits

from ..instruments import Detector
from ..model import HstcrError
from .cards import BLOCK, CARD, data_size, parse_header_cards

FileInput = Union[str, os.PathLike, bytes, bytearray, memoryview, IO[bytes]]

#: Longest header accepted (cards).  HST headers hold a few hundred to ~1,500 cards (SPT
#: primaries are the longest); a longer one is refused before astropy parses it, which costs
#: ~0.5 kB of memory and ~20 us per card.
MAX_HEADER_CARDS = 20_000
#: No HDU of a dark may announce more data than this many times the bytes of all its chips
#: in float64: a header announcing 40 GB is refused before anything is allocated.
MAX_DATA_FACTOR = 2

def display_name(obj: FileInput, source: str | None = None) -> str:
    """Name used in messages: ``source`` if given, else the path, else ``<bytes>``/``<file>``."""
    if source:
        return str(source)
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return "<bytes>"
    name = getattr(obj, "name", None)
    return str(name) if isinstance(name, (str, os.PathLike)) else "<file>"


def _as_fileobj(obj: FileInput, source: str) -> tuple[IO[bytes], bool]:
    """A seekable binary file object for ``obj`` and whether we opened it (must close)."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(obj)), True
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        if not path.is_file():
            raise HstcrError("file not found", source, "load")
        try:
            return open(path, "rb"), True
        except OSError as exc:
            raise HstcrError(f"cannot open file ({exc.strerror or exc})", source, "load") from exc
    if hasattr(obj, "read"):
        seekable = getattr(obj, "seekable", None)
        if callable(seekable) and seekable():
            return obj, False
        # astropy needs to seek: buffer a stream (a dark is at most a few hundred MB)
        return io.BytesIO(obj.read()), True
    raise HstcrError(
        f"cannot read a FITS file from a {type(obj).__name__} (give a path, bytes or a binary "
        "file object)", source, "load")


def _file_size(fileobj: IO[bytes]) -> int | None:
    """Size in bytes of an uncompressed seekable file object, None for compressed streams."""
    try:
        pos = fileobj.tell()
        head = fileobj.read(2)
        size = fileobj.seek(0, io.SEEK_END)
        fileobj.seek(pos)
    except (OSError, ValueError):
        return None
    if head == b"\x1f\x8b" or head == b"BZ":  # gzip / bzip2: astropy decompresses
        return None
    return size


def _data_bytes(header: fits.Header) -> int:
    """Bytes of data (without padding) the header announces."""
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    dims = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]
    groups = bool(header.get("GROUPS", False)) and dims and dims[0] == 0
    if groups:
        dims = dims[1:]
    count = int(np.prod(dims)) if dims else 0
    return abs(int(header.get("BITPIX", 8))) // 8 * int(header.get("GCOUNT", 1)) * (
        int(header.get("PCOUNT", 0)) + count)


def _header_block_walk(stream, source: str) -> None:
    """Walk the HDU chain of an (uncompressed or decompressing) stream, header blocks only.

    Refuses a header longer than :data:`MAX_HEADER_CARDS` after reading at most that many
    cards, so astropy never parses (and holds) an unbounded header.  Anything else odd (not
    FITS, truncated, junk after the last HDU) just ends the walk: astropy's own open and the
    size check of :func:`open_fits` judge it.
    """
    index = 0
    while True:
        first = stream.read(BLOCK)
        if len(first) < BLOCK or not first.startswith(b"XTENSION=" if index else b"SIMPLE  ="):
            return
        header = bytearray(first)
        block = first
        while not any(block[i:i + 8] == b"END     " for i in range(0, BLOCK, CARD)):
            if len(header) // CARD >= MAX_HEADER_CARDS:
                name = "primary header" if index == 0 else f"header of HDU {index}"
                raise HstcrError(f"{name} has more than {MAX_HEADER_CARDS:,} cards without END "
                                 "(HST headers have ~1,000): refused as not a dark",
                                 source, "load")
            block = stream.read(BLOCK)
            if len(block) < BLOCK:
                return
            header += block
        try:
            values, _ = parse_header_cards(bytes(header))
            size = data_size(values, source)
        except HstcrError:
            return
        padded = -(-size // BLOCK) * BLOCK
        if padded:
            if stream.seekable():
                stream.seek(padded, io.SEEK_CUR)
            else:
                return
        index += 1


def _check_header_sizes(fileobj: IO[bytes], source: str) -> None:
    """Run :func:`_header_block_walk` over ``fileobj`` (gzip/bzip2 decompressed), then rewind."""
    try:
        pos = fileobj.tell()
        head = fileobj.read(3)
        fileobj.seek(pos)
    except (OSError, ValueError):
        return
    try:
        if head[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=fileobj, mode="rb") as stream:
                _header_block_walk(stream, source)
        elif head == b"BZh":
            with bz2.BZ2File(fileobj, mode="rb") as stream:
                _header_block_walk(stream, source)
        else:
            _header_block_walk(fileobj, source)
    except HstcrError:
        raise
    except (OSError, EOFError, ValueError, MemoryError):
        pass  # a damaged stream: astropy's open reports it
    finally:
        fileobj.seek(pos)


def check_data_sizes(hdul: fits.HDUList, det: Detector, source: str) -> None:
    """Refuse an HDU announcing far more data than ``det``'s frame, before any is read.

    The bound is :data:`MAX_DATA_FACTOR` times all chips in float64 (STIS/CCD: 17 MB,
    ACS/WFC: 270 MB); every real HST product is well inside it.  This matters for
    compressed files, whose size says nothing about the data their headers announce.

    Raises
    ------
    HstcrError
        Naming the HDU and the sizes.
    """
    ny, nx = det.chip_shape
    limit = MAX_DATA_FACTOR * det.n_chips * int(ny) * int(nx) * 8
    for i, hdu in enumerate(hdul):
        try:
            announced = _data_bytes(hdu.header)
        except (TypeError, ValueError):
            raise HstcrError(f"HDU {i} has unreadable NAXIS/BITPIX keywords", source,
                             "load") from None
        if announced > limit:
            name = str(hdu.header.get("EXTNAME", "PRIMARY" if i == 0 else i)).strip()
            raise HstcrError(f"HDU {i} ({name}) announces {announced:,} bytes of data, larger "
                             f"than {MAX_DATA_FACTOR} x a whole {det.name} frame in float64 "
                             f"({limit:,} bytes): refused before reading", source, "load")


@contextlib.contextmanager
def open_fits(obj: FileInput, source: str) -> Iterator[fits.HDUList]:
    """Open ``obj`` (path, bytes or binary file object) as FITS, headers only, lazily.

    Every header is parsed (cheap; no data is read, ``memmap=False``) so that a file cut short
    is recognised here: an :class:`HstcrError` names ``source`` for anything that is not a
    complete FITS file.  Gzip/bzip2-compressed FITS is read transparently.  A header of more
    than :data:`MAX_HEADER_CARDS` cards is refused before astropy parses it.
    """
    fileobj, owned = _as_fileobj(obj, source)
    try:
        size = _file_size(fileobj)
        _check_header_sizes(fileobj, source)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # non-standard HST cards; truncation checked below
                hdul = fits.open(fileobj, memmap=False, lazy_load_hdus=True)
                n_hdus = len(hdul)  # parses every header
        except HstcrError:
            raise
        except Exception as exc:  # astropy raises OSError, ValueError, TypeError... on bad bytes
            raise HstcrError(f"not a readable FITS file ({short_error(exc)})", source,
                             "load") from exc
        if n_hdus == 0:
            raise HstcrError("not a readable FITS file (no HDU)", source, "load")
        try:
            if size is not None:
                last = n_hdus - 1
                # the HDU's own fileinfo: HDUList.fileinfo first checks every HDU for a resize
                # (nothing was written here), ~20 ms for the 80-odd HDUs of an IR ramp
                info = hdul[last].fileinfo() or hdul.fileinfo(last)
                needed = info["datLoc"] + _data_bytes(hdul[last].header)
                if needed > size:
                    raise HstcrError(
                        f"truncated FITS file: {size} bytes, the headers announce {needed}",
                        source, "load")
            nextend = hdul[0].header.get("NEXTEND")
            if isinstance(nextend, int) and not isinstance(nextend, bool) \
                    and nextend > n_hdus - 1:
                raise HstcrError(f"truncated FITS file: NEXTEND={nextend} but only "
                                 f"{n_hdus - 1} extension(s) found", source, "load")
            yield hdul
        finally:
            hdul.close(closed=False)  # a caller's file object stays open; ours is closed below
    finally:
        if owned:
            fileobj.close()


def short_error(exc: BaseException) -> str:
    """First line of an exception's message (at most 200 characters) for an error message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def read_array(hdu, what: str, source: str) -> np.ndarray | None:
    """Force-read one HDU's data; a constant-array HDU (NPIX1/NPIX2/PIXVALUE) is expanded.

    Returns None for an HDU with no data and no constant-array keywords.
    """
    header = hdu.header
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = hdu.data
            if data is not None:
                data = np.asarray(data)
                # the caller owns the array from here: the HDU must not keep a second reference
                # (a full ACS/WFC frame is 32 MB)
                with contextlib.suppress(Exception):
                    del hdu.data
    except Exception as exc:
        raise HstcrError(f"cannot read the {what} data, truncated or corrupt "
                         f"({short_error(exc)})", source, "load") from exc
    if data is None or data.size == 0:
        if "NPIX1" in header and "PIXVALUE" in header:
            # STIS/ACS/WFC3 write a uniform array as a header only (e.g. an all-zero DQ)
            shape = tuple(int(header.get(f"NPIX{i}", 1)) for i in (2, 1))
            return np.full(shape, header["PIXVALUE"])
        return None
    return data
