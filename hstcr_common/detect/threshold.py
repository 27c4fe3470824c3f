"""Method ``threshold``: the cosmic rays of one dark alone, by hysteresis thresholding.

Robust chip background and noise come from the lower half of the pixel distribution
(:func:`hstcr_common.measure.robust_background`); *seed* pixels ``seed_sigma`` above it are
grown into their 8-connected halo down to ``grow_sigma``; bad pixels are masked.  Unflagged
hot pixels are recognised by shape and masked like flagged ones: a hot pixel is one bright
pixel whose eight neighbours hold only noise, while charge diffusion always spreads a cosmic
ray's charge into its neighbours (:func:`find_spikes`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ..instruments import Detector
from ..measure import EIGHT, NEIGHBOURS_8, robust_background
from ..model import Chip, ThresholdParams
from .dq import bad_pixel_mask


def chip_noise(chip: Chip, valid: np.ndarray) -> tuple[float, float]:
    """Background level and pixel noise (e-) of a chip.

    The robust estimate (:func:`hstcr_common.measure.robust_background`) is floored at half
    the read noise so a quantised or nearly constant image cannot give a zero threshold.
    """
    level, sigma = robust_background(chip.science, valid)
    floor = 0.5 * float(chip.read_noise_e or 0.0)
    return level, max(sigma, floor, 1e-3)


def find_spikes(image_e: np.ndarray, bad: np.ndarray, noise_e: float, *, min_sigma: float,
                neighbour_fraction: float, neighbour_sigma: float,
                level_e: float = 0.0) -> np.ndarray:
    """Unflagged hot pixels: single bright pixels whose neighbours hold only noise.

    A pixel is a *spike* when it stands ``min_sigma`` noise sigmas above the background and
    its eight neighbours together hold less than
    ``max(neighbour_fraction * value, neighbour_sigma * noise * sqrt(8))``.  Charge
    diffusion always puts about as much of a cosmic ray's charge around its brightest pixel
    as in it (a centred, normally incident cosmic ray keeps < 50% in one pixel), while a hot
    pixel's neighbours are plain background -- even when a cosmic ray lands beside the hot
    pixel, its faint edge is far below a quarter of the hot pixel.  The test is per pixel,
    so it works inside merged blobs too.  Only pixels above ``min_sigma`` are examined
    (gathered, not filtered over the whole image).

    Parameters
    ----------
    image_e : ndarray, (ny, nx)
        Electrons.
    bad : ndarray of bool
        Bad pixels (count as 0 among the neighbours; never spikes themselves).
    noise_e : float
        Pixel noise (e- rms).
    min_sigma : float
        Pixels examined (noise sigmas; :attr:`ThresholdParams.seed_sigma`).
    neighbour_fraction, neighbour_sigma : float
        :attr:`ThresholdParams.hot_neighbour_fraction`, :attr:`ThresholdParams.hot_neighbour_sigma`.
    level_e : float
        Background level of ``image_e`` (e-), removed from the examined pixels only.

    Returns
    -------
    ndarray of bool, (ny, nx)
    """
    cand = np.flatnonzero((image_e > level_e + min_sigma * noise_e) & ~bad)
    spikes = np.zeros(image_e.shape, dtype=bool)
    spikes.ravel()[cand[_spike_flags(image_e, bad, cand, noise_e, neighbour_fraction,
                                     neighbour_sigma, level_e)]] = True
    return spikes


def _spike_flags(image_e: np.ndarray, bad: np.ndarray, cand: np.ndarray, noise_e: float,
                 neighbour_fraction: float, neighbour_sigma: float,
                 level_e: float) -> np.ndarray:
    """The :func:`find_spikes` test for the flat pixel indices ``cand`` (bool per pixel)."""
    ny, nx = image_e.shape
    if cand.size == 0:
        return np.zeros(0, dtype=bool)
    py, px = np.divmod(cand, nx)
    flat = image_e.ravel()
    bflat = bad.ravel()
    neighbours = np.zeros(cand.size, dtype=np.float64)
    for dy, dx in NEIGHBOURS_8:
        ok = (py + dy >= 0) & (py + dy < ny) & (px + dx >= 0) & (px + dx < nx)
        q = cand[ok] + (dy * nx + dx)
        neighbours[ok] += np.where(bflat[q], 0.0, flat[q] - level_e)
    value = flat[cand].astype(np.float64) - level_e
    limit = np.maximum(neighbour_fraction * value, neighbour_sigma * noise_e * math.sqrt(8.0))
    return neighbours < limit


def detect_threshold(chip: Chip, detector: Detector, params: ThresholdParams, *,
                     bad: np.ndarray | None = None,
                     background: tuple[float, float] | None = None,
                     return_spikes: bool = False, return_components: bool = False):
    """Cosmic rays of one chip of one dark by hysteresis thresholding (see module docstring).

    Parameters
    ----------
    chip : Chip
        Science in electrons.
    detector : Detector
    params : ThresholdParams
        ``seed_sigma``, ``grow_sigma`` and the hot-pixel test (spikes are treated as bad
        pixels); the label settings are not used here.
    bad : ndarray of bool, optional
        Bad pixels; from the DQ when None.
    background : (level_e, sigma_e), optional
        Chip background and noise; estimated when None.
    return_spikes : bool
        Also return the spikes (unflagged hot pixels) found.
    return_components : bool
        Return ``(label_image, keep)`` -- the 8-connected components of the grow mask and
        which hold a seed -- instead of the mask (``keep[label_image]``), so labelling need
        not be done twice (:func:`hstcr_common.measure.label_cosmic_rays` ``components``).

    Returns
    -------
    mask : ndarray of bool, (ny, nx)
        Cosmic-ray pixels (halo rings are added at labelling).  With ``return_spikes``:
        ``(mask, spikes)``.
    """
    if bad is None:
        bad = bad_pixel_mask(chip, detector)
    level, sigma = background if background is not None else chip_noise(chip, ~bad)
    image = chip.science
    # Pixels above the seed threshold are either seeds or spikes (the spike test looks at
    # exactly these), so both come from one pass over the frame and stay index lists; the
    # hysteresis labels the grow mask once and keeps the components holding a seed.
    above = np.flatnonzero(image > level + params.seed_sigma * sigma)
    above = above[~bad.ravel()[above]]
    is_spike = _spike_flags(image, bad, above, sigma, params.hot_neighbour_fraction,
                            params.hot_neighbour_sigma, level)
    spike_idx, seed_idx = above[is_spike], above[~is_spike]
    spikes = np.zeros(image.shape, dtype=bool)
    spikes.ravel()[spike_idx] = True
    grow = image > level + params.grow_sigma * sigma
    grow &= ~bad
    grow.ravel()[spike_idx] = False
    grow.ravel()[seed_idx] = True          # (already set unless seed_sigma < grow_sigma)
    labels, n = ndimage.label(grow, structure=EIGHT)
    keep = np.bincount(labels.ravel()[seed_idx], minlength=n + 1) > 0
    keep[0] = False
    mask = (labels, keep) if return_components else keep[labels]
    return (mask, spikes) if return_spikes else mask
