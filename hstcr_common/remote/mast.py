"""Planning: find a detector's calibration darks in MAST and list them as manifest items.

The query is the one the 2021 study used (``../shared/reference/hst-detectors.md``), run
through astroquery's ``Observations`` (the MAST Portal API), one calendar month at a time so
a decade of darks is never loaded at once:

* observations: ``obs_collection = project = "HST"``, ``intentType = "calibration"``,
  ``target_name = DARK*``, ``instrument_name`` = the detector's MAST name (WFPC2 also
  ``WFPC2/PC`` and ``WFPC2/WFC``), ``t_min`` in the month (MJD), ``t_exptime`` in
  [0.5, 10000] s, ``dataproduct_type`` image or spectrum.  Each month is paged
  (``pagesize`` rows a page) until a short page comes back.
* products: the observations' product lists (batches of obsids), kept where
  ``productSubGroupDescription`` is one of the detector's suffixes (``Detector.products``:
  FLT/SPT, C0M/C1M/SHM, IMA/SPT ...).  Products are grouped by their rootname (the file
  name before ``_``): one rootname with a science product and a support file (and, for
  WFPC2, the c1m) is one dark.  Association members therefore become separate darks.

**Subarray filter.**  The CAOM observation table has no aperture field, so subarrays and
binned frames are recognised by size: a dark is kept only if its *frame product* holds at
least 90 % of the bytes a full frame of that product must hold (:data:`FRAME_BYTES_PER_PIXEL`
x chips x rows x cols, counting only arrays HST never stores as constant-valued: flt/flc/crj/cal
SCI float32 + ERR float32 + DQ int16 = 10 bytes/pixel; WFPC2 c0m SCI float32 = 4).  The frame
product is the science product for the CCDs; for the ramps it is the single-frame ``flt``
(WFC3/IR) or ``cal`` (NICMOS), because an ``ima``'s size depends on its number of reads.
Full frames pass with room to spare (ACS/WFC flt: 168 MB against a 151 MB bound); the largest
subarrays (ACS/WFC3 2K: 42 MB; STIS 1024x512: 5.2 MB against 9.4 MB; IR 512: 4.2 MB against
9.3 MB) do not.  A ramp dark without a frame product in MAST is kept (counted as
``unchecked``); the loader still sees its real shape.

Locations: ``s3://stpubdata/hst/public/<first 4>/<dataset>/<dataset>_<suffix>.fits`` in
``files`` and MAST's download URL in ``urls``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..instruments import Detector, get_detector
from ..model import MJD_UNIX_EPOCH, HstcrError
from .clients import READ_TIMEOUT_S, with_timeouts
from .locations import mast_url, s3_location
from .retry import with_retries

DEFAULT_PAGESIZE = 2000
PRODUCT_BATCH = 50        # obsids per product-list request
FULL_FRAME_FRACTION = 0.9
MAST_RETRIES = 3
#: Longest a MAST query may take, s (astroquery's default is 600 s).  Also the read timeout
#: of each request: astroquery sets none, so a dead network would otherwise hang the plan.
MAST_TIMEOUT_S = READ_TIMEOUT_S
#: Extra MAST instrument names that hold a detector's darks.
EXTRA_MAST_NAMES = {"wfpc2": ("WFPC2/PC", "WFPC2/WFC")}
#: Single-frame products whose size tells a ramp's full frame from a subarray.
RAMP_FRAME_SUFFIXES = ("flt", "cal")

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


# --------------------------------------------------------------------------- months and criteria

def parse_month(text: str) -> tuple[int, int]:
    """``"2019-03"`` -> (2019, 3); HstcrError otherwise."""
    match = _MONTH.match(str(text).strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise HstcrError(f"month {text!r} is not YYYY-MM")
    return int(match.group(1)), int(match.group(2))


def month_range(start_month: str, end_month: str) -> list[str]:
    """Every month from start to end inclusive, as ``YYYY-MM``."""
    y0, m0 = parse_month(start_month)
    y1, m1 = parse_month(end_month)
    if (y1, m1) < (y0, m0):
        raise HstcrError(f"end month {end_month} is before start month {start_month}")
    months = []
    y, m = y0, m0
    while (y, m) <= (y1, m1):
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def date_to_mjd(day: dt.date) -> float:
    """MJD (UTC) at 00:00 of a calendar day."""
    return float(day.toordinal() - dt.date(1970, 1, 1).toordinal()) + MJD_UNIX_EPOCH


def month_window(month: str) -> tuple[float, float]:
    """[start, end) of a month in MJD."""
    y, m = parse_month(month)
    first = dt.date(y, m, 1)
    last = dt.date(y, m, calendar.monthrange(y, m)[1])
    return date_to_mjd(first), date_to_mjd(last) + 1.0


def month_is_active(detector: Detector, month: str) -> bool:
    """Whether the detector was in use on any day of the month (no query needed otherwise)."""
    y, m = parse_month(month)
    first = dt.date(y, m, 1)
    last = dt.date(y, m, calendar.monthrange(y, m)[1])
    return any(start <= last and (end is None or first <= end) for start, end in detector.active)


def mast_instrument_names(detector: Detector) -> tuple[str, ...]:
    """MAST ``instrument_name`` values holding the detector's darks."""
    return (detector.mast_instrument_name, *EXTRA_MAST_NAMES.get(detector.id, ()))


