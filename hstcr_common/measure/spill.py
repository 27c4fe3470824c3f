"""Charge spilled past a footprint's edge: a correction measured from the chip's own cosmic rays.

Charge diffusion puts a share of every pixel's charge into its side neighbours.  A footprint
(the detected pixels plus the halo ring grown from the bright ones) therefore leaves out what
its edge pixels spill into the free pixels around it: each is well under the noise, so adding
them to the energy would cost more noise than it removes bias, but together they hold
~0.5-1% of a cosmic ray, and ~5% of a compact one (measured on the synthetic truth, ACS/HRC:
footprints under 10 pixels lose 4.5% to free side neighbours, 10-15 pixels 1.0%, larger ones
0.4%), so energies came out low by a few tenths of a percent in the median.

As photometry corrects an aperture with the stars it can measure well, the spill is measured
per chip from the dark's own cosmic rays and predicted for each one (:func:`spill_correction`):

    ring_i = a * core_edge_i + b * halo_edge_i

``ring_i`` is the charge in the free side neighbours of cosmic ray i (the next ring out: not
in any footprint, not bad); ``core_edge_i`` and ``halo_edge_i`` sum, over its detected and
its halo pixels, the pixel's charge times its number of free side neighbours (a halo pixel
is itself spill, so it spills far less onward than a detected one).  The two coefficients
are fitted by weighted least squares over the isolated cosmic rays (one per component,
unsaturated, their ring shared with no other), with one 5-sigma clip, and each is used only
where it is significant (> 3 sigma) and positive.  Every cosmic ray's energy then gains
``a * core_edge + b * halo_edge``: a prediction from its own bright pixels, so it adds almost
no noise (the coefficients are a few percent), where summing its ring would add the noise of
~15 pixels.  The ring's CTE-trailed charge, on the trailing side, is part of what is fitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .background import background_at
from .connectivity import NEIGHBOURS_4, sorted_unique

#: fewest isolated cosmic rays on a chip for a fit
MIN_FIT_COSMIC_RAYS = 50
#: most cosmic rays the fit looks at (evenly spread over the chip's labels): the
#: coefficients' errors are then ~0.002 and the fit costs ~10 ms whatever the density
MAX_FIT_COSMIC_RAYS = 4000
#: a coefficient is used when it is this many standard errors above zero
MIN_SIGNIFICANCE = 3.0
#: residuals beyond this many robust sigmas are left out of the second fit
CLIP_SIGMA = 5.0


@dataclass(frozen=True)
class SpillFit:
    """The spill fitted on one chip.

    Attributes
    ----------
    core, halo : float
        Fraction of a detected (halo) pixel's charge found per free side neighbour, as used
        (0 where not significant).
    core_error, halo_error : float
        Their standard errors (nan when not fitted).
    n_fit : int
        Isolated cosmic rays in the fit.
    """

    core: float = 0.0
    halo: float = 0.0
    core_error: float = float("nan")
    halo_error: float = float("nan")
    n_fit: int = 0

    def note(self) -> str:
        if self.n_fit < MIN_FIT_COSMIC_RAYS:
            return (f"energy spill past the footprints not fitted ({self.n_fit} isolated "
                    f"cosmic rays, {MIN_FIT_COSMIC_RAYS} needed)")
        return (f"energy spill past the footprints, per free side neighbour: detected pixels "
                f"{self.core:.4f} (+-{self.core_error:.4f}), halo pixels {self.halo:.4f} "
                f"(+-{self.halo_error:.4f}), from {self.n_fit} isolated cosmic rays")


def _free_sides(idx: np.ndarray, shape: tuple[int, int], bad: np.ndarray | None):
    """Per side offset, which footprint pixels have that side neighbour free (on the chip,
    in no footprint, not bad), and the neighbours' flat indices.

    The side neighbours along a row are the next and previous entries of the sorted ``idx``
    (no search); the ones along a column take one binary search each.
    """
    ny, nx = shape
    x = idx % nx
    bflat = None if bad is None else np.asarray(bad, dtype=bool).ravel()
    # one search serves both columns: pixel i's neighbour below is listed at j exactly when
    # pixel j's neighbour above is i
    below = np.searchsorted(idx, idx + nx)
    taken_below = idx[np.minimum(below, idx.size - 1)] == idx + nx
    taken_above = np.zeros(idx.size, dtype=bool)
    taken_above[below[taken_below]] = True
    sides = []
    for dy, dx in NEIGHBOURS_4:
        q = idx + (dy * nx + dx)
        if dx:
            on_chip = (x + dx >= 0) & (x + dx < nx)
            taken = np.zeros(idx.size, dtype=bool)
            if dx > 0:
                taken[:-1] = idx[1:] == q[:-1]
            else:
                taken[1:] = idx[:-1] == q[1:]
        else:
            on_chip = (q >= 0) & (q < ny * nx)
            taken = taken_below if dy > 0 else taken_above
        free = on_chip & ~taken
        if bflat is not None:
            # a gather of every pixel's neighbour beats a masked one ~8x; off-chip ones are
            # clipped onto the chip and already not free
            free &= ~bflat.take(q, mode="clip")
        sides.append((free, q))
    return sides


def _wls(y: np.ndarray, x: np.ndarray, w: np.ndarray):
    """Weighted least squares ``y ~ x @ beta`` with sandwich standard errors."""
    xtw = x.T * w
    gram = xtw @ x
    try:
        inv = np.linalg.inv(gram)
    except np.linalg.LinAlgError:
        return None, None, None
    beta = inv @ (xtw @ y)
    r = y - x @ beta
    meat = (x.T * (w * r) ** 2) @ x
    cov = inv @ meat @ inv
    return beta, np.sqrt(np.maximum(np.diag(cov), 0.0)), r


def spill_correction(idx: np.ndarray, label: np.ndarray, is_core: np.ndarray, n: int,
                     image_e: np.ndarray, background_e, *, bad: np.ndarray | None = None,
                     n_merged: np.ndarray | None = None,
                     saturated: np.ndarray | None = None,
                     values_e: np.ndarray | None = None) -> tuple[np.ndarray, SpillFit]:
    """Charge each cosmic ray spilled past its footprint's edge (e-), fitted on the chip.

    Parameters
    ----------
    idx, label, is_core : ndarray
        Every footprint pixel (flat indices, increasing), its label 1..n and whether it was
        detected (False: halo), as :class:`~.labelled.CosmicRayLabels` holds them.
    n : int
        Cosmic rays.
    image_e : ndarray, (ny, nx)
        Electrons.
    background_e : float, ndarray or (ndarray, float)
        As in :func:`~.moments.measure_cosmic_rays`.
    bad : ndarray of bool, (ny, nx), optional
        Pixels that are not free (flagged, rejected hot pixels).
    n_merged : ndarray, (n,), optional
        Cosmic rays found in each one's component: only isolated ones (1) are fitted.
    saturated : ndarray of bool, (n,), optional
        Saturated cosmic rays are not fitted.
    values_e : ndarray of float, optional
        Electrons above ``background_e`` at ``idx``, when the caller has them
        (:meth:`~.labelled.CosmicRayLabels.values_against`); read from the image otherwise.

    Returns
    -------
    added_e : ndarray of float64, (n,)
        Charge to add to each energy (0 where nothing is significant).
    fit : SpillFit
    """
    added = np.zeros(n)
    if n == 0 or idx.size == 0:
        return added, SpillFit()
    shape = np.shape(image_e)
    flat = np.asarray(image_e).ravel()
    value = (values_e if values_e is not None
             else flat[idx].astype(np.float64) - background_at(background_e, idx))
    sides = _free_sides(idx, shape, bad)
    n_free = np.zeros(idx.size, dtype=np.int8)
    for free, _ in sides:
        n_free += free
    lab0 = label.astype(np.int64) - 1
    weighted = value * n_free
    # both sums in one pass: halo pixels counted in bins n..2n-1 (each bin adds its pixels
    # in the same order as two separate sums would)
    edge = np.bincount(np.where(is_core, lab0, lab0 + n), weights=weighted, minlength=2 * n)
    core_edge, halo_edge = edge[:n], edge[n:]

    # the fit: isolated, unsaturated cosmic rays, at most MAX_FIT_COSMIC_RAYS of them (evenly
    # spread over the labels), each with the ring of its free side neighbours
    candidate = np.ones(n, dtype=bool)
    if n_merged is not None:
        candidate &= np.asarray(n_merged) == 1
    if saturated is not None:
        candidate &= ~np.asarray(saturated, dtype=bool)
    chosen = np.flatnonzero(candidate)
    if chosen.size > MAX_FIT_COSMIC_RAYS:
        chosen = chosen[np.linspace(0, chosen.size - 1, MAX_FIT_COSMIC_RAYS).astype(np.int64)]
    in_fit = np.zeros(n, dtype=bool)
    in_fit[chosen] = True
    # the fitted cosmic rays' pixels first (a fifth of the chip's at most densities), then
    # their free sides: four masks over those, not over every footprint pixel
    pick = np.flatnonzero(in_fit[lab0])
    lab_pick = lab0[pick]
    ring_pix, ring_lab = [], []
    for free, q in sides:
        side_free = free[pick]
        ring_pix.append(q[pick][side_free])
        ring_lab.append(lab_pick[side_free])
    ring_pix, ring_lab = np.concatenate(ring_pix), np.concatenate(ring_lab)
    key = sorted_unique(ring_pix * n + ring_lab)
    ring_pix, ring_lab = np.divmod(key, n)
    # a ring pixel reached by two cosmic rays, or touching another one's footprint, is shared
    first = np.r_[True, ring_pix[1:] != ring_pix[:-1]]
    owners = np.diff(np.r_[np.flatnonzero(first), ring_pix.size])
    shared = np.repeat(owners > 1, owners)
    ny, nx = shape
    for dy, dx in NEIGHBOURS_4:
        q = ring_pix + (dy * nx + dx)
        ok = (q >= 0) & (q < ny * nx)
        at = np.searchsorted(idx, np.where(ok, q, 0))
        at = np.minimum(at, idx.size - 1)
        hit = ok & (idx[at] == q)
        shared |= hit & (lab0[at] != ring_lab)
    ring_value = flat[ring_pix].astype(np.float64) - background_at(background_e, ring_pix)
    ring = np.bincount(ring_lab, weights=ring_value, minlength=n)
    n_ring = np.bincount(ring_lab, minlength=n)
    usable = in_fit & (np.bincount(ring_lab[shared], minlength=n) == 0) & (n_ring > 0)
    use = np.flatnonzero(usable)
    if use.size < MIN_FIT_COSMIC_RAYS:
        return added, SpillFit(n_fit=int(use.size))

    x = np.c_[core_edge[use], halo_edge[use]]
    y = ring[use]
    w = 1.0 / n_ring[use]                       # the ring's noise variance ~ its pixel count
    beta, err, r = _wls(y, x, w)
    if beta is None:
        return added, SpillFit(n_fit=int(use.size))
    z = r * np.sqrt(w)
    scale = 1.4826 * np.median(np.abs(z - np.median(z)))
    keep = np.abs(z) <= CLIP_SIGMA * scale if scale > 0 else np.ones(z.size, bool)
    if keep.sum() >= MIN_FIT_COSMIC_RAYS:
        beta2, err2, _ = _wls(y[keep], x[keep], w[keep])
        if beta2 is not None:
            beta, err = beta2, err2
    used = np.where((beta > MIN_SIGNIFICANCE * err) & (beta > 0), beta, 0.0)
    added = used[0] * core_edge + used[1] * halo_edge
    return added, SpillFit(core=float(used[0]), halo=float(used[1]), core_error=float(err[0]),
                           halo_error=float(err[1]), n_fit=int(keep.sum()))
