"""Find the cosmic rays of CCD darks: three detection modes and the top-level entry points.

Modes (``method``)
------------------
``dq``
    Pixels carrying the product's cosmic-ray DQ bit, minus bad pixels (and minus unflagged
    hot pixels, found as in ``threshold``, so none ends up in a footprint or halo).
``threshold``
    One dark alone.  Robust chip background and noise from the lower half of the pixel
    distribution (:mod:`hstcr_common.detect.noise`); *seed* pixels ``seed_sigma`` above it, grown
    into their 8-connected halo down to ``grow_sigma`` (hysteresis); bad pixels masked.
    Unflagged hot pixels are recognised by shape and masked like flagged ones: a hot pixel
    is one bright pixel whose eight neighbours hold only noise, while charge diffusion
    always spreads a cosmic ray's charge into its neighbours (:func:`find_spikes`).

After labelling (all modes) every cosmic ray is given a ``halo_radius``-pixel ring of free
side (4-connected) neighbours around its pixels above ``halo_source_sigma``
(:func:`hstcr_common.measure.label.add_halo`), so the faint diffusion halo below the grow threshold
is not left out of its energy (the ring adds zero-mean noise, not bias).  Without it energies
come out ~1.5% low.  The background removed from the energies is the chip's *mean* away from
detections (:func:`hstcr_common.detect.noise.background_mean`), not the median used for the
thresholds, which sits a few tenths of an electron high (Poisson skew, faint cosmic-ray
charge) and made energies ~0.4% low.  On the synthetic truth (Fano-noise charge) the median
``|energy/true - 1|`` above 300 e- is ACS/WFC 1.4%, WFC3/UVIS 1.2%, ACS/HRC 1.7%, STIS 2.0%,
WFPC2 2.2%, with a median bias under 0.2%: what is left is pixel noise (read noise + dark)
over the ~12 pixels of a cosmic ray, plus the Fano noise of the charge itself.

``stack``
    crrej-style rejection across a group of darks with the same set-up (same chip, CCDAMP,
    EXPTIME, gain, within a month): a per-pixel reference (median, then the mean of the
    pixels not yet flagged) and a noise model from read noise, gain and signal; a pixel of one
    dark is a cosmic ray where it stands ``sigma`` above the reference, iterating over
    ``sigmas`` (6, 5, 4 as the ACS/STIS pipelines), growing hits into neighbours above
    ``grow_sigma``.  Hot pixels sit in the reference, so they vanish.  No HST tools needed.

Counting
--------
Labels are 8-connected per chip; merged cosmic rays are split at significant local maxima
(:mod:`hstcr_common.measure.label`).  :func:`coincidence_correction` gives the analytic count of a
Boolean (Poisson) model of footprints from the unsplit component count, the measured
density and the mean pairwise touching area of the measured (isolated) footprints;
``n_cr_corrected = max(n_cr, that estimate)``.  Splitting recovers about half of the merges
(they are mostly true overlaps with no dip between the two); the model recovers the rest: on
the synthetic truth ``n_cr`` is 3-6% low and ``n_cr_corrected`` within 1%.  The searched area
(:func:`searched_pixel_count`) leaves out only pixels where a cosmic ray could not be seen.

Rates: ``n_cr_corrected`` is the headline.  The lake's ``rate_corrected_cr_s_cm2`` (=
n_cr_corrected / (integration time x searched area)) estimates the cosmic rays that hit;
``rate_cr_s_cm2`` (= n_cr / ...) counts the resolved ones, one per catalogue row, and falls
with crowding (longer exposures, bigger footprints).  Through the real pipeline on the
full-size synthetic darks of every CCD (``write_dark`` -> ``process_item``), the corrected
rate is within 1% of the injected one and the resolved rate 3-7% below it
(``tests/test_detect.py::test_pipeline_rates_*``).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import ndimage

from ..model import CosmicRayCatalog, DetectionSummary
from ..model import Chip, Dark
from ..model import HstcrError
from ..instruments import Detector
from ..measure import EIGHT, label_cosmic_rays, measure_cosmic_rays
from .noise import background_mean, robust_background

METHODS = ("dq", "threshold", "stack", "ramp")

#: defaults of every parameter that changes the result (recorded in DetectionSummary.params)
THRESHOLD_DEFAULTS = dict(seed_sigma=6.0, grow_sigma=2.0, hot_neighbour_fraction=0.25,
                          hot_neighbour_sigma=3.0)
STACK_DEFAULTS = dict(sigmas=(6.0, 5.0, 4.0), grow_radius=1, grow_sigma=2.0, scale_noise=0.0)
LABEL_DEFAULTS = dict(split=True, min_pixels=2, split_min_dip_sigma=5.0,
                      split_max_saddle_fraction=0.5, halo_radius=1, halo_source_sigma=10.0,
                      halo_connectivity=4, correct_coincidences=True,
                      searched_area="detectable")
#: largest group the stack method accepts (the 2021 study's crrej groups)
MAX_GROUP = 30


# ------------------------------------------------------------------------------------------
# masks and noise
# ------------------------------------------------------------------------------------------
def dq_has(dq: np.ndarray, bits: int) -> np.ndarray:
    """``(dq & bits) != 0`` without widening the DQ array when the bits fit its type."""
    dq = np.asarray(dq)
    if dq.dtype.kind in "ui" and bits <= np.iinfo(dq.dtype).max:
        return (dq & dq.dtype.type(bits)) != 0
    return (dq.astype(np.int64) & bits) != 0


def bad_pixel_mask(chip: Chip, detector: Detector) -> np.ndarray:
    """Pixels never searched: any of ``detector.bad_bits`` set, or a non-finite value."""
    bad = dq_has(chip.dq, detector.bad_mask_bits)
    if not np.isfinite(np.sum(chip.science, dtype=np.float64)):   # one cheap pass first
        bad |= ~np.isfinite(chip.science)
    return bad


def searched_pixel_count(bad: np.ndarray, rule: str = "detectable") -> int:
    """Pixels over which a cosmic ray would have been found (the rate's area).

    ``"unmasked"``: every pixel not in ``bad``.  ``"detectable"`` (default): also counts a
    bad pixel that has an unmasked 8-neighbour, because a cosmic ray landing on it still
    puts charge (its diffusion core and halo, >= 2 pixels) on that neighbour and is found
    and counted.  Only pixels inside masked areas (a whole 3x3 block masked, or masked
    chip edges) are blind.  With ``"unmasked"``, scattered hot pixels and 1-pixel bad
    columns would bias the rate high by their area fraction (1% of masked pixels -> +1%),
    a bias that would follow the hot-pixel growth of each anneal cycle.
    """
    n_bad = int(np.count_nonzero(bad))
    if rule == "unmasked" or n_bad == 0:
        return int(bad.size - n_bad)
    if rule != "detectable":
        raise HstcrError(f"unknown searched_area rule {rule!r}: use 'detectable' or 'unmasked'",
                         stage="detect")
    ny, nx = bad.shape
    b = np.flatnonzero(bad)
    y, x = np.divmod(b, nx)
    seen = np.zeros(b.size, dtype=bool)
    flat = bad.ravel()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            ok = (y + dy >= 0) & (y + dy < ny) & (x + dx >= 0) & (x + dx < nx)
            seen[ok] |= ~flat[b[ok] + (dy * nx + dx)]
    return int(bad.size - n_bad + np.count_nonzero(seen))


def chip_noise(chip: Chip, valid: np.ndarray) -> tuple[float, float]:
    """Background level and pixel noise (e-) of a chip.

    The robust estimate (:func:`hstcr_common.detect.noise.robust_background`) is floored at half
    the read noise so a quantised or nearly constant image cannot give a zero threshold.
    """
    level, sigma = robust_background(chip.science, valid)
    floor = 0.5 * float(chip.read_noise_e or 0.0)
    return level, max(sigma, floor, 1e-3)


def find_spikes(image_e: np.ndarray, bad: np.ndarray, noise_e: float, *,
                min_sigma: float = 6.0, neighbour_fraction: float = 0.25,
                neighbour_sigma: float = 3.0, level_e: float = 0.0) -> np.ndarray:
    """Unflagged hot pixels: single bright pixels whose neighbours hold only noise.

    A pixel is a *spike* when it stands ``min_sigma`` noise sigmas above the background and
    its eight neighbours together hold less than
    ``max(neighbour_fraction * value, neighbour_sigma * noise * sqrt(8))``.  Charge
    diffusion always puts about as much of a cosmic ray's charge around its brightest pixel
    as in it (a centred, normally incident cosmic ray keeps < 50% in one pixel), while a hot
    pixel's neighbours are plain background -- even when a cosmic ray lands beside the hot
    pixel, its faint edge is far below a quarter of the hot pixel.  The test is per pixel,
    so it works inside merged blobs too.  Only pixels above ``min_sigma`` are examined
    (gathered, not filtered over the whole image).

    Parameters
    ----------
    image_e : ndarray, (ny, nx)
        Electrons.
    bad : ndarray of bool
        Bad pixels (count as 0 among the neighbours; never spikes themselves).
    noise_e : float
        Pixel noise (e- rms).
    level_e : float
        Background level of ``image_e`` (e-), removed from the examined pixels only.

    Returns
    -------
    ndarray of bool, (ny, nx)
    """
    cand = np.flatnonzero((image_e > level_e + min_sigma * noise_e) & ~bad)
    spikes = np.zeros(image_e.shape, dtype=bool)
    spikes.ravel()[cand[_spike_flags(image_e, bad, cand, noise_e, neighbour_fraction,
                                     neighbour_sigma, level_e)]] = True
    return spikes


def _spike_flags(image_e: np.ndarray, bad: np.ndarray, cand: np.ndarray, noise_e: float,
                 neighbour_fraction: float, neighbour_sigma: float,
                 level_e: float) -> np.ndarray:
    """The :func:`find_spikes` test for the flat pixel indices ``cand`` (bool per pixel)."""
    ny, nx = image_e.shape
    if cand.size == 0:
        return np.zeros(0, dtype=bool)
    py, px = np.divmod(cand, nx)
    flat = image_e.ravel()
    bflat = bad.ravel()
    neighbours = np.zeros(cand.size, dtype=np.float64)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            ok = (py + dy >= 0) & (py + dy < ny) & (px + dx >= 0) & (px + dx < nx)
            q = cand[ok] + (dy * nx + dx)
            neighbours[ok] += np.where(bflat[q], 0.0, flat[q] - level_e)
    value = flat[cand].astype(np.float64) - level_e
    limit = np.maximum(neighbour_fraction * value, neighbour_sigma * noise_e * math.sqrt(8.0))
    return neighbours < limit


# ------------------------------------------------------------------------------------------
# detection modes (one chip -> mask)
# ------------------------------------------------------------------------------------------
def detect_dq(chip: Chip, detector: Detector, *, bad: np.ndarray | None = None) -> np.ndarray:
    """Pixels carrying the product's cosmic-ray DQ bit, minus bad pixels.

    Raises
    ------
    HstcrError
        When the detector's pipeline sets no cosmic-ray bit (WFPC2).
    """
    if not detector.cr_bit:
        raise HstcrError(f"{detector.name} products carry no cosmic-ray DQ bit: use the "
                         "threshold or stack method", stage="detect")
    if bad is None:
        bad = bad_pixel_mask(chip, detector)
    return dq_has(chip.dq, detector.cr_bit) & ~bad


def detect_threshold(chip: Chip, detector: Detector, *, seed_sigma: float = 6.0,
                     grow_sigma: float = 2.0, hot_neighbour_fraction: float = 0.25,
                     hot_neighbour_sigma: float = 3.0, bad: np.ndarray | None = None,
                     background: tuple[float, float] | None = None,
                     return_spikes: bool = False, return_components: bool = False):
    """Cosmic rays of one chip of one dark by hysteresis thresholding (see module docstring).

    Parameters
    ----------
    chip : Chip
        Science in electrons.
    detector : Detector
    seed_sigma : float
        A cosmic ray needs at least one pixel this many noise sigmas above the background.
    grow_sigma : float
        Its 8-connected pixels down to this many sigmas belong to it.
    hot_neighbour_fraction, hot_neighbour_sigma : float
        Unflagged hot-pixel test (see :func:`find_spikes`); spikes are treated as bad pixels.
    bad : ndarray of bool, optional
        Bad pixels; from the DQ when None.
    background : (level_e, sigma_e), optional
        Chip background and noise; estimated when None.
    return_spikes : bool
        Also return the spikes (unflagged hot pixels) found.
    return_components : bool
        Return ``(label_image, keep)`` -- the 8-connected components of the grow mask and
        which hold a seed -- instead of the mask (``keep[label_image]``), so labelling need
        not be done twice (:func:`hstcr_common.measure.label.label_cosmic_rays` ``components``).

    Returns
    -------
    mask : ndarray of bool, (ny, nx)
        Cosmic-ray pixels (halo rings are added at labelling).  With ``return_spikes``:
        ``(mask, spikes)``.
    """
    if bad is None:
        bad = bad_pixel_mask(chip, detector)
    level, sigma = background if background is not None else chip_noise(chip, ~bad)
    image = chip.science
    # Pixels above the seed threshold are either seeds or spikes (the spike test looks at
    # exactly these), so both come from one pass over the frame and stay index lists; the
    # hysteresis labels the grow mask once and keeps the components holding a seed.
    bflat = bad.ravel()
    above = np.flatnonzero(image > level + seed_sigma * sigma)
    above = above[~bflat[above]]
    is_spike = _spike_flags(image, bad, above, sigma, hot_neighbour_fraction,
                            hot_neighbour_sigma, level)
    spike_idx, seed_idx = above[is_spike], above[~is_spike]
    spikes = np.zeros(image.shape, dtype=bool)
    spikes.ravel()[spike_idx] = True
    grow = image > level + grow_sigma * sigma
    grow &= ~bad
    grow.ravel()[spike_idx] = False
    grow.ravel()[seed_idx] = True          # (already set unless seed_sigma < grow_sigma)
    labels, n = ndimage.label(grow, structure=EIGHT)
    keep = np.bincount(labels.ravel()[seed_idx], minlength=n + 1) > 0
    keep[0] = False
    mask = (labels, keep) if return_components else keep[labels]
    return (mask, spikes) if return_spikes else mask


def stack_reference(chips: Sequence[Chip], detector: Detector, *,
                    sigmas: Sequence[float] = (6.0, 5.0, 4.0), grow_radius: int = 1,
                    grow_sigma: float = 2.0, scale_noise: float = 0.0,
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
    k = len(chips)
    shape = chips[0].shape
    bads = [bad_pixel_mask(c, detector) for c in chips]
    stats = [chip_noise(c, ~b) for c, b in zip(chips, bads)]
    levels = np.array([s[0] for s in stats])
    noise = np.array([s[1] for s in stats])
    rn2 = np.array([float(c.read_noise_e) ** 2 + float(c.gain or 0.0) ** 2 / 12.0
                    for c in chips])[:, None, None]
    ny, nx = shape
    hits = [np.zeros(shape, dtype=bool) for _ in range(k)]
    reference = np.zeros(shape, dtype=np.float32)
    margin = max(int(grow_radius), 0)
    lv = levels[:, None, None]
    for r0 in range(0, ny, strip_rows):
        r1 = min(ny, r0 + strip_rows)
        a0, a1 = max(0, r0 - margin), min(ny, r1 + margin)
        data = np.stack([c.science[a0:a1] for c in chips]).astype(np.float32) - lv.astype(
            np.float32)
        valid = ~np.stack([b[a0:a1] for b in bads])
        # initial guess: median (minimum for pairs, where a median is the mean)
        ref = np.min(data, axis=0) if k <= 2 else np.median(data, axis=0)
        flagged = np.zeros(data.shape, dtype=bool)
        for s in sigmas:
            var = rn2 + np.maximum(ref + lv, 0.0) + (scale_noise * ref) ** 2
            sd = np.sqrt(var)
            resid = data - ref
            hit = (resid > s * sd) & valid
            if margin:
                near = ndimage.binary_dilation(hit, structure=EIGHT[None],
                                               iterations=margin)
                # never grow into a hot pixel (its noise more than twice a normal pixel's):
                # beside a cosmic ray 2% of them would pass a 2-sigma test by their own
                # Poisson noise; a real hit on one is still caught by the sigma thresholds
                quiet = var <= 4.0 * (rn2 + np.maximum(lv, 0.0))
                hit |= near & (resid > grow_sigma * sd) & valid & quiet
            flagged = hit
            good = ~flagged & valid
            count = good.sum(axis=0)
            total = np.where(good, data, 0.0).sum(axis=0)
            ref = np.where(count > 0, total / np.maximum(count, 1), ref).astype(np.float32)
        lo, hi = r0 - a0, r0 - a0 + (r1 - r0)
        for i in range(k):
            hits[i][r0:r1] = flagged[i, lo:hi]
        reference[r0:r1] = ref[lo:hi]
    return hits, reference, levels, noise


def detect_stack(chips: Sequence[Chip], detector: Detector, *,
                 sigmas: Sequence[float] = (6.0, 5.0, 4.0), grow_radius: int = 1,
                 grow_sigma: float = 2.0, scale_noise: float = 0.0,
                 return_reference: bool = False):
    """Cosmic-ray masks of the same chip across a group of darks (see module docstring).

    Parameters
    ----------
    chips : sequence of Chip
        The same chip of every dark of one group (same shape, same set-up); at least 2.
    detector : Detector
    sigmas : sequence of float
        Rejection thresholds (noise sigmas), one iteration each.
    grow_radius : int
        Neighbours of a hit within this radius are hits too when above ``grow_sigma``.
    grow_sigma : float
    scale_noise : float
        Extra noise proportional to the reference (crrej's ``scalense``), fraction.
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
    hits, reference, levels, noise = stack_reference(
        chips, detector, sigmas=sigmas, grow_radius=grow_radius, grow_sigma=grow_sigma,
        scale_noise=scale_noise)
    masks = hits
    if return_reference:
        return masks, reference, levels, noise
    return masks


# ------------------------------------------------------------------------------------------
# coincidence (pile-up) correction
# ------------------------------------------------------------------------------------------
def mean_touching_area(pixel_offsets: np.ndarray, pixel_x: np.ndarray, pixel_y: np.ndarray,
                       *, n_pairs: int = 1000, max_pixels: int = 300,
                       rng: np.random.Generator | None = None) -> float:
    """Mean number of relative positions at which two cosmic rays' footprints touch.

    For footprints A and B (pixel sets), B placed at shift s merges with A (8-connected)
    when ``B + s`` meets A dilated by one pixel; the number of such shifts is the discrete
    Minkowski sum ``|dilate(A) + (-B)|``.  Its mean over random pairs of measured
    footprints is estimated from ``n_pairs`` pairs (fixed seed: reproducible), vectorised
    with ``np.unique`` over (pair, shift) keys.  Footprints above ``max_pixels`` are left
    out of the sample (rare grazing tracks: they dominate the cost, not the mean).

    Parameters
    ----------
    pixel_offsets, pixel_x, pixel_y : ndarray
        Footprints as flat pixel lists with offsets (catalogue layout).

    Returns
    -------
    float
        Mean touching area (pixels); 0 for an empty catalogue.
    """
    if len(pixel_offsets) < 2:
        return 0.0
    rng = rng or np.random.default_rng(12345)
    sizes = np.diff(pixel_offsets)
    usable = np.flatnonzero((sizes > 0) & (sizes <= max_pixels))
    if usable.size == 0:
        return 0.0
    i = rng.choice(usable, n_pairs)
    j = rng.choice(usable, n_pairs)
    starts = pixel_offsets
    px = np.asarray(pixel_x, dtype=np.int64)
    py = np.asarray(pixel_y, dtype=np.int64)
    span = 8192                                       # > any chip dimension + margins
    # dilate(A_i), deduplicated: keys (pair, y, x)
    ia = _ranges(starts[i], sizes[i])
    pair_a = np.repeat(np.arange(n_pairs, dtype=np.int64), sizes[i])
    d = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], dtype=np.int64)
    ay = (py[ia][:, None] + d[:, 0] + 2).ravel()
    ax = (px[ia][:, None] + d[:, 1] + 2).ravel()
    key = np.unique((np.repeat(pair_a, 9) * span + ay) * span + ax)
    pair_a, rem = np.divmod(key, span * span)
    ay, ax = np.divmod(rem, span)
    # every point of dilate(A_i) minus every pixel of B_j (same pair)
    size_b = sizes[j]
    reps = size_b[pair_a]
    pair = np.repeat(pair_a, reps)
    b_first = np.repeat(starts[j][pair_a], reps)
    k = np.arange(pair.size) - np.repeat(np.cumsum(reps) - reps, reps)
    bidx = b_first + k
    sy = np.repeat(ay, reps) - py[bidx] + span // 2
    sx = np.repeat(ax, reps) - px[bidx] + span // 2
    distinct = np.unique((pair * span + sy) * span + sx).size
    return distinct / n_pairs


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + z)`` for each start s and size z (vectorised)."""
    total = int(sizes.sum())
    offs = np.cumsum(sizes) - sizes
    return np.repeat(starts - offs, sizes) + np.arange(total)


def coincidence_correction(n_components: int, searched_pixels: int,
                           touching_area_px: float) -> float:
    """Cosmic rays behind ``n_components`` touching-or-separate footprints (Boolean model).

    With N footprints at Poisson-random positions over ``searched_pixels`` and mean pairwise
    touching area X (:func:`mean_touching_area`), each footprint touches another with
    probability ``1 - exp(-N X / S)``; to first order the number of connected components is
    ``N exp(-N X / (2 S))`` (every touching pair removes one).  This solves that for N by
    fixed-point iteration.

    Returns
    -------
    float
        Estimated number of cosmic rays (>= ``n_components``).
    """
    if n_components <= 0 or searched_pixels <= 0 or touching_area_px <= 0:
        return float(max(n_components, 0))
    n = float(n_components)
    for _ in range(100):
        new = n_components * math.exp(n * touching_area_px / (2.0 * searched_pixels))
        if abs(new - n) < 1e-6 * n:
            n = new
            break
        n = new
    return float(n)


# ------------------------------------------------------------------------------------------
# label + measure + summary
# ------------------------------------------------------------------------------------------
def _label_params(params: dict) -> dict:
    out = dict(LABEL_DEFAULTS)
    for key in LABEL_DEFAULTS:
        if key in params:
            out[key] = params.pop(key)
    return out


def _in_mask(mask, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``mask[y, x]`` for a bool mask or ``(label_image, keep)`` components."""
    if isinstance(mask, tuple):
        label_image, keep = mask
        return keep[label_image[y, x]]
    return mask[y, x]


