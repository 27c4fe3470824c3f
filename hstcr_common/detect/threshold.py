"""Method ``threshold``: the cosmic rays of one dark alone, by hysteresis thresholding.

The background and noise are smooth local maps (:func:`.local_background.local_background`:
per amplifier region, 64-pixel boxes, robust to cosmic rays and hot pixels), or one chip
level (:func:`chip_noise`).  *Seed* pixels ``seed_sigma`` above the background are grown
into their 8-connected halo down to ``grow_sigma``; bad pixels are masked (saturated pixels
are not bad: they are charge, and stay in the footprint they touch).  Unflagged hot pixels
are recognised by their sharp edges and masked like flagged ones (:mod:`.hotpixels`): a
single bright pixel whose neighbours hold only noise (:func:`find_spikes`), and small
components -- pairs and clusters of hot pixels, a hot pixel's CTE trail -- whose side
neighbours hold no charge, while charge diffusion always spreads a cosmic ray's charge into
its neighbours (:func:`.hotpixels.sharp_components`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..instruments import Detector
from ..measure import (EIGHT, NEIGHBOURS_8, Components, background_at, kept_of,
                       robust_background)
from ..model import Chip, ThresholdParams
from .dq import bad_pixel_mask, saturated_mask
from .hotpixels import sharp_components, spike_flags, trail_direction
from .local_background import BackgroundMap

#: passes of the spike test, each with the spikes found so far masked
SPIKE_PASSES = 3


def chip_noise(chip: Chip, valid: np.ndarray) -> tuple[float, float]:
    """Background level and pixel noise (e-) of a chip.

    The robust estimate (:func:`hstcr_common.measure.robust_background`) is floored at half
    the read noise so a quantised or nearly constant image cannot give a zero threshold.
    """
    level, sigma = robust_background(chip.science, valid)
    floor = 0.5 * float(chip.read_noise_e or 0.0)
    return level, max(sigma, floor, 1e-3)


def find_spikes(image_e: np.ndarray, bad: np.ndarray, noise_e, *, min_sigma: float,
                neighbour_fraction: float, neighbour_sigma: float,
                level_e=0.0) -> np.ndarray:
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
    noise_e : float or ndarray (ny, nx)
        Pixel noise (e- rms).
    min_sigma : float
        Pixels examined (noise sigmas; :attr:`ThresholdParams.seed_sigma`).
    neighbour_fraction, neighbour_sigma : float
        :attr:`ThresholdParams.hot_neighbour_fraction`, :attr:`ThresholdParams.hot_neighbour_sigma`.
    level_e : float or ndarray (ny, nx)
        Background of ``image_e`` (e-), removed from the examined pixels only.

    Returns
    -------
    ndarray of bool, (ny, nx)
    """
    cand = pixels_above(image_e, level_e, noise_e, min_sigma)
    cand = cand[~bad.ravel()[cand]]
    spikes = np.zeros(image_e.shape, dtype=bool)
    spikes.ravel()[cand[spike_flags(image_e, bad, cand, noise_e, neighbour_fraction,
                                    neighbour_sigma, level_e)]] = True
    return spikes


def pixels_above(image: np.ndarray, level, sigma, n_sigma: float, *,
                 extreme_sigma: float | None = None) -> np.ndarray:
    """Flat indices (sorted) of ``image > level + n_sigma * sigma``, scalar or map background.

    With arrays, a scalar bound below every pixel's threshold picks the candidates in one
    compare over the frame, and the maps are read at those only: no frame-sized threshold
    image is built.  With maps held as box grids (:class:`.local_background.BackgroundMap`)
    the frame is compared a strip of rows at a time (:func:`_above_in_strips`).  Either way
    the test is the float32 arithmetic of ``level + n * sigma`` over the frame.
    """
    flat = image.ravel()
    if not (np.ndim(level) or np.ndim(sigma)):
        return np.flatnonzero(flat > level + n_sigma * sigma)
    if _held(level) or _held(sigma):
        return _above_in_strips(image, level, sigma, (n_sigma,))[0]
    n32 = np.float32(n_sigma)
    lo_level = np.min(level) if np.ndim(level) else level
    # n * sigma is smallest at the smallest sigma (the largest for a negative n)
    if extreme_sigma is None:
        extreme_sigma = (np.min if n_sigma >= 0 else np.max)(sigma) if np.ndim(sigma) else sigma
    bound = float(lo_level) + float(n32) * float(extreme_sigma)
    bound -= 1e-3 * (abs(bound) + 1.0)      # below every pixel's float32 threshold
    return _above_at(flat, np.flatnonzero(flat > bound), level, sigma, n_sigma)


#: rows per strip where a map held as box grids is compared with the frame: a strip of an
#: ACS/WFC chip's level and noise is 2 x 0.5 MB, which stays in the CPU cache
STRIP_ROWS = 32


def _held(value) -> bool:
    """A map held as box grids (it gives its rows a strip at a time)."""
    return isinstance(value, BackgroundMap)


