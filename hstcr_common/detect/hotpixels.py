"""Unflagged hot pixels told from cosmic rays by their edges: charge diffusion.

A cosmic ray's charge is freed along its path through the silicon and diffuses while it
drifts to the potential wells: the charge-diffusion kernel of a thick CCD has sigma ~0.3-0.5
px, so even a one-pixel hit spills 5-20% of its charge into each side neighbour, and a track
lying on a pixel boundary still puts >= ~3% of each edge pixel's charge into the next row
out.  A hot pixel is dark current generated *in* the pixel: a hot pixel, a pair or a cluster
of them has sharp edges -- the pixels around it hold only noise (and dark current).

Two tests, both vectorised (index lists and ``bincount`` over components):

* :func:`spike_flags`: one bright pixel whose 8 neighbours together hold under a quarter of
  its charge (an *isolated* hot pixel, even inside a cosmic ray's blob).
* :func:`sharp_components`: a hysteresis component whose *core* (pixels above the seed
  threshold) is small and whose *edge* -- the side neighbours of the core outside it, bad
  pixels excepted -- holds less than :data:`EDGE_FRACTION` of the core's charge and is
  consistent with noise.  This catches pairs and clusters of hot pixels (and a hot pixel
  with its CTE trail), which the per-pixel test cannot: each member has a bright neighbour.

CTE: charge left behind during readout trails a hot pixel along the parallel (y) direction,
away from the amplifier, so the neighbour on the trailing side holds excess charge that is
not diffusion.  The trailing side of a chip is measured from its isolated hot pixels
(:func:`trail_direction`) and those neighbours are left out of the edge.  A rejected spike's
trail is a few pixels of a few percent of it each: on late-mission darks those pixels still
stood above the seed threshold behind bright blinking hot pixels and came out as 4-5 pixel
"cosmic rays" (93% of the detections on STIS and WFPC2 darks with no cosmic rays).  The
trail's profile is measured per chip from the spikes themselves (:func:`trail_profile`) and
a trailing pixel seeds only above its expected trail (:func:`trail_allowance`).
"""

from __future__ import annotations

import math

import numpy as np

from ..measure import NEIGHBOURS_8, background_at, sorted_unique

#: largest core (pixels above the seed threshold) tested as a hot-pixel cluster: pairs and
#: small clusters of unflagged hot pixels (with their CTE trails).  Cosmic rays with 5-6 core
#: pixels include compact hits centred on a pixel edge (a 2x3 block) whose edge holds only
#: ~1.4% of the core: on the synthetic truth (ACS/WFC, 2.5% hot pixels) a limit of 6 lost
#: 0.7% of the cosmic rays above 300 e-, 4 lost 0.1-0.2% and still caught 90% of the pairs
MAX_HOT_CORE_PIXELS = 4
#: a cosmic ray's edge holds at least ~3% of its core's charge (diffusion sigma 0.45 px: a
#: track on a pixel boundary puts 2.7% of each edge pixel into the next row from the Gaussian
#: core and ~1% from the wide halo; a one-pixel hit puts 10-18% into each side neighbour).
#: On the synthetic truth, 1% of the cosmic rays with <= 6 core pixels fall under 1.4%.
#: A component is called sharp below this fraction ...
EDGE_FRACTION = 0.025
#: ... and when its edge excess is below this many sigmas of the edge's noise
EDGE_SIGMA = 3.0
#: a CTE trail is called when the trailing neighbours of the isolated hot pixels hold this
#: many sigmas more than the leading ones ...
TRAIL_SIGMA = 5.0
#: ... and at least this fraction of their charge
TRAIL_MIN_FRACTION = 0.002
#: pixels behind a spike whose expected CTE trail is allowed for before the seed test: the
#: 5th pixel of a 2-px e-folding trail still holds 5% of the lost charge, ~40 e- (a seed on
#: ACS/WFC) behind a 6,500 e- spike at the far end of a late-mission chip; the profile is
#: measured out to here and stops where its median is no longer positive
TRAIL_PX = 10
#: the allowance is this many times the measured median trail: CTE loses a larger fraction of
#: a faint spike than of a bright one, and the median is taken over spikes of every height
TRAIL_MARGIN = 2.0


def _at(value, idx: np.ndarray):
    """``value`` (scalar, image or map) at flat indices ``idx`` (float64)."""
    return background_at(value, idx)


