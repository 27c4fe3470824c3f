"""Background of a chip (electrons): robust level and noise, the mean away from cosmic rays,
and the background at given pixels.

Cosmic rays and hot pixels only ever *add* charge, so the lower half of the pixel distribution
is clean: the level is the median and the noise comes from the distance between the median
and the 15.87th percentile (one Gaussian sigma below), which no positive outlier can bias.
"""

from __future__ import annotations

import numpy as np

#: fraction of a Gaussian below -1 sigma
_ONE_SIGMA_BELOW = 0.15865525393145707
#: pixels drawn for the estimate: enough for a 0.3% statistical error on sigma
_SAMPLE = 400_000


def background_at(background_e, idx: np.ndarray, dtype=np.float64):
    """Background (e-) at flat pixel indices ``idx``, as ``dtype``.

    ``background_e`` is a level (float), a per-pixel array (ny, nx), or a pair
    ``(array, level)`` meaning ``array + level`` (the stack method's shared reference plus
    one dark's level, without a full-frame copy per dark).  A level is returned as a Python
    float, which numpy casts to the array's type: it never widens float32 arithmetic.
    """
    if isinstance(background_e, tuple):
        array, level = background_e
        return _gather(array, idx, dtype) + float(level)
    if np.ndim(background_e):
        return _gather(background_e, idx, dtype)
    return float(background_e)


def _gather(array, idx: np.ndarray, dtype) -> np.ndarray:
    """A map at flat indices: an array's entries, or what a map held otherwise gives
    (:class:`hstcr_common.detect.local_background.BackgroundMap`: ``at(idx, dtype)``)."""
    reader = getattr(array, "at", None)
    if reader is not None:
        return reader(idx, dtype)
    # the gather is a new array already: no second copy when it has the dtype asked for
    return np.asarray(array).ravel()[idx].astype(dtype, copy=False)


def robust_background(image_e: np.ndarray, valid: np.ndarray | None = None,
                      sample: int = _SAMPLE) -> tuple[float, float]:
    """Background level and noise (e-) of an image from its lower half.

    Parameters
    ----------
    image_e : ndarray, (ny, nx)
        Image in electrons.
    valid : ndarray of bool, optional
        Pixels to use (e.g. not flagged bad); all when None.
    sample : int
        At most this many pixels are used, taken on a regular stride (the estimate needs no
        more, and a stride keeps it deterministic).

    Returns
    -------
    level_e : float
        Median of the valid pixels (e-).
    sigma_e : float
        Noise (e- rms) from ``median - percentile(15.87)``; 0 when fewer than 2 valid pixels.
    """
    flat = image_e.ravel()
    if valid is not None:
        vflat = valid.ravel()
    step = max(1, flat.size // sample)
    values = flat[::step]
    if valid is not None:
        values = values[vflat[::step]]
    values = values[np.isfinite(values)]
    if values.size < 2:
        return 0.0, 0.0
    k_lo = int(round(_ONE_SIGMA_BELOW * (values.size - 1)))
    k_med = (values.size - 1) // 2
    part = np.partition(values, (k_lo, k_med))
    level = float(part[k_med])
    sigma = float(part[k_med] - part[k_lo])
    return level, max(sigma, 0.0)


def background_mean(image_e: np.ndarray, exclude: np.ndarray, level_e: float, sigma_e: float,
                    *, margin: int = 1, clip_sigma: float = 4.0,
                    sample: int = 50_000,
                    exclude_components: tuple[np.ndarray, np.ndarray] | None = None,
                    subtract: np.ndarray | None = None) -> float:
    """Mean background (e-) away from cosmic rays: the level to subtract from their pixels.

    The median of :func:`robust_background` is the right centre for thresholds but not for
    energies: dark current is Poisson (skewed, mean > median) and the faint charge of cosmic
    rays and hot pixels pushes the median up by a fraction of a sigma.  Either way the level
    is off by a few tenths of an electron per pixel, which over a cosmic ray's ~20 pixels
    biases energies by ~0.5%.  This takes the plain mean of pixels at least ``margin + 1``
    pixels (Chebyshev distance) from every ``exclude`` pixel, inside ``level_e +-
    clip_sigma * sigma_e`` (a symmetric cut far out in both tails: no bias for a Gaussian,
    < 0.01 sigma for the Poisson skew of a dark).

    Parameters
    ----------
    image_e : ndarray, (ny, nx)
    exclude : ndarray of bool, (ny, nx)
        Detected cosmic-ray pixels, bad pixels, hot pixels.
    level_e, sigma_e : float
        Robust level and noise (e-) from :func:`robust_background`.
    margin : int
        Pixels this close to an excluded one are left out (cosmic-ray halos).
    clip_sigma : float
    sample : int
        Pixels examined, on a regular stride (deterministic); the statistical error of the
        mean is ``sigma_e / sqrt(sample)`` (0.45% of sigma).
    exclude_components : (ndarray of int, ndarray of bool), optional
        ``(label_image, keep)``: also exclude pixels whose component is kept (a detection
        given as components rather than a mask; see ``detect_threshold``).
    subtract : ndarray or map, (ny, nx), optional
        A background map (anything :func:`background_at` reads) taken off ``image_e`` at the
        sampled pixels only (no frame-sized residual is built).

    Returns
    -------
    float
        The mean (e-); ``level_e`` when fewer than 100 pixels qualify.
    """
    ny, nx = image_e.shape
    step = max(1, (ny * nx) // sample)
    idx = np.arange(0, ny * nx, step, dtype=np.int64)
    y, x = np.divmod(idx, nx)
    ex = exclude.ravel()
    lab, keep = (None, None) if exclude_components is None else exclude_components[:2]
    lab = None if lab is None else lab.ravel()
    near = np.zeros(idx.size, dtype=bool)
    for dy in range(-margin, margin + 1):
        yy = np.clip(y + dy, 0, ny - 1) * nx
        for dx in range(-margin, margin + 1):
            q = yy + np.clip(x + dx, 0, nx - 1)
            near |= ex[q]
            if lab is not None:
                near |= keep[lab[q]]
    values = image_e.ravel()[idx[~near]].astype(np.float64)
    if subtract is not None:
        values -= background_at(subtract, idx[~near])
    values = values[np.abs(values - level_e) <= clip_sigma * sigma_e]
    if values.size < 100:
        return float(level_e)
    return float(values.mean())
