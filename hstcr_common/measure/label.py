"""Label the cosmic rays of one chip's detection mask: components, split, halo.

Everything works on the *pixel arrays* of the detected pixels (their flat indices, labels
and electrons), never with a Python loop per cosmic ray.  The steps, each set by
:class:`hstcr_common.model.LabelParams`:

1. 8-connected components of the mask (or the components the caller already labelled);
2. components under ``min_pixels`` pixels dropped (hot pixels, noise);
3. merged cosmic rays split at significant local maxima (:mod:`.split`);
4. labels renumbered 1..n in raster order of each cosmic ray's first pixel;
5. the diffusion halo added around each cosmic ray (:mod:`.halo`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..model import LabelParams
from .background import background_at, robust_background
from .connectivity import EIGHT
from .halo import add_halo
from .split import split_components


def _components(mask: np.ndarray | None, components: tuple[np.ndarray, np.ndarray] | None):
    """Flat indices of the kept pixels, their component, the component image and count."""
    if components is None:
        comp_image, n_comp = ndimage.label(np.asarray(mask, dtype=bool), structure=EIGHT)
        idx = np.flatnonzero(comp_image != 0)     # a bool scan is ~2x faster
        return idx, comp_image.ravel()[idx], comp_image, n_comp
    # the caller labelled a superset already (hysteresis): keep the wanted components
    comp_image, keep = components
    idx = np.flatnonzero(comp_image != 0)
    comp = comp_image.ravel()[idx]
    wanted = keep[comp]
    return idx[wanted], comp[wanted], comp_image, keep.size - 1


def _renumber(segment: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels 1..n of the segments in raster order of their first pixel.

    ``idx`` is sorted, so a segment's first pixel is the smallest position holding it: no
    sort of the pixels.
    """
    n_ids = int(segment.max()) + 1 if segment.size else 0
    first = np.full(n_ids, segment.size, dtype=np.int64)
    np.minimum.at(first, segment, np.arange(segment.size, dtype=np.int64))
    used = np.flatnonzero(first < segment.size)
    order = used[np.argsort(first[used])]           # segment ids in raster order
    new_id = np.zeros(n_ids, dtype=np.int32)
    new_id[order] = np.arange(1, order.size + 1, dtype=np.int32)
    return new_id[segment], int(order.size)


def _merge_counts(pixel_label: np.ndarray, comp: np.ndarray, n: int,
                  n_comp: int) -> tuple[np.ndarray, np.ndarray]:
    """For each label, the cosmic rays found in its component; and per component."""
    seg_comp = np.zeros(n + 1, dtype=np.int64)
    seg_comp[pixel_label] = comp
    per_comp = np.bincount(seg_comp[1:], minlength=n_comp + 1)
    return per_comp[seg_comp[1:]].astype(np.int16), per_comp


def label_cosmic_rays(mask: np.ndarray | None, image_e: np.ndarray | None = None, *,
                      params: LabelParams, noise_e: float | None = None,
                      background_e: float | np.ndarray = 0.0,
                      halo_exclude: np.ndarray | None = None,
                      components: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[
                          np.ndarray, int, np.ndarray, list[str]]:
    """8-connected labels of the cosmic rays in one chip's detection mask.

    Parameters
    ----------
    mask : ndarray of bool, (ny, nx)
        Pixels that belong to a cosmic ray (one chip: labels never cross a chip seam).
    image_e : ndarray, (ny, nx), optional
        Electrons; needed to split merged cosmic rays and to pick halo sources
        (``background_e`` is removed from the masked pixels only: no full-frame copy).
    params : LabelParams
        Minimum size, split significance, halo (see :class:`hstcr_common.model.LabelParams`).
    noise_e : float, optional
        Pixel noise (e- rms) for the split significance and the halo sources; estimated
        robustly from ``image_e`` outside the mask when None.
    background_e : float, ndarray (ny, nx) or (ndarray, float)
        Background of ``image_e`` (e-), as in :func:`hstcr_common.measure.measure_cosmic_rays`.
    halo_exclude : ndarray of bool, optional
        Pixels never added to a halo (bad pixels).
    components : (ndarray of int, ndarray of bool), optional
        ``(label_image, keep)``: 8-connected components already labelled by the caller
        (e.g. the hysteresis of :func:`hstcr_common.detect.detect_threshold`) and which of
        them are cosmic rays; ``mask`` is then ignored and not labelled again.

    Returns
    -------
    labels : ndarray of int32, (ny, nx)
        0 outside cosmic rays, 1..n inside, numbered in raster order of each one's first
        pixel.
    n : int
        Number of cosmic rays.
    n_merged : ndarray of int16, (n,)
        For each label, how many cosmic rays were found in the component it came from
        (1 = it was isolated).
    notes : list of str
        What was done, for :attr:`DetectionSummary.notes`.
    """
    idx, comp, comp_image, n_comp = _components(mask, components)
    shape = comp_image.shape
    notes = []
    if params.min_pixels > 1:
        counts = np.bincount(comp, minlength=n_comp + 1)
        small = counts[comp] < params.min_pixels
        if small.any():
            notes.append(f"dropped {int(np.count_nonzero(counts[1:] < params.min_pixels))} "
                         f"components under {params.min_pixels} pixels")
            idx, comp = idx[~small], comp[~small]
    n_kept = int(np.count_nonzero(np.bincount(comp))) if comp.size else 0

    split = params.split and image_e is not None
    if split and idx.size:
        if noise_e is None:
            _, noise_e = robust_background(image_e, comp_image == 0)
        values = np.asarray(image_e).ravel()[idx].astype(np.float64)
        values -= background_at(background_e, idx)
        segment = split_components(idx, comp, values, shape, noise_e=float(noise_e),
                                   min_dip_sigma=params.split_min_dip_sigma,
                                   max_saddle_fraction=params.split_max_saddle_fraction)
    else:
        segment = comp.astype(np.int64)
    pixel_label, n = _renumber(segment)
    labels = np.zeros(shape, dtype=np.int32)
    labels.ravel()[idx] = pixel_label

    if params.halo_radius > 0 and n:
        values_all = None if image_e is None else np.asarray(image_e).ravel()
        src = slice(None)
        if params.halo_source_sigma > 0 and image_e is not None and noise_e:
            src = (values_all[idx] - background_at(background_e, idx)
                   > params.halo_source_sigma * float(noise_e))
        added = add_halo(labels, idx[src], pixel_label[src], values_all, params.halo_radius,
                         connectivity=params.halo_connectivity, exclude=halo_exclude)
        notes.append(f"added a {params.halo_radius}-pixel halo ring ({added} pixels) to the "
                     "cosmic rays for their energy")

    n_merged, per_comp = _merge_counts(pixel_label, comp, n, n_comp)
    if split:
        notes.append(f"split {int(np.count_nonzero(per_comp > 1))} merged components into "
                     f"{int(per_comp[per_comp > 1].sum())} cosmic rays at local maxima "
                     f"(dip >= {params.split_min_dip_sigma:g} sigma and saddle <= "
                     f"{params.split_max_saddle_fraction:g} x peak); {n_kept} components -> {n}")
    return labels, n, n_merged, notes
