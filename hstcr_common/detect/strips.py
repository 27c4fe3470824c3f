"""A dark's chips read a few rows at a time, in electrons: what a group reference is built from.

A group's reference needs the same rows of every dark of the group at once, never the whole
darks.  :func:`open_dark_rows` gives, for one dark, every chip as a :class:`ChipRows` whose
``read(r0, r1)`` returns rows ``r0:r1`` in electrons and their bad-pixel mask.

* **Image-extension products whose SCI arrays are the full chip** (ACS/WFC, WFC3/UVIS,
  ACS/HRC ``flt``/``flc``, STIS ``flt``/``crj``: the first imset) are read by byte range,
  local or remote alike (:func:`hstcr_common.remote.reader_for`): the headers are walked
  with :func:`hstcr_common.fits.iter_hdus`, and each strip is one ranged read of the SCI
  rows and one of the DQ rows.  Units and gains follow :func:`hstcr_common.load.load_dark`
  exactly (BUNIT, ``/S`` x EXPTIME, the gain of each amplifier's columns, NaN -> bad), so a
  strip equals the same rows of the loaded dark.  The bad-pixel mask leaves hot and warm
  pixels in (:func:`.dq.reference_bad_bits`): the reference is what subtracts them.
* **Everything else** (WFPC2, a STIS ``raw`` with overscan) is small: the dark is loaded
  once and its chips spilled to a temporary memory-mapped file, read back by rows.

Memory: one open reader (or memory map) per dark and one strip of each; never a whole dark
held per member.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np
from astropy.io import fits

from ..fits import iter_hdus
from ..instruments import Detector
from ..load import (apply_gain, chip_amplifiers, chip_bunit, chip_by_ccdchip, chip_gain_columns,
                    dataset_name, detect_detector, header_gains, header_times, header_value, load_dark,
                    read_noise, subarray_facts)
from ..model import HstcrError
from ..remote import fetch_dark_files, reader_for
from .dq import reference_bad_bits

#: FITS BITPIX -> big-endian numpy type of the data
_BITPIX = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


@dataclass
class ChipRows:
    """One chip of one dark, readable by rows.

    Attributes
    ----------
    name : str
        Chip name (as :attr:`hstcr_common.model.Chip.name`).
    shape : (int, int)
    read : callable
        ``read(r0, r1) -> (science_e float32 (r1-r0, nx), bad bool (r1-r0, nx))``.
    segments : list of slice
        Column ranges read by one amplifier (each gets its own background level).
    read_noise_e : float
    gain : float
        Mean gain applied (e-/DN).
    """

    name: str
    shape: tuple[int, int]
    read: Callable[[int, int], tuple[np.ndarray, np.ndarray]]
    segments: list[slice]
    read_noise_e: float
    gain: float


@dataclass
class DarkRows:
    """Every chip of one dark as :class:`ChipRows`; close it when done (a context manager)."""

    dataset: str
    detector: Detector
    chips: list[ChipRows]
    how: str                                   # "byte ranges" or "spilled to disk"
    _close: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for fn in self._close:
            fn()
        self._close.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def amplifier_segments(det: Detector, ccdchip: int, ccdamp: str, nx: int,
                       x0: int = 0) -> list[slice]:
    """Column ranges with their own background level: one per amplifier reading the chip
    (``x0``: the array's first column in the full chip, for a subarray)."""
    if det.gain_keywords and det.gain_keywords[0].startswith("ATODGN"):
        return [cols for _, cols in chip_gain_columns(det, ccdchip, ccdamp, nx, x0)]
    return [slice(0, nx)]


def _header(span) -> fits.Header:
    return fits.Header.fromstring(bytes(span.header).decode("ascii", "replace"))


def _naxes(h: fits.Header) -> tuple[int, ...]:
    return tuple(int(h.get(f"NAXIS{i}", 0)) for i in range(int(h.get("NAXIS", 0)), 0, -1))


class _Rows(NamedTuple):
    """How an image HDU's rows are read: where, their stored type and BSCALE/BZERO.  Read
    from the header once: an astropy header look-up costs ~25 us, and a group reference
    reads each chip of every dark in ~100 strips (4 look-ups each: 20 ms per ACS/WFC dark)."""

    span: object
    shape: tuple[int, int]
    dtype: np.dtype
    scale: float
    zero: float

    @classmethod
    def of(cls, span, h: fits.Header, shape) -> "_Rows":
        return cls(span, tuple(shape), np.dtype(_BITPIX[int(h["BITPIX"])]),
                   float(h.get("BSCALE", 1.0)), float(h.get("BZERO", 0.0)))


def _rows_of(reader, rows: _Rows, r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of an image HDU's data (BSCALE/BZERO applied), as read from the file."""
    row_bytes = rows.shape[1] * rows.dtype.itemsize
    start = rows.span.data_offset + r0 * row_bytes
    raw = reader.read_range(start, start + (r1 - r0) * row_bytes)
    if len(raw) != (r1 - r0) * row_bytes:
        raise HstcrError(f"short read of rows {r0}:{r1} of HDU {rows.span.index}",
                         source=reader.location, stage="load")
    data = np.frombuffer(raw, dtype=rows.dtype).reshape(r1 - r0, rows.shape[1])
    if rows.scale != 1.0 or rows.zero != 0.0:
        kind = np.float32 if rows.dtype.kind == "f" or rows.scale != 1.0 else np.int64
        # in place on the one converted copy: the same operations, in the same order, as
        # ``data.astype(kind) * scale + zero``
        out = data.astype(kind)
        out *= kind(rows.scale)
        out += kind(rows.zero)
        return out
    return data


def _range_dark(location: str, source: str) -> DarkRows | None:
    """The dark by byte ranges, or None when it is not a plain full-chip image product."""
    reader = reader_for(location)
    try:
        spans = list(iter_hdus(reader))
        headers = [_header(s) for s in spans]
        primary = headers[0]
        sci = [(s, h) for s, h in zip(spans[1:], headers[1:])
               if str(h.get("EXTNAME", "")).strip().upper() == "SCI"]
        dqs = {int(h.get("EXTVER", 1)): (s, h) for s, h in zip(spans[1:], headers[1:])
               if str(h.get("EXTNAME", "")).strip().upper() == "DQ"}
        if not sci:
            reader.close()
            return None
        det = detect_detector(primary, sci[0][1], source)
        if det.kind != "ccd" or det.id == "wfpc2":
            reader.close()
            return None
        if det.id == "stis_ccd":
            sci = sci[:1]                    # the first imset, as load_dark
        if len(sci) != det.n_chips or any(_naxes(h) != tuple(det.chip_shape) for _, h in sci):
            reader.close()
            return None
        first = sci[0][1]
        times = header_times(primary, first, source)
        gains = header_gains(primary, first, det, source)
        ccdamp = str(header_value("CCDAMP", primary, first, default="")).strip().upper()
        chips = []
        for s, h in sci:
            extver = int(h.get("EXTVER", 1))
            ccd = h.get("CCDCHIP")
            layout = det.chips[0] if det.n_chips == 1 else chip_by_ccdchip(
                det, int(ccd) if ccd is not None else None, extver)
            if layout is None:
                raise HstcrError(f"SCI extension {extver} is not a chip of {det.name}",
                                 source, "load")
            chips.append(_range_chip(reader, det, primary, s, h, dqs.get(extver), layout,
                                     times["exptime_s"], ccdamp, gains, source))
        return DarkRows(dataset_name(primary, source), det, chips, "byte ranges", [reader.close])
    except Exception:
        reader.close()
        raise


def _range_chip(reader, det, primary, span, h, dq, layout, exptime_s, ccdamp, gains,
                source) -> ChipRows:
    shape = _naxes(h)
    notes: dict = {}
    _, is_counts, per_second = chip_bunit(h, primary, det, source, notes)
    bad_bits = reference_bad_bits(det)
    # the array's first column on the chip, by load_dark's rule (its amplifier boundary)
    origin = subarray_facts(det, primary, h, tuple(shape))["subarray_origin"]
    x0 = origin[0] if origin else 0
    # the chip's mean gain, as load_dark computes it, applied to a row of ones: that row is
    # then each column's float32 gain (1 where the data are electrons already), and a strip
    # times it is what apply_gain makes of the strip, without its per-call look-ups
    gain_by_column = np.ones((1, shape[1]), dtype=np.float32)
    gain = apply_gain(gain_by_column, det, layout.ccdchip, ccdamp, gains, is_counts, source,
                      {}, x0)
    dq_has_data = dq is not None and _naxes(dq[1]) == tuple(shape)
    sci_rows = _Rows.of(span, h, shape)
    dq_rows = _Rows.of(dq[0], dq[1], shape) if dq_has_data else None

    def read(r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        science = np.array(_rows_of(reader, sci_rows, r0, r1), dtype=np.float32)
        bad = ~np.isfinite(science)
        science[bad] = 0.0
        if per_second:
            science *= np.float32(exptime_s)
        if is_counts:
            science *= gain_by_column
        if dq_has_data:
            flags = _rows_of(reader, dq_rows, r0, r1).astype(np.int64, copy=False)
            bad |= (flags & bad_bits) != 0
        return science, bad

    amps = chip_amplifiers(det, layout.ccdchip, ccdamp, shape[1], x0)
    return ChipRows(layout.name, shape, read,
                    amplifier_segments(det, layout.ccdchip, ccdamp, shape[1], x0),
                    read_noise(primary, h, det, amps), float(gain))


def _spilled_dark(files: dict, source: str, dataset: str | None) -> DarkRows:
    """Load the dark once and keep its chips in a temporary memory-mapped file."""
    local = all("://" not in str(v) or str(v).startswith("file://") for v in files.values())
    if local:
        paths = {r: str(v).removeprefix("file://") for r, v in files.items()}
    else:
        paths = dict(fetch_dark_files({"dataset": dataset, "files": files}))
    dark = load_dark(paths["science"], dq=paths.get("dq"), source=source)
    del paths
    folder = tempfile.mkdtemp(prefix="hstcr-rows-")
    chips = []
    for k, chip in enumerate(dark.chips):
        sci = np.lib.format.open_memmap(os.path.join(folder, f"{k}.npy"), mode="w+",
                                        dtype=np.float32, shape=chip.shape)
        sci[:] = chip.science
        bad = np.lib.format.open_memmap(os.path.join(folder, f"{k}b.npy"), mode="w+",
                                        dtype=bool, shape=chip.shape)
        bad[:] = (np.asarray(chip.dq).astype(np.int64) & reference_bad_bits(dark.detector)) != 0
        sci.flush(), bad.flush()

        def read(r0, r1, sci=sci, bad=bad):
            return np.array(sci[r0:r1]), np.array(bad[r0:r1])

        chips.append(ChipRows(chip.name, chip.shape, read,
                              amplifier_segments(dark.detector, chip.ccdchip, dark.ccdamp,
                                                 chip.shape[1], _x0(dark)),
                              float(chip.read_noise_e), float(chip.gain or 0.0)))
    out = DarkRows(dark.dataset, dark.detector, chips, "spilled to disk",
                   [lambda: shutil.rmtree(folder, ignore_errors=True)])
    del dark
    return out


def open_dark_rows(files: dict, *, source: str | None = None,
                   dataset: str | None = None) -> DarkRows:
    """One dark's chips, readable by rows in electrons (see the module docstring).

    Parameters
    ----------
    files : dict
        role -> location (``science``, optionally ``dq`` for WFPC2): local paths,
        ``file://``, ``s3://`` or ``https://``.
    source : str, optional
        Display name for messages (default: the science location).
    dataset : str, optional
        Used for remote fetches of the fallback path.

    Returns
    -------
    DarkRows
        Close it when done.
    """
    science = str(files["science"])
    source = source or science
    rows = _range_dark(science, source)
    return rows if rows is not None else _spilled_dark(files, source, dataset)


def _x0(dark) -> int:
    """The dark's first column in the full chip (0 for a full frame)."""
    return dark.subarray_origin[0] if dark.subarray_origin else 0


def rows_of_dark(dark) -> DarkRows:
    """A loaded :class:`~hstcr_common.model.Dark` as :class:`DarkRows` (no copy: the rows are
    views of its arrays; for darks already in memory, and tests)."""
    chips = []
    for chip in dark.chips:
        bad_bits = reference_bad_bits(dark.detector)

        def read(r0, r1, chip=chip):
            science = np.asarray(chip.science[r0:r1], dtype=np.float32)
            bad = ((np.asarray(chip.dq[r0:r1]).astype(np.int64) & bad_bits) != 0) \
                | ~np.isfinite(science)
            return np.where(np.isfinite(science), science, np.float32(0.0)), bad

        chips.append(ChipRows(chip.name, chip.shape, read,
                              amplifier_segments(dark.detector, chip.ccdchip, dark.ccdamp or "",
                                                 chip.shape[1], _x0(dark)),
                              float(chip.read_noise_e), float(chip.gain or 0.0)))
    return DarkRows(dark.dataset, dark.detector, chips, "in memory")
