"""Robust background level and noise of a chip (electrons), immune to cosmic rays and hot pixels.

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
