"""From charge in the wells to the calibrated frame, for a realistic CCD dark.

The order is the physical one (units: electrons, pixels):

1. **generation** during the exposure: dark current, post-flash and hot pixels are Poisson;
   cosmic-ray charge has Fano noise (as in the ideal dark, :func:`~.chip._noisy_science`);
2. **full well**: charge above the well depth spills along the column into the neighbours
   (blooming), half up and half down, until every pixel holds at most the full well
   (:func:`bleed_columns`; charge is conserved except what spills off the chip's ends);
3. **CTE** during the parallel transfers: each pixel loses a fraction of its charge above the
   background, proportional to the number of transfers to the serial register, released into
   the pixels read after it as an exponential trail (:func:`cte_trails`; conserved except
   what trails past the chip's far end).  A uniform background keeps the traps filled (why
   darks are post-flashed), so only the excess over it trails;
4. **read-out**: read noise, then per-amplifier offsets (bias residuals), then the A/D limit
   clips (:func:`read_out`).

:func:`expected_readout` runs 2-4 without noise: the truth's ``energy_observed_e`` and the
chip's noise-free expectation come from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

#: bleeding stops when no pixel is above the full well by more than this (e-)
BLEED_TOLERANCE_E = 1e-3
#: a pixel within this of the full well after bleeding counts as saturated (e-)
SATURATED_WITHIN_E = 1.0


@dataclass(frozen=True)
class Readout:
    """How one chip is read out (see :data:`~.conditions.READOUT`).

    Attributes
    ----------
    register : str
        ``"bottom"`` (serial register at y = 0, trails towards increasing y) or ``"top"``.
    amp_offsets_e : tuple of float
        Offset of each amplifier (e-), left to right; the chip is split equally along x.
    cte_fraction, cte_trail_px : float
        Charge fraction trailed over the whole chip, and the trail's e-folding length (px).
    full_well_e, adc_limit_e : float or None
        None: no saturation / no A/D clipping.
    """

    register: str = "bottom"
    amp_offsets_e: tuple[float, ...] = (0.0,)
    cte_fraction: float = 0.0
    cte_trail_px: float = 2.0
    full_well_e: float | None = None
    adc_limit_e: float | None = None


def flash_image(shape: tuple[int, int], flash_e: float, gradient: float) -> np.ndarray:
    """Post-flash electrons per pixel (float64): mean ``flash_e``, a linear ramp along x from
    ``flash_e * (1 - gradient / 2)`` at x = 0 to ``flash_e * (1 + gradient / 2)`` at the far
    edge (so the end-to-end change is ``gradient``)."""
    ny, nx = shape
    ramp = np.linspace(-0.5, 0.5, nx) if nx > 1 else np.zeros(1)
    return np.broadcast_to(flash_e * (1.0 + gradient * ramp)[None, :], shape)


def amp_offset_image(shape: tuple[int, int], offsets_e) -> np.ndarray:
    """Per-amplifier offsets (float32): the chip split into ``len(offsets_e)`` equal parts along
    x, left to right."""
    ny, nx = shape
    offsets = np.asarray(offsets_e, dtype=np.float32)
    column_amp = (np.arange(nx) * offsets.size) // nx
    return np.broadcast_to(offsets[column_amp][None, :], shape)


def transfers_fraction(ny: int, register: str) -> np.ndarray:
    """Parallel transfers of each row to the serial register / ``ny`` (float64, (ny, 1))."""
    rows = np.arange(1, ny + 1, dtype=np.float64)
    if register == "top":
        rows = rows[::-1]
    return (rows / ny)[:, None]


def cte_trails(excess: np.ndarray, fraction: float, trail_px: float,
               register: str = "bottom") -> np.ndarray:
    """Charge after CTE loss and its trail, along the columns (float32 in, float32 out; else
    float64).

    Each pixel loses ``fraction * transfers / ny`` of its charge; the lost charge reappears in
    the pixels read after it (away from the register) with weights ``(1 - a) a**(j - 1)``,
    ``a = exp(-1 / trail_px)``, j = 1, 2 ... (an IIR filter along axis 0, summing to 1).

    Parameters
    ----------
    excess : ndarray (ny, nx)
        Charge above the background (e-).
    fraction : float
        Fraction lost by a pixel read through the whole chip.
    trail_px : float
        e-folding length of the trail (pixels).
    register : ``"bottom"`` or ``"top"``
    """
    out = np.asarray(excess)
    if out.dtype != np.float32:
        out = out.astype(np.float64)
    if fraction <= 0:
        return out.copy()
    lost = out * (fraction * transfers_fraction(out.shape[0], register)).astype(out.dtype)
    a = float(np.exp(-1.0 / trail_px))
    if register == "top":
        trail = lfilter([0.0, 1.0 - a], [1.0, -a], lost[::-1], axis=0)[::-1]
    else:
        trail = lfilter([0.0, 1.0 - a], [1.0, -a], lost, axis=0)
    return out - lost + trail


def bleed_columns(charge: np.ndarray, full_well_e: float) -> tuple[np.ndarray, np.ndarray]:
    """Spill charge above the full well along the columns (float64), and the saturated pixels.

    Excess moves one pixel per step, half up and half down (vectorised over the columns that
    hold a saturated pixel; the steps scale with the bleed length, not with pixels or cosmic
    rays), until no pixel exceeds the well by :data:`BLEED_TOLERANCE_E`; the last remainder
    stays in place.  Charge spilling past the chip's ends is lost.

    Returns
    -------
    charge : ndarray (ny, nx)
        float64 (the input itself when nothing is above the well).
    saturated : ndarray (ny, nx), bool
        Pixels at the full well after bleeding (the over-full ones and those filled by them).
    """
    out = np.asarray(charge)
    saturated = np.zeros(out.shape, dtype=bool)
    cols = np.nonzero((out > full_well_e).any(axis=0))[0]
    if cols.size == 0:
        return out, saturated
    out = out.astype(np.float64)
    sub = out[:, cols]
    for _ in range(100 * out.shape[0]):
        excess = np.maximum(sub - full_well_e, 0.0)
        if excess.max() <= BLEED_TOLERANCE_E:
            break
        sub -= excess
        half = 0.5 * excess
        sub[1:] += half[:-1]
        sub[:-1] += half[1:]
    out[:, cols] = sub
    saturated[:, cols] = sub >= full_well_e - SATURATED_WITHIN_E
    return out, saturated


def expected_readout(background: np.ndarray, signal: np.ndarray, readout: Readout
                     ) -> np.ndarray:
    """Noise-free frame (float64): ``background + signal`` through bleed, CTE, offsets, A/D."""
    charge = np.asarray(background, dtype=np.float64) + signal
    if readout.full_well_e is not None:
        charge, _ = bleed_columns(charge, readout.full_well_e)
    charge = background + cte_trails(charge - background, readout.cte_fraction,
                                     readout.cte_trail_px, readout.register)
    charge += amp_offset_image(charge.shape, readout.amp_offsets_e)
    if readout.adc_limit_e is not None:
        np.minimum(charge, readout.adc_limit_e, out=charge)
    return charge


def read_out(rng: np.random.Generator, background: np.ndarray, hot_e: np.ndarray,
             cr_e: np.ndarray, read_noise_e: float, fano_factor: float, readout: Readout
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The calibrated frame of one chip (float32) and its full-well / A/D saturation masks.

    Parameters
    ----------
    rng : numpy.random.Generator
        This exposure's randomness.
    background : ndarray (ny, nx)
        Expected dark current + post-flash electrons.
    hot_e, cr_e : ndarray (ny, nx)
        Expected hot-pixel and cosmic-ray electrons.
    read_noise_e, fano_factor : float
    readout : Readout

    Returns
    -------
    science : ndarray, float32
    full_well : ndarray, bool
        Pixels saturated at the full well (before or after bleeding into them).
    adc : ndarray, bool
        Pixels clipped at the A/D limit.
    """
    # float32 from here on (as the ideal dark's noise): half the memory and time of float64
    charge = rng.poisson(np.asarray(background, dtype=np.float64) + hot_e).astype(np.float32)
    noise = rng.standard_normal(cr_e.shape, dtype=np.float32)
    noise *= np.sqrt(np.float32(fano_factor) * cr_e)
    charge += cr_e
    charge += noise
    full_well = np.zeros(charge.shape, dtype=bool)
    if readout.full_well_e is not None:
        bled, full_well = bleed_columns(charge, readout.full_well_e)
        charge = bled.astype(np.float32)
    if readout.cte_fraction > 0:
        level = np.asarray(background, dtype=np.float32)
        charge = level + cte_trails(charge - level, readout.cte_fraction,
                                    readout.cte_trail_px, readout.register).astype(np.float32)
    charge += rng.standard_normal(charge.shape, dtype=np.float32) * np.float32(read_noise_e)
    charge += amp_offset_image(charge.shape, readout.amp_offsets_e)
    adc = np.zeros(charge.shape, dtype=bool)
    if readout.adc_limit_e is not None:
        adc = charge >= readout.adc_limit_e
        np.minimum(charge, readout.adc_limit_e, out=charge)
    return charge.astype(np.float32), full_well, adc


def observed_share(expected: np.ndarray, background: np.ndarray, signal: np.ndarray
                   ) -> np.ndarray:
    """Per pixel, observed / deposited charge above the background (float64; 1 where nothing
    was deposited): a cosmic ray's share of a pixel's observed charge is its share of the
    deposit times this ratio."""
    deposit = np.asarray(signal, dtype=np.float64)
    ratio = np.ones(deposit.shape)
    has = deposit > 0
    ratio[has] = (expected[has] - background[has]) / deposit[has]
    return ratio
