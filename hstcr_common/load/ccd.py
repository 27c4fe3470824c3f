"""Loading a dark: a MAST science product (+ WFPC2 DQ file + support file) -> :class:`Dark`.

:func:`load_dark` reads one calibration dark as MAST serves it and returns per-chip science
arrays **in electrons** (float32), the DQ array of every chip and the header facts the
pipeline needs (times, gains, amplifiers, the support file's orbital elements).

Products handled (CCDs; IR ramps are handed to :mod:`hstcr_common.load.ir`):

========================  ===============================================================
ACS/WFC, WFC3/UVIS        ``flt`` / ``flc``: SCI,1/DQ,1 and SCI,2/DQ,2 (chip from CCDCHIP)
ACS/HRC                   ``flt``: one 1024x1024 chip
STIS/CCD                  ``flt`` / ``crj`` / ``raw``: the first imset (see below)
WFPC2                     ``c0m`` + ``c1m``: 4 SCI image extensions, or the old single-HDU
                          group form (a (4, 800, 800) primary cube or FITS random groups)
========================  ===============================================================

Rules (decided here, relied on downstream):

* **Units.** BUNIT of the SCI header (else the primary, else the instrument table) decides:
  ``ELECTRONS`` as is; ``COUNTS``/``DN`` times the gain; a ``/S`` unit is first multiplied by
  EXPTIME.  The original BUNIT is kept in :attr:`Dark.bunit`.
* **Amplifiers (ACS, WFC3/UVIS).** Chip 1 (WFC1/UVIS1) is read by amplifiers A (columns
  < nx/2) and B (columns >= nx/2); chip 2 (WFC2/UVIS2) by C (left) and D (right).  For each
  chip, the amplifiers it used are those of its pair named in CCDAMP: both -> each half gets
  its own ATODGN<amp>; one (e.g. CCDAMP ``AD`` or ``BC``, one amp per chip) -> the whole chip
  gets that amp's gain; none of its pair (e.g. a single-amp ``A`` readout seen on chip 2) ->
  the whole chip gets the mean gain of every amp in CCDAMP.  An empty CCDAMP means all four.
  ACS/HRC (one chip) uses the mean gain of the amps in CCDAMP.  A missing or zero ATODGN<amp>
  falls back to CCDGAIN.  :attr:`Chip.gain` is the mean of the gains applied to that chip.
* **STIS.** Gain = ATODGAIN, or CCDGAIN where ATODGAIN is 0 (raw files).  Several imsets
  (raw of a CR-split, crj has one): the **first imset** is loaded; its SCI header gives
  EXPTIME/EXPSTART/EXPEND, so times and pixels stay consistent, and ``header['n_imsets']``
  records how many there were.  A full-frame ``raw`` (1044x1062 with overscan) is trimmed to
  the 1024x1024 science region at (LTV2, LTV1) and the bias level, the median of the serial
  overscan columns of the science rows, is subtracted (``header['overscan_bias_dn']``);
  a region that does not fit the array is refused.
* **WFPC2.** Gain = ATODGAIN (7 or 15).  The DQ comes from the ``c1m`` file (``dq=``, in
  either form, extensions named SCI or DQ); without it the load fails unless the science file
  carries DQ extensions itself.  Chips are matched by DETECTOR (SCI header, group parameter
  or the waiver table's DETECTOR column; else group order).  A ``dq=`` given for another
  instrument is ignored and recorded in ``header['dq_file_ignored']``.
* **Refused** (:class:`HstcrError`, message naming the file): subarrays (SUBARRAY=T, or any
  chip smaller than the table's chip shape), binned data, other shapes, unknown instruments,
  files that are not FITS or are truncated, a missing SCI or DQ extension, EXPTIME <= 0.
* **NaN/Inf pixels** are set to 0 and flagged with DQ bit 4 (bad detector pixel, a bad bit of
  every detector in the table); ``header['n_nonfinite']`` counts them.
* **Memory.** Files are opened with ``memmap=False, lazy_load_hdus=True`` and only SCI and DQ
  data are read (never ERR); a big-endian float32 SCI array is byte-swapped in place rather
  than copied, so a full ACS/WFC dark peaks at ~120 MB.  A caller's file object is left open.
* **Inspection.** :func:`read_header_facts` reads only headers (instrument, dataset, times,
  gains, shapes, whether it is a subarray) and works on files ``load_dark`` refuses.

Shared helpers (also used by :mod:`hstcr_common.load.ir`): :func:`parse_date_obs`,
:func:`header_times`, :func:`read_support_header`, :func:`open_fits`, :func:`detect_detector`,
:func:`dataset_name`, :func:`science_suffix`, :func:`header_facts`, :func:`header_dict`,
:func:`display_name`, :func:`chip_gain_columns`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Union

import numpy as np
from astropy.io import fits

from ..model import Chip, Dark
from ..model import HstcrError
from ..instruments import ChipLayout, Detector, detectors

FileInput = Union[str, os.PathLike, bytes, bytearray, memoryview, IO[bytes]]

#: Orbital elements the HST position model needs (support file primary header).
ORBIT_KEYWORDS = (
    "EPCHTIME", "MEANANOM", "FDMEANAN", "SDMEANAN", "ECCENTRY", "ECCENTX2", "ECBDX3",
    "ECBDX4D3", "ESQDX5D2", "SEMILREC", "ARGPERIG", "RCARGPER", "RASCASCN", "RCASCNRV",
    "COSINCLI", "SINEINCL",
)
#: Optional orbital facts kept when present (half the orbital period, s).
ORBIT_OPTIONAL_KEYWORDS = ("HSTHORB",)

#: Primary/SCI header facts copied into :attr:`Dark.header` when present.
HEADER_FACT_KEYWORDS = (
    "ROOTNAME", "FILENAME", "TARGNAME", "IMAGETYP", "OBSTYPE", "OBSMODE", "APERTURE",
    "FILTER", "FILTNAM1", "FILTNAM2", "TEXPTIME", "CCDOFSTA", "CCDOFSTB", "CCDOFSTC",
    "CCDOFSTD", "CCDOFFST", "CRSPLIT", "NRPTEXP", "FLASHCUR", "FLASHSTA", "SHUTRPOS",
    "EXPFLAG", "QUALITY", "PROPOSID", "ASN_ID", "CAL_VER", "OPUS_VER", "MODE", "SERIALS",
    "READTIME", "CCDTAB", "DARKFILE", "BIASLEV",
)

#: Longest header accepted (cards).  HST headers hold a few hundred to ~1,500 cards (SPT
#: primaries are the longest); a longer one is refused before astropy parses it, which costs
#: ~0.5 kB of memory and ~20 us per card.
MAX_HEADER_CARDS = 20_000
#: No HDU of a dark may announce more data than this many times the bytes of all its chips
#: in float64: a header announcing 40 GB is refused before anything is allocated.
MAX_DATA_FACTOR = 2

_SUPPORTED = "ACS/WFC, ACS/HRC, STIS/CCD, WFC3/UVIS, WFC3/IR, WFPC2, NICMOS/NIC1-3"
_NONFINITE_DQ_BIT = 4  # "bad detector pixel" in hstcal and calwp2; in every table bad_bits
_KNOWN_SUFFIXES = {"flt", "flc", "crj", "raw", "c0m", "ima", "cal", "sfl"}
_SUFFIX_ALIASES = {"c0f": "c0m", "c1f": "c1m"}  # waiver-FITS names of the WFPC2 products


# --------------------------------------------------------------------------------------------
# Opening files
# --------------------------------------------------------------------------------------------


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


_BLOCK = 2880


def _header_block_walk(stream, source: str) -> None:
    """Walk the HDU chain of an (uncompressed or decompressing) stream, header blocks only.

    Refuses a header longer than :data:`MAX_HEADER_CARDS` after reading at most that many
    cards, so astropy never parses (and holds) an unbounded header.  Anything else odd (not
    FITS, truncated, junk after the last HDU) just ends the walk: astropy's own open and the
    size check of :func:`open_fits` judge it.
    """
    from ..remote import data_size, parse_header_cards  # stdlib-only module

    index = 0
    while True:
        first = stream.read(_BLOCK)
        if len(first) < _BLOCK or not first.startswith(b"XTENSION=" if index else b"SIMPLE  ="):
            return
        header = bytearray(first)
        block = first
        while not any(block[i:i + 8] == b"END     " for i in range(0, _BLOCK, 80)):
            if len(header) // 80 >= MAX_HEADER_CARDS:
                name = "primary header" if index == 0 else f"header of HDU {index}"
                raise HstcrError(f"{name} has more than {MAX_HEADER_CARDS:,} cards without END "
                                 "(HST headers have ~1,000): refused as not a dark",
                                 source, "load")
            block = stream.read(_BLOCK)
            if len(block) < _BLOCK:
                return
            header += block
        try:
            values, _ = parse_header_cards(bytes(header))
            size = data_size(values, source)
        except HstcrError:
            return
        padded = -(-size // _BLOCK) * _BLOCK
        if padded:
            if stream.seekable():
                stream.seek(padded, io.SEEK_CUR)
            else:
                return
        index += 1


def _check_header_sizes(fileobj: IO[bytes], source: str) -> None:
    """Run :func:`_header_block_walk` over ``fileobj`` (gzip/bzip2 decompressed), then rewind."""
    import bz2
    import gzip

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
            raise HstcrError(f"not a readable FITS file ({_short(exc)})", source, "load") from exc
        if n_hdus == 0:
            raise HstcrError("not a readable FITS file (no HDU)", source, "load")
        try:
            if size is not None:
                last = n_hdus - 1
                info = hdul.fileinfo(last)
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


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _read_array(hdu, what: str, source: str) -> np.ndarray | None:
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
        raise HstcrError(f"cannot read the {what} data, truncated or corrupt ({_short(exc)})",
                         source, "load") from exc
    if data is None or data.size == 0:
        if "NPIX1" in header and "PIXVALUE" in header:
            # STIS/ACS/WFC3 write a uniform array as a header only (e.g. an all-zero DQ)
            shape = tuple(int(header.get(f"NPIX{i}", 1)) for i in (2, 1))
            return np.full(shape, header["PIXVALUE"])
        return None
    return data


# --------------------------------------------------------------------------------------------
# Header facts
# --------------------------------------------------------------------------------------------


def _value(key: str, *headers, default=None):
    """First non-blank value of ``key`` in ``headers`` (primary first)."""
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


def _float(key: str, *headers, source: str, default=None) -> float | None:
    val = _value(key, *headers)
    if val is None:
        return default
    try:
        return float(val)
    except (TypeError, ValueError):
        raise HstcrError(f"keyword {key} is not a number: {val!r}", source, "load") from None


_DATE_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2}(?:\.\d*)?))?$")
_DATE_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d*)?))?$")


def parse_date_obs(date_obs: str, time_obs: str | None) -> dt.datetime:
    """DATE-OBS + TIME-OBS as a timezone-aware UTC datetime.

    Parameters
    ----------
    date_obs : str
        ``YYYY-MM-DD``, ``YYYY-MM-DDThh:mm:ss[.s]`` (then ``time_obs`` is ignored) or the old
        WFPC2 ``dd/mm/yy`` (two-digit years 50-99 are 19yy, 00-49 are 20yy).
    time_obs : str or None
        ``hh:mm:ss[.s]`` (or ``hh:mm``); None or '' means midnight.

    Raises
    ------
    ValueError
        If either string is not one of these forms or names an impossible date.
    """
    date_text = str(date_obs).strip()
    m = _DATE_ISO.match(date_text)
    clock = None
    if m:
        year, month, day = int(m[1]), int(m[2]), int(m[3])
        if m[4] is not None:
            clock = (m[4], m[5], m[6])
    else:
        m = _DATE_DMY.match(date_text)
        if not m:
            raise ValueError(f"DATE-OBS {date_obs!r} is neither YYYY-MM-DD nor dd/mm/yy")
        day, month, year = int(m[1]), int(m[2]), int(m[3])
        if len(m[3]) == 2:
            year += 1900 if year >= 50 else 2000
    if clock is None:
        time_text = "" if time_obs is None else str(time_obs).strip()
        if time_text:
            t = _TIME.match(time_text)
            if not t:
                raise ValueError(f"TIME-OBS {time_obs!r} is not hh:mm:ss")
            clock = (t[1], t[2], t[3] or "0")
        else:
            clock = ("0", "0", "0")
    seconds = float(clock[2])
    whole = int(seconds)
    micro = int(round((seconds - whole) * 1e6))
    if micro >= 1_000_000:  # 59.9999996 s rounds up
        whole, micro = whole + 1, micro - 1_000_000
    base = dt.datetime(year, month, day, int(clock[0]), int(clock[1]), tzinfo=dt.timezone.utc)
    return base + dt.timedelta(seconds=whole, microseconds=micro)


def _mjd_to_datetime(mjd: float) -> dt.datetime:
    return dt.datetime(1858, 11, 17, tzinfo=dt.timezone.utc) + dt.timedelta(days=float(mjd))


def header_times(primary: fits.Header, sci_header: fits.Header | None, source: str) -> dict:
    """Exposure time facts, read from the primary header first, then the SCI header.

    Parameters
    ----------
    primary, sci_header : astropy Header
        The primary header and the first SCI header (STIS keeps EXPTIME, EXPSTART, EXPEND,
        DATE-OBS and TIME-OBS there); ``sci_header`` may be None.
    source : str
        File name for messages.

    Returns
    -------
    dict
        ``date_obs`` (datetime, UTC; from EXPSTART when DATE-OBS is absent),
        ``expstart_mjd``, ``expend_mjd`` (MJD; EXPEND = EXPSTART + EXPTIME when absent),
        ``exptime_s`` (s), ``darktime_s`` (s or None), ``flashdur_s`` (s, 0 when absent),
        ``derived`` (list of the keywords that were missing and derived).

    Raises
    ------
    HstcrError
        EXPTIME or EXPSTART missing, EXPTIME <= 0 or not finite, or an unreadable DATE-OBS.
    """
    headers = (primary, sci_header)
    derived = []
    exptime = _float("EXPTIME", *headers, source=source)
    if exptime is None:
        raise HstcrError("missing keyword EXPTIME (exposure time)", source, "load")
    if not np.isfinite(exptime) or exptime <= 0:
        raise HstcrError(f"EXPTIME is {exptime} s: a dark needs a positive exposure time",
                         source, "load")
    expstart = _float("EXPSTART", *headers, source=source)
    if expstart is None:
        raise HstcrError("missing keyword EXPSTART (exposure start, MJD)", source, "load")
    expend = _float("EXPEND", *headers, source=source)
    if expend is None:
        expend = expstart + exptime / 86400.0
        derived.append("EXPEND")
    date_text = _value("DATE-OBS", *headers)
    if date_text is None:
        date_obs = _mjd_to_datetime(expstart)
        derived.append("DATE-OBS")
    else:
        try:
            date_obs = parse_date_obs(date_text, _value("TIME-OBS", *headers))
        except ValueError as exc:
            raise HstcrError(f"cannot read DATE-OBS/TIME-OBS: {exc}", source, "load") from None
    darktime = _float("DARKTIME", *headers, source=source)
    flashdur = _float("FLASHDUR", *headers, source=source, default=0.0)
    return {
        "date_obs": date_obs,
        "expstart_mjd": expstart,
        "expend_mjd": expend,
        "exptime_s": exptime,
        "darktime_s": darktime,
        "flashdur_s": flashdur,
        "derived": derived,
    }


def _plain(value):
    """A header value as a plain JSON-friendly Python value."""
    if isinstance(value, fits.card.Undefined) or value is None:
        return None
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, str):
        return value.strip()
    return value


def header_dict(header: fits.Header) -> dict:
    """A header as ``{keyword: value}`` without COMMENT, HISTORY and blank cards."""
    out = {}
    for card in header.cards:
        key = card.keyword
        if not key or key in ("COMMENT", "HISTORY"):
            continue
        out[key] = _plain(card.value)
    return out


def read_support_header(support: FileInput | None, source: str | None = None
                        ) -> tuple[dict | None, str]:
    """The support file's (spt / WFPC2 shm) primary header as a plain dict.

    Parameters
    ----------
    support : path, bytes, binary file object or None
    source : str, optional
        Name for messages (default: the path, or ``<bytes>``).

    Returns
    -------
    (dict or None, str)
        The whole primary header (minus COMMENT/HISTORY) and ``''``; or None and the reason:
        no support file given, unreadable, or lacking orbital elements (listed).  Never raises
        for a bad support file: the dark is still usable without HST's position.
    """
    if support is None:
        return None, "no support file (spt/shm) given"
    name = display_name(support, source)
    try:
        with open_fits(support, name) as hdul:
            header = header_dict(hdul[0].header)
    except HstcrError as exc:
        return None, f"support file unreadable: {exc}"
    missing = [k for k in ORBIT_KEYWORDS if header.get(k) is None]
    if missing:
        return None, f"support file {name} lacks orbital elements: {', '.join(missing)}"
    bad = [k for k in ORBIT_KEYWORDS if not isinstance(header[k], (int, float))
           or isinstance(header[k], bool)]
    if bad:
        return None, f"support file {name} has non-numeric orbital elements: {', '.join(bad)}"
    return header, ""


def detect_detector(primary: fits.Header, sci_header: fits.Header | None, source: str
                    ) -> Detector:
    """The instrument-table row for a file, from INSTRUME + DETECTOR (NICMOS: CAMERA).

    Raises
    ------
    HstcrError
        Naming what the headers say and the supported detectors.
    """
    headers = (primary, sci_header)
    instrume = str(_value("INSTRUME", *headers, default="")).upper()
    table = detectors()
    if instrume == "WFPC2":
        return table["wfpc2"]
    if instrume == "NICMOS":
        camera = str(_value("CAMERA", *headers, default="")).strip()
        for det in table.values():
            if det.instrume == "NICMOS" and det.detector == camera:
                return det
        raise HstcrError(f"unknown instrument: INSTRUME='NICMOS', CAMERA={camera!r}; "
                         f"supported: {_SUPPORTED}", source, "load")
    detector = str(_value("DETECTOR", *headers, default="")).upper()
    for det in table.values():
        if det.instrume == instrume and det.detector.upper() == detector and detector:
            return det
    raise HstcrError(f"unknown instrument: INSTRUME={instrume or None!r}, DETECTOR="
                     f"{detector or None!r}; supported: {_SUPPORTED}", source, "load")


def dataset_name(primary: fits.Header, source: str) -> str:
    """Lower-case ROOTNAME; else the FILENAME or file name up to the first ``_`` or ``.``."""
    root = _value("ROOTNAME", primary)
    if root:
        return str(root).lower()
    for text in (_value("FILENAME", primary), Path(str(source)).name):
        if text and not str(text).startswith("<"):
            return re.split(r"[_.]", str(text))[0].lower()
    return "unknown"


def science_suffix(primary: fits.Header, source: str) -> str | None:
    """Product suffix (``flt``, ``crj``, ``c0m`` ...) from FILENAME or the source name."""
    for text in (Path(str(source)).name, _value("FILENAME", primary)):
        if not text:
            continue
        m = re.search(r"_([a-z0-9]{3})\.fits?", str(text).lower())
        if m:
            suffix = _SUFFIX_ALIASES.get(m[1], m[1])
            if suffix in _KNOWN_SUFFIXES:
                return suffix
    return None


def header_facts(primary: fits.Header, sci_header: fits.Header | None) -> dict:
    """Small free-form facts for :attr:`Dark.header` (the keywords in HEADER_FACT_KEYWORDS)."""
    out = {}
    for key in HEADER_FACT_KEYWORDS:
        val = _value(key, primary, sci_header)
        if val is not None:
            out[key] = _plain(val)
    return out


# --------------------------------------------------------------------------------------------
# Finding the chips
# --------------------------------------------------------------------------------------------


def _extensions(hdul: fits.HDUList, extname: str) -> list[tuple[int, int]]:
    """(hdu index, EXTVER) of every extension called ``extname``, in file order."""
    out = []
    for i, hdu in enumerate(hdul):
        if i == 0:
            continue
        if str(hdu.header.get("EXTNAME", "")).strip().upper() == extname:
            out.append((i, int(hdu.header.get("EXTVER", 1))))
    return out


def _hdu_summary(hdul: fits.HDUList) -> str:
    names = [str(h.header.get("EXTNAME", "PRIMARY" if i == 0 else "?")).strip()
             for i, h in enumerate(hdul)]
    return ", ".join(names)


def _chip_by_ccdchip(det: Detector, ccdchip: int | None, extver: int) -> ChipLayout | None:
    for chip in det.chips:
        if ccdchip is not None and chip.ccdchip == ccdchip:
            return chip
    for chip in det.chips:
        if ccdchip is None and chip.extver == extver:
            return chip
    return None


class _RawChip:
    """One chip as found in the file, before unit conversion."""

    __slots__ = ("layout", "header", "science", "dq")

    def __init__(self, layout, header, science, dq):
        self.layout, self.header, self.science, self.dq = layout, header, science, dq


def _scan_image_extensions(hdul, det: Detector, source: str) -> tuple[list, int]:
    """(list of (layout, SCI index, DQ index or None), number of imsets) for MEF products."""
    sci = _extensions(hdul, "SCI")
    if not sci:
        raise HstcrError(f"no SCI extension (HDUs: {_hdu_summary(hdul)})", source, "load")
    dq = dict((ver, i) for i, ver in reversed(_extensions(hdul, "DQ")))
    n_imsets = len(sci) if det.id == "stis_ccd" else 1
    if det.id == "stis_ccd":
        sci = sci[:1]  # the first imset; see the module docstring
    out = []
    seen = set()
    for index, extver in sci:
        header = hdul[index].header
        key = "DETECTOR" if det.id == "wfpc2" else "CCDCHIP"
        raw = header.get(key)
        try:
            ccdchip = int(raw) if raw is not None and det.n_chips > 1 else None
        except (TypeError, ValueError):
            ccdchip = None
        layout = det.chips[0] if det.n_chips == 1 else _chip_by_ccdchip(det, ccdchip, extver)
        if layout is None:
            raise HstcrError(f"SCI extension {extver} has {key}={raw!r}, which is not a chip of "
                             f"{det.name}", source, "load")
        if layout.name in seen:
            raise HstcrError(f"chip {layout.name} appears twice", source, "load")
        seen.add(layout.name)
        out.append((layout, index, dq.get(extver)))
    if len(out) != det.n_chips:
        raise HstcrError(f"{det.name} needs {det.n_chips} SCI extensions (one per chip), found "
                         f"{len(out)}", source, "load")
    return out, n_imsets


def _group_cube(hdul, source: str, what: str) -> tuple[np.ndarray, list[int]] | None:
    """WFPC2 group form: (cube (G, ny, nx), chip number per group), or None if not that form."""
    hdu = hdul[0]
    header = hdu.header
    if isinstance(hdu, fits.GroupsHDU):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                groups = hdu.data
                cube = np.asarray(groups.data)
                parnames = [p.upper() for p in groups.parnames]
                detectors_ = (np.asarray(groups.par(parnames.index("DETECTOR"))).astype(int)
                              .tolist() if "DETECTOR" in parnames else None)
        except HstcrError:
            raise
        except Exception as exc:
            raise HstcrError(f"cannot read the {what} groups, truncated or corrupt "
                             f"({_short(exc)})", source, "load") from exc
        cube = cube.reshape((cube.shape[0],) + tuple(d for d in cube.shape[1:] if d != 1))
    elif int(header.get("NAXIS", 0)) == 3:
        cube = _read_array(hdu, what, source)
        detectors_ = None
        # waiver FITS keeps the group parameters in a table extension, one row per group
        for ext in hdul[1:]:
            if isinstance(ext, (fits.TableHDU, fits.BinTableHDU)):
                names = [n.upper() for n in ext.columns.names]
                if "DETECTOR" in names:
                    col = ext.columns.names[names.index("DETECTOR")]
                    detectors_ = np.asarray(ext.data[col]).astype(int).tolist()
                break
    else:
        return None
    if cube.ndim != 3:
        raise HstcrError(f"{what} group data have shape {cube.shape}, expected (groups, rows, "
                         "columns)", source, "load")
    if detectors_ is None or len(detectors_) != cube.shape[0]:
        detectors_ = list(range(1, cube.shape[0] + 1))
    return cube, detectors_


def _wfpc2_dq_arrays(dq_hdul, source: str) -> dict[int, np.ndarray]:
    """Chip number -> DQ array from a c1m file in either form (EXTNAME SCI or DQ)."""
    group = _group_cube(dq_hdul, source, "DQ")
    if group is not None:
        cube, chips = group
        return {chip: cube[i] for i, chip in enumerate(chips)}
    exts = _extensions(dq_hdul, "DQ") or _extensions(dq_hdul, "SCI")
    if not exts:
        raise HstcrError(f"no DQ data in the c1m file (HDUs: {_hdu_summary(dq_hdul)})",
                         source, "load")
    out = {}
    for index, extver in exts:
        header = dq_hdul[index].header
        chip = int(header.get("DETECTOR", extver))
        data = _read_array(dq_hdul[index], f"DQ {extver}", source)
        if data is None:
            raise HstcrError(f"DQ extension {extver} has no data", source, "load")
        out[chip] = data
    return out


def _read_chips(hdul, det: Detector, dq_hdul, source: str, dq_source: str
                ) -> tuple[list[_RawChip], int, str]:
    """Every chip's header, science and DQ array; plus the number of imsets and the form."""
    if det.id == "wfpc2":
        group_form = isinstance(hdul[0], fits.GroupsHDU) or int(hdul[0].header.get("NAXIS", 0)) == 3
        if dq_hdul is None and (group_form or not _extensions(hdul, "DQ")):
            raise HstcrError("WFPC2 needs its c1m data-quality file (dq=...): the c0m carries "
                             "no DQ", source, "load")
        group = _group_cube(hdul, source, "SCI")
        if group is not None:
            cube, chip_numbers = group
            raw_chips = []
            for i, number in enumerate(chip_numbers):
                layout = _chip_by_ccdchip(det, number, i + 1)
                if layout is None:
                    raise HstcrError(f"group {i + 1} is DETECTOR {number}, not a WFPC2 chip",
                                     source, "load")
                raw_chips.append(_RawChip(layout, hdul[0].header, cube[i], None))
            if len(raw_chips) != det.n_chips:
                raise HstcrError(f"WFPC2 needs {det.n_chips} groups (one per chip), found "
                                 f"{len(raw_chips)}", source, "load")
            form = "groups"
            n_imsets = 1
        else:
            found, n_imsets = _scan_image_extensions(hdul, det, source)
            raw_chips = [_RawChip(layout, hdul[i].header,
                                  _read_array(hdul[i], f"SCI {layout.extver}", source),
                                  _read_array(hdul[j], f"DQ {layout.extver}", source)
                                  if j is not None else None)
                         for layout, i, j in found]
            form = "image_extensions"
        if dq_hdul is not None:
            dq_by_chip = _wfpc2_dq_arrays(dq_hdul, dq_source)
            for chip in raw_chips:
                if chip.layout.ccdchip not in dq_by_chip:
                    raise HstcrError(f"no DQ for chip {chip.layout.name} in the c1m file",
                                     dq_source, "load")
                chip.dq = dq_by_chip[chip.layout.ccdchip]
        elif any(chip.dq is None for chip in raw_chips):
            raise HstcrError("WFPC2 c0m has DQ extensions, but not for every chip; give the "
                             "c1m file (dq=...)", source, "load")
        return raw_chips, n_imsets, form
    found, n_imsets = _scan_image_extensions(hdul, det, source)
    raw_chips = []
    for layout, i, j in found:
        if j is None:
            raise HstcrError(f"missing DQ extension for SCI {hdul[i].header.get('EXTVER', 1)} "
                             f"(HDUs: {_hdu_summary(hdul)})", source, "load")
        science = _read_array(hdul[i], f"SCI {layout.extver}", source)
        if science is None:
            raise HstcrError(f"SCI extension {layout.extver} has no data", source, "load")
        dq = _read_array(hdul[j], f"DQ {layout.extver}", source)
        if dq is None:
            dq = np.zeros(science.shape, np.uint16)  # an empty DQ means no flags
        raw_chips.append(_RawChip(layout, hdul[i].header, science, dq))
    return raw_chips, n_imsets, "image_extensions"