def _strip(value, start: int, stop: int):
    """Rows ``start:stop`` of a map (held or an array), or a scalar as it is."""
    if _held(value):
        return value.rows(start, stop)
    return np.asarray(value)[start:stop] if np.ndim(value) else value


def _above_in_strips(image: np.ndarray, level, sigma, n_sigmas, *,
                     nested: bool = False) -> list[np.ndarray]:
    """For each of ``n_sigmas``: the flat indices (sorted) of ``image > level + n * sigma``,
    the maps read a strip of rows at a time (float32 arithmetic as over the frame).

    ``nested``: every threshold after the first is known to hold a subset of the first's
    pixels (higher ``n``, noise never negative), so it is tested among each strip's pixels
    above the first only (7% of the strip at 2 sigma on a 1000 s ACS/WFC dark), with the
    same float32 arithmetic on the same values (hysteresis of one chip: 31-35 -> 28-33 ms).
    """
    ny, nx = image.shape
    found: list[list[np.ndarray]] = [[] for _ in n_sigmas]
    for start in range(0, ny, STRIP_ROWS):
        stop = min(ny, start + STRIP_ROWS)
        lv, sg, strip = _strip(level, start, stop), _strip(sigma, start, stop), image[start:stop]
        first = None
        for out, n in zip(found, n_sigmas):
            if first is None or not nested:
                limit = np.multiply(sg, np.float32(n), dtype=np.float32)
                limit += lv
                hit = np.flatnonzero(strip > limit)
                first = hit
            else:
                limit = np.multiply(_picked(sg, first), np.float32(n), dtype=np.float32)
                limit += _picked(lv, first)
                hit = first[strip.ravel()[first] > limit]
            out.append(hit + start * nx)
    return [np.concatenate(parts) for parts in found]


def _picked(value, hits: np.ndarray):
    """A strip's map values at its flat indices ``hits``, or a scalar as it is."""
    return value.ravel()[hits] if np.ndim(value) else value


def _above_at(flat: np.ndarray, idx: np.ndarray, level, sigma, n_sigma: float) -> np.ndarray:
    """The pixels of ``idx`` above ``level + n_sigma * sigma``: with a map, the float32
    arithmetic of that expression over the frame, read at ``idx`` only."""
    if not (np.ndim(level) or np.ndim(sigma)):
        return idx[flat[idx] > level + n_sigma * sigma]
    limit = np.multiply(background_at(sigma, idx, np.float32), np.float32(n_sigma),
                        dtype=np.float32)
    limit += background_at(level, idx, np.float32)
    return idx[flat[idx] > limit]


