"""The files of one dark: read each role's location (partially by default), falling back to
MAST's HTTPS when the primary location fails."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from ..fits import read_fits_hdus
from ..instruments import get_detector
from ..model import HstcrError
from .clients import READ_TIMEOUT_S
from .readers import reader_for
from .retry import DEFAULT_RETRIES

#: Roles of a manifest item's files, in the order they are read.
ROLES = ("science", "dq", "support")

#: Extensions the measurement reads from the science product, by product layout.  ``None``
#: keeps every HDU (WFPC2 c0m holds only SCI; its old single-HDU "waiver" form is one HDU).
SCIENCE_EXTNAMES: dict[str, tuple[str, ...] | None] = {
    "image_extensions": ("SCI", "DQ"),
    "ramp": ("SCI", "DQ", "SAMP", "TIME"),  # the ramp needs every read and its time
    "wfpc2": None,
}


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


def _fetch_one(location: str, role: str, layout: str, partial: bool, timeout: float, retries: int):
    with reader_for(location, timeout=timeout, retries=retries) as reader:
        if not partial:
            data = reader.read_all()
        elif role == "support":
            data = read_fits_hdus(reader, primary_only=True)
        elif role == "science":
            data = read_fits_hdus(reader, SCIENCE_EXTNAMES.get(layout, ("SCI", "DQ")))
        else:  # dq (WFPC2 c1m): every HDU is DQ
            data = read_fits_hdus(reader, None)
        return data, reader.bytes_read, reader.size or reader.bytes_read, reader.requests


def fetch_dark_files(
    item: dict,
    *,
    partial: bool = True,
    timeout: float = READ_TIMEOUT_S,
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
        Per-request read timeout (s).
    retries : int
        Retries per request on throttling / dropped connections.

    Raises
    ------
    HstcrError
        A file is missing ("not found") or unreadable, naming its location.  When ``urls``
        has a fallback for the role it is tried next; the error then names both.
    """
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