def spike_flags(image_e: np.ndarray, bad: np.ndarray, cand: np.ndarray, noise_e,
                neighbour_fraction: float, neighbour_sigma: float, level_e=0.0) -> np.ndarray:
    """Per candidate pixel (flat indices ``cand``): is it an isolated hot pixel?

    A pixel is a *spike* when its eight neighbours together hold less than
    ``max(neighbour_fraction * value, neighbour_sigma * noise * sqrt(8))`` above the
    background (bad neighbours count as 0).  ``noise_e`` and ``level_e`` are scalars or
    images (their value at the candidate is used for its neighbours: both are smooth).
    """
    ny, nx = image_e.shape
    if cand.size == 0:
        return np.zeros(0, dtype=bool)
    py, px = np.divmod(cand, nx)
    flat = image_e.ravel()
    bflat = bad.ravel()
    level = _at(level_e, cand)
    neighbours = np.zeros(cand.size, dtype=np.float64)
    # inside the chip's 1-pixel border every neighbour exists: no bounds test per offset
    edge = (py == 0) | (py == ny - 1) | (px == 0) | (px == nx - 1)
    inner = np.flatnonzero(~edge) if edge.any() else slice(None)
    centre = cand[inner]
    lv_in = level if np.ndim(level) == 0 else level[inner]
    part = np.zeros(centre.size, dtype=np.float64)
    for dy, dx in NEIGHBOURS_8:
        q = centre + (dy * nx + dx)
        # bad neighbours count 0: zeroed in place (a third less time than np.where's copy)
        above = flat.take(q) - lv_in
        above[bflat.take(q)] = 0.0
        part += above
    neighbours[inner] = part
    if edge.any():
        # the few candidates on the border, tested alone: their own bounds per offset
        on_edge = np.flatnonzero(edge)
        ey, ex = py[on_edge], px[on_edge]
        lv_edge = level if np.ndim(level) == 0 else level[on_edge]
        for dy, dx in NEIGHBOURS_8:
            ok = np.flatnonzero((ey + dy >= 0) & (ey + dy < ny) & (ex + dx >= 0) & (ex + dx < nx))
            q = cand[on_edge[ok]] + (dy * nx + dx)
            lv = lv_edge if np.ndim(lv_edge) == 0 else lv_edge[ok]
            neighbours[on_edge[ok]] += np.where(bflat[q], 0.0, flat[q] - lv)
    value = flat[cand].astype(np.float64) - level
    limit = np.maximum(neighbour_fraction * value,
                       neighbour_sigma * _at(noise_e, cand) * math.sqrt(8.0))
    return neighbours < limit


def trail_direction(image_e: np.ndarray, bad: np.ndarray, spikes: np.ndarray, level_e,
                    noise_e) -> int:
    """The side (+1: larger y, -1: smaller y, 0: none seen) CTE trails hot pixels towards.

    From the isolated hot pixels ``spikes`` (flat indices, first-pass spikes: no bright
    neighbour): the median difference between the pixel above and the one below, called a
    trail when it is :data:`TRAIL_SIGMA` sigmas from 0 (the median's error,
    ``1.2533 * sqrt(2) * noise / sqrt(n)``) and :data:`TRAIL_MIN_FRACTION` of the median hot
    pixel.  A median, not a sum: a bright pixel beside a few of them must not decide.
    """
    ny, nx = image_e.shape
    y = spikes // nx
    sel = spikes[(y > 0) & (y < ny - 1)]
    if sel.size:
        sel = sel[~bad.ravel()[sel + nx] & ~bad.ravel()[sel - nx]]
    if sel.size < 20:
        return 0
    flat = image_e.ravel()
    diff = np.median(flat[sel + nx].astype(np.float64) - flat[sel - nx])
    height = np.median(flat[sel] - _at(level_e, sel))
    error = 1.2533 * math.sqrt(2.0) * float(np.median(_at(noise_e, sel))) / math.sqrt(sel.size)
    if abs(diff) > TRAIL_SIGMA * error and abs(diff) > TRAIL_MIN_FRACTION * height:
        return 1 if diff > 0 else -1
    return 0


def trail_profile(image_e: np.ndarray, bad: np.ndarray, spike_idx: np.ndarray,
                  direction: int, n_px: int = TRAIL_PX) -> np.ndarray:
    """Median fraction of a spike's charge in each of the ``n_px`` pixels trailing it.

    Parameters
    ----------
    image_e : ndarray, (ny, nx)
        Electrons above the background (a residual).
    bad : ndarray of bool, (ny, nx)
    spike_idx : ndarray of int64
        Flat indices of the spikes (isolated hot pixels).
    direction : {-1, 1}
        The trailing side (:func:`trail_direction`).

    Returns
    -------
    ndarray (n_px,)
        Fraction of the spike's charge in the pixel ``j + 1`` rows behind it, per unit of
        :func:`transfer_fraction` (CTE loss grows with the transfers to the register), >= 0;
        0 where fewer than 20 spikes have that pixel on the chip and good.  A median, so a
        cosmic ray beside a few spikes does not count.
    """
    ny, nx = image_e.shape
    flat, bflat = image_e.ravel(), bad.ravel()
    y = spike_idx // nx
    value = flat[spike_idx].astype(np.float64) * transfer_fraction(y, ny, direction)
    out = np.zeros(n_px)
    for j in range(1, n_px + 1):
        ok = np.flatnonzero((y + direction * j >= 0) & (y + direction * j < ny))
        q = spike_idx[ok] + direction * j * nx
        good = ~bflat[q] & (value[ok] > 0)
        if np.count_nonzero(good) < 20:
            break
        out[j - 1] = max(float(np.median(flat[q[good]] / value[ok][good])), 0.0)
    return out