# --------------------------------------------------------------------------------------------
# Shapes, units, gains
# --------------------------------------------------------------------------------------------


def _is_true(val) -> bool:
    return val is True or (isinstance(val, str) and val.strip().upper() in ("T", "TRUE", "Y"))


def _sci_shapes(hdul) -> list[tuple[int, ...]]:
    """(rows, cols) of every SCI extension from its header (NPIXn for a constant array)."""
    shapes = []
    for i, _ver in _extensions(hdul, "SCI"):
        h = hdul[i].header
        n = int(h.get("NAXIS", 0))
        shapes.append(tuple(int(h[f"NAXIS{k}"]) for k in range(n, 0, -1)) if n else
                      (int(h.get("NPIX2", 0)), int(h.get("NPIX1", 0))))
    return shapes


def _primary_shape(header: fits.Header) -> tuple[int, ...]:
    """Numpy shape of a primary array; for random groups, of one group (axes of 1 dropped)."""
    n = int(header.get("NAXIS", 0))
    dims = [int(header.get(f"NAXIS{k}", 0)) for k in range(1, n + 1)]
    if _is_true(header.get("GROUPS", False)) and dims and dims[0] == 0:
        dims = [d for d in dims[1:] if d != 1]
    return tuple(reversed(dims))


def _check_subarray(hdul, det: Detector, source: str) -> None:
    """Refuse subarray and binned products from their headers, before any pixel is read.

    SUBARRAY=T, or a SCI (or WFPC2 group) shape smaller than the table's chip shape.
    """
    primary = hdul[0].header
    sci_header = _first_sci_header(hdul)
    shapes = _sci_shapes(hdul)
    if not shapes and int(primary.get("NAXIS", 0)) >= 2:
        shapes = [_primary_shape(primary)]
    text = ", ".join("x".join(map(str, s)) for s in shapes) or "?"
    for shape in _sci_shapes(hdul):
        if len(shape) != 2:
            raise HstcrError(f"SCI data have {len(shape)} axes ({text}): expected a 2-D image "
                             "per chip", source, "load")
        if 0 in shape:
            raise HstcrError(f"SCI extension has no pixels (NAXIS=0, SCI {text})", source, "load")
    if _is_true(_value("SUBARRAY", primary, sci_header)):
        raise HstcrError(f"subarray product (SUBARRAY=T, SCI {text}): subarray darks are not "
                         "supported", source, "load")
    binning = []
    for key in ("BINAXIS1", "BINAXIS2"):
        try:
            binning.append(int(_value(key, sci_header, primary, default=1)))
        except (TypeError, ValueError):
            binning.append(1)
    if max(binning) > 1:
        raise HstcrError(f"binned product ({binning[0]}x{binning[1]}, SCI {text}): only unbinned "
                         "full-frame darks are supported", source, "load")
    want = tuple(det.chip_shape)
    if any(len(s) >= 2 and (s[-2] < want[0] or s[-1] < want[1]) for s in shapes):
        raise HstcrError(f"SCI {text} is smaller than the full {want[0]}x{want[1]} chip: "
                         "subarray darks are not supported", source, "load")


