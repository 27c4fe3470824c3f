"""The product's DQ array: bad pixels, saturated pixels, the cosmic-ray bit (method ``dq``),
and the refusal of a product whose DQ carries no cosmic-ray flag at all.

Saturated pixels (full well, A/D limit) are *not* bad: they hold charge -- a saturated
cosmic-ray core and the column its excess bled along -- and masking them punched holes in
exactly the brightest cosmic rays (64% split into fragments, median energy ratio 0.30 on a
synthetic dark).  They stay searchable and stay in the footprint they touch; the cosmic ray
is flagged ``saturated`` (its energy is a lower bound).  A hot pixel that saturates carries
its hot-pixel bit as well and stays masked.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..instruments import Detector
from ..model import REFERENCE_CR_RATE_S_CM2, Chip, Dark, HstcrError

#: at the quiet-orbit flux, a dark expected to hold more cosmic rays than this and flagging
#: none was never CR-rejected (MAST's single-dark flt/flc are not)
MIN_EXPECTED_FOR_UNFLAGGED = 20.0

#: DQ bits of saturated pixels per detector: ACS and WFC3/UVIS 256 (full-well saturation) and
#: 2048 (A/D converter saturation) [hstcal acsdq.h, wf3dq.h]; STIS 256 (saturated)
#: [hstcal stisdq.h]; WFPC2 8 (saturated pixel) [calwp2 u_data.h].  The IR ramps handle
#: saturation per read (``detector.saturation_bit``, :mod:`.ramp`), not here.
SATURATION_BITS = {"acs_wfc": 256 | 2048, "acs_hrc": 256 | 2048, "wfc3_uvis": 256 | 2048,
                   "stis_ccd": 256, "wfpc2": 8}


#: DQ bits of hot and warm pixels (and their CTE tails) per detector: ACS and WFC3/UVIS 16 (hot
#: pixel), 32 (CTE tail of a hot pixel / warm column), 64 (warm pixel) [hstcal acsdq.h,
#: wf3dq.h]; STIS 16 (hot pixel, "dark rate") [hstcal stisdq.h]; WFPC2 128 (hot pixel)
#: [calwp2 u_data.h].  A single-dark method must mask them (it cannot tell a hot pixel from a
#: cosmic ray); a group reference subtracts them, so method ``auto`` searches them: masking
#: them cut the charge of every cosmic ray crossing one (1.25% of the pixels late in the
#: mission, ~1 in 6 cosmic rays).
HOT_PIXEL_BITS = {"acs_wfc": 16 | 32 | 64, "acs_hrc": 16 | 32 | 64, "wfc3_uvis": 16 | 32 | 64,
                  "stis_ccd": 16, "wfpc2": 128}


def hot_pixel_bits(detector: Detector) -> int:
    """The DQ bits marking hot and warm pixels of ``detector`` (:data:`HOT_PIXEL_BITS`)."""
    return HOT_PIXEL_BITS.get(detector.id, 0)


def reference_bad_bits(detector: Detector) -> int:
    """DQ bits masked by a group reference: the bad bits, hot and warm pixels excepted."""
    return int(detector.bad_mask_bits) & ~hot_pixel_bits(detector)


def saturation_bits(detector: Detector) -> int:
    """The DQ bits marking saturated pixels of ``detector`` (:data:`SATURATION_BITS`)."""
    return SATURATION_BITS.get(detector.id, 0)


def dq_has(dq: np.ndarray, bits: int) -> np.ndarray:
    """``(dq & bits) != 0`` without widening the DQ array when the bits fit its type."""
    dq = np.asarray(dq)
    if dq.dtype.kind in "ui" and bits <= np.iinfo(dq.dtype).max:
        return (dq & dq.dtype.type(bits)) != 0
    return (dq.astype(np.int64) & bits) != 0


def bad_pixel_mask(chip: Chip, detector: Detector, *, search_hot: bool = False) -> np.ndarray:
    """Pixels never searched: any of ``detector.bad_bits`` other than the saturation bits
    (:func:`saturation_bits`) set -- and other than the hot-pixel bits
    (:func:`hot_pixel_bits`) with ``search_hot`` -- or a non-finite value."""
    bits = reference_bad_bits(detector) if search_hot else int(detector.bad_mask_bits)
    bad = dq_has(chip.dq, bits & ~saturation_bits(detector))
    if not np.isfinite(np.sum(chip.science, dtype=np.float64)):   # one cheap pass first
        bad |= ~np.isfinite(chip.science)
    return bad


def saturated_mask(chip: Chip, detector: Detector) -> np.ndarray:
    """Pixels flagged saturated in the DQ (bool, (ny, nx))."""
    bits = saturation_bits(detector)
    return dq_has(chip.dq, bits) if bits else np.zeros(chip.dq.shape, dtype=bool)


def detect_dq(chip: Chip, detector: Detector, *, bad: np.ndarray | None = None,
              saturated: np.ndarray | None = None) -> np.ndarray:
    """Pixels carrying the product's cosmic-ray DQ bit, minus bad pixels, plus the saturated
    pixels 8-connected to them.

    CR rejection may leave a saturated core (or its bleed) without the cosmic-ray bit; it is
    the cosmic ray's charge, so the saturated pixels of a component that holds a flagged
    pixel join it (a saturated region touching no flagged pixel stays out).

    Raises
    ------
    HstcrError
        When the detector's pipeline sets no cosmic-ray bit (WFPC2).
    """
    if not detector.cr_bit:
        raise HstcrError(f"{detector.name} products carry no cosmic-ray DQ bit: use the "
                         "threshold or stack method", stage="detect")
    if bad is None:
        bad = bad_pixel_mask(chip, detector)
    if saturated is None:
        saturated = saturated_mask(chip, detector)
    flagged = dq_has(chip.dq, detector.cr_bit) & ~bad
    sat = saturated & ~bad & ~flagged
    if not sat.any():
        return flagged
    labels, n = ndimage.label(flagged | sat, structure=np.ones((3, 3), dtype=bool))
    has_flag = np.bincount(labels[flagged], minlength=n + 1) > 0
    has_flag[0] = False
    return flagged | (sat & has_flag[labels])


def require_cr_flags(dark: Dark, masks: list[np.ndarray]) -> None:
    """Refuse ``dq`` on a product whose DQ carries no cosmic-ray flag at all.

    Without this, a product that never went through CR rejection would enter the lake as a
    dark with zero cosmic rays (a rate of 0), indistinguishable from a real measurement.

    Raises
    ------
    HstcrError
        No pixel of any chip is flagged while more than
        :data:`MIN_EXPECTED_FOR_UNFLAGGED` cosmic rays were expected at
        :data:`hstcr_common.model.REFERENCE_CR_RATE_S_CM2`.
    """
    if any(m.any() for m in masks):
        return
    expected = REFERENCE_CR_RATE_S_CM2 * dark.detector.area_cm2 * dark.exptime_s
    if expected > MIN_EXPECTED_FOR_UNFLAGGED:
        raise HstcrError(
            f"{dark.dataset}: no pixel carries the cosmic-ray DQ bit {dark.detector.cr_bit} "
            f"(~{expected:.0f} cosmic rays expected in {dark.exptime_s:g} s): the "
            f"{dark.science_suffix or 'science'} product was not CR-rejected; use the "
            "threshold or stack method", source=dark.source or None, stage="detect")
