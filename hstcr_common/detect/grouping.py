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


# --------------------------------------------------------------------------- method auto

def _period_of(record: Any) -> str:
    """Anneal cycle when the record names one, else the calendar month."""
    anneal = _get(record, "anneal_cycle", "anneal")
    return f"anneal {anneal}" if anneal not in (None, "") else _month_of(record)


def setup_key(record: Any) -> tuple:
    """What darks must share to have one reference, EXPTIME aside: detector, CCDAMP, gain,
    FLASHDUR and period (anneal cycle, else month)."""
    instrument, ccdamp, _, gain, _ = group_key(record)
    flash = _get(record, "flashdur_s", "flashdur")
    return (instrument, ccdamp.strip().upper(), gain,
            None if flash is None else round(float(flash), 1), _period_of(record))


def _exptime_runs(members: list, tolerance: float) -> list[list]:
    """Members split where consecutive EXPTIMEs (sorted) differ by more than ``tolerance``
    (a fraction of the larger); members without EXPTIME form their own run."""
    known = sorted((m for m in members if _get(m, "exptime_s", "exptime") is not None),
                   key=lambda m: float(_get(m, "exptime_s", "exptime")))
    runs: list[list] = []
    last = None
    for m in known:
        t = float(_get(m, "exptime_s", "exptime"))
        if last is None or t - last > tolerance * max(abs(t), 1e-9):
            runs.append([])
        runs[-1].append(m)
        last = t
    unknown = [m for m in members if _get(m, "exptime_s", "exptime") is None]
    return runs + ([unknown] if unknown else [])


def _distinct_exposures(members: list) -> tuple[list, list]:
    """(members, repeats): a record whose exposure start equals an earlier member's (to 1 s)
    is another copy of the same exposure (a duplicated file, a re-delivered product).  In a
    group it would put its own cosmic rays into its twin's reference and erase them, so it
    is searched alone."""
    starts = np.array([_time_of(m) for m in members]) * SECONDS_PER_DAY
    known = starts > 0
    repeat = np.zeros(len(members), dtype=bool)
    if known.sum() > 1:
        order = np.argsort(starts, kind="stable")
        gaps = np.diff(starts[order])
        repeat[order[1:]] = (gaps < 1.0) & known[order[1:]] & known[order[:-1]]
    return ([m for m, r in zip(members, repeat) if not r],
            [m for m, r in zip(members, repeat) if r])


def plan_groups(records: Iterable[Any], *, max_size: int = MAX_GROUP,
                exptime_tolerance: float = 0.02) -> list[list[Any]]:
    """Groups of darks for method ``auto``: one set-up, close in time.

    Darks go together when they share detector, CCDAMP, gain, FLASHDUR (to 0.1 s), period
    (``anneal_cycle`` when the records carry one, else the calendar month) and an EXPTIME
    within ``exptime_tolerance`` (fraction) of their neighbour's.  A group over ``max_size``
    is cut, in time order, into the fewest near-equal groups.  Deterministic: groups ordered
    by key, members by time then dataset.  A group of one is returned too (the caller falls
    back to a single-dark method for it); so is every repeated copy of an exposure
    (:func:`_distinct_exposures`).

    Parameters
    ----------
    records : iterable
        Dicts or objects with some of ``instrument``, ``ccdamp``, ``ccdgain``/``gain``,
        ``flashdur_s``, ``exptime_s``, ``anneal_cycle``, ``month``/``date_obs``/
        ``expstart_mjd``, ``dataset``.
    max_size : int
    exptime_tolerance : float

    Returns
    -------
    list of list
    """
    buckets: dict[tuple, list] = {}
    for rec in records:
        buckets.setdefault(setup_key(rec), []).append(rec)
    groups = []
    for key in sorted(buckets, key=lambda k: tuple("" if v is None else str(v) for v in k)):
        for run in _exptime_runs(buckets[key], exptime_tolerance):
            members = sorted(run, key=lambda r: (_time_of(r), str(_get(r, "dataset", default=""))))
            members, repeats = _distinct_exposures(members)
            groups += [[r] for r in repeats]
            n_groups = -(-len(members) // max_size)
            bounds = np.linspace(0, len(members), n_groups + 1).round().astype(int)
            groups += [members[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return groups


def describe_group(members: list) -> str:
    """``group of 5 darks (acs_wfc, CCDAMP ABCD, gain 2, 1000 s, 2019-03)``."""
    instrument, ccdamp, gain, flash, period = setup_key(members[0])
    times = sorted({float(_get(m, "exptime_s", "exptime")) for m in members
                    if _get(m, "exptime_s", "exptime") is not None})
    exptime = ("EXPTIME ?" if not times else f"{times[0]:g} s" if len(times) == 1
               else f"{times[0]:g}-{times[-1]:g} s")
    parts = [instrument or "?", f"CCDAMP {ccdamp or '?'}",
             f"gain {gain:g}" if gain is not None else "gain ?", exptime]
    if flash:
        parts.append(f"flash {flash:g} s")
    parts.append(period or "date ?")
    return f"group of {len(members)} darks ({', '.join(parts)})"
