"""The product's DQ array: bad pixels, the cosmic-ray bit (method ``dq``), and the refusal
of a product whose DQ carries no cosmic-ray flag at all."""

from __future__ import annotations

import numpy as np

from ..instruments import Detector
from ..model import REFERENCE_CR_RATE_S_CM2, Chip, Dark, HstcrError

#: at the quiet-orbit flux, a dark expected to hold more cosmic rays than this and flagging
#: none was never CR-rejected (MAST's single-dark flt/flc are not)
MIN_EXPECTED_FOR_UNFLAGGED = 20.0


def dq_has(dq: np.ndarray, bits: int) -> np.ndarray:
    """``(dq & bits) != 0`` without widening the DQ array when the bits fit its type."""
    dq = np.asarray(dq)
    if dq.dtype.kind in "ui" and bits <= np.iinfo(dq.dtype).max:
        return (dq & dq.dtype.type(bits)) != 0
    return (dq.astype(np.int64) & bits) != 0


def bad_pixel_mask(chip: Chip, detector: Detector) -> np.ndarray:
    """Pixels never searched: any of ``detector.bad_bits`` set, or a non-finite value."""
    bad = dq_has(chip.dq, detector.bad_mask_bits)
    if not np.isfinite(np.sum(chip.science, dtype=np.float64)):   # one cheap pass first
        bad |= ~np.isfinite(chip.science)
    return bad


def detect_dq(chip: Chip, detector: Detector, *, bad: np.ndarray | None = None) -> np.ndarray:
    """Pixels carrying the product's cosmic-ray DQ bit, minus bad pixels.

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
    return dq_has(chip.dq, detector.cr_bit) & ~bad


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