def _catalog_and_summary(dark: Dark, method: str, masks: list[np.ndarray],
                         images: list[np.ndarray], backgrounds: list, noises: list[float],
                         bads: list[np.ndarray], label_params: dict,
                         all_params: dict, extra_notes: list[str]) -> tuple[
                             CosmicRayCatalog, DetectionSummary]:
    """Label (split) and measure every chip; count, correct, and summarise."""
    parts = []
    notes = list(extra_notes)
    n_components = 0
    searched = 0
    lp = {k: v for k, v in label_params.items()
          if k not in ("correct_coincidences", "searched_area")}
    for ci, (mask, image, bg, sigma, bad) in enumerate(zip(masks, images, backgrounds, noises,
                                                           bads)):
        # a mask, or (label_image, keep) components from the threshold hysteresis
        comps = mask if isinstance(mask, tuple) else None
        labels, n, n_merged, chip_notes = label_cosmic_rays(
            None if comps else mask, image, noise_e=sigma, background_e=bg, halo_exclude=bad,
            components=comps, **lp)
        cat = measure_cosmic_rays(labels, n, image, background_e=bg, n_merged=n_merged,
                                  chip_index=ci)
        parts.append(cat)
        n_components += int(round(float(np.sum(1.0 / n_merged)))) if n else 0
        searched += searched_pixel_count(bad, label_params.get("searched_area", "detectable"))
        notes += [f"chip {dark.chips[ci].name}: {t}" for t in chip_notes]
    catalog = CosmicRayCatalog.concat(parts)
    n_cr = len(catalog)
    n_corrected = float(n_cr)
    if label_params.get("correct_coincidences", True) and n_cr:
        # the model counts components of the detection masks, so it needs those footprints
        # (without the halo rings added after labelling)
        in_core = np.concatenate([
            _in_mask(m, c.pixel_y.astype(np.int64), c.pixel_x.astype(np.int64))
            for m, c in zip(masks, parts)]) if parts else np.zeros(0, bool)
        cr_of_pixel = np.repeat(np.arange(n_cr), np.diff(catalog.pixel_offsets))
        # footprints of isolated cosmic rays only: an unsplit merged blob is two footprints
        # in one and would inflate the touching area
        in_core &= (catalog.n_merged == 1)[cr_of_pixel]
        core_offsets = np.zeros(n_cr + 1, dtype=np.int64)
        np.cumsum(np.bincount(cr_of_pixel[in_core], minlength=n_cr), out=core_offsets[1:])
        x = mean_touching_area(core_offsets, catalog.pixel_x[in_core],
                               catalog.pixel_y[in_core])
        estimate = coincidence_correction(n_components, searched, x)
        n_corrected = max(float(n_cr), estimate)
        notes.append(f"coincidence model: {n_components} components, mean touching area "
                     f"{x:.1f} px -> {estimate:.1f} cosmic rays expected; "
                     f"n_cr_corrected = max(n_cr, model)")
    summary = DetectionSummary(
        method=method, params=all_params, n_cr=n_cr, n_cr_split=n_cr - n_components,
        n_cr_corrected=n_corrected, searched_pixels=searched,
        searched_area_cm2=searched * dark.detector.pixel_area_cm2, notes=notes)
    return catalog, summary


