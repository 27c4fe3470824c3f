"""Keyword values over several headers: the first non-blank value, as a float, as a logical.

HST products spread their keywords over the primary and the SCI headers (STIS keeps the
times of each imset in its SCI header), so every reader asks several headers in order.
"""

from __future__ import annotations

from astropy.io import fits

from ..model import HstcrError


def header_value(key: str, *headers, default=None):
    """First non-blank value of ``key`` in ``headers`` (primary first); None-headers skipped."""
    for header in headers:
        if header is None or key not in header:
            continue
        val = header[key]
        if val is None or isinstance(val, fits.card.Undefined):
            continue
        if isinstance(val, str):
            val = val.strip()
            if not val:
                continue
        return val
    return default


def header_float(key: str, *headers, source: str, default=None) -> float | None:
    """:func:`header_value` as a float; a value that is not a number is an error."""
    val = header_value(key, *headers)
    if val is None:
        return default
    try:
        return float(val)
    except (TypeError, ValueError):
        raise HstcrError(f"keyword {key} is not a number: {val!r}", source, "load") from None


def header_true(val) -> bool:
    """A FITS logical: True, or a string T/TRUE/Y (some HST headers write it as text)."""
    return val is True or (isinstance(val, str) and val.strip().upper() in ("T", "TRUE", "Y"))
