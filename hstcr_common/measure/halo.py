"""The diffusion halo: rings of unlabelled neighbours given to labelled cosmic rays.

Charge diffusion spreads a cosmic ray's charge beyond the pixels above any threshold; the
faint ring around them still holds some.  Adding it after labelling (and splitting) keeps
halos from merging neighbouring cosmic rays, and costs zero-mean noise, not bias.

:func:`grow_halo` works on the labelled pixels' sorted flat indices (membership by binary
search), so its cost follows the cosmic-ray pixels, not the chip; :func:`add_halo` is the
same rule applied in place to a label image.
"""

from __future__ import annotations

import numpy as np

from .connectivity import NEIGHBOURS_4, NEIGHBOURS_8, contains, insert_at, insertion_slots


def _ring(taken: np.ndarray, src_idx: np.ndarray, src_lab: np.ndarray, src_val: np.ndarray,
          shape: tuple[int, int], offsets, excl: np.ndarray | None,
          taken_next: dict | None = None) -> tuple[np.ndarray, ...]:
    """One ring: the free neighbours of the sources and the label each one goes to.

    Offsets are visited in order; a pixel reached from several sources goes to the
    brightest (a later offset wins only if strictly brighter), exactly as a scan over the
    offsets with a "brightest so far" per pixel.  ``taken_next`` (offset -> bool per source),
    when known, says which sources have that neighbour in ``taken`` (no search).  Returns the
    ring's pixels (sorted) and their labels.
    """
    ny, nx = shape
    y, x = np.divmod(src_idx, nx)
    cands = []
    for dy, dx in offsets:
        ok = (x + dx >= 0) & (x + dx < nx) & (y + dy >= 0) & (y + dy < ny)
        q = src_idx[ok] + (dy * nx + dx)             # injective for one offset: no conflicts
        free = ~taken_next[(dy, dx)][ok] if taken_next is not None else ~contains(taken, q)
        if excl is not None:
            free &= ~excl[q]
        cands.append((q[free], src_val[ok][free], src_lab[ok][free]))
    # each offset's targets are sorted (the sources are): a stable sort (timsort) merges
    # the runs in near-linear time, where np.unique would hash or quicksort them
    ring = np.sort(np.concatenate([q for q, _, _ in cands]), kind="stable")
    ring = ring[np.r_[True, ring[1:] != ring[:-1]]] if ring.size else ring
    best = np.empty(ring.size, dtype=src_val.dtype)
    label = np.zeros(ring.size, dtype=src_lab.dtype)
    claimed = np.zeros(ring.size, dtype=bool)
    for q, v, lab in cands:
        u = np.searchsorted(ring, q)
        take = ~claimed[u] | (v > best[u])
        u, v, lab = u[take], v[take], lab[take]
        best[u] = v
        label[u] = lab
        claimed[u] = True
    return ring, label


def grow_halo(taken: np.ndarray, src_idx: np.ndarray, src_label: np.ndarray,
              values: np.ndarray | None, radius: int, shape: tuple[int, int], *,
              connectivity: int, exclude: np.ndarray | None = None,
              src_at: np.ndarray | None = None,
              neighbours: dict | None = None) -> tuple[np.ndarray, ...]:
    """The halo pixels ``radius`` rings of free neighbours give to labelled cosmic rays.

    A pixel next to several cosmic rays goes to the one whose adjacent pixel is brightest
    (the likeliest source of its charge; ties to the first offset in raster order).
    Vectorised over the pixels: one pass per neighbour offset per ring.

    Parameters
    ----------
    taken : ndarray of int64
        Flat indices (row-major, into an image of ``shape``) of every labelled pixel,
        strictly increasing: none of them is given to a halo.
    src_idx, src_label : ndarray
        The labelled pixels the first ring grows from (e.g. those bright enough to spread
        charge) and their labels (> 0); later rings grow from the ring before.
    values : ndarray, flat (ny*nx,), optional
        Brightness used to pick among competing cosmic rays (any order when None).
    radius : int
        Rings (pixels).
    shape : (ny, nx)
    connectivity : {4, 8}
        Neighbours one ring reaches (:attr:`hstcr_common.model.LabelParams.halo_connectivity`).
    exclude : ndarray of bool, (ny, nx), optional
        Pixels never added (bad pixels).
    src_at, neighbours : ndarray of int64 and dict, optional
        The sources' positions in ``taken`` and ``taken``'s neighbour positions
        (:func:`~.connectivity.neighbour_positions`, these offsets included), when the
        caller has them: the first ring then looks its sources' neighbours up instead of
        searching ``taken`` for them.

    Returns
    -------
    halo_idx : ndarray of int64
        Flat indices of the pixels added, sorted.
    halo_label : ndarray
        Their labels.
    """
    taken = np.asarray(taken, dtype=np.int64)
    excl = None if exclude is None else np.asarray(exclude, dtype=bool).ravel()
    offsets = NEIGHBOURS_8 if connectivity == 8 else NEIGHBOURS_4
    # the image's own precision (float32 for every product): exact
    dtype = np.float64 if values is None else np.result_type(values.dtype, np.float32)
    src_idx = np.asarray(src_idx, dtype=np.int64)
    src_lab = np.asarray(src_label)
    added_idx, added_lab = [], []
    taken_next = None
    if src_at is not None and neighbours is not None:
        taken_next = {off: neighbours[off][src_at] < taken.size for off in offsets}
    for _ in range(int(radius)):
        if src_idx.size == 0:
            break
        src_val = (np.asarray(values[src_idx], dtype=dtype) if values is not None
                   else np.zeros(src_idx.size, dtype=dtype))
        src_idx, src_lab = _ring(taken, src_idx, src_lab, src_val, shape, offsets, excl,
                                 taken_next)
        taken_next = None                 # later rings grow from pixels not in the list
        if src_idx.size == 0:
            break
        added_idx.append(src_idx)
        added_lab.append(src_lab)
        taken = insert_at(insertion_slots(np.searchsorted(taken, src_idx), taken.size),
                          taken, src_idx)
    if not added_idx:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=src_lab.dtype)
    halo_idx = np.concatenate(added_idx)
    halo_lab = np.concatenate(added_lab)
    order = np.argsort(halo_idx, kind="stable")
    return halo_idx[order], halo_lab[order]


def add_halo(labels: np.ndarray, idx: np.ndarray, pixel_label: np.ndarray,
             values: np.ndarray | None, radius: int, *, connectivity: int,
             exclude: np.ndarray | None = None) -> int:
    """Grow labelled cosmic rays of a label image (in place) by ``radius`` rings.

    :func:`grow_halo` on the label image: every labelled pixel is taken, the first ring
    grows from ``idx`` (labels ``pixel_label``).

    Parameters
    ----------
    labels : ndarray of int32, (ny, nx)
        Modified in place.
    idx, pixel_label : ndarray
        Flat indices of the labelled pixels the rings grow from, and their labels.
    values, radius, connectivity, exclude
        As in :func:`grow_halo`.

    Returns
    -------
    int
        Pixels added.
    """
    flat_labels = labels.ravel()
    halo_idx, halo_lab = grow_halo(np.flatnonzero(flat_labels), idx, pixel_label, values,
                                   radius, labels.shape, connectivity=connectivity,
                                   exclude=exclude)
    flat_labels[halo_idx] = halo_lab
    return int(halo_idx.size)