def _jsonable(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, (tuple, list)):
            v = [float(x) if isinstance(x, (float, np.floating)) else x for x in v]
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def find_cosmic_rays(dark: Dark, method: str = "threshold", **params: Any) -> tuple[
        CosmicRayCatalog, DetectionSummary]:
    """Detect, split, and measure the cosmic rays of one dark.

    Parameters
    ----------
    dark : Dark
    method : {"threshold", "dq", "ramp"}
        ``stack`` needs a group: use :func:`find_cosmic_rays_stack`.  ``ramp`` (IR) is
        delegated to :mod:`hstcr_common.detect.ramp`.
    **params
        Detection parameters (see :data:`THRESHOLD_DEFAULTS`, :data:`LABEL_DEFAULTS`); every
        one, defaults included, is recorded in ``summary.params``.

    Returns
    -------
    catalog : CosmicRayCatalog
        ``chip_index`` indexes ``dark.chips``; ``cr_id`` 1..n over the dark.
    summary : DetectionSummary
    """
    if method == "ramp":
        # hstcr_common.detect.ramp exports this name for us (an alias of find_ir_cosmic_rays, the
        # function the pipeline calls), so both entry points give the same result
        from .ramp import find_cosmic_rays_ramp
        return find_cosmic_rays_ramp(dark, **params)
    if dark.detector.kind != "ccd":
        raise HstcrError(f"{dark.dataset}: method {method!r} is for CCDs; "
                         f"{dark.detector.name} darks use 'ramp'", stage="detect")
    if method == "stack":
        raise HstcrError(f"{dark.dataset}: the stack method needs a group of darks "
                         "(find_cosmic_rays_stack)", stage="detect")
    if method not in ("threshold", "dq"):
        raise HstcrError(f"{dark.dataset}: unknown detection method {method!r}; "
                         f"known: {', '.join(METHODS)}", stage="detect")
    if dark.detector.kind != "ccd":
        raise HstcrError(f"{dark.dataset}: method {method!r} is for CCDs; "
                         f"{dark.detector.name} darks use 'ramp'", stage="detect")
    params = dict(params)
    label_params = _label_params(params)
    det = dark.detector
    if method == "threshold":
        unknown = set(params) - set(THRESHOLD_DEFAULTS)
        det_params = {**THRESHOLD_DEFAULTS, **params}
    else:
        unknown = set(params)
        det_params = {}
    if unknown:
        raise HstcrError(f"{dark.dataset}: unknown {method} parameter(s) "
                         f"{', '.join(sorted(unknown))}", stage="detect")
    masks, images, backgrounds, noises, bads = [], [], [], [], []
    notes = []
    for chip in dark.chips:
        bad = bad_pixel_mask(chip, det)
        # the lower-half estimator ignores cosmic rays, so one estimate serves both modes
        level, sigma = chip_noise(chip, ~bad)
        if method == "threshold":
            # components, not a mask: the hysteresis labelling is reused at labelling time
            mask, spikes = detect_threshold(chip, det, bad=bad, background=(level, sigma),
                                            return_spikes=True, return_components=True,
                                            **det_params)
        else:
            # a cosmic ray's flagged footprint or halo can hold an unflagged hot pixel
            # whose charge is not the cosmic ray's: find and mask those the same way
            spikes = find_spikes(chip.science, bad, sigma, level_e=level)
            mask = detect_dq(chip, det, bad=bad | spikes)
        # unflagged hot pixels found: masked like flagged ones (not in any footprint/halo)
        bad = bad | spikes
        notes.append(f"chip {chip.name}: {int(spikes.sum())} unflagged hot pixels masked")
        # energies need the background's mean, not the median the thresholds used
        if isinstance(mask, tuple):
            mean_level = background_mean(chip.science, bad, level, sigma,
                                         exclude_components=mask)
        else:
            mean_level = background_mean(chip.science, mask | bad, level, sigma)
        masks.append(mask)
        images.append(chip.science)
        backgrounds.append(mean_level)
        noises.append(sigma)
        bads.append(bad)
        notes.append(f"chip {chip.name}: background median {level:.2f} e-, mean away from "
                     f"cosmic rays {mean_level:.2f} e-, noise {sigma:.2f} e-")
    if method == "dq":
        _require_cr_flags(dark, masks)
    all_params = _jsonable({**det_params, **label_params})
    return _catalog_and_summary(dark, method, masks, images, backgrounds, noises, bads,
                                label_params, all_params, notes)