def _fit_shape(chip: _RawChip, det: Detector, primary, source: str, notes: dict,
               suffix: str | None = None) -> None:
    """Check (and for STIS raw, trim) one chip to the table's chip shape.

    Only a ``raw`` (or a product whose suffix is unknown) is trimmed: a bigger ``flt``/``crj``
    is not a product MAST serves and is refused rather than cut.
    """
    want = tuple(det.chip_shape)
    got = tuple(chip.science.shape)
    if got == want:
        if chip.dq.shape != got:
            raise HstcrError(f"chip {chip.layout.name}: DQ shape {chip.dq.shape} differs from "
                             f"SCI shape {got}", source, "load")
        return
    if got[0] < want[0] or got[1] < want[1]:
        raise HstcrError(f"chip {chip.layout.name} is {got[0]}x{got[1]}, smaller than the full "
                         f"{want[0]}x{want[1]} frame: subarray darks are not supported",
                         source, "load")
    if det.id == "stis_ccd" and suffix in (None, "raw"):
        _trim_stis_overscan(chip, want, source, notes)
        return
    raise HstcrError(f"chip {chip.layout.name} is {got[0]}x{got[1]}, expected {want[0]}x"
                     f"{want[1]} (a raw product with overscan? load the {det.science_suffixes[0]})",
                     source, "load")