def transfer_fraction(y: np.ndarray, ny: int, direction: int) -> np.ndarray:
    """Parallel transfers of row ``y`` to the serial register / ``ny``, for trails pointing
    to ``direction`` (+1: register at row 0; -1: register past the last row).  A subarray
    is taken as its own chip (its offset is not needed: only ratios between rows matter)."""
    y = np.asarray(y, dtype=np.float64)
    return (y + 1.0) / ny if direction > 0 else (ny - y) / ny


def trail_allowance(shape: tuple[int, int], spike_idx: np.ndarray, spike_value: np.ndarray,
                    direction: int, profile: np.ndarray,
                    margin: float = TRAIL_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """The pixels trailing each spike and the charge their spike's CTE trail may put there.

    Returns
    -------
    idx : ndarray of int64
        Flat indices (a pixel behind two spikes appears twice).
    allowance_e : ndarray of float64
        ``margin * profile[j - 1] * transfers * spike_value`` for the pixel ``j`` rows behind
        its spike.
    """
    ny, nx = shape
    y = spike_idx // nx
    spike_value = np.asarray(spike_value, dtype=np.float64) * transfer_fraction(y, ny, direction)
    idx, allow = [], []
    for j, fraction in enumerate(profile, start=1):
        if fraction <= 0:
            break
        ok = (y + direction * j >= 0) & (y + direction * j < ny)
        idx.append(spike_idx[ok] + direction * j * nx)
        allow.append(margin * fraction * spike_value[ok])
    if not idx:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(idx), np.concatenate(allow)


def sharp_components(labels: np.ndarray, core_idx: np.ndarray, image_e: np.ndarray,
                     bad: np.ndarray, level_e, noise_e, *, trail_dy: int = 0,
                     saturated: np.ndarray | None = None,
                     max_core_pixels: int = MAX_HOT_CORE_PIXELS,
                     edge_fraction: float = EDGE_FRACTION,
                     edge_sigma: float = EDGE_SIGMA) -> np.ndarray:
    """Which components are hot pixels (pairs, clusters, trails): small cores, sharp edges.

    Parameters
    ----------
    labels : ndarray of int, (ny, nx)
        Component image (0 = none).
    core_idx : ndarray of int64
        Flat indices of the core pixels (above the seed threshold, not spikes), each in a
        component.
    image_e : ndarray, (ny, nx)
    bad : ndarray of bool, (ny, nx)
        Pixels never counted in an edge (flagged, or isolated hot pixels).
    level_e, noise_e : float or ndarray (ny, nx)
        Background and pixel noise (e-).
    trail_dy : {-1, 0, 1}
        CTE trailing side (:func:`trail_direction`): neighbours there are not edge pixels.
    saturated : ndarray of bool, optional
        Components holding a saturated pixel are never hot (saturated charge is a cosmic
        ray's; a saturated hot pixel is flagged hot in the DQ).
    max_core_pixels, edge_fraction, edge_sigma
        See :data:`MAX_HOT_CORE_PIXELS`, :data:`EDGE_FRACTION`, :data:`EDGE_SIGMA`.

    Returns
    -------
    ndarray of bool, (labels.max() + 1,)
        True for the components that are hot pixels (index 0 is False).
    """
    ny, nx = image_e.shape
    n = int(labels.max()) if labels.size else 0
    hot = np.zeros(n + 1, dtype=bool)
    if core_idx.size == 0:
        return hot
    flat = image_e.ravel()
    lab = labels.ravel()
    comp = lab[core_idx].astype(np.int64)
    n_core = np.bincount(comp, minlength=n + 1)
    core_charge = np.bincount(comp, weights=flat[core_idx] - _at(level_e, core_idx),
                              minlength=n + 1)
    cand = (n_core > 0) & (n_core <= max_core_pixels)
    if saturated is not None:
        sat_comp = np.bincount(lab[np.flatnonzero(saturated & (labels != 0))],
                               minlength=n + 1) > 0
        cand &= ~sat_comp[:n + 1]
    pick = cand[comp]
    idx, comp = core_idx[pick], comp[pick]
    if idx.size == 0:
        return hot
    is_core = np.zeros(ny * nx, dtype=bool)
    is_core[core_idx] = True
    offsets = [(0, -1), (0, 1)] + ([(-trail_dy, 0)] if trail_dy else [(-1, 0), (1, 0)])
    y, x = np.divmod(idx, nx)
    keys = []
    for dy, dx in offsets:
        ok = (y + dy >= 0) & (y + dy < ny) & (x + dx >= 0) & (x + dx < nx)
        q = idx[ok] + (dy * nx + dx)
        edge = ~is_core[q] & ~bad.ravel()[q]
        keys.append(comp[ok][edge] * (ny * nx) + q[edge])
    keys = sorted_unique(np.concatenate(keys))
    e_comp, q = np.divmod(keys, ny * nx)
    edge_excess = np.bincount(e_comp, weights=flat[q] - _at(level_e, q), minlength=n + 1)
    edge_var = np.bincount(e_comp, weights=_at(noise_e, q) ** 2 + np.zeros(q.size),
                           minlength=n + 1)
    hot = cand & (edge_excess < edge_fraction * core_charge) & (
        edge_excess < edge_sigma * np.sqrt(edge_var))
    hot[0] = False
    return hot
