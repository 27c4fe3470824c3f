"""Names and times of one synthetic exposure, shared by the CCD and IR generators.

Rootnames, observation dates and MJDs, and the manifest work item a written dark becomes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from ..model import MJD_UNIX_EPOCH, SECONDS_PER_DAY, HstcrError
from ..instruments import Detector

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def dataset_name(prefix: str, seed) -> str:
    """A MAST-like rootname: ``<prefix><program:3><obset:2><obs:2>q``, lower case, 9 chars.

    Deterministic from ``seed`` (int or sequence of ints).
    """
    rng = np.random.default_rng(seed)
    chars = rng.integers(0, len(_ALPHABET), 7)
    body = "".join(_ALPHABET[i] for i in chars)
    return f"{prefix}{body}q".lower()


def drawn_dataset_name(prefix: str, rng: np.random.Generator) -> str:
    """A rootname like :func:`dataset_name`, its 7 characters drawn from ``rng``.

    The IR generator's naming; kept apart from :func:`dataset_name` because existing seeds
    must keep naming the same datasets.
    """
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    return prefix + "".join(rng.choice(alphabet, 7)) + "q"


def as_utc(when) -> dt.datetime:
    """A timezone-aware UTC datetime from a datetime (naive = UTC), date or ISO string."""
    if isinstance(when, dt.datetime):
        return when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when.astimezone(
            dt.timezone.utc)
    if isinstance(when, dt.date):
        return dt.datetime(when.year, when.month, when.day, tzinfo=dt.timezone.utc)
    if isinstance(when, str):
        try:
            return as_utc(dt.datetime.fromisoformat(when))
        except ValueError:
            raise HstcrError(f"bad date {when!r}: expected YYYY-MM-DD[THH:MM:SS]") from None
    raise HstcrError(f"bad date {when!r}")


def default_date(detector: Detector, seed: int) -> dt.datetime:
    """A deterministic observation time inside the detector's last active period."""
    start, end = detector.active[-1]
    end = end or dt.date(2024, 12, 31)
    rng = np.random.default_rng([int(seed), 0xDA7E])
    day = start + dt.timedelta(days=int(rng.integers(0, (end - start).days + 1)))
    seconds = int(rng.integers(0, 86400))
    return as_utc(day) + dt.timedelta(seconds=seconds)


def mjd_from_datetime(when: dt.datetime) -> float:
    """MJD (UTC) of a timezone-aware datetime."""
    return MJD_UNIX_EPOCH + when.timestamp() / SECONDS_PER_DAY


def manifest_item(synthetic) -> dict:
    """A synthetic dark (CCD or IR: ``dataset``, ``detector``, ``exposure``, ``paths``) as a
    manifest work item (see DESIGN.md)."""
    return {"dataset": synthetic.dataset, "instrument": synthetic.detector.id,
            "month": synthetic.exposure["date_obs"][:7],
            "files": {role: str(path) for role, path in synthetic.paths.items()},
            "group": synthetic.exposure["group"]}