def _trim_stis_overscan(chip: _RawChip, want, source: str, notes: dict) -> None:
    """Cut a STIS raw full frame to its science region and remove the overscan bias level."""
    ny, nx = chip.science.shape
    # LTVn = image pixel - detector pixel: the science region starts at (LTV2, LTV1) (0-based)
    x0 = int(round(float(chip.header.get("LTV1", 0.0))))
    y0 = int(round(float(chip.header.get("LTV2", 0.0))))
    if not (0 <= x0 and x0 + want[1] <= nx and 0 <= y0 and y0 + want[0] <= ny):
        raise HstcrError(f"raw frame {ny}x{nx} with LTV1={x0}, LTV2={y0} does not hold a "
                         f"{want[0]}x{want[1]} science region", source, "load")
    rows = slice(y0, y0 + want[0])
    cols = slice(x0, x0 + want[1])
    science = np.asarray(chip.science, dtype=np.float32)
    overscan = np.concatenate([science[rows, :x0].ravel(), science[rows, x0 + want[1]:].ravel()])
    bias = float(np.median(overscan)) if overscan.size else 0.0
    chip.science = science[rows, cols] - np.float32(bias)
    if chip.dq.shape == (ny, nx):
        chip.dq = chip.dq[rows, cols]
    elif chip.dq.shape != tuple(want):
        raise HstcrError(f"DQ shape {chip.dq.shape} fits neither the raw frame nor the science "
                         "region", source, "load")
    notes["overscan_bias_dn"] = bias
    notes["trimmed_from"] = [ny, nx]