#: at the quiet-orbit flux (~1.2 CR/s/cm2), a dark expected to hold more cosmic rays than this
#: and flagging none was never CR-rejected (MAST's single-dark flt/flc are not)
MIN_EXPECTED_FOR_UNFLAGGED = 20.0


def _require_cr_flags(dark: Dark, masks: list[np.ndarray]) -> None:
    """Refuse ``dq`` on a product whose DQ carries no cosmic-ray flag at all.

    Without this, a product that never went through CR rejection would enter the lake as a
    dark with zero cosmic rays (a rate of 0), indistinguishable from a real measurement.
    """
    if any(m.any() for m in masks):
        return
    expected = 1.2 * dark.detector.area_cm2 * dark.exptime_s
    if expected > MIN_EXPECTED_FOR_UNFLAGGED:
        raise HstcrError(
            f"{dark.dataset}: no pixel carries the cosmic-ray DQ bit {dark.detector.cr_bit} "
            f"(~{expected:.0f} cosmic rays expected in {dark.exptime_s:g} s): the "
            f"{dark.science_suffix or 'science'} product was not CR-rejected; use the "
            "threshold or stack method", source=dark.source or None, stage="detect")


def find_cosmic_rays_stack(darks: Sequence[Dark], **params: Any) -> list[
        tuple[CosmicRayCatalog, DetectionSummary]]:
    """Stack-method detection over one group of darks (same detector, chips and set-up).

    Parameters
    ----------
    darks : sequence of Dark
        2..30 darks (see :func:`group_for_stack`).
    **params
        :data:`STACK_DEFAULTS` and :data:`LABEL_DEFAULTS` keys.

    Returns
    -------
    list of (CosmicRayCatalog, DetectionSummary)
        One per dark, in order.  Energies are measured against the per-pixel reference, so
        hot pixels and dark-current structure are removed.
    """
    darks = list(darks)
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
    params = dict(params)
    label_params = _label_params(params)
    unknown = set(params) - set(STACK_DEFAULTS)
    if unknown:
        raise HstcrError(f"unknown stack parameter(s) {', '.join(sorted(unknown))}",
                         stage="detect")
    det_params = {**STACK_DEFAULTS, **params}
    per_dark = [dict(masks=[], images=[], backgrounds=[], noises=[], bads=[], notes=[])
                for _ in darks]
    for ci in range(len(darks[0].chips)):
        chips = [d.chips[ci] for d in darks]
        masks, reference, levels, noise = detect_stack(chips, det, return_reference=True,
                                                       **det_params)
        for k, d in enumerate(darks):
            acc = per_dark[k]
            acc["masks"].append(masks[k])
            acc["images"].append(chips[k].science)
            acc["backgrounds"].append((reference, float(levels[k])))   # no copy per dark
            acc["noises"].append(float(noise[k]))
            acc["bads"].append(bad_pixel_mask(chips[k], det))
            acc["notes"].append(f"chip {chips[k].name}: stack of {len(darks)}, level "
                                f"{levels[k]:.2f} e-, noise {noise[k]:.2f} e-")
    all_params = _jsonable({**det_params, **label_params, "group_size": len(darks)})
    out = []
    for d, acc in zip(darks, per_dark):
        out.append(_catalog_and_summary(d, "stack", acc["masks"], acc["images"],
                                        acc["backgrounds"], acc["noises"], acc["bads"],
                                        label_params, all_params, acc["notes"]))
    return out


