"""Method ``stack``: crrej-style rejection across a group of darks with one set-up.

A group shares chip, CCDAMP, EXPTIME, gain and month (:mod:`.grouping`).  Per pixel, a
reference (median, then the mean of the pixels not yet flagged) and a noise model from read
noise, gain and signal; a pixel of one dark is a cosmic ray where it stands ``sigma`` above
the reference, iterating over ``sigmas`` (6, 5, 4 as the ACS/STIS pipelines), growing hits
into neighbours above ``grow_sigma``.  Hot pixels sit in the reference, so they vanish, and
energies are measured against it.  No HST tools needed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from ..instruments import Detector
from ..measure import EIGHT
from ..model import Chip, CosmicRayCatalog, Dark, DetectionSummary, HstcrError, StackParams
from ..model import parse_params
from .catalogue import ChipDetection, catalog_and_summary
from .dq import bad_pixel_mask
from .grouping import MAX_GROUP
from .local_background import offsets_away_from
from .order_statistics import median_of_slabs
from .threshold import chip_noise


def _reject_strip(data: np.ndarray, valid: np.ndarray, rn2: np.ndarray, lv: np.ndarray,
                  params: StackParams) -> tuple[np.ndarray, np.ndarray]:
    """Iterated rejection of one strip: (hits per dark, reference), both (k, rows, nx)."""
    k = data.shape[0]
    margin = max(int(params.grow_radius), 0)
    # initial guess: median (minimum for pairs, where a median is the mean)
    ref = np.min(data, axis=0) if k <= 2 else median_of_slabs(data)
    flagged = np.zeros(data.shape, dtype=bool)
    for s in params.sigmas:
        var = rn2 + np.maximum(ref + lv, 0.0) + (params.scale_noise * ref) ** 2
        sd = np.sqrt(var)
        resid = data - ref
        hit = (resid > s * sd) & valid
        if margin:
            near = ndimage.binary_dilation(hit, structure=EIGHT[None], iterations=margin)
            # never grow into a hot pixel (its noise more than twice a normal pixel's):
            # beside a cosmic ray 2% of them would pass a 2-sigma test by their own
            # Poisson noise; a real hit on one is still caught by the sigma thresholds
            quiet = var <= 4.0 * (rn2 + np.maximum(lv, 0.0))
            hit |= near & (resid > params.grow_sigma * sd) & valid & quiet
        flagged = hit
        good = ~flagged & valid
        count = good.sum(axis=0)
        total = np.where(good, data, 0.0).sum(axis=0)
        ref = np.where(count > 0, total / np.maximum(count, 1), ref).astype(np.float32)
    return flagged, ref


def stack_reference(chips: Sequence[Chip], detector: Detector, params: StackParams, *,
                    strip_rows: int = 64) -> tuple[list[np.ndarray], np.ndarray,
                                                    np.ndarray, np.ndarray]:
    """crrej-style rejection over the same chip of a group of darks.

    Works in strips of ``strip_rows`` rows so a group of 30 full ACS/WFC chips holds ~6
    work arrays of 30 x 64 x 4096 (~200 MB) rather than 30 full frames, plus one bool mask
    per dark.

    Returns
    -------
    hits : list of ndarray of bool
        Cosmic-ray pixels of each dark (before the halo ring; bad pixels excluded).
    reference : ndarray, float32 (ny, nx)
        Per-pixel reference signal above each dark's level (e-): hot pixels live here.
    levels : ndarray, float64 (ndarks,)
        Each dark's background level (e-).
    sigma_pixel : ndarray, float64 (ndarks,)
        Each dark's robust pixel noise (e-), for splitting.
    """
    shape = chips[0].shape
    bads = [bad_pixel_mask(c, detector) for c in chips]
    stats = [chip_noise(c, ~b) for c, b in zip(chips, bads)]
    levels = np.array([s[0] for s in stats])
    noise = np.array([s[1] for s in stats])
    rn2 = np.array([float(c.read_noise_e) ** 2 + float(c.gain or 0.0) ** 2 / 12.0
                    for c in chips])[:, None, None]
    ny, nx = shape
    hits = [np.zeros(shape, dtype=bool) for _ in chips]
    reference = np.zeros(shape, dtype=np.float32)
    margin = max(int(params.grow_radius), 0)
    lv = levels[:, None, None]
    for r0 in range(0, ny, strip_rows):
        r1 = min(ny, r0 + strip_rows)
        a0, a1 = max(0, r0 - margin), min(ny, r1 + margin)
        data = np.stack([c.science[a0:a1] for c in chips]).astype(np.float32) - lv.astype(
            np.float32)
        valid = ~np.stack([b[a0:a1] for b in bads])
        flagged, ref = _reject_strip(data, valid, rn2, lv, params)
        lo, hi = r0 - a0, r0 - a0 + (r1 - r0)
        for i, h in enumerate(hits):
            h[r0:r1] = flagged[i, lo:hi]
        reference[r0:r1] = ref[lo:hi]
    return hits, reference, levels, noise


def detect_stack(chips: Sequence[Chip], detector: Detector, params: StackParams, *,
                 return_reference: bool = False):
    """Cosmic-ray masks of the same chip across a group of darks (see module docstring).

    Parameters
    ----------
    chips : sequence of Chip
        The same chip of every dark of one group (same shape, same set-up); at least 2.
    detector : Detector
    params : StackParams
        ``sigmas``, ``grow_radius``, ``grow_sigma``, ``scale_noise``.
    return_reference : bool
        Also return ``(reference, levels, noise)`` from :func:`stack_reference`.

    Returns
    -------
    masks : list of ndarray of bool
        One per chip.  With ``return_reference``: ``(masks, reference, levels, noise)``.
    """
    if len(chips) < 2:
        raise HstcrError("the stack method needs at least 2 darks of the same set-up",
                         stage="detect")
    shapes = {c.shape for c in chips}
    if len(shapes) != 1:
        raise HstcrError(f"stack: chips of different shapes {sorted(shapes)}", stage="detect")
    masks, reference, levels, noise = stack_reference(chips, detector, params)
    if return_reference:
        return masks, reference, levels, noise
    return masks


def _check_group(darks: list[Dark]) -> None:
    if len(darks) < 2:
        raise HstcrError("the stack method needs at least 2 darks of the same set-up",
                         stage="detect")
    det = darks[0].detector
    names = ", ".join(d.dataset for d in darks)
    if any(d.detector.id != det.id for d in darks):
        raise HstcrError(f"stack group mixes detectors: {names}", stage="detect")
    if any(len(d.chips) != len(darks[0].chips) for d in darks):
        raise HstcrError(f"stack group mixes chip layouts: {names}", stage="detect")
    if len(darks) > MAX_GROUP:
        raise HstcrError(f"stack group of {len(darks)} darks exceeds {MAX_GROUP}: {names}",
                         stage="detect")


def find_cosmic_rays_stack(darks: Sequence[Dark], params: StackParams | None = None,
                           **values: object) -> list[tuple[CosmicRayCatalog, DetectionSummary]]:
    """Stack-method detection over one group of darks (same detector, chips and set-up).

    Parameters
    ----------
    darks : sequence of Dark
        2..30 darks (see :func:`hstcr_common.detect.group_for_stack`).
    params : StackParams, optional
        Defaults when None.
    **values
        Instead of ``params``: parameter names and values as the CLI or an event gives them
        (``sigmas="6,5,4"``), turned into a :class:`StackParams` by
        :func:`hstcr_common.model.parse_params`.

    Returns
    -------
    list of (CosmicRayCatalog, DetectionSummary)
        One per dark, in order.  Energies are measured against the per-pixel reference, so
        hot pixels and dark-current structure are removed.  ``summary.params`` holds every
        parameter and ``group_size``.
    """
    if params is None or values:
        if params is not None:
            raise TypeError("find_cosmic_rays_stack takes a StackParams or values, not both")
        params = parse_params("stack", values)
    darks = list(darks)
    _check_group(darks)
    det = darks[0].detector
    per_dark: list[list[ChipDetection]] = [[] for _ in darks]
    for ci in range(len(darks[0].chips)):
        chips = [d.chips[ci] for d in darks]
        masks, reference, levels, noise = detect_stack(chips, det, params,
                                                       return_reference=True)
        for k, chip in enumerate(chips):
            bad = bad_pixel_mask(chip, det)
            # the reference holds the group's faint cosmic-ray wings (under the clip): what
            # the residual keeps away from this dark's cosmic rays goes into its level
            # (late-mission groups of 3: energies -1.2 to -2.4% without it)
            offset = offsets_away_from(
                lambda rows, k=k, chip=chip: chip.science[rows] - reference[rows] - levels[k],
                np.flatnonzero(masks[k]), bad, float(noise[k]),
                [(0, chip.shape[1])], chip.shape)[0]
            per_dark[k].append(ChipDetection(
                mask=masks[k], image_e=chip.science,
                background_e=(reference, float(levels[k]) + offset),   # no copy per dark
                noise_e=float(noise[k]), bad=bad,
                notes=[f"stack of {len(darks)}, level {levels[k]:.2f} e-, offset away from "
                       f"the cosmic rays {offset:+.3f} e-, noise {noise[k]:.2f} e-"]))
    recorded = {**params.to_dict(), "group_size": len(darks)}
    return [catalog_and_summary(d, "stack", chips, params.label, params.count, recorded, [])
            for d, chips in zip(darks, per_dark)]