def _bunit(chip: _RawChip, primary, det: Detector, source: str, notes: dict
           ) -> tuple[str, bool, bool]:
    """(original BUNIT, is_counts, per_second)."""
    found = _value("BUNIT", chip.header, primary)
    if found is None:
        found = det.bunit
        notes["bunit_assumed"] = True
    text = str(found).strip().upper().replace(" ", "")
    per_second = text.endswith("/S") or text.endswith("/SEC")
    base = text.split("/")[0]
    if base in ("ELECTRONS", "ELECTRON", "E-", "E"):
        return str(found).strip(), False, per_second
    if base in ("COUNTS", "COUNT", "DN", "ADU"):
        return str(found).strip(), True, per_second
    raise HstcrError(f"unsupported BUNIT {found!r} (expected ELECTRONS or COUNTS, optionally "
                     "per second)", source, "load")


def _read_gains(primary, sci_header, det: Detector, source: str) -> dict[str, float]:
    gains = {}
    for key in dict.fromkeys(det.gain_keywords + ("CCDGAIN", "ATODGAIN")):
        val = _float(key, primary, sci_header, source=source)
        if val is not None and np.isfinite(val):
            gains[key] = val
    return gains


def _amp_gain(amp: str, gains: dict, notes: dict) -> float | None:
    val = gains.get(f"ATODGN{amp}")
    if val is not None and val > 0:
        return val
    ccdgain = gains.get("CCDGAIN")
    if ccdgain is not None and ccdgain > 0:
        notes.setdefault("gain_fallback", []).append(f"ATODGN{amp}->CCDGAIN")
        return ccdgain
    return None