def dark_criteria(detector: Detector, month: str, *, min_exptime: float = 0.5,
                  max_exptime: float = 10000.0) -> dict:
    """Keyword criteria for ``Observations.query_criteria`` selecting one month of darks."""
    t0, t1 = month_window(month)
    return {
        "obs_collection": "HST",
        "project": "HST",
        "intentType": "calibration",
        "target_name": "DARK*",
        "instrument_name": list(mast_instrument_names(detector)),
        "t_min": [t0, t1],
        "t_exptime": [float(min_exptime), float(max_exptime)],
        "dataproduct_type": ["image", "spectrum"],
    }


#: Bytes per pixel a full frame of a product must hold (arrays never stored constant-valued).
FRAME_BYTES_PER_PIXEL = {"flt": 10, "flc": 10, "crj": 10, "cal": 10, "c0m": 4, "raw": 2}


def full_frame_min_bytes(detector: Detector, suffix: str) -> int:
    """Smallest size (bytes) of a ``suffix`` product accepted as a full frame of this detector."""
    rows, cols = detector.chip_shape
    return int(FULL_FRAME_FRACTION * FRAME_BYTES_PER_PIXEL[suffix] * detector.n_chips * rows * cols)


def frame_suffixes(detector: Detector) -> tuple[str, ...]:
    """Products whose size is checked against :func:`full_frame_min_bytes`, in preference order."""
    if detector.layout == "ramp":
        return RAMP_FRAME_SUFFIXES
    return tuple(s for s in detector.science_suffixes if s in FRAME_BYTES_PER_PIXEL)


def wanted_suffixes(detector: Detector) -> set[str]:
    """Product suffixes fetched from the product list (lower-case)."""
    suffixes = set(detector.science_suffixes) | {detector.support_suffix} | set(frame_suffixes(detector))
    if detector.dq_suffix:
        suffixes.add(detector.dq_suffix)
    return suffixes


# --------------------------------------------------------------------------- table helpers

def _column(table, name: str) -> list:
    """A column as Python values, masked entries as None (missing column: all None)."""
    if name not in table.colnames:
        return [None] * len(table)
    col = table[name]
    data = np.ma.getdata(col).tolist()
    mask = np.ma.getmaskarray(col).tolist()
    return [None if masked else value for value, masked in zip(data, mask)]


def _rows(table, names: Iterable[str]) -> list[dict]:
    columns = {name: _column(table, name) for name in names}
    return [dict(zip(columns, values)) for values in zip(*columns.values())] if len(table) else []


# --------------------------------------------------------------------------- items