# ------------------------------------------------------------------------------------------
# grouping for the stack method (pure: the planner reuses it)
# ------------------------------------------------------------------------------------------
def _get(record: Any, *names: str, default=None):
    for name in names:
        if isinstance(record, dict):
            if name in record and record[name] is not None:
                return record[name]
        elif getattr(record, name, None) is not None:
            return getattr(record, name)
    return default


def _month_of(record: Any) -> str:
    month = _get(record, "month")
    if month:
        return str(month)[:7]
    when = _get(record, "date_obs", "expstart")
    if isinstance(when, (dt.datetime, dt.date)):
        return f"{when.year:04d}-{when.month:02d}"
    if isinstance(when, str) and len(when) >= 7:
        return when[:7]
    mjd = _get(record, "expstart_mjd")
    if mjd is not None:
        day = dt.datetime(1858, 11, 17) + dt.timedelta(days=float(mjd))
        return f"{day.year:04d}-{day.month:02d}"
    return ""


def _time_of(record: Any) -> float:
    mjd = _get(record, "expstart_mjd")
    if mjd is not None:
        return float(mjd)
    when = _get(record, "date_obs", "expstart")
    if isinstance(when, dt.datetime):
        return when.timestamp() / 86400.0
    return 0.0


def group_key(record: Any) -> tuple:
    """What darks must share to be stacked: detector, CCDAMP, EXPTIME, gain, month."""
    instrument = _get(record, "instrument", default="")
    if not isinstance(instrument, str):
        instrument = getattr(instrument, "id", str(instrument))
    det = _get(record, "detector")
    if not instrument and det is not None:
        instrument = getattr(det, "id", str(det))
    exptime = _get(record, "exptime_s", "exptime")
    gain = _get(record, "ccdgain", "gain")
    return (str(instrument), str(_get(record, "ccdamp", default="") or ""),
            None if exptime is None else round(float(exptime), 1),
            None if gain is None else round(float(gain), 2), _month_of(record))