def chip_gain_columns(det: Detector, ccdchip: int, ccdamp: str, nx: int
                      ) -> list[tuple[str, slice]]:
    """Amplifiers reading one chip and the columns each reads (the rule in the module doc).

    Parameters
    ----------
    det : Detector
        ACS/WFC, ACS/HRC or WFC3/UVIS.
    ccdchip : int
        CCDCHIP of the chip (1 or 2).
    ccdamp : str
        CCDAMP of the exposure ('' = all four amplifiers).
    nx : int
        Columns of the chip.

    Returns
    -------
    list of (str, slice)
        One entry per column range; an entry whose amplifier string has several letters means
        "the mean gain of these amplifiers" over that range.
    """
    named = "".join(a for a in ccdamp.upper() if a in "ABCD") or "ABCD"
    if det.n_chips == 1:
        return [(named, slice(0, nx))]
    pair = ("A", "B") if ccdchip == 1 else ("C", "D")
    used = [a for a in pair if a in named]
    if len(used) == 2:
        half = nx // 2
        return [(pair[0], slice(0, half)), (pair[1], slice(half, nx))]
    if len(used) == 1:
        return [(used[0], slice(0, nx))]
    return [(named, slice(0, nx))]


def _apply_gain(science: np.ndarray, det: Detector, ccdchip: int, ccdamp: str, gains: dict,
                is_counts: bool, source: str, notes: dict) -> float:
    """Multiply ``science`` (in place) by the gain; return the chip's mean gain (e-/DN)."""
    if det.gain_keywords and det.gain_keywords[0].startswith("ATODGN"):
        applied = []
        for amps, cols in chip_gain_columns(det, ccdchip, ccdamp, science.shape[1]):
            values = [_amp_gain(a, gains, notes) for a in amps]
            values = [v for v in values if v is not None]
            if not values:
                if is_counts:
                    raise HstcrError(f"no usable gain for amplifier(s) {amps}: ATODGN{amps[0]} "
                                     "and CCDGAIN are missing or 0", source, "load")
                continue
            gain = float(np.mean(values))
            if is_counts:
                science[:, cols] *= np.float32(gain)
            applied.append(gain)
        return float(np.mean(applied)) if applied else det.typical_gain
    for key in det.gain_keywords:  # STIS: ATODGAIN then CCDGAIN; WFPC2: ATODGAIN
        val = gains.get(key)
        if val is not None and val > 0:
            if key != det.gain_keywords[0]:
                notes.setdefault("gain_fallback", []).append(f"{det.gain_keywords[0]}->{key}")
            if is_counts:
                science *= np.float32(val)
            return float(val)
    if is_counts:
        raise HstcrError(f"no usable gain: {', '.join(det.gain_keywords)} missing or 0",
                         source, "load")
    return det.typical_gain