def hysteresis_pixels(image: np.ndarray, level, sigma, seed_sigma: float,
                      grow_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (sorted) above the seed and above the grow threshold.

    With the noise never negative, a pixel above ``level + seed_sigma * sigma`` is above
    ``level + grow_sigma * sigma`` for a lower ``grow_sigma`` (float32 rounding is monotone),
    so the seeds are picked among the grow pixels: one pass over the frame instead of two,
    and the same pixels as :func:`pixels_above` at each threshold.
    """
    lowest = np.min(sigma) if np.ndim(sigma) else sigma
    nested = grow_sigma <= seed_sigma and lowest >= 0
    if _held(level) or _held(sigma):
        grow, seed = _above_in_strips(image, level, sigma, (grow_sigma, seed_sigma),
                                      nested=nested)
        return seed, grow
    if not nested:
        return (pixels_above(image, level, sigma, seed_sigma),
                pixels_above(image, level, sigma, grow_sigma))
    grow = pixels_above(image, level, sigma, grow_sigma,
                        extreme_sigma=lowest if grow_sigma >= 0 else None)
    return _above_at(image.ravel(), grow, level, sigma, seed_sigma), grow


def _next_to_brighter(image: np.ndarray, spike_idx: np.ndarray,
                      idx: np.ndarray) -> np.ndarray:
    """Which of the sorted flat indices ``idx`` have an 8-neighbour in ``spike_idx`` brighter
    than themselves (bool per ``idx``).

    The spikes are few: their neighbours are looked up in ``idx`` (a binary search each),
    never a frame of the chip's size.
    """
    ny, nx = image.shape
    out = np.zeros(idx.size, dtype=bool)
    if spike_idx.size == 0 or idx.size == 0:
        return out
    flat = image.ravel()
    sy, sx = np.divmod(spike_idx, nx)
    for dy, dx in NEIGHBOURS_8:
        ok = (sy + dy >= 0) & (sy + dy < ny) & (sx + dx >= 0) & (sx + dx < nx)
        src = spike_idx[ok]
        q = src + (dy * nx + dx)
        at = np.minimum(np.searchsorted(idx, q), idx.size - 1)
        hit = (idx[at] == q) & (flat[src] > flat[q])
        out[at[hit]] = True
    return out


def detect_threshold(chip: Chip, detector: Detector, params: ThresholdParams, *,
                     bad: np.ndarray | None = None,
                     background: tuple | None = None,
                     saturated: np.ndarray | None = None,
                     return_spikes: bool = False, return_components: bool = False):
    """Cosmic rays of one chip of one dark by hysteresis thresholding (see module docstring).

    Parameters
    ----------
    chip : Chip
        Science in electrons.
    detector : Detector
    params : ThresholdParams
        ``seed_sigma``, ``grow_sigma`` and the spike test (hot pixels are treated as bad
        pixels); the label settings are not used here.
    bad : ndarray of bool, optional
        Bad pixels; from the DQ when None (:func:`.dq.bad_pixel_mask`: saturation is not bad).
    background : (level_e, sigma_e), optional
        Background and noise (e-), each a float or an (ny, nx) map; the chip's robust level
        and noise (:func:`chip_noise`) when None.
    saturated : ndarray of bool, optional
        Saturated pixels (:func:`.dq.saturated_mask` when None): never hot pixels.
    return_spikes : bool
        Also return the unflagged hot pixels found (isolated ones and the pixels of sharp
        components).
    return_components : bool
        Return :class:`hstcr_common.measure.Components` ``(label_image, keep, pixels)`` --
        the 8-connected components of the grow mask, which are cosmic rays, and the grow
        pixels -- instead of the mask (``keep[label_image]``), so labelling
        need not be done twice (:func:`hstcr_common.measure.label_cosmic_rays` ``components``).

    Returns
    -------
    mask : ndarray of bool, (ny, nx)
        Cosmic-ray pixels (halo rings are added at labelling).  With ``return_spikes``:
        ``(mask, spikes)``.
    """
    if bad is None:
        bad = bad_pixel_mask(chip, detector)
    if saturated is None:
        saturated = saturated_mask(chip, detector) & ~bad
    level, sigma = background if background is not None else chip_noise(chip, ~bad)
    image = chip.science
    # Pixels above the seed threshold are either seeds or spikes (the spike test looks at
    # exactly these), so both come from one pass over the frame and stay index lists; the
    # hysteresis labels the grow mask once and keeps the components holding a seed.
    above, grow_idx = hysteresis_pixels(image, level, sigma, params.seed_sigma, params.grow_sigma)
    above = above[~bad.ravel()[above]]
    spikes = np.zeros(image.shape, dtype=bool)
    seed_idx = above[~saturated.ravel()[above]]
    # Repeated with the spikes found masked, for the pixels next to a brighter new spike:
    # the faint member of a hot pair whose bright member is a spike has only that spike for
    # a bright neighbour (3 passes: chains of 3).
    cand = np.ones(seed_idx.size, dtype=bool)
    isolated = np.zeros(0, dtype=np.int64)   # the first pass's spikes (none: no spikes)
    masked = bad                             # bad pixels and the spikes found so far
    for _ in range(SPIKE_PASSES):
        is_spike = np.zeros(seed_idx.size, dtype=bool)
        is_spike[cand] = spike_flags(image, masked, seed_idx[cand], sigma,
                                     params.hot_neighbour_fraction,
                                     params.hot_neighbour_sigma, level)
        if not is_spike.any():
            break
        new = seed_idx[is_spike]
        if not isolated.size:
            isolated = new          # first pass: no bright neighbour (CTE trail estimate)
            masked = bad.copy()
        spikes.ravel()[new] = True
        masked.ravel()[new] = True
        seed_idx = seed_idx[~is_spike]
        cand = _next_to_brighter(image, new, seed_idx)
    # the seeds: ``above`` less the spikes, saturated pixels included (never spikes)
    seed_idx = above[~spikes.ravel()[above]] if isolated.size else above
    grow_idx = grow_idx[~(bad.ravel()[grow_idx] | spikes.ravel()[grow_idx])]
    if params.seed_sigma < params.grow_sigma:
        grow_idx = np.union1d(grow_idx, seed_idx)
    grow = np.zeros(image.shape, dtype=bool)
    grow.ravel()[grow_idx] = True
    labels, n = ndimage.label(grow, structure=EIGHT)
    keep = np.bincount(labels.ravel()[seed_idx], minlength=n + 1) > 0
    keep[0] = False
    comp = None                   # the grow pixels' components, once read
    # pairs and clusters of hot pixels (and CTE trails): small components with sharp edges
    if params.reject_sharp_clusters:
        trail = trail_direction(image, bad, isolated, level, sigma)
        hot = sharp_components(labels, seed_idx, image, bad | spikes, level, sigma,
                               trail_dy=trail, saturated=saturated)
        keep &= ~hot
        if hot.any():
            comp = labels.ravel()[grow_idx]
            spikes.ravel()[grow_idx[hot[comp]]] = True
    if not return_components:
        mask = keep[labels]
    else:
        # the kept pixels listed here, where the grow pixels' components are read anyway
        # (labelling would read them again)
        if comp is None:
            comp = labels.ravel()[grow_idx]
        mask = Components(labels, keep, grow_idx, kept_of(keep, grow_idx, comp))
    return (mask, spikes) if return_spikes else mask
