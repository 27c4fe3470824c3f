"""The loaded dark: per-chip arrays in electrons plus the header facts the pipeline needs.

:func:`hstcr_common.load.load_dark` builds these from MAST products; the synthetic
generator builds them from a seed.  Everything downstream (detection, timing, orbit, rows)
reads only these objects, never FITS headers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from ..instruments import Detector


@dataclass
class Chip:
    """One chip of a dark.

    Attributes
    ----------
    name : str
        Chip name from the instrument table (``WFC1``, ``PC1``, ``CCD``, ``IR`` ...).
    ccdchip : int
        Chip number as the header gives it (CCDCHIP / DETECTOR).
    science : ndarray, float32, shape (ny, nx)
        Science array in electrons (e-), not e-/s.  For ramps (IR): the last read minus the
        first, in electrons.
    dq : ndarray, uint16 or int32, shape (ny, nx)
        Data-quality flags as in the product.
    gain : float
        Gain used to convert to electrons (e-/DN); the mean of the amplifiers' gains where
        they differ.
    read_noise_e : float
        Read noise (e- rms per read) from the header where present, else the table value.
    reads : ndarray, float32, shape (nreads, ny, nx), optional
        IR only: every non-destructive read in electrons (cumulative, reference pixels
        removed), first read first.
    read_times_s : ndarray, float64, shape (nreads,), optional
        IR only: time of each read since the start of the exposure (s).
    read_dq : ndarray, shape (nreads, ny, nx), optional
        IR only: DQ of every read.
    """

    name: str
    ccdchip: int
    science: np.ndarray
    dq: np.ndarray
    gain: float
    read_noise_e: float
    reads: np.ndarray | None = None
    read_times_s: np.ndarray | None = None
    read_dq: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.science.shape)


@dataclass
class Dark:
    """A calibration dark as hstcr sees it.

    Times are UTC; MJD values are as in the header (UTC-based MJD for HST).

    Attributes
    ----------
    dataset : str
        Lower-case rootname, e.g. ``j8xi01abq``.
    detector : Detector
        Row of the instrument table.
    chips : list of Chip
        In file order.
    date_obs : datetime
        DATE-OBS + TIME-OBS, timezone-aware UTC.
    expstart_mjd, expend_mjd : float
        EXPSTART / EXPEND (MJD).
    exptime_s : float
        EXPTIME (s).
    darktime_s : float or None
        DARKTIME (s) where the header has it.
    flashdur_s : float
        FLASHDUR (s), 0 where absent or not applicable.
    ccdamp : str
        Amplifiers used (CCDAMP), '' where absent.
    ccdgain : float or None
        Commanded gain (CCDGAIN / ATODGAIN setting).
    gains : dict
        Every gain keyword read, keyword -> value (e-/DN).
    bunit : str
        BUNIT of the science product as found in the file (before conversion).
    subarray : bool
        True when the product is a subarray (SUBARRAY=T, or chips smaller than the table's
        chip shape).  Its chips keep the shape read (the subarray, reference pixels of an IR
        ramp removed) and every pixel coordinate downstream is in that frame: the *chip
        frame* is always the array as read.
    subarray_name : str
        For a subarray: SUBTYPE where the header has it (WFC3/IR ``SQ256SUB``), else
        APERTURE, else ``<rows>x<cols>``; '' for a full frame.
    subarray_origin : (int, int) or None
        (x0, y0): 0-based column and row, in the full chip's science frame (overscan and
        reference pixels excluded), of the subarray's pixel (0, 0), so ``x_full = x + x0``.
        From LTV1/LTV2 (``x0 = cut - LTV1``, ``cut`` the pixels trimmed before it), else
        STIS's CENTERA/SIZAXIS; None for a full frame or when the header gives neither.
    aperture : str
        APERTURE keyword ('' where absent).
    cte_corrected : bool or None
        Whether the science product was corrected for charge-transfer inefficiency (an
        ``flc``, or PCTECORR = 'COMPLETE'); None for IR arrays, where CTE does not apply.
    source : str
        Where the science product came from (path or URL).
    science_suffix : str
        ``flt``, ``flc``, ``crj``, ``raw``, ``c0m`` or ``ima``.
    support_header : dict or None
        The support file's (spt/shm) primary header as a plain dict (orbital elements), or
        None when there was no support file.
    support_note : str
        Why ``support_header`` is None ('' when it is present).
    header : dict
        Other primary-header facts worth keeping (free form, small).
    """

    dataset: str
    detector: Detector
    chips: list[Chip]
    date_obs: dt.datetime
    expstart_mjd: float
    expend_mjd: float
    exptime_s: float
    darktime_s: float | None = None
    flashdur_s: float = 0.0
    ccdamp: str = ""
    ccdgain: float | None = None
    gains: dict[str, float] = field(default_factory=dict)
    bunit: str = ""
    subarray: bool = False
    subarray_name: str = ""
    subarray_origin: tuple[int, int] | None = None
    aperture: str = ""
    cte_corrected: bool | None = False
    source: str = ""
    science_suffix: str = ""
    support_header: dict | None = None
    support_note: str = ""
    header: dict = field(default_factory=dict)

    @property
    def instrument(self) -> str:
        """The detector id (lake partition value)."""
        return self.detector.id

    @property
    def month(self) -> str:
        """``YYYY-MM`` of DATE-OBS (lake partition)."""
        return f"{self.date_obs.year:04d}-{self.date_obs.month:02d}"