def _read_noise(primary, sci_header, det: Detector, amps: str) -> float:
    values = []
    for amp in amps:
        val = _value(f"READNSE{amp}", primary, sci_header)
        if isinstance(val, (int, float)) and val > 0:
            values.append(float(val))
    if not values:
        val = _value("READNSE", primary, sci_header)
        if isinstance(val, (int, float)) and val > 0:
            values.append(float(val))
    return float(np.mean(values)) if values else det.read_noise_e


def _float32_owned(data: np.ndarray) -> np.ndarray:
    """Native float32 array we may modify: the file's own array where possible (no copy).

    A writeable contiguous float32 array read from the file (memmap=False, so it is ours) is
    used as is, byte-swapped in place when big-endian; anything else (integers, float64,
    read-only buffers) is converted (a copy).
    """
    arr = np.asarray(data)
    if (arr.dtype.kind == "f" and arr.dtype.itemsize == 4 and arr.flags.writeable
            and arr.flags.c_contiguous):
        if not arr.dtype.isnative:
            arr = arr.byteswap(inplace=True).view(arr.dtype.newbyteorder("="))
        return arr
    return arr.astype(np.float32)


def _as_dq(dq: np.ndarray, source: str, name: str) -> np.ndarray:
    """DQ as uint16 (int32 when values do not fit)."""
    dq = np.asarray(dq)
    if dq.dtype.kind == "f":
        if not np.all(np.isfinite(dq)):
            raise HstcrError(f"chip {name}: DQ has NaN/Inf values", source, "load")
        dq = np.rint(dq).astype(np.int64)
    if dq.dtype.kind not in "iub":
        raise HstcrError(f"chip {name}: DQ has type {dq.dtype}, not integers", source, "load")
    if dq.size and (dq.min() < 0 or dq.max() > 0xFFFF):
        return dq.astype(np.int32)
    return dq.astype(np.uint16, copy=not dq.flags.writeable)


# --------------------------------------------------------------------------------------------
# The public entry points
# --------------------------------------------------------------------------------------------


def _first_sci_header(hdul) -> fits.Header | None:
    for i, hdu in enumerate(hdul):
        if i and str(hdu.header.get("EXTNAME", "")).strip().upper() == "SCI":
            return hdu.header
    return None


def read_header_facts(science: FileInput, *, source: str | None = None) -> dict:
    """Header facts of a science product without loading pixels (works on subarrays too).

    For inspection and tests: the same readers :func:`load_dark` uses.

    Returns
    -------
    dict
        ``instrument`` (detector id), ``dataset``, ``science_suffix``, ``subarray`` (bool:
        SUBARRAY=T or a SCI shape smaller than the table's), ``sci_shapes`` (list of
        (rows, cols)), ``n_imsets``, ``bunit``, ``gains``, ``ccdamp``, every key of
        :func:`header_times`, and ``header`` (:func:`header_facts`).
    """
    src = display_name(science, source)
    with open_fits(science, src) as hdul:
        primary = hdul[0].header
        sci_header = _first_sci_header(hdul)
        det = detect_detector(primary, sci_header, src)
        shapes = _sci_shapes(hdul)
        if not shapes and int(primary.get("NAXIS", 0)) >= 2:
            shapes = [_primary_shape(primary)]
        want = tuple(det.chip_shape)
        subarray = _is_true(_value("SUBARRAY", primary, sci_header)) or any(
            len(s) >= 2 and (s[-2] < want[0] or s[-1] < want[1]) for s in shapes)
        facts = {
            "instrument": det.id,
            "dataset": dataset_name(primary, src),
            "science_suffix": science_suffix(primary, src),
            "subarray": bool(subarray),
            "sci_shapes": shapes,
            "n_imsets": len(_extensions(hdul, "SCI")) if det.id == "stis_ccd" else 1,
            "bunit": _value("BUNIT", sci_header, primary),
            "gains": _read_gains(primary, sci_header, det, src),
            "ccdamp": str(_value("CCDAMP", primary, sci_header, default="")),
            "header": header_facts(primary, sci_header),
        }
        facts.update(header_times(primary, sci_header, src))
        return facts


