"""Per-cosmic-ray measurements of a label image: energy, peak, centroid, second moments.

Every sum is ``np.add.reduceat`` over the labelled pixels sorted by label: one vectorised
pass, no Python loop per cosmic ray.

Moments and negative pixels
---------------------------
Background-subtracted pixels at the faint edge of a cosmic ray can be negative (noise).
The energy sums them as they are (so the noise averages out and the energy is unbiased),
but centroid and second moments use weights clipped at 0: a negative weight has no meaning
for a position and can make ``Ixx`` negative.  A cosmic ray whose clipped weights are all 0
(impossible for a real detection) falls back to equal weights.
"""

from __future__ import annotations

import numpy as np

from ..model import CosmicRayCatalog
from .background import background_at
from .labelled import CosmicRayLabels


def measure_cosmic_rays(labels: np.ndarray | CosmicRayLabels, n: int, image_e: np.ndarray, *,
                        background_e: float | np.ndarray = 0.0,
                        n_merged: np.ndarray | None = None,
                        chip_index: int = 0) -> CosmicRayCatalog:
    """Measure every labelled cosmic ray of one chip, as column arrays.

    Parameters
    ----------
    labels : CosmicRayLabels or ndarray of int, (ny, nx)
        What :func:`hstcr_common.measure.label_cosmic_rays` returned (its pixel lists are
        used: nothing of the chip's size is scanned, and ``n_merged``, ``n_core_pixels``
        and ``saturated`` come with it), or a label image (0 = no cosmic ray, 1..n).
    n : int
        Number of labels.
    image_e : ndarray, (ny, nx)
        Electrons (e-), before background removal.
    background_e : float, ndarray (ny, nx) or (ndarray, float)
        Background to remove (e-): a chip level, a per-pixel reference, or a reference
        plus a level (see :func:`background_at`).
    n_merged : ndarray of int, (n,), optional
        With a label image: from :func:`hstcr_common.measure.label_cosmic_rays`; ones when
        None.
    chip_index : int
        Written to ``chip_index`` (the caller's index into ``Dark.chips``).

    Returns
    -------
    CosmicRayCatalog
        ``cr_id`` 1..n in label order.  ``energy_e`` = sum of the pixels' electrons;
        moments use weights clipped at 0 (see module docstring); pixels are listed per
        cosmic ray in raster order.  ``n_core_pixels`` and ``saturated`` are filled when
        ``labels`` is a :class:`CosmicRayLabels` (``saturated`` if it was given one).
    """
    extra = {}
    known = None
    if isinstance(labels, CosmicRayLabels):
        known = labels.values_against(background_e)     # read at labelling: no second gather
        if n != labels.n:
            raise ValueError(f"measure_cosmic_rays: n={n} but the labels hold {labels.n}")
        idx, lab, nx = labels.idx, labels.pixel_label, labels.shape[1]
        n_merged = labels.n_merged
        extra["n_core_pixels"] = labels.n_core_pixels
        extra["saturated"] = labels.saturated
    else:
        nx = labels.shape[1]
        idx = np.flatnonzero(labels != 0)           # a bool scan is ~2x faster
        lab = labels.ravel()[idx]
    if n == 0:
        return CosmicRayCatalog.empty(optional=tuple(k for k, v in extra.items()
                                                     if v is not None))
    # pixels grouped by label, raster within; labels that fit 16 bits take numpy's radix sort
    key = lab.astype(np.uint16) if n < 2**16 else lab
    order = np.argsort(key, kind="stable")
    idx, lab = idx[order], lab[order]
    counts = np.bincount(lab, minlength=n + 1)[1:]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    starts = offsets[:-1]
    y, x = np.divmod(idx, nx)
    if known is not None:
        e = known[order]
    else:
        e = np.asarray(image_e).ravel()[idx].astype(np.float64)
        e = e - background_at(background_e, idx)

    energy = np.add.reduceat(e, starts)
    peak = np.maximum.reduceat(e, starts)
    x_min = np.minimum.reduceat(x, starts)
    x_max = np.maximum.reduceat(x, starts)
    y_min = np.minimum.reduceat(y, starts)
    y_max = np.maximum.reduceat(y, starts)

    # moments about the bounding-box corner first (small numbers: no cancellation)
    w = np.clip(e, 0.0, None)
    wsum = np.add.reduceat(w, starts)
    flat = wsum <= 0.0
    if flat.any():                                   # all-negative: equal weights
        w = np.where(np.repeat(flat, counts), 1.0, w)
        wsum = np.add.reduceat(w, starts)
    dx = (x - np.repeat(x_min, counts)).astype(np.float64)
    dy = (y - np.repeat(y_min, counts)).astype(np.float64)
    mx = np.add.reduceat(w * dx, starts) / wsum
    my = np.add.reduceat(w * dy, starts) / wsum
    rx = dx - np.repeat(mx, counts)
    ry = dy - np.repeat(my, counts)
    ixx = np.add.reduceat(w * rx * rx, starts) / wsum
    iyy = np.add.reduceat(w * ry * ry, starts) / wsum
    ixy = np.add.reduceat(w * rx * ry, starts) / wsum
    trace = ixx + iyy
    width = np.sqrt(trace / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        symmetry = np.where(trace > 0, np.sqrt((ixx - iyy) ** 2 + 4.0 * ixy**2) / trace, 0.0)

    if n_merged is None:
        n_merged = np.ones(n, dtype=np.int16)
    return CosmicRayCatalog(
        chip_index=np.full(n, chip_index, dtype=np.int16),
        cr_id=np.arange(1, n + 1, dtype=np.int32),
        n_pixels=counts.astype(np.int32),
        energy_e=energy.astype(np.float32),
        peak_e=peak.astype(np.float32),
        x_centroid=(mx + x_min).astype(np.float32),
        y_centroid=(my + y_min).astype(np.float32),
        ixx=ixx.astype(np.float32), iyy=iyy.astype(np.float32), ixy=ixy.astype(np.float32),
        width_sigma=width.astype(np.float32),
        symmetry=symmetry.astype(np.float32),
        x_min=x_min.astype(np.int16), x_max=x_max.astype(np.int16),
        y_min=y_min.astype(np.int16), y_max=y_max.astype(np.int16),
        n_merged=np.asarray(n_merged, dtype=np.int16),
        pixel_offsets=offsets,
        pixel_x=x.astype(np.int16), pixel_y=y.astype(np.int16),
        pixel_e=e.astype(np.float32),
        **extra,
    )
