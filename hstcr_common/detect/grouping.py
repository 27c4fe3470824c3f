"""Groups of darks for the stack method (pure: the planner and the AWS map reuse it).

Darks go together when they share what crrej needs to be equal: detector, CCDAMP, EXPTIME,
gain and calendar month.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

import numpy as np

from ..model import MJD_EPOCH, SECONDS_PER_DAY

#: largest group the stack method accepts (the 2021 study's crrej groups)
MAX_GROUP = 30


def _get(record: Any, *names: str, default=None):
    for name in names:
        if isinstance(record, dict):
            if name in record and record[name] is not None:
                return record[name]
        elif getattr(record, name, None) is not None:
            return getattr(record, name)
    return default


def _month_of(record: Any) -> str:
    month = _get(record, "month")
    if month:
        return str(month)[:7]
    when = _get(record, "date_obs", "expstart")
    if isinstance(when, (dt.datetime, dt.date)):
        return f"{when.year:04d}-{when.month:02d}"
    if isinstance(when, str) and len(when) >= 7:
        return when[:7]
    mjd = _get(record, "expstart_mjd")
    if mjd is not None:
        day = MJD_EPOCH + dt.timedelta(days=float(mjd))
        return f"{day.year:04d}-{day.month:02d}"
    return ""


def _time_of(record: Any) -> float:
    mjd = _get(record, "expstart_mjd")
    if mjd is not None:
        return float(mjd)
    when = _get(record, "date_obs", "expstart")
    if isinstance(when, dt.datetime):
        return when.timestamp() / SECONDS_PER_DAY
    return 0.0


def group_key(record: Any) -> tuple:
    """What darks must share to be stacked: detector, CCDAMP, EXPTIME, gain, month."""
    instrument = _get(record, "instrument", default="")
    if not isinstance(instrument, str):
        instrument = getattr(instrument, "id", str(instrument))
    det = _get(record, "detector")
    if not instrument and det is not None:
        instrument = getattr(det, "id", str(det))
    exptime = _get(record, "exptime_s", "exptime")
    gain = _get(record, "ccdgain", "gain")
    return (str(instrument), str(_get(record, "ccdamp", default="") or ""),
            None if exptime is None else round(float(exptime), 1),
            None if gain is None else round(float(gain), 2), _month_of(record))


def group_for_stack(records: Iterable[Any], max_size: int = MAX_GROUP) -> list[list[Any]]:
    """Groups of darks for the stack method.

    Darks go together when they share detector, CCDAMP, EXPTIME (to 0.1 s), gain and
    calendar month (DATE-OBS / EXPSTART / the manifest's ``month``).  A key holding more than
    ``max_size`` darks is cut, in time order, into the fewest groups of near-equal size (31
    darks -> 16 + 15, never 30 + 1).  Keys that a record lacks count as equal (a manifest
    item without CCDAMP groups with the others of its detector and month).

    Parameters
    ----------
    records : iterable
        Dicts or objects with some of: ``instrument`` (or ``detector``), ``ccdamp``,
        ``exptime_s``/``exptime``, ``ccdgain``/``gain``, ``month``/``date_obs``/
        ``expstart_mjd``, ``dataset``.
    max_size : int

    Returns
    -------
    list of list
        The input records, grouped; groups ordered by key, members by time then dataset.
    """
    buckets: dict[tuple, list] = {}
    for rec in records:
        buckets.setdefault(group_key(rec), []).append(rec)
    groups = []
    for key in sorted(buckets, key=lambda k: tuple("" if v is None else str(v) for v in k)):
        members = sorted(buckets[key], key=lambda r: (_time_of(r),
                                                      str(_get(r, "dataset", default=""))))
        n_groups = -(-len(members) // max_size)
        bounds = np.linspace(0, len(members), n_groups + 1).round().astype(int)
        groups += [members[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return groups