@dataclass
class MonthPlan:
    """One month's darks and what was dropped on the way.

    Attributes
    ----------
    month : str
        ``YYYY-MM``.
    items : list of dict
        Manifest items, sorted by start time.
    observations : int
        Observations MAST returned for the month (after the client-side checks).
    pages : int
        Observation pages requested.
    subarray : int
        Darks that are subarrays (or binned frames) by the size of their frame product: kept,
        with ``"subarray": true`` in the item; the loader searches their real array (a binned
        frame is refused there, with a failures row).
    incomplete : int
        Rootnames dropped because a needed file (science, support, dq) is not in MAST.
    unchecked : int
        Ramp darks kept without a frame product to check for subarrays.
    active : bool
        False when the detector was not in use (no query made).
    bytes_full : int
        Sum of the items' file sizes (bytes) as MAST lists them.
    """

    month: str
    items: list[dict] = field(default_factory=list)
    observations: int = 0
    pages: int = 0
    subarray: int = 0
    incomplete: int = 0
    unchecked: int = 0
    active: bool = True
    bytes_full: int = 0

    @property
    def darks(self) -> int:
        return len(self.items)

    def counts(self) -> dict:
        out = asdict(self)
        out.pop("items")
        out["darks"] = self.darks
        return out


def build_items(detector: Detector, month: str, observations: list[dict], products: list[dict]) -> MonthPlan:
    """Group products by rootname into manifest items (pure: rows in, items out).

    Parameters
    ----------
    observations : list of dict
        Observation rows (``obsid``, ``obs_id``, ``t_min`` MJD, ``t_exptime`` s, ...).
    products : list of dict
        Product rows (``obsID``, ``productFilename``, ``productSubGroupDescription``, ``size``).
    """
    plan = MonthPlan(month=month, observations=len(observations))
    by_obsid = {str(row["obsid"]): row for row in observations}
    wanted = wanted_suffixes(detector)
    # rootname -> suffix -> (size bytes, observation row)
    groups: dict[str, dict[str, tuple[int | None, dict]]] = {}
    for prod in products:
        filename = (prod.get("productFilename") or "").lower()
        subgroup = (prod.get("productSubGroupDescription") or "").lower()
        if not filename.endswith(".fits") or "_" not in filename:
            continue
        rootname, _, suffix = filename[:-5].partition("_")
        # the product-list filter of the study: productSubGroupDescription names the suffix
        if suffix not in wanted or (subgroup and subgroup != suffix):
            continue
        # a member's product may carry its own obsID and the association's parent_obsid
        obs = by_obsid.get(str(prod.get("obsID"))) or by_obsid.get(str(prod.get("parent_obsid")))
        if obs is None:
            continue
        size = prod.get("size")
        groups.setdefault(rootname, {})[suffix] = (int(size) if size is not None else None, obs)

    for rootname in sorted(groups):
        found = groups[rootname]
        science = next((s for s in detector.science_suffixes if s in found), None)
        roles = {"science": science, "support": detector.support_suffix if detector.support_suffix in found else None}
        if detector.dq_suffix:
            roles["dq"] = detector.dq_suffix if detector.dq_suffix in found else None
        if not all(roles.values()):
            plan.incomplete += 1
            continue
        # the science product itself when it is a frame product, else the first one listed
        candidates = [science] if science in frame_suffixes(detector) else list(frame_suffixes(detector))
        probe = next((s for s in candidates if s in found and found[s][0] is not None), None)
        subarray = probe is not None and found[probe][0] < full_frame_min_bytes(detector, probe)
        plan.unchecked += probe is None
        plan.subarray += subarray
        obs = found[science][1]
        item = {
            "dataset": rootname,
            "instrument": detector.id,
            "month": month,
            "files": {role: s3_location(rootname, suffix) for role, suffix in roles.items()},
            "urls": {role: mast_url(rootname, suffix) for role, suffix in roles.items()},
            "sizes": {role: found[suffix][0] for role, suffix in roles.items()},
            "obs_id": str(obs.get("obs_id") or "").lower(),
            "start_mjd": float(obs["t_min"]) if obs.get("t_min") is not None else None,
            "exptime_s": float(obs["t_exptime"]) if obs.get("t_exptime") is not None else None,
        }
        if subarray:
            item["subarray"] = True
        plan.bytes_full += sum(size or 0 for size in item["sizes"].values())
        plan.items.append(item)
    plan.items.sort(key=lambda it: (it["start_mjd"] or 0.0, it["dataset"]))
    return plan


