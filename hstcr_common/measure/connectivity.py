"""Pixel neighbourhoods: the 8-connected structuring element and neighbour offsets."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: 8-connectivity: the 3x3 structuring element (a cosmic ray's pixels touch by side or corner)
EIGHT = np.ones((3, 3), dtype=bool)
#: the 8 neighbour offsets (dy, dx), raster order
NEIGHBOURS_8 = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
#: the 4 side neighbours (dy, dx)
NEIGHBOURS_4 = [(-1, 0), (0, -1), (0, 1), (1, 0)]
#: 4 of the 8 offsets: visiting them from every pixel visits every adjacent pair once
HALF_NEIGHBOURS_8 = [(0, 1), (1, -1), (1, 0), (1, 1)]


class Components(NamedTuple):
    """8-connected components a detection labelled, and which of them are cosmic rays.

    What a hysteresis hands on so the components are not labelled again
    (:func:`hstcr_common.measure.label_cosmic_rays` ``components``).
    """

    #: int (ny, nx): component of each pixel, 0 = none
    label_image: np.ndarray
    #: bool (n_components + 1,): the components kept (``keep[0]`` is False)
    keep: np.ndarray
    #: int64, sorted: the flat indices of every labelled pixel, when the detection listed
    #: them (None: found from ``label_image``, a pass over the frame)
    pixels: np.ndarray | None = None
    #: (int64 sorted, int): the kept components' pixels (flat indices) and their component,
    #: when the detection had them at hand (None: read from ``label_image`` at ``pixels``)
    kept: tuple[np.ndarray, np.ndarray] | None = None

    def labelled_pixels(self) -> np.ndarray:
        """Sorted flat indices of every labelled pixel (kept or not)."""
        if self.pixels is not None:
            return self.pixels
        return np.flatnonzero(self.label_image)

    def kept_pixels(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted flat indices of the kept components' pixels, and their component."""
        if self.kept is not None:
            return self.kept
        idx = self.labelled_pixels()
        return kept_of(self.keep, idx, self.label_image.ravel()[idx])


def kept_of(keep: np.ndarray, pixels: np.ndarray,
            component: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pixels (and their component) whose component is kept: :attr:`Components.kept`
    from the labelled pixels and their components."""
    wanted = keep[component]
    return pixels[wanted], component[wanted]


def neighbour_positions(idx: np.ndarray, shape: tuple[int, int],
                        offsets=NEIGHBOURS_8) -> dict[tuple[int, int], np.ndarray]:
    """Where each pixel's neighbours are in a sorted list of flat pixel indices.

    Parameters
    ----------
    idx : ndarray of int64, (m,)
        Flat indices (row-major, into an image of ``shape``), strictly increasing.
    shape : (ny, nx)
    offsets : iterable of (dy, dx)
        Neighbour offsets, each within one pixel.

    Returns
    -------
    dict
        ``(dy, dx) -> ndarray of int64 (m,)``: the position in ``idx`` of pixel ``idx[i]``'s
        neighbour at ``(dy, dx)``, or ``m`` when that neighbour is not listed (or off the
        chip).  Costs one binary search of the m listed pixels for the rows above and below
        together, never an image of the chip's size.
    """
    idx = np.asarray(idx, dtype=np.int64)
    m = idx.size
    nx = int(shape[1])
    x = idx % nx
    offsets = list(offsets)
    # a sentinel after the list, equal to no pixel index or neighbour of one: positions m
    # (not found) and -1 (before the first) read it
    ext = np.append(idx, np.iinfo(np.int64).min)

    def row(dy: int, dxs) -> dict[int, np.ndarray]:
        centre = idx + dy * nx                     # the neighbour straight below/self
        if dy == 0:
            at = np.arange(m, dtype=np.int64)      # the pixel itself
        else:
            at = np.searchsorted(idx, centre)      # first listed pixel >= centre
        has_centre = ext[at] == centre
        found_at = {}
        for dx in dxs:
            if dx == 0:
                pos, found = at, has_centre
            elif dx < 0:                           # the last listed pixel < centre
                pos = at - 1
                found = (ext[pos] == centre - 1) & (x > 0)
            else:                                  # the first listed pixel > centre
                pos = at + has_centre
                found = (ext[np.minimum(pos, m)] == centre + 1) & (x < nx - 1)
            found_at[dx] = np.where(found, pos, m)
        return found_at

    # the row above needs no search of its own: pixel j is pixel i's neighbour at (1, dx)
    # exactly when i is j's neighbour at (-1, -dx), so one search serves both rows
    below = row(1, sorted({dx for dy, dx in offsets if dy == 1}
                          | {-dx for dy, dx in offsets if dy == -1}))
    same = row(0, [dx for dy, dx in offsets if dy == 0])
    out = {}
    for dy, dx in offsets:
        if dy == 1:
            out[(dy, dx)] = below[dx]
        elif dy == 0:
            out[(dy, dx)] = same[dx]
        else:
            down = below[-dx]
            have = np.flatnonzero(down < m)
            up = np.full(m, m, dtype=np.int64)
            up[down[have]] = have
            out[(dy, dx)] = up
    return out


def contains(sorted_idx: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Whether each of ``query`` is in the strictly increasing ``sorted_idx`` (bool array)."""
    if sorted_idx.size == 0:
        return np.zeros(np.shape(query), dtype=bool)
    at = np.searchsorted(sorted_idx, query)
    return sorted_idx[np.minimum(at, sorted_idx.size - 1)] == query


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` of integers: the distinct values, increasing.

    A stable sort (a radix sort for integers) and one compare of neighbours.  numpy 2.4's
    ``np.unique`` hashes integer arrays before it sorts them, which at the 10^4-10^5 keys of
    one chip's footprints is 15-70x slower (20,000 keys 4.2 vs 0.2 ms, 300,000 keys 196 vs
    2.5 ms).
    """
    ordered = np.sort(np.asarray(values).ravel(), kind="stable")
    if ordered.size < 2:
        return ordered
    first = np.empty(ordered.size, dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def insertion_slots(at: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Where a list's m entries and k new ones go when the new ones are inserted before
    positions ``at`` (non-decreasing), as ``np.insert(a, at, new)`` places them.

    Returns ``(old_slots, new_slots)``, positions in the merged list of m + k entries, so
    several lists merge with one scatter each: ``np.insert`` sorts ``at`` and rebuilds a mask
    for every list it is called on.
    """
    at = np.asarray(at, dtype=np.int64)
    new_slots = at + np.arange(at.size, dtype=np.int64)
    # old entry i moves up by the new entries inserted at or before it
    old_slots = np.arange(m, dtype=np.int64) + np.cumsum(np.bincount(at, minlength=m + 1))[:m]
    return old_slots, new_slots


def insert_at(slots: tuple[np.ndarray, np.ndarray], old: np.ndarray, new) -> np.ndarray:
    """``old`` with ``new`` inserted at the :func:`insertion_slots` (in ``old``'s dtype)."""
    old_slots, new_slots = slots
    out = np.empty(old_slots.size + new_slots.size, dtype=old.dtype)
    out[old_slots] = old
    out[new_slots] = new
    return out

