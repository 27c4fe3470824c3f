"""The diffusion halo: rings of unlabelled neighbours given to labelled cosmic rays.

Charge diffusion spreads a cosmic ray's charge beyond the pixels above any threshold; the
faint ring around them still holds some.  Adding it after labelling (and splitting) keeps
halos from merging neighbouring cosmic rays, and costs zero-mean noise, not bias.
"""

from __future__ import annotations

import numpy as np

from .connectivity import NEIGHBOURS_4, NEIGHBOURS_8


def add_halo(labels: np.ndarray, idx: np.ndarray, pixel_label: np.ndarray,
             values: np.ndarray | None, radius: int, *, connectivity: int,
             exclude: np.ndarray | None = None) -> int:
    """Grow labelled cosmic rays (in place) by ``radius`` rings of unlabelled neighbours.

    A pixel next to several cosmic rays goes to the one whose adjacent pixel is brightest
    (the likeliest source of its charge; ties to the first offset in raster order).
    Vectorised over the labelled pixels: one pass per neighbour offset, each a set of
    distinct target pixels, keeping the brightest source seen so far.

    Parameters
    ----------
    labels : ndarray of int32, (ny, nx)
        Modified in place.
    idx, pixel_label : ndarray
        Flat indices of the labelled pixels the rings grow from, and their labels.
    values : ndarray, flat (ny*nx,), optional
        Brightness used to pick among competing cosmic rays (any order when None).
    radius : int
        Rings (pixels).
    connectivity : {4, 8}
        Neighbours one ring reaches (:attr:`hstcr_common.model.LabelParams.halo_connectivity`).
    exclude : ndarray of bool, (ny, nx), optional
        Pixels never added (bad pixels).

    Returns
    -------
    int
        Pixels added.
    """
    ny, nx = labels.shape
    flat_labels = labels.ravel()
    excl = None if exclude is None else np.asarray(exclude, dtype=bool).ravel()
    offsets = NEIGHBOURS_8 if connectivity == 8 else NEIGHBOURS_4
    # the image's own precision (float32 for every product): exact, and the scratch image
    # below touches half the memory pages
    dtype = np.float64 if values is None else np.result_type(values.dtype, np.float32)
    added = 0
    src_idx, src_lab = idx, pixel_label
    for _ in range(int(radius)):
        y, x = np.divmod(src_idx, nx)
        src_val = (np.asarray(values[src_idx], dtype=dtype) if values is not None
                   else np.zeros(src_idx.size))
        # brightest source so far of each pixel claimed in this ring; np.empty is lazy and
        # only entries written below are ever read.  Claimed pixels carry -label until the
        # ring is done, so "free" (<= 0) still means "not a cosmic ray before this ring".
        best = np.empty(ny * nx, dtype=dtype)
        fresh_all = []
        for dy, dx in offsets:
            ok = (x + dx >= 0) & (x + dx < nx) & (y + dy >= 0) & (y + dy < ny)
            q = src_idx[ok] + (dy * nx + dx)         # injective for one offset: no conflicts
            cur = flat_labels[q]
            free = cur <= 0
            if excl is not None:
                free &= ~excl[q]
            q, cur = q[free], cur[free]
            v, lab = src_val[ok][free], src_lab[ok][free]
            take = (cur == 0) | (v > best[q])
            q, v, lab, fresh = q[take], v[take], lab[take], cur[take] == 0
            best[q] = v
            flat_labels[q] = -lab
            fresh_all.append(q[fresh])
        src_idx = np.concatenate(fresh_all)
        if src_idx.size == 0:
            break
        src_lab = -flat_labels[src_idx]
        flat_labels[src_idx] = src_lab
        added += src_idx.size
    return added