def group_for_stack(records: Iterable[Any], max_size: int = MAX_GROUP) -> list[list[Any]]:
    """Groups of darks for the stack method.

    Darks go together when they share detector, CCDAMP, EXPTIME (to 0.1 s), gain and
    calendar month (DATE-OBS / EXPSTART / the manifest's ``month``).  A key holding more than
    ``max_size`` darks is cut, in time order, into the fewest groups of near-equal size (31
    darks -> 16 + 15, never 30 + 1).  Keys that a record lacks count as equal (a manifest
    item without CCDAMP groups with the others of its detector and month).

    Parameters
    ----------
    records : iterable
        Dicts or objects with some of: ``instrument`` (or ``detector``), ``ccdamp``,
        ``exptime_s``/``exptime``, ``ccdgain``/``gain``, ``month``/``date_obs``/
        ``expstart_mjd``, ``dataset``.
    max_size : int

    Returns
    -------
    list of list
        The input records, grouped; groups ordered by key, members by time then dataset.
    """
    buckets: dict[tuple, list] = {}
    for rec in records:
        buckets.setdefault(group_key(rec), []).append(rec)
    groups = []
    for key in sorted(buckets, key=lambda k: tuple("" if v is None else str(v) for v in k)):
        members = sorted(buckets[key], key=lambda r: (_time_of(r),
                                                      str(_get(r, "dataset", default=""))))
        n_groups = -(-len(members) // max_size)
        bounds = np.linspace(0, len(members), n_groups + 1).round().astype(int)
        groups += [members[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return groups