def load_dark(science: FileInput, *, dq: FileInput | None = None,
              support: FileInput | None = None, source: str | None = None) -> Dark:
    """Load one calibration dark as a :class:`Dark` with science arrays in electrons.

    Parameters
    ----------
    science : path, bytes or binary file object
        The science product: ``flt``/``flc`` (ACS, WFC3/UVIS), ``flt``/``crj``/``raw``
        (STIS/CCD), ``c0m`` (WFPC2), ``ima`` (WFC3/IR, NICMOS; via ``loading_ir``).
    dq : path, bytes or binary file object, optional
        WFPC2 only: the ``c1m`` data-quality file (ignored, with a note, for the others).
    support : path, bytes or binary file object, optional
        The ``spt`` (WFPC2 ``shm``) file; its primary header becomes
        :attr:`Dark.support_header`.  A missing or bad support file never fails the load:
        :attr:`Dark.support_note` says why the header is None.
    source : str, optional
        Display name for messages and :attr:`Dark.source` (default: the path, or ``<bytes>``).

    Returns
    -------
    Dark
        Science in electrons (float32, e-), DQ per chip, times (UTC / MJD / s), gains (e-/DN).

    Raises
    ------
    HstcrError
        For anything wrong with the input (see the module docstring); the message names the
        file and the problem.
    """
    src = display_name(science, source)
    support_header, support_note = read_support_header(
        support, None if support is None else display_name(support))
    with open_fits(science, src) as hdul:
        primary = hdul[0].header
        sci_header = _first_sci_header(hdul)
        det = detect_detector(primary, sci_header, src)
        check_data_sizes(hdul, det, src)
        suffix = science_suffix(primary, src)
        if det.kind == "ir":
            return _load_ir(hdul, det, src, support_header, support_note, suffix or "ima")
        if det.id == "wfpc2" and dq is not None:
            dq_src = display_name(dq)
            with open_fits(dq, dq_src) as dq_hdul:
                check_data_sizes(dq_hdul, det, dq_src)
                return _load_ccd(hdul, det, src, dq_hdul, dq_src, support_header,
                                 support_note, suffix)
        dark = _load_ccd(hdul, det, src, None, "", support_header, support_note, suffix)
        if dq is not None:
            dark.header["dq_file_ignored"] = display_name(dq)
        return dark


def _load_ir(hdul, det, src, support_header, support_note, suffix) -> Dark:
    try:
        from . import ir as loading_ir
    except ModuleNotFoundError as exc:
        if exc.name == f"{__package__}.ir":
            raise HstcrError(f"{det.name} ramp ({suffix}): IR loading not available",
                             src, "load") from None
        raise
    return loading_ir.load_ir_dark(hdul, detector=det, source=src,
                                   support_header=support_header, support_note=support_note,
                                   science_suffix=suffix)


def _load_ccd(hdul, det: Detector, src: str, dq_hdul, dq_src: str, support_header,
              support_note: str, suffix: str | None) -> Dark:
    primary = hdul[0].header
    # header checks first: a refused file costs no pixel reads
    if det.id != "wfpc2" and not _extensions(hdul, "SCI"):  # before its missing keywords
        raise HstcrError(f"no SCI extension (HDUs: {_hdu_summary(hdul)})", src, "load")
    _check_subarray(hdul, det, src)
    times = header_times(primary, _first_sci_header(hdul), src)
    raw_chips, n_imsets, form = _read_chips(hdul, det, dq_hdul, src, dq_src)
    first_header = raw_chips[0].header
    notes: dict = {}
    for chip in raw_chips:
        if chip.science is None:
            raise HstcrError(f"chip {chip.layout.name} has no science data", src, "load")
        _fit_shape(chip, det, primary, src, notes, suffix)
    if suffix is None:
        suffix = "raw" if "trimmed_from" in notes else det.science_suffixes[0]
    gains = _read_gains(primary, first_header, det, src)
    ccdamp = str(_value("CCDAMP", primary, first_header, default="")).strip().upper()
    ccdgain = gains.get("CCDGAIN", gains.get("ATODGAIN") if det.id == "wfpc2" else None)
    chips = []
    bunit_found = None
    n_nonfinite = 0
    for raw in raw_chips:
        bunit, is_counts, per_second = _bunit(raw, primary, det, src, notes)
        bunit_found = bunit_found or bunit
        science = _float32_owned(raw.science)  # all scaling happens in place on it
        dq = _as_dq(raw.dq, src, raw.layout.name)
        raw.science = raw.dq = None  # let the file's arrays go as soon as they are converted
        bad = ~np.isfinite(science)
        count = int(np.count_nonzero(bad))
        if count:
            # a NaN would poison every sum downstream; flag it as a bad pixel instead
            science[bad] = 0.0
            dq[bad] |= (_NONFINITE_DQ_BIT if _NONFINITE_DQ_BIT in det.bad_bits
                        else det.bad_bits[0])
            n_nonfinite += count
        if per_second:
            science *= np.float32(times["exptime_s"])
        gain = _apply_gain(science, det, raw.layout.ccdchip, ccdamp, gains, is_counts, src,
                           notes)
        amps = "".join(a for a, _ in chip_gain_columns(det, raw.layout.ccdchip, ccdamp,
                                                         science.shape[1])) \
            if det.gain_keywords[0].startswith("ATODGN") else ccdamp
        chips.append(Chip(
            name=raw.layout.name,
            ccdchip=raw.layout.ccdchip,
            science=science,
            dq=dq,
            gain=gain,
            read_noise_e=_read_noise(primary, raw.header, det, amps),
        ))
    header = header_facts(primary, first_header)
    if "gain_fallback" in notes:
        notes["gain_fallback"] = sorted(set(notes["gain_fallback"]))
    header.update(notes)
    header["n_nonfinite"] = n_nonfinite
    header["n_imsets"] = n_imsets
    header["layout"] = form
    if times["derived"]:
        header["derived_keywords"] = times["derived"]
    return Dark(
        dataset=dataset_name(primary, src),
        detector=det,
        chips=chips,
        date_obs=times["date_obs"],
        expstart_mjd=times["expstart_mjd"],
        expend_mjd=times["expend_mjd"],
        exptime_s=times["exptime_s"],
        darktime_s=times["darktime_s"],
        flashdur_s=times["flashdur_s"] if det.flashdur_applies else 0.0,
        ccdamp=ccdamp,
        ccdgain=ccdgain,
        gains=gains,
        bunit=bunit_found or "",
        subarray=False,
        source=src,
        science_suffix=suffix,
        support_header=support_header,
        support_note=support_note,
        header=header,
    )
