"""A smooth local background and noise map of one chip, per amplifier region.

One level per chip is wrong on real darks: post-flash carries a gradient (tens of % across a
chip), each amplifier has its own bias residual (a few e-), and the dark current and its
noise follow both.  With one level, energies over a cosmic ray's ~14 pixels drift by a few
% from one chip edge to the other.  The map here is the :func:`robust_background` estimate
(median, and median minus the 15.87th percentile for the noise: the lower half of the pixel
distribution, which cosmic rays and hot pixels -- only ever adding charge -- cannot bias) in
boxes of ``box`` x ``box`` pixels, median-filtered over 3 x 3 boxes (a box swamped by a
bleeding column or a long track takes its neighbours' value) and interpolated bilinearly
between box centres.  Boxes never straddle an amplifier boundary: ACS/WFC and WFC3/UVIS chips
are read by two amplifiers, the left and right halves of each chip [ACS-IHB 5.1, WFC3-IHB
5.4.6], so each half has its own map.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from ..instruments import Detector

#: amplifiers reading one chip side by side (left/right halves of a full-frame chip):
#: ACS/WFC (A,B on WFC1; C,D on WFC2) and WFC3/UVIS (A,B on UVIS1; C,D on UVIS2) read each
#: chip through two amplifiers in the default full-frame, 4-amplifier readout [ACS-IHB 5.1,
#: WFC3-IHB 5.4.6]; ACS/HRC, STIS and WFPC2 read each chip through one.  A 1-amplifier readout
#: of a 2-amplifier chip only loses a box column of smoothing at the seam.
AMPLIFIERS_PER_CHIP = {"acs_wfc": 2, "wfc3_uvis": 2}
#: side of the boxes (pixels): 4096 pixels give the noise to ~2% per box, and 64 px is far
#: below the scale of a flash gradient or an amplifier region, far above a cosmic ray
BACKGROUND_BOX_PX = 64
#: pixels sampled per box: every SAMPLE_STEP-th in x and y (see :func:`_box_estimates`)
SAMPLE_STEP = 2
#: a box with fewer valid pixels than this fraction takes its neighbours' value
MIN_VALID_FRACTION = 0.25
#: fraction of a Gaussian below -1 sigma
_ONE_SIGMA_BELOW = 0.15865525393145707
#: a level offset (:func:`offsets_away_from`) samples every this many rows ...
OFFSET_ROW_STEP = 5
#: ... at pixels at least this far (rows and columns) from every cosmic ray's detected pixels
OFFSET_MARGIN_PX = 2
#: ... and within this many noise sigmas of zero (residual hot pixels, the reference's holes)
OFFSET_CLIP_SIGMA = 5.0


def amplifiers_per_chip(detector: Detector) -> int:
    """Amplifier regions side by side across one chip (see :data:`AMPLIFIERS_PER_CHIP`)."""
    return AMPLIFIERS_PER_CHIP.get(detector.id, 1)


def local_background(image_e: np.ndarray, bad: np.ndarray, *, n_amplifiers: int = 1,
                     box: int = BACKGROUND_BOX_PX,
                     sigma_floor_e: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Smooth background level and pixel noise maps (e-) of one chip, as frame-sized arrays.

    The search itself reads the maps where it needs them (:func:`local_background_maps`);
    this gives the same values as arrays.

    Parameters
    ----------
    image_e : ndarray, (ny, nx)
        Electrons.
    bad : ndarray of bool, (ny, nx)
        Pixels left out of the estimate.
    n_amplifiers : int
        Amplifier regions side by side in x (equal widths); each gets its own map.
    box : int
        Box side (pixels).
    sigma_floor_e : float
        Lower bound of the noise map (e-), e.g. half the read noise.

    Returns
    -------
    level_e, sigma_e : ndarray of float32, (ny, nx)
    """
    level, sigma = local_background_maps(image_e, bad, n_amplifiers=n_amplifiers, box=box,
                                         sigma_floor_e=sigma_floor_e)
    return np.asarray(level), np.asarray(sigma)


def local_background_maps(image_e: np.ndarray, bad: np.ndarray, *, n_amplifiers: int = 1,
                          box: int = BACKGROUND_BOX_PX, sigma_floor_e: float = 1e-3
                          ) -> tuple[BackgroundMap, BackgroundMap]:
    """:func:`local_background`'s maps as :class:`BackgroundMap`: held as their box grids
    and read at the pixels the search looks at (parameters as there)."""
    grids = background_grids(image_e, bad, n_amplifiers=n_amplifiers, box=box)
    return (BackgroundMap(grids, image_e.shape, box=box),
            BackgroundMap(grids, image_e.shape, box=box, which="sigma", floor=sigma_floor_e))