# --------------------------------------------------------------------------- MAST calls

def _observations_client():
    """astroquery's ``Observations``, with :data:`MAST_TIMEOUT_S` instead of its 600 s."""
    try:
        from astroquery.mast import Observations
    except ImportError as err:  # pragma: no cover - astroquery is in the 'local' extra
        raise HstcrError("planning needs astroquery: pip install 'hstcr[local]'") from err
    portal = getattr(Observations, "_portal_api_connection", None)
    if portal is not None:  # the Portal API's budget for one query, polling included
        portal.TIMEOUT = MAST_TIMEOUT_S
    with_timeouts(Observations._session, MAST_TIMEOUT_S)
    return Observations


def _http_status(err) -> int:
    return err.response.status_code if err.response is not None else 0


def _call_mast(call, what: str, retries: int = MAST_RETRIES):
    """Run one astroquery call; retry dropped connections / 429 / 5xx, map failures to HstcrError."""
    import requests
    from astroquery.exceptions import InvalidQueryError, RemoteServiceError

    def quiet():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NoResultsWarning for an empty page is expected
            return call()

    def transient(exc: BaseException) -> bool:
        if isinstance(exc, requests.HTTPError):
            return _http_status(exc) == 429 or _http_status(exc) >= 500
        return isinstance(exc, (requests.ConnectionError, requests.Timeout, TimeoutError))

    try:
        return with_retries(quiet, transient, retries)
    except RemoteServiceError as err:
        raise HstcrError(f"MAST refused the query for {what}: {err}", stage="plan") from err
    except InvalidQueryError as err:
        raise HstcrError(f"invalid MAST query for {what}: {err}", stage="plan") from err
    except requests.HTTPError as err:
        raise HstcrError(f"MAST query for {what} failed: HTTP {_http_status(err)}", stage="plan") from err
    except (requests.ConnectionError, requests.Timeout, TimeoutError) as err:
        raise HstcrError(f"MAST unreachable while querying {what}: {err}", stage="plan") from err
    except (KeyError, ValueError) as err:  # a reply without the expected JSON
        raise HstcrError(f"MAST sent an unreadable reply for {what}: {err}", stage="plan") from err


OBS_COLUMNS = ("obsid", "obs_id", "target_name", "instrument_name", "t_min", "t_exptime",
               "intentType", "obs_collection", "project")
PRODUCT_COLUMNS = ("obsID", "parent_obsid", "productFilename", "productSubGroupDescription", "size")


def query_month(detector: Detector, month: str, *, min_exptime: float = 0.5, max_exptime: float = 10000.0,
                pagesize: int = DEFAULT_PAGESIZE, observations=None) -> MonthPlan:
    """Query one month of darks (observations page by page, then their products)."""
    client = observations or _observations_client()
    criteria = dark_criteria(detector, month, min_exptime=min_exptime, max_exptime=max_exptime)
    t0, t1 = criteria["t_min"]
    names = set(mast_instrument_names(detector))
    rows: dict[str, dict] = {}
    page = 0
    while True:
        page += 1
        table = _call_mast(
            lambda: client.query_criteria(pagesize=pagesize, page=page, **criteria),
            f"{detector.id} darks in {month} (page {page})",
        )
        for row in _rows(table, OBS_COLUMNS):
            # client-side guard on what the server filtered: the window is half-open (a dark
            # starting exactly at midnight on the 1st belongs to the new month only)
            target = str(row.get("target_name") or "").upper()
            t_min = row.get("t_min")
            if not target.startswith("DARK") or row.get("instrument_name") not in names:
                continue
            if t_min is None or not t0 <= float(t_min) < t1:
                continue
            rows[str(row["obsid"])] = row
        if len(table) < pagesize:
            break
    observations_rows = list(rows.values())
    products: list[dict] = []
    obsids = list(rows)
    for i in range(0, len(obsids), PRODUCT_BATCH):
        batch = obsids[i:i + PRODUCT_BATCH]
        table = _call_mast(lambda: client.get_product_list(batch), f"products of {len(batch)} {detector.id} darks in {month}")
        products.extend(_rows(table, PRODUCT_COLUMNS))
    plan = build_items(detector, month, observations_rows, products)
    plan.pages = page
    return plan


