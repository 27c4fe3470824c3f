"""FITS header cards at the byte level: where an HDU sits and how many data bytes it holds.

A FITS file is a chain of HDUs, each a header of 80-byte cards in 2880-byte blocks ending in
``END``, followed by a data block whose size follows from the header (BITPIX, NAXISn, PCOUNT,
GCOUNT; FITS Standard 4.0, section 4.4.1).  Only the keywords that locate HDUs are parsed
here, without astropy: a header scan of a remote product must not allocate its data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..model import HstcrError

#: FITS logical record, bytes: headers and data are padded to whole blocks.
BLOCK = 2880
#: One header card (keyword, value indicator, value and comment), bytes.
CARD = 80


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
    """``n`` bytes rounded up to whole FITS blocks."""
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


def _int(values: dict[str, str], key: str, default: int, where: str) -> int:
    """An integer keyword of a parsed header (``default`` when absent).

    Raises
    ------
    HstcrError
        The value is not a number, naming ``where``.
    """
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
    return (abs(bitpix) // 8 * _int(values, "GCOUNT", 1, where)
            * (_int(values, "PCOUNT", 0, where) + math.prod(dims)))
