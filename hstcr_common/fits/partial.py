"""Partial reads of a FITS file: walk its HDU chain with small ranged reads of the headers,
then fetch only the HDUs a measurement needs and stitch them into a smaller, valid FITS file.

The measurement reads primary + SCI + DQ; the ERR arrays, a third of an ACS/WFC ``flt``, are
never requested.  The bytes come from any object with the :class:`ByteRanges` shape (the
readers of :mod:`hstcr_common.remote` for local files, S3 and HTTPS), so this module does no
I/O of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ..model import HstcrError
from .cards import BLOCK, CARD, HduSpan, _card_value, _int, data_size, parse_header_cards

#: First ranged read of an extension header: 8 blocks cover most HST extension headers.
HEADER_CHUNK = 8 * BLOCK
#: First read of a file: 24 blocks (69 kB) cover HST primary headers (SPT ones run to ~20).
FIRST_CHUNK = 24 * BLOCK
#: Files up to this size are read whole once their size is known (fewer requests).
SMALL_OBJECT = 256 * 1024
#: Headers longer than this are not FITS we know (HST primaries are ~10-40 blocks).
MAX_HEADER_BYTES = 2000 * BLOCK


class ByteRanges(Protocol):
    """What a partial read needs from a reader."""

    location: str
    #: Object size in bytes, None until the first read tells it.
    size: int | None

    def read_range(self, start: int, stop: int, *, view: bool = False) -> bytes | memoryview:
        """Bytes ``[start, stop)``, clipped to the object's end (empty past the end)."""


def scan_hdus(reader: ByteRanges) -> list[HduSpan]:
    """Every HDU of a FITS file, found with ranged reads of the headers only."""
    return list(iter_hdus(reader))


def _read_header(reader: ByteRanges, offset: int, chunk: bytes, index: int) -> tuple[dict[str, str], int]:
    """The keyword values and padded length of the header at ``offset``, reading on past
    ``chunk`` until its END card."""
    values, header_len = parse_header_cards(chunk)
    while header_len is None:
        if len(chunk) >= MAX_HEADER_BYTES or (reader.size is not None and offset + len(chunk) >= reader.size):
            raise HstcrError(f"header of HDU {index} has no END card", source=reader.location, stage="load")
        more = reader.read_range(offset + len(chunk), offset + 2 * len(chunk))
        if not more:
            raise HstcrError(f"header of HDU {index} has no END card", source=reader.location, stage="load")
        chunk += more
        values, header_len = parse_header_cards(chunk)
    return values, header_len


def iter_hdus(reader: ByteRanges, whole_below: int = SMALL_OBJECT) -> Iterator[HduSpan]:
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
    index = 0
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
        values, header_len = _read_header(reader, offset, chunk, index)
        size = data_size(values, reader.location)
        span = HduSpan(
            index=index,
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
        yield span
        index += 1
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
    reader: ByteRanges,
    extnames: tuple[str, ...] | None = ("SCI", "DQ"),
    *,
    primary_only: bool = False,
) -> bytes:
    """A smaller FITS file holding the primary HDU and the extensions named ``extnames``.

    Parameters
    ----------
    reader : ByteRanges
        Where the FITS file's bytes come from (``hstcr_common.remote.reader_for``); the
        caller closes it.
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
