"""What the headers of a science product say: detector, dataset, times, gains, shapes.

Only headers are read here, never pixels, so every function also works on files
:func:`~hstcr_common.load.load_dark` refuses.  :func:`read_header_facts` gathers them for
inspection; the CCD and IR loaders use the same readers.

* **Values** (:mod:`~hstcr_common.load.keywords`). :func:`header_value` takes the first non-blank value of a keyword over several
  headers (primary first; STIS keeps EXPTIME, EXPSTART, EXPEND, DATE-OBS and TIME-OBS in
  the SCI header of each imset).
* **Times.** :func:`header_times`: DATE-OBS + TIME-OBS (UTC; the old WFPC2 ``dd/mm/yy`` too),
  EXPSTART/EXPEND (MJD), EXPTIME (s, > 0); a missing EXPEND or DATE-OBS is derived.
* **Support file.** :func:`read_support_header`: the spt/shm primary header with HST's
  orbital elements (:data:`ORBIT_KEYWORDS`), or None and the reason; never raises.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..fits import FileInput, display_name, open_fits
from ..instruments import Detector, detectors
from ..model import MJD_EPOCH, SECONDS_PER_DAY, HstcrError
from .keywords import header_float, header_true, header_value
from .subarray import subarray_facts

#: Orbital elements the HST position model needs (support file primary header).
ORBIT_KEYWORDS = (
    "EPCHTIME", "MEANANOM", "FDMEANAN", "SDMEANAN", "ECCENTRY", "ECCENTX2", "ECBDX3",
    "ECBDX4D3", "ESQDX5D2", "SEMILREC", "ARGPERIG", "RCARGPER", "RASCASCN", "RCASCNRV",
    "COSINCLI", "SINEINCL",
)

#: Primary/SCI header facts copied into :attr:`Dark.header` when present.
HEADER_FACT_KEYWORDS = (
    "ROOTNAME", "FILENAME", "TARGNAME", "IMAGETYP", "OBSTYPE", "OBSMODE", "APERTURE",
    "FILTER", "FILTNAM1", "FILTNAM2", "TEXPTIME", "CCDOFSTA", "CCDOFSTB", "CCDOFSTC",
    "CCDOFSTD", "CCDOFFST", "CRSPLIT", "NRPTEXP", "FLASHCUR", "FLASHSTA", "SHUTRPOS",
    "EXPFLAG", "QUALITY", "PROPOSID", "ASN_ID", "CAL_VER", "OPUS_VER", "MODE", "SERIALS",
    "READTIME", "CCDTAB", "DARKFILE", "BIASLEV", "SUBTYPE", "SIZAXIS1", "SIZAXIS2",
    "CENTERA1", "CENTERA2", "PCTECORR",
)

_SUPPORTED = "ACS/WFC, ACS/HRC, STIS/CCD, WFC3/UVIS, WFC3/IR, WFPC2, NICMOS/NIC1-3"
_KNOWN_SUFFIXES = {"flt", "flc", "crj", "raw", "c0m", "ima", "cal", "sfl"}
_SUFFIX_ALIASES = {"c0f": "c0m", "c1f": "c1m"}  # waiver-FITS names of the WFPC2 products


def _plain(value):
    """A header value as a plain JSON-friendly Python value."""
    if isinstance(value, fits.card.Undefined) or value is None:
        return None
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, str):
        return value.strip()
    return value


# --------------------------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------------------------


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
    exptime = header_float("EXPTIME", *headers, source=source)
    if exptime is None:
        raise HstcrError("missing keyword EXPTIME (exposure time)", source, "load")
    if not np.isfinite(exptime) or exptime <= 0:
        raise HstcrError(f"EXPTIME is {exptime} s: a dark needs a positive exposure time",
                         source, "load")
    expstart = header_float("EXPSTART", *headers, source=source)
    if expstart is None:
        raise HstcrError("missing keyword EXPSTART (exposure start, MJD)", source, "load")
    expend = header_float("EXPEND", *headers, source=source)
    if expend is None:
        expend = expstart + exptime / SECONDS_PER_DAY
        derived.append("EXPEND")
    date_text = header_value("DATE-OBS", *headers)
    if date_text is None:
        date_obs = MJD_EPOCH + dt.timedelta(days=float(expstart))
        derived.append("DATE-OBS")
    else:
        try:
            date_obs = parse_date_obs(date_text, header_value("TIME-OBS", *headers))
        except ValueError as exc:
            raise HstcrError(f"cannot read DATE-OBS/TIME-OBS: {exc}", source, "load") from None
    darktime = header_float("DARKTIME", *headers, source=source)
    flashdur = header_float("FLASHDUR", *headers, source=source, default=0.0)
    return {
        "date_obs": date_obs,
        "expstart_mjd": expstart,
        "expend_mjd": expend,
        "exptime_s": exptime,
        "darktime_s": darktime,
        "flashdur_s": flashdur,
        "derived": derived,
    }


# --------------------------------------------------------------------------------------------
# Identity and free-form facts
# --------------------------------------------------------------------------------------------


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
    instrume = str(header_value("INSTRUME", *headers, default="")).upper()
    table = detectors()
    if instrume == "WFPC2":
        return table["wfpc2"]
    if instrume == "NICMOS":
        camera = str(header_value("CAMERA", *headers, default="")).strip()
        for det in table.values():
            if det.instrume == "NICMOS" and det.detector == camera:
                return det
        raise HstcrError(f"unknown instrument: INSTRUME='NICMOS', CAMERA={camera!r}; "
                         f"supported: {_SUPPORTED}", source, "load")
    detector = str(header_value("DETECTOR", *headers, default="")).upper()
    for det in table.values():
        if det.instrume == instrume and det.detector.upper() == detector and detector:
            return det
    raise HstcrError(f"unknown instrument: INSTRUME={instrume or None!r}, DETECTOR="
                     f"{detector or None!r}; supported: {_SUPPORTED}", source, "load")


def dataset_name(primary: fits.Header, source: str) -> str:
    """Lower-case ROOTNAME; else the FILENAME or file name up to the first ``_`` or ``.``."""
    root = header_value("ROOTNAME", primary)
    if root:
        return str(root).lower()
    for text in (header_value("FILENAME", primary), Path(str(source)).name):
        if text and not str(text).startswith("<"):
            return re.split(r"[_.]", str(text))[0].lower()
    return "unknown"


def science_suffix(primary: fits.Header, source: str) -> str | None:
    """Product suffix (``flt``, ``crj``, ``c0m`` ...) from FILENAME or the source name."""
    for text in (Path(str(source)).name, header_value("FILENAME", primary)):
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
        val = header_value(key, primary, sci_header)
        if val is not None:
            out[key] = _plain(val)
    return out


def header_gains(primary, sci_header, det: Detector, source: str) -> dict[str, float]:
    """Every finite gain keyword of ``det`` (plus CCDGAIN, ATODGAIN) present, e-/DN."""
    gains = {}
    for key in dict.fromkeys(det.gain_keywords + ("CCDGAIN", "ATODGAIN")):
        val = header_float(key, primary, sci_header, source=source)
        if val is not None and np.isfinite(val):
            gains[key] = val
    return gains


# --------------------------------------------------------------------------------------------
# The HDU list: extensions and their shapes
# --------------------------------------------------------------------------------------------


def extensions(hdul: fits.HDUList, extname: str) -> list[tuple[int, int]]:
    """(hdu index, EXTVER) of every extension called ``extname``, in file order."""
    out = []
    for i, hdu in enumerate(hdul):
        if i == 0:
            continue
        if str(hdu.header.get("EXTNAME", "")).strip().upper() == extname:
            out.append((i, int(hdu.header.get("EXTVER", 1))))
    return out


def first_sci_header(hdul) -> fits.Header | None:
    """Header of the first SCI extension (the first imset's), None without one."""
    for i, hdu in enumerate(hdul):
        if i and str(hdu.header.get("EXTNAME", "")).strip().upper() == "SCI":
            return hdu.header
    return None


def hdu_summary(hdul: fits.HDUList) -> str:
    """EXTNAMEs of every HDU, for messages about a missing extension."""
    names = [str(h.header.get("EXTNAME", "PRIMARY" if i == 0 else "?")).strip()
             for i, h in enumerate(hdul)]
    return ", ".join(names)


def sci_shapes(hdul) -> list[tuple[int, ...]]:
    """(rows, cols) of every SCI extension from its header (NPIXn for a constant array)."""
    shapes = []
    for i, _ver in extensions(hdul, "SCI"):
        h = hdul[i].header
        n = int(h.get("NAXIS", 0))
        shapes.append(tuple(int(h[f"NAXIS{k}"]) for k in range(n, 0, -1)) if n else
                      (int(h.get("NPIX2", 0)), int(h.get("NPIX1", 0))))
    return shapes


def _primary_shape(header: fits.Header) -> tuple[int, ...]:
    """Numpy shape of a primary array; for random groups, of one group (axes of 1 dropped)."""
    n = int(header.get("NAXIS", 0))
    dims = [int(header.get(f"NAXIS{k}", 0)) for k in range(1, n + 1)]
    if header_true(header.get("GROUPS", False)) and dims and dims[0] == 0:
        dims = [d for d in dims[1:] if d != 1]
    return tuple(reversed(dims))


def frame_shapes(hdul) -> list[tuple[int, ...]]:
    """Shapes of the chips' arrays: every SCI extension, else a 2-D+ primary (WFPC2 groups)."""
    shapes = sci_shapes(hdul)
    primary = hdul[0].header
    if not shapes and int(primary.get("NAXIS", 0)) >= 2:
        shapes = [_primary_shape(primary)]
    return shapes


def smaller_than_chip(shapes: list[tuple[int, ...]], det: Detector) -> bool:
    """Whether any of ``shapes`` is smaller than ``det``'s chip in rows or columns."""
    want = tuple(det.chip_shape)
    return any(len(s) >= 2 and (s[-2] < want[0] or s[-1] < want[1]) for s in shapes)


def read_header_facts(science: FileInput, *, source: str | None = None) -> dict:
    """Header facts of a science product without loading pixels.

    For inspection and planning: the same readers :func:`~hstcr_common.load.load_dark` uses.

    Returns
    -------
    dict
        ``instrument`` (detector id), ``dataset``, ``science_suffix``, ``subarray`` (bool:
        SUBARRAY=T or a SCI shape smaller than the table's), ``subarray_name``,
        ``subarray_origin`` and ``aperture`` (:func:`~hstcr_common.load.subarray.subarray_facts`;
        for an IR ramp without its reference border), ``sci_shapes`` (list of
        (rows, cols)), ``n_imsets``, ``bunit``, ``gains``, ``ccdamp``, every key of
        :func:`header_times`, and ``header`` (:func:`header_facts`).
    """
    src = display_name(science, source)
    with open_fits(science, src) as hdul:
        primary = hdul[0].header
        sci_header = first_sci_header(hdul)
        det = detect_detector(primary, sci_header, src)
        shapes = frame_shapes(hdul)
        subarray = (header_true(header_value("SUBARRAY", primary, sci_header))
                    or smaller_than_chip(shapes, det))
        border = int(det.reference_border_px)
        kept = ((shapes[0][-2] - 2 * border, shapes[0][-1] - 2 * border)
                if shapes and len(shapes[0]) >= 2 else tuple(det.chip_shape))
        where = subarray_facts(det, primary, sci_header, kept, cut=(border, border))
        facts = {
            "instrument": det.id,
            "dataset": dataset_name(primary, src),
            "science_suffix": science_suffix(primary, src),
            "subarray": bool(subarray),
            "subarray_name": where["subarray_name"],
            "subarray_origin": where["subarray_origin"],
            "aperture": where["aperture"],
            "sci_shapes": shapes,
            "n_imsets": len(extensions(hdul, "SCI")) if det.id == "stis_ccd" else 1,
            "bunit": header_value("BUNIT", sci_header, primary),
            "gains": header_gains(primary, sci_header, det, src),
            "ccdamp": str(header_value("CCDAMP", primary, sci_header, default="")),
            "header": header_facts(primary, sci_header),
        }
        facts.update(header_times(primary, sci_header, src))
        return facts
