"""Exposure timing of a dark: when it was taken and how long it integrated cosmic rays.

A CCD collects cosmic rays for longer than EXPTIME: also while the shutter is closed before
and after, during a post-flash, and during the readout.  The integration time used for rates
is therefore

* ``DARKTIME`` where the header has it (hstcal computes it for exactly this purpose), else
* ``EXPTIME + FLASHDUR + readout time`` -- FLASHDUR only for detectors whose darks are
  post-flashed (ACS/WFC, WFC3/UVIS), the readout time from the instrument table (WFPC2:
  30 s for EXPTIME <= 180 s, else 60 s), as the 2021 study did.

The rule used is recorded as a short string: ``"DARKTIME"``,
``"EXPTIME+FLASHDUR+READOUT(50s)"``, ``"EXPTIME+READOUT(30s)"``, or ``"EXPTIME"`` where the
readout time is zero.

Beside it, every dark also gets the **2021 rule's** time, ``EXPTIME + FLASHDUR + readout``
whatever the header holds (:func:`integration_time_2021`), so rates compare with the 2021
study's tables.  The two differ: ACS/WFC and WFC3/UVIS DARKTIME is EXPTIME + FLASHDUR + a
few seconds of idle time, shorter than the 2021 rule's 50 s readout, so DARKTIME rates sit
~5% above the 2021 rule's on 1000 s darks (issue 13).  A dark whose EXPTIME is
shorter than its readout time (``short_exposure``) has a rate set mostly by the assumed
readout (10 s WFPC2 darks: 10 s of 40 s), so it is flagged.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from ..model import HstcrError
from ..model.constants import MJD_EPOCH
from ..instruments import Detector



@dataclass
class ExposureTiming:
    """When a dark was taken and the integration time used for its rates.

    Attributes
    ----------
    date_obs : datetime
        DATE-OBS + TIME-OBS, timezone-aware UTC.
    expstart_mjd, expend_mjd : float
        EXPSTART / EXPEND (UTC-based MJD).
    expstart, expend : datetime
        The same instants as timezone-aware UTC datetimes.
    exptime_s : float
        EXPTIME (s).
    darktime_s : float or None
        DARKTIME (s) where the header has it.
    flashdur_s : float
        FLASHDUR (s) as read (0 where absent); counted only where the detector post-flashes.
    integration_time_s : float
        Time over which cosmic rays were collected (s): the denominator of the rates.
    integration_rule : str
        How ``integration_time_s`` was obtained (see the module notes).
    integration_time_2021_s : float
        EXPTIME + FLASHDUR (where the detector post-flashes) + readout time (s): the 2021
        study's rule, for every dark whatever its header holds.
    readout_time_s : float
        Readout time assumed for this exposure (s), from the instrument table.
    short_exposure : bool
        EXPTIME < readout time: the readout dominates the 2021 integration time, so the
        rate rests mostly on the assumed readout.
    """

    date_obs: dt.datetime
    expstart_mjd: float
    expend_mjd: float
    expstart: dt.datetime
    expend: dt.datetime
    exptime_s: float
    darktime_s: float | None
    flashdur_s: float
    integration_time_s: float
    integration_rule: str
    integration_time_2021_s: float = float("nan")
    readout_time_s: float = 0.0
    short_exposure: bool = False


def mjd_to_datetime(mjd: float) -> dt.datetime:
    """UTC-based MJD -> timezone-aware UTC datetime (microsecond resolution)."""
    return MJD_EPOCH + dt.timedelta(days=float(mjd))


def readout_time_s(detector: Detector, exptime_s: float) -> float:
    """Readout time (s) of ``detector`` for an exposure of ``exptime_s``.

    WFPC2 reads out faster after short exposures: ``readout_time_short_s`` when EXPTIME
    <= ``readout_short_max_exptime_s`` (30 s up to 180 s), else ``readout_time_s`` (60 s).
    """
    if (
        detector.readout_time_short_s is not None
        and detector.readout_short_max_exptime_s is not None
        and exptime_s <= detector.readout_short_max_exptime_s
    ):
        return float(detector.readout_time_short_s)
    return float(detector.readout_time_s)


def integration_time(
    detector: Detector,
    exptime_s: float,
    darktime_s: float | None = None,
    flashdur_s: float = 0.0,
) -> tuple[float, str]:
    """Integration time (s) for cosmic-ray rates and the rule that gave it.

    Parameters
    ----------
    detector : Detector
        Row of the instrument table (readout time, whether FLASHDUR applies).
    exptime_s : float
        EXPTIME (s).
    darktime_s : float, optional
        DARKTIME (s); used as is when present, finite and positive.
    flashdur_s : float, optional
        FLASHDUR (s); added only where ``detector.flashdur_applies``.

    Returns
    -------
    (float, str)
        Integration time (s) and the rule, e.g. ``"DARKTIME"`` or
        ``"EXPTIME+FLASHDUR+READOUT(50s)"``.

    Raises
    ------
    HstcrError
        EXPTIME not a positive finite number, FLASHDUR negative or not finite, or a
        non-positive result.
    """
    if exptime_s is None or not math.isfinite(exptime_s) or exptime_s <= 0:
        raise HstcrError(f"EXPTIME = {exptime_s} s: a dark needs a positive exposure time")
    if darktime_s is not None and math.isfinite(darktime_s) and darktime_s > 0:
        return float(darktime_s), "DARKTIME"
    total = float(exptime_s)
    rule = ["EXPTIME"]
    flash = 0.0 if flashdur_s is None else float(flashdur_s)
    if not math.isfinite(flash) or flash < 0:
        raise HstcrError(f"FLASHDUR = {flashdur_s} s is not a non-negative time")
    if detector.flashdur_applies and flash > 0:
        total += flash
        rule.append("FLASHDUR")
    readout = readout_time_s(detector, exptime_s)
    if readout > 0:
        total += readout
        rule.append(f"READOUT({readout:g}s)")
    if total <= 0:  # cannot happen with a positive EXPTIME; kept as a guard for table edits
        raise HstcrError(f"integration time {total} s is not positive")
    return total, "+".join(rule)


def integration_time_2021(detector: Detector, exptime_s: float, flashdur_s: float = 0.0
                          ) -> float:
    """Integration time (s) by the 2021 study's rule: EXPTIME + FLASHDUR + readout time.

    The same rule as :func:`integration_time` without DARKTIME, so the value exists for
    every dark (FLASHDUR counted only where ``detector.flashdur_applies``).

    Raises
    ------
    HstcrError
        As :func:`integration_time`.
    """
    return integration_time(detector, exptime_s, None, flashdur_s)[0]


def _utc(when: dt.datetime) -> dt.datetime:
    """A naive datetime is UTC already; an aware one is converted."""
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def exposure_timing(dark) -> ExposureTiming:
    """Timing facts of one dark.

    Parameters
    ----------
    dark : hstcr_common.model.dark.Dark

    Returns
    -------
    ExposureTiming

    Raises
    ------
    HstcrError
        (naming the dark's file) EXPSTART/EXPEND not finite, EXPEND before EXPSTART,
        non-positive EXPTIME or integration time, negative FLASHDUR.
    """
    source = dark.source or dark.dataset
    readout = readout_time_s(dark.detector, float(dark.exptime_s))
    start, end = float(dark.expstart_mjd), float(dark.expend_mjd)
    if not (math.isfinite(start) and math.isfinite(end)):
        raise HstcrError(f"EXPSTART/EXPEND not finite ({start}, {end})", source=source, stage="timing")
    if end < start:
        raise HstcrError(
            f"EXPEND {end} is before EXPSTART {start} (MJD)", source=source, stage="timing"
        )
    try:
        total, rule = integration_time(
            dark.detector, float(dark.exptime_s), dark.darktime_s, dark.flashdur_s
        )
        total_2021 = integration_time_2021(dark.detector, float(dark.exptime_s),
                                           dark.flashdur_s)
    except HstcrError as err:
        raise HstcrError(err.problem, source=source, stage="timing") from None
    return ExposureTiming(
        date_obs=_utc(dark.date_obs),
        expstart_mjd=start,
        expend_mjd=end,
        expstart=mjd_to_datetime(start),
        expend=mjd_to_datetime(end),
        exptime_s=float(dark.exptime_s),
        darktime_s=None if dark.darktime_s is None else float(dark.darktime_s),
        flashdur_s=float(dark.flashdur_s or 0.0),
        integration_time_s=total,
        integration_rule=rule,
        integration_time_2021_s=total_2021,
        readout_time_s=readout,
        short_exposure=float(dark.exptime_s) < readout,
    )
