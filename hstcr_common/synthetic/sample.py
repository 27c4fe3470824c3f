"""A sample of synthetic darks of one detector and month, with its truth and manifest.

:func:`write_sample` picks the generator from the detector: CCD darks from :mod:`.dark`,
IR MULTIACCUM ramps from :mod:`.ir` (same interface), then writes ``truth.parquet``,
``truth_exposures.parquet`` and ``manifest.jsonl`` beside them.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..model import SECONDS_PER_DAY, HstcrError
from ..instruments import Detector, get_detector
from .dark import write_dark
from .exposure import as_utc, dataset_name, default_date
from .ir import write_ir_dark
from .truth import exposures_table, write_truth


def _month_start(when: dt.datetime) -> dt.datetime:
    return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _observation_offsets_s(first: dt.datetime, n: int, seed: int) -> np.ndarray:
    """Whole seconds after ``first`` of ``n`` darks: sorted, within 27 days and the month."""
    rng = np.random.default_rng([seed, 0x5A3])
    next_month = (_month_start(first) + dt.timedelta(days=32)).replace(day=1)
    span_s = min(27 * SECONDS_PER_DAY, (next_month - first).total_seconds() - 3600.0)
    # whole seconds, so DATE-OBS + TIME-OBS give the observation time exactly
    return np.sort(np.floor(rng.uniform(0.0, max(span_s, 0.0) if n > 1 else 0.0, n)))


def write_sample(detector_id, n: int, out_dir, seed: int = 0, *, start=None,
                 same_fixed_pattern: bool = True, **kwargs) -> list:
    """Write ``n`` darks of one detector taken within one month, plus their truth.

    The darks share one set-up (exposure time, amplifiers) and, by default, one hot-pixel
    pattern (``fixed_pattern_seed = seed``), so they form one group for the ``stack`` method.

    Parameters
    ----------
    detector_id : str or Detector
        CCD darks are written by :func:`~.dark.write_dark`, IR ramps by
        :func:`~.ir.write_ir_dark`.
    n : int
        Number of darks (>= 1).
    out_dir : path
    seed : int
        Seed of the sample; dark ``i`` uses seed ``seed * 100003 + i``.
    start : datetime, date or ISO string, optional
        First observation; default 01:00 on the 1st of a seed-derived month in the detector's
        active period.  The darks are spread over the following days up to 27 days, never past
        the end of that month.
    same_fixed_pattern : bool
        Share one hot-pixel pattern across the darks (default True).
    **kwargs
        Passed to the writer: spec fields (``exptime_s``, ``cr_rate_per_s_cm2``,
        ``flag_cosmic_rays``, ``shape``, ``conditions`` ...), ``fixed_pattern_seed``, and
        ``dataset`` for a sample of one.  CCD ``conditions`` default to ``"clean"``; with
        ``"realistic"`` each dark gets its own date's level, and darks sharing the fixed
        pattern share their hot pixels (a later dark in the anneal cycle has more).

    Returns
    -------
    list of SyntheticDark or IrDarkFiles
        Also written: ``truth.parquet`` (every injected cosmic ray, exposure truth in the
        metadata), ``truth_exposures.parquet``, ``manifest.jsonl`` and, for CCDs,
        ``hot_pixels.parquet`` (:func:`~.truth.hot_pixel_table`) in ``out_dir``.
    """
    det = detector_id if isinstance(detector_id, Detector) else get_detector(str(detector_id))
    if n < 1:
        raise HstcrError(f"need at least one dark, got n={n}")
    seed = int(seed)
    first = as_utc(start) if start is not None else default_date(det, seed)
    if start is None:
        first = _month_start(first) + dt.timedelta(hours=1)
    offsets_s = _observation_offsets_s(first, n, seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if same_fixed_pattern:
        kwargs.setdefault("fixed_pattern_seed", seed)
    given_name = kwargs.pop("dataset", None)
    if given_name is not None and n != 1:
        raise HstcrError("a dataset name can only be given for a sample of one dark")
    # MULTIACCUM ramps: an ima + spt pair with the same interface
    write = write_ir_dark if det.kind == "ir" else write_dark
    darks, names = [], set()
    for i in range(n):
        dark_seed = seed * 100003 + i
        name = given_name
        k = 0
        while name is None or name in names:    # keep rootnames unique within the sample
            name = dataset_name(det.dataset_prefix, [dark_seed, 0x5EED, k])
            k += 1
        names.add(name)
        when = first + dt.timedelta(seconds=float(offsets_s[i]))
        darks.append(write(det, out_dir, seed=dark_seed, dataset=name, date=when, **kwargs))
    _write_sample_truth(out_dir, darks)
    return darks


def _write_sample_truth(out_dir: Path, darks: list) -> None:
    """truth.parquet, truth_exposures.parquet, manifest.jsonl and (CCD) hot_pixels.parquet of
    a written sample."""
    exposures = [d.exposure for d in darks]
    write_truth(out_dir / "truth.parquet", pa.concat_tables([d.truth for d in darks]), exposures)
    if darks and hasattr(darks[0], "hot_pixels"):
        pq.write_table(pa.concat_tables([d.hot_pixels for d in darks]),
                       out_dir / "hot_pixels.parquet")
    pq.write_table(exposures_table(exposures), out_dir / "truth_exposures.parquet")
    with open(out_dir / "manifest.jsonl", "w") as fh:
        for d in darks:
            fh.write(json.dumps(d.manifest_item) + "\n")