def plan_months(instrument: str, start_month: str, end_month: str, *, min_exptime: float = 0.5,
                max_exptime: float = 10000.0, pagesize: int = DEFAULT_PAGESIZE,
                observations=None) -> Iterator[MonthPlan]:
    """One :class:`MonthPlan` per month, querying MAST as it goes (months the detector was
    not in use are skipped without a query).  Datasets seen in an earlier month are dropped."""
    detector = get_detector(instrument)
    if not 0 <= min_exptime <= max_exptime:
        raise HstcrError(f"exposure-time bounds {min_exptime}..{max_exptime} s are not a range")
    seen: set[str] = set()
    for month in month_range(start_month, end_month):
        if not month_is_active(detector, month):
            yield MonthPlan(month=month, active=False)
            continue
        plan = query_month(detector, month, min_exptime=min_exptime, max_exptime=max_exptime,
                           pagesize=pagesize, observations=observations)
        plan.items = [item for item in plan.items if item["dataset"] not in seen]
        plan.bytes_full = sum(sum(v or 0 for v in item["sizes"].values()) for item in plan.items)
        seen.update(item["dataset"] for item in plan.items)
        yield plan


def plan_darks(instrument: str, start_month: str, end_month: str, *, min_exptime: float = 0.5,
               max_exptime: float = 10000.0, pagesize: int = DEFAULT_PAGESIZE,
               observations=None) -> Iterator[dict]:
    """Manifest items of every full-frame dark of a detector, month by month.

    Parameters
    ----------
    instrument : str
        hstcr detector id (``acs_wfc``, ``wfpc2`` ...).
    start_month, end_month : str
        ``YYYY-MM``, inclusive.
    min_exptime, max_exptime : float
        Exposure-time bounds (s).
    pagesize : int
        Observation rows per MAST page.
    observations : astroquery ObservationsClass, optional
        The client (default: ``astroquery.mast.Observations``).

    Yields
    ------
    dict
        Manifest items (see :mod:`hstcr_common.pipeline.manifest`).
    """
    for plan in plan_months(instrument, start_month, end_month, min_exptime=min_exptime,
                            max_exptime=max_exptime, pagesize=pagesize, observations=observations):
        yield from plan.items


def summary(instrument: str, start_month: str, end_month: str, plans: list[MonthPlan], *,
            min_exptime: float = 0.5, max_exptime: float = 10000.0) -> dict:
    """The sidecar summary: query, per-month counts, totals."""
    detector = get_detector(instrument)
    return {
        "instrument": instrument,
        "start": start_month,
        "end": end_month,
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "query": {
            key: value for key, value in dark_criteria(
                detector, start_month, min_exptime=min_exptime, max_exptime=max_exptime).items()
            if key != "t_min"
        } | {"t_min": "each month [first day, first day of next month) in MJD"},
        "subarray_rule": {suffix: f">= {full_frame_min_bytes(detector, suffix)} bytes"
                          for suffix in frame_suffixes(detector)},
        "months": {plan.month: plan.counts() for plan in plans},
        "total_darks": sum(plan.darks for plan in plans),
        "total_bytes_full": sum(plan.bytes_full for plan in plans),
    }


def summary_path(manifest_path: str | os.PathLike) -> Path:
    """``manifest.jsonl`` -> ``manifest.summary.json`` beside it."""
    path = Path(manifest_path)
    return path.with_name(path.with_suffix("").name + ".summary.json")


def write_summary(data: dict, path: str | os.PathLike) -> None:
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