class BackgroundMap:
    """A frame-sized map of :func:`background_grids` (e-), held as its box grids.

    The search reads a background or noise map at the pixels it examines (those above a
    threshold, a cosmic ray's pixels, a sample), or a strip of rows at a time where it
    compares the whole frame.  Two frame-sized maps cost 64 MB per ACS/WFC chip, held until
    the dark's catalogue was done (both chips': 128 MB of the ~520 MB peak, every page of it
    touched anew by the first dark a process searches).  The values are the bilinear
    interpolation between box centres (clamped beyond the outer centres, each amplifier
    region on its own, floored at ``floor``): each box row is interpolated along x once (a
    profile of nx values), and a row of the map mixes the two profiles around it --
    :meth:`rows`, slices, the extremes and ``np.asarray(map)`` in float32, :meth:`at` in
    float64 (the two agree to float32 rounding).

    It stands in for the (ny, nx) array where the search takes one: ``ndim``, ``shape``,
    :meth:`at` for flat indices (what :func:`hstcr_common.measure.background_at` calls),
    :meth:`rows` for a strip, ``map[rows, cols]`` for a grid of slices, ``np.min`` and
    ``np.max`` (exactly those of ``np.asarray(map)``: a bilinear map's extremes lie on the
    pixels next to the box centres) and ``np.asarray(map)`` for the whole frame.
    """

    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(self, grids: list[dict], shape: tuple[int, int], *, box: int = BACKGROUND_BOX_PX,
                 which: str = "level", floor: float | None = None):
        ny, nx = self.shape = (int(shape[0]), int(shape[1]))
        self.floor = None if floor is None else float(floor)
        # each box row interpolated along x (a profile of nx values): a row of the map is
        # then two profiles mixed, profile[lo] + frac * (profile[lo + 1] - profile[lo])
        n_box_rows = np.asarray(grids[0][which]).shape[0]
        profile = np.empty((n_box_rows + 1, nx))
        cols = []
        for g in grids:
            grid = np.asarray(g[which], dtype=np.float64)
            x0, x1 = int(g["x0"]), int(g["x1"])
            profile[:-1, x0:x1] = grid @ _weights(x1 - x0, grid.shape[1], box).T
            cols.append(x0 + _next_to_centres(x1 - x0, grid.shape[1], box))
        profile[-1] = profile[-2]                # a single box row: weight 0 on the copy
        self._row_lo, self._row_frac = _taps(ny, n_box_rows, box)
        self._profile, self._step = profile, np.diff(profile, axis=0)
        # rows() and slices work in float32, at() in float64
        self._profile32, self._step32 = profile.astype(np.float32), self._step.astype(np.float32)
        self._row_frac32 = self._row_frac.astype(np.float32)
        self._extreme_rows = _next_to_centres(ny, n_box_rows, box)
        self._extreme_cols = np.concatenate(cols)

    def at(self, idx: np.ndarray, dtype=np.float64) -> np.ndarray:
        """The map at flat pixel indices ``idx`` (any shape), as ``dtype``."""
        y, x = np.divmod(np.asarray(idx, dtype=np.int64), self.shape[1])
        cell = self._row_lo.take(y) * self.shape[1]
        cell += x
        value = self._step.take(cell)            # take on a 2-D array reads it flat
        value *= self._row_frac.take(y)
        value += self._profile.take(cell)
        if self.floor is not None:
            np.maximum(value, self.floor, out=value)
        return value.astype(dtype, copy=False)

    def rows(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Rows ``start:stop`` of the map, float32 (written into ``out`` when given)."""
        lo, frac = self._row_lo[start:stop], self._row_frac32[start:stop, None]
        if lo.size and lo[0] == lo[-1]:
            # the rows between the same two box centres (a strip of 32 rows aligned on 32
            # always is, for 64-pixel boxes): one profile and one step for all of them
            out = np.multiply(frac, self._step32[lo[0]], out=out)
            out += self._profile32[lo[0]]
        else:
            out = np.multiply(frac, self._step32[lo], out=out)
            out += self._profile32[lo]
        if self.floor is not None:
            np.maximum(out, np.float32(self.floor), out=out)
        return out

    def __getitem__(self, key):
        """``map[rows, cols]`` with two slices: the (rows, cols) grid of values, float32, as
        :meth:`rows` computes them (``map[::7, ::7]`` is a sample of a few % of the frame)."""
        if (isinstance(key, tuple) and len(key) == 2
                and all(isinstance(k, slice) for k in key)):
            return self._grid(np.arange(self.shape[0])[key[0]], np.arange(self.shape[1])[key[1]])
        return np.asarray(self)[key]

    def _grid(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The map at every (row, col) of the index arrays ``rows`` x ``cols`` (float32)."""
        lo = self._row_lo[rows]
        out = np.multiply(self._row_frac32[rows, None], self._step32[:, cols][lo])
        out += self._profile32[:, cols][lo]
        if self.floor is not None:
            np.maximum(out, np.float32(self.floor), out=out)
        return out

    def __array__(self, dtype=None, copy=None):
        out = self.rows(0, self.shape[0])
        return out if dtype is None else out.astype(dtype, copy=False)

    def _extremes(self) -> np.ndarray:
        """The map at the pixels where its extremes lie: on each cell between box centres it
        is bilinear in the pixel position (constant beyond the outer centres), so its
        extremes are at the cell's corner pixels, the rows and columns next to a centre."""
        return self._grid(self._extreme_rows, self._extreme_cols)

    def min(self, axis=None, out=None, **kwargs) -> float:
        if axis is not None or out is not None:
            return np.asarray(self).min(axis=axis, out=out, **kwargs)
        return float(self._extremes().min())

    def max(self, axis=None, out=None, **kwargs) -> float:
        if axis is not None or out is not None:
            return np.asarray(self).max(axis=axis, out=out, **kwargs)
        return float(self._extremes().max())


def background_grids(image_e: np.ndarray, bad: np.ndarray, *, n_amplifiers: int = 1,
                     box: int = BACKGROUND_BOX_PX) -> list[dict]:
    """The box estimates behind :func:`local_background`, per amplifier region: a list of
    ``{"x0", "x1", "level", "sigma"}`` (grids of (ny / box, width / box) boxes, e-) -- a few
    kB per chip, what a group reference stores instead of a frame-sized map.

    ``image_e`` and ``bad`` are (ny, nx) arrays, or anything that slices like one and gives
    an array for ``np.asarray`` (only every ``SAMPLE_STEP``-th pixel is read)."""
    nx = image_e.shape[1]
    edges = np.linspace(0, nx, max(1, int(n_amplifiers)) + 1).round().astype(int)
    out = []
    for x0, x1 in zip(edges[:-1], edges[1:]):
        lv, sg = _box_estimates(image_e[:, x0:x1], bad[:, x0:x1], box)
        out.append({"x0": int(x0), "x1": int(x1), "level": np.asarray(lv, np.float32),
                    "sigma": np.asarray(sg, np.float32)})
    return out


def _box_estimates(image: np.ndarray, bad: np.ndarray, box: int):
    """Median and lower-half noise per box, filled and 3x3-median-filtered (nby, nbx).

    Every ``SAMPLE_STEP``-th pixel in x and y is used: 1024 of a 64 x 64 box's pixels give
    its median to 1.25 / sqrt(1024) = 0.04 noise sigma (~0.2 e-), and the bilinear map
    between box centres averages ~4 boxes, at a quarter of the cost; the order statistics
    come from a partition (linear time) wherever a box has no bad pixel, a sort elsewhere.
    """
    ny, nx = image.shape
    step = SAMPLE_STEP if box % SAMPLE_STEP == 0 and box >= 16 * SAMPLE_STEP else 1
    sub = box // step
    nby, nbx = -(-ny // box), -(-nx // box)
    # pad to whole boxes with +inf (sorts last, never counted), bad pixels too
    padded = np.full((nby * sub, nbx * sub), np.inf, dtype=np.float32)
    # np.asarray: ``image`` and ``bad`` may be computed only where sampled (a group
    # reference's mean, :class:`.group_reference.Elementwise`)
    sample = np.asarray(image[::step, ::step])
    sy, sx = sample.shape
    padded[:sy, :sx] = sample
    padded[:sy, :sx][np.asarray(bad[::step, ::step]) | ~np.isfinite(sample)] = np.inf
    blocks = padded.reshape(nby, sub, nbx, sub).transpose(0, 2, 1, 3).reshape(
        nby * nbx, sub * sub)
    n_valid = np.count_nonzero(np.isfinite(blocks), axis=1)
    k_med = np.maximum(n_valid - 1, 0) // 2
    k_lo = np.round(_ONE_SIGMA_BELOW * np.maximum(n_valid - 1, 0)).astype(np.int64)
    full = n_valid == sub * sub
    if full.any():
        kth = (int(k_lo[full][0]), int(k_med[full][0]))
        blocks[full] = np.partition(blocks[full], kth, axis=1)
    if not full.all():
        blocks[~full] = np.sort(blocks[~full], axis=1)
    rows = np.arange(blocks.shape[0])
    med = blocks[rows, k_med].astype(np.float64)
    # a box with no valid pixel reads inf - inf here; it is set to NaN just below (not ok)
    with np.errstate(invalid="ignore"):
        sig = med - blocks[rows, k_lo]
    ok = n_valid >= MIN_VALID_FRACTION * sub * sub
    if not ok.any():
        valid = np.isfinite(padded)
        fill_l = float(np.median(padded[valid])) if valid.any() else 0.0
        return np.full((nby, nbx), fill_l), np.zeros((nby, nbx))
    med[~ok], sig[~ok] = np.nan, np.nan
    return (_fill_and_smooth(med.reshape(nby, nbx)), _fill_and_smooth(sig.reshape(nby, nbx)))


def _fill_and_smooth(grid: np.ndarray) -> np.ndarray:
    """Fill NaN boxes from their nearest valid box, then a 3x3 median filter."""
    bad = ~np.isfinite(grid)
    if bad.any():
        _, (iy, ix) = ndimage.distance_transform_edt(bad, return_indices=True)
        grid = grid[iy, ix]
    return ndimage.median_filter(grid, size=3, mode="nearest")


def _weights(n: int, n_boxes: int, box: int) -> np.ndarray:
    """(n, n_boxes) linear-interpolation weights of pixel centres between box centres."""
    lo, frac = _taps(n, n_boxes, box)
    w = np.zeros((n, n_boxes))
    w[np.arange(n), lo] = 1.0 - frac
    if n_boxes > 1:
        w[np.arange(n), lo + 1] = frac
    return w


def _centres(n: int, n_boxes: int, box: int) -> np.ndarray:
    """Pixel positions of the box centres along an axis of ``n`` (the last box may be
    partial: its centre is kept on the axis)."""
    return np.minimum(np.arange(n_boxes) * box + 0.5 * (box - 1), n - 1)


def _next_to_centres(n: int, n_boxes: int, box: int) -> np.ndarray:
    """The pixels along an axis of ``n`` on either side of each box centre, and both ends."""
    centres = _centres(n, n_boxes, box)
    return np.unique(np.clip(np.r_[np.floor(centres), np.ceil(centres), 0, n - 1],
                             0, n - 1).astype(np.int64))


def _taps(n: int, n_boxes: int, box: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel along an axis of ``n``: the box before it (its lower interpolation tap) and
    the weight of the box after it (0 for a single box)."""
    if n_boxes == 1:
        return np.zeros(n, dtype=np.int64), np.zeros(n)
    pos = np.clip(np.interp(np.arange(n), _centres(n, n_boxes, box), np.arange(n_boxes)),
                  0, n_boxes - 1)
    lo = np.minimum(np.floor(pos).astype(np.int64), n_boxes - 2)
    return lo, pos - lo


def offsets_away_from(residual_rows, detected_idx: np.ndarray, excluded: np.ndarray,
                      noise_e: float,
                      segments: Sequence[tuple[int, int]], shape: tuple[int, int]
                      ) -> list[float]:
    """Mean residual per column segment on every :data:`OFFSET_ROW_STEP`-th row, at least
    :data:`OFFSET_MARGIN_PX` from every detected pixel: what a background leaves away from the
    cosmic rays (``auto``'s :func:`hstcr_common.detect.reference.level_offsets`, the
    ``stack`` method's level).

    ``residual_rows(rows)`` gives those rows of the residual, so only the sampled rows are
    ever computed; ``detected_idx`` are the detected pixels' flat indices, each marked on the
    sampled rows within the margin (a cost in proportion to the detected pixels).
    """
    ny, nx = shape
    m = OFFSET_MARGIN_PX
    rows = np.arange(m, ny - m, OFFSET_ROW_STEP)
    if rows.size == 0:
        return [0.0] * len(segments)
    near = np.zeros((rows.size, nx), dtype=bool)
    y, x = np.divmod(np.asarray(detected_idx, dtype=np.int64), nx)
    for d in range(-m, m + 1):
        r = y - d                           # the sampled row this pixel is d rows from
        on = (r >= m) & (r < ny - m) & ((r - m) % OFFSET_ROW_STEP == 0)
        near[(r[on] - m) // OFFSET_ROW_STEP, x[on]] = True
    wide = near.copy()
    for d in range(1, m + 1):
        wide[:, d:] |= near[:, :-d]
        wide[:, :-d] |= near[:, d:]
    sample = residual_rows(rows)
    ok = ~wide & ~excluded[rows] & (np.abs(sample) <= OFFSET_CLIP_SIGMA * noise_e)
    out = []
    for a, b in segments:
        sel = ok[:, a:b]
        out.append(float(sample[:, a:b][sel].mean(dtype=np.float64)) if sel.any() else 0.0)
    return out
