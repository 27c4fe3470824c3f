"""Method ``auto`` for a group: each dark searched against its group's per-pixel reference.

The 2021 study CR-rejected groups of darks with one set-up taken close in time; so does this,
in two steps that each hold about one dark in memory, whatever the group's size:

1. :func:`build_reference` reads the group's darks a strip of rows at a time
   (:mod:`.strips`: byte ranges, local or S3) and keeps, per chip and pixel, the sum ``S`` and
   number ``C`` of the darks' values (in e-, each dark's own background level per amplifier
   removed) that lie within ``clip_sigma`` of the group's lower median (for 2 darks the
   minimum: a cosmic ray only adds charge; :func:`lower_median`), and which darks those were (one bit per dark and pixel).  A hot
   or warm pixel, its CTE tail, an unflagged hot pixel, pair or cluster: all are in every
   dark, so all are in ``S``; a cosmic ray is in one dark and is clipped, so two cosmic
   rays in the same pixel of two darks of >= 3 cannot move it.  A pixel whose spread between
   the darks (MAD x 1.4826) exceeds ``telegraph_sigma`` noise sigmas blinks (random
   telegraph): it never seeds a cosmic ray, only joins one grown from beside it (groups
   of >= 4: with 2 or 3 darks a blink and cosmic rays in the same pixel look alike).
2. :func:`find_cosmic_rays_reference` searches one dark against the mean of the *other*
   accepted darks, ``(S - x_i) / (C - 1)`` where the dark's own value was accepted, else
   ``S / C``: leaving the dark out keeps its own faint cosmic-ray halo (below the clip) out
   of its reference, so energies are not biased low.  Residual = dark - level - reference;
   its noise per pixel is read noise + Poisson of (level + reference) + the reference's own
   variance (1 / (number of other darks) of a dark's).  Seeds at ``seed_sigma``, hysteresis
   growth to ``grow_sigma``; a seed pixel with no charge in its neighbours is a pixel that
   changed between darks (a new hot pixel, a telegraph jump), not a cosmic ray
   (:func:`find_spikes`), and the pixels of its CTE trail seed only above the trail the
   chip's spikes show (:func:`_spike_trails`).  Labelling, splitting, halo and measurement
   as every CCD method (:mod:`.catalogue`), energies against ``level + reference`` plus
   what the residual keeps away from every cosmic ray (:func:`level_offsets`: the other
   darks' faint cosmic-ray wings under the clip sit in their mean).

The reference is small beside the group (per chip a float32 sum, a count, a telegraph mask
and one bit per dark and pixel: ~90 MB for ACS/WFC plus 2 MB per dark) and serialises to
bytes (:mod:`.group_reference`), so it is built once per group and each dark is then
searched on its own (one pool task, one Lambda).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import ndimage

from ..measure import EIGHT, Components, kept_of, robust_background
from ..model import AutoParams, CosmicRayCatalog, Dark, DetectionSummary, HstcrError
from .catalogue import ChipDetection, catalog_and_summary
from .dq import bad_pixel_mask
from .hotpixels import spike_flags, trail_allowance, trail_direction, trail_profile
from .group_reference import ChipReference, GroupReference
from .local_background import amplifiers_per_chip, offsets_away_from
from .order_statistics import lower_median
from .strips import DarkRows
from .threshold import find_spikes

#: fewest darks whose spread tells a blinking (telegraph) pixel from cosmic rays
MIN_DARKS_TELEGRAPH = 4
#: MAD -> sigma of a normal distribution
MAD_SIGMA = 1.4826
#: float32 bytes of the group's rows held at once when ``strip_rows`` is 0 (auto): 4 MB
#: strips keep the clipping's passes nearer the cache (4 ACS/WFC darks: 0.76 s -> 0.62-0.65 s
#: a build, against 16 MB; 1 MB strips cost as much again in per-strip reads)
STRIP_BYTES = 4 * 1024 * 1024
#: rows sampled per dark and chip for its background levels: blocks x rows per block
LEVEL_BLOCKS, LEVEL_BLOCK_ROWS = 16, 8


# --------------------------------------------------------------------------- building

def _segment_levels(chip, segments: list[slice]) -> list[float]:
    """Background level per amplifier (e-) from evenly spaced blocks of rows."""
    ny = chip.shape[0]
    starts = np.unique(np.linspace(0, max(ny - LEVEL_BLOCK_ROWS, 0), LEVEL_BLOCKS).astype(int))
    parts = [chip.read(int(r), min(ny, int(r) + LEVEL_BLOCK_ROWS)) for r in starts]
    science = np.concatenate([p[0] for p in parts])
    good = ~np.concatenate([p[1] for p in parts])
    return [robust_background(science[:, s], good[:, s])[0] for s in segments]


def _column_levels(levels: list[float], segments: list[slice], nx: int) -> np.ndarray:
    out = np.zeros(nx, dtype=np.float32)
    for lv, s in zip(levels, segments):
        out[s] = lv
    return out


def _check_members(darks: Sequence[DarkRows]) -> None:
    if len(darks) < 2:
        raise HstcrError("a group reference needs at least 2 darks", stage="detect")
    first = darks[0]
    names = ", ".join(d.dataset for d in darks)
    if len({d.dataset for d in darks}) != len(darks):
        raise HstcrError(f"a dataset appears twice in the group: {names}", stage="detect")
    for d in darks:
        if d.detector.id != first.detector.id:
            raise HstcrError(f"group mixes detectors: {names}", stage="detect")
        if [(c.name, c.shape) for c in d.chips] != [(c.name, c.shape) for c in first.chips]:
            raise HstcrError(f"group mixes chip layouts: {names}", stage="detect")


def _reference_strip(data: np.ndarray, bad: np.ndarray, rn2: float, level: np.ndarray,
                     clip_sigma: float, telegraph_sigma: float):
    """(sum, count, accepted, telegraph) of one strip of the group, data (k, rows, nx) in e-."""
    k = data.shape[0]
    center = lower_median(data)
    # Poisson of the level at least: a low centre (a minimum) is noise, not less signal
    sigma = np.sqrt(rn2 + np.maximum(level, 0.0) + np.maximum(center, 0.0))
    dev = np.abs(data - center)
    # a value minus the centre is a difference of two noisy values: sqrt(2) sigma from the
    # minimum (a low noise excursion must not reject the clean darks), ~sqrt(1 + pi / 2k)
    # from a median
    spread = math.sqrt(2.0) if k <= 3 else math.sqrt(1.0 + math.pi / (2.0 * k))
    accepted = (dev <= clip_sigma * spread * sigma) & ~bad
    # the rejected values zeroed by a multiply, 3.5x faster than np.where's select (every
    # value is finite: the rows reader zeroes the rest), then summed in float64 dark by
    # dark; + 0.0 makes a sum of rejected negative values +0.0, as np.where's zeros gave
    total = (data * accepted).sum(axis=0, dtype=np.float64)
    total += 0.0
    count = accepted.sum(axis=0, dtype=np.uint8)
    if k >= MIN_DARKS_TELEGRAPH:
        telegraph = lower_median(dev) * MAD_SIGMA > telegraph_sigma * sigma
    else:
        # 2 or 3 values cannot tell a blinking pixel from cosmic rays: "two of three high" is
        # also two cosmic rays' charge in one pixel, ~1% of the pixels at the normal density,
        # and masking those cut 6% of the searched dark's cosmic rays (ACS/HRC, 3 darks).  The
        # spike test on the residual is what rejects a blink there.
        telegraph = np.zeros(center.shape, dtype=bool)
    return total.astype(np.float32), count, accepted, telegraph


def build_reference(darks: Sequence[DarkRows], params: AutoParams | None = None, *,
                    meta: dict | None = None) -> GroupReference:
    """The group's reference, read a strip of rows at a time (see the module docstring).

    Parameters
    ----------
    darks : sequence of DarkRows
        The group's darks (:func:`open_dark_rows`), same detector and chips; >= 2.
    params : AutoParams, optional
        ``clip_sigma``, ``telegraph_sigma``, ``strip_rows``.
    meta : dict, optional
        Stored with the reference (key, description, parameters hash ...).

    Returns
    -------
    GroupReference
        Peak memory: the reference plus one strip of every dark (~``STRIP_BYTES`` x 6).
    """
    params = params or AutoParams()
    ref_params = params.reference
    darks = list(darks)
    _check_members(darks)
    k = len(darks)
    levels: dict[str, list[list[float]]] = {d.dataset: [] for d in darks}
    chips = []
    for ci, chip0 in enumerate(darks[0].chips):
        ny, nx = chip0.shape
        segments = chip0.segments
        lv = []
        for d in darks:
            own = _segment_levels(d.chips[ci], d.chips[ci].segments)
            levels[d.dataset].append([float(v) for v in own])
            lv.append(_column_levels(own, d.chips[ci].segments, nx))
        lvcol = np.stack(lv)[:, None, :]                          # (k, 1, nx)
        rn2 = float(np.mean([c.chips[ci].read_noise_e ** 2 + c.chips[ci].gain ** 2 / 12.0
                             for c in darks]))
        level = lvcol.mean(axis=0)
        rows = ref_params.strip_rows or max(8, STRIP_BYTES // (4 * k * nx))
        total = np.zeros((ny, nx), dtype=np.float32)
        count = np.zeros((ny, nx), dtype=np.uint8)
        telegraph = np.zeros((ny, nx), dtype=bool)
        accepted = np.zeros((k, ny, (nx + 7) // 8), dtype=np.uint8)
        for r0 in range(0, ny, rows):
            r1 = min(ny, r0 + rows)
            data = np.empty((k, r1 - r0, nx), dtype=np.float32)
            bad = np.empty((k, r1 - r0, nx), dtype=bool)
            for j, d in enumerate(darks):
                data[j], bad[j] = d.chips[ci].read(r0, r1)
            data -= lvcol
            s, c, a, t = _reference_strip(data, bad, rn2, level, ref_params.clip_sigma,
                                          ref_params.telegraph_sigma)
            total[r0:r1], count[r0:r1], telegraph[r0:r1] = s, c, t
            accepted[:, r0:r1] = np.packbits(a, axis=-1)
            del data, bad, a
        chip_ref = ChipReference(chip0.name, total, count, accepted, telegraph,
                                 [(s.start, s.stop) for s in segments])
        chip_ref.smooth_grids(amplifiers_per_chip(darks[0].detector))   # stored with it
        chips.append(chip_ref)
    return GroupReference([d.dataset for d in darks], levels, chips, darks[0].detector.id,
                          "lower median" if k > 3 else "minimum", dict(meta or {}))


# --------------------------------------------------------------------------- detecting

def reference_residual(science_e: np.ndarray, ref: ChipReference, member: int,
                       levels: list[float], read_noise_e: float, gain: float, *,
                       significance: float = 3.0, n_amplifiers: int = 1):
    """(residual, reference, sigma) of one chip of member ``member`` (e-, float32).

    The reference is the mean of the other accepted darks (module docstring) where that mean
    departs from its smooth map by more than ``significance`` of its own noise (a hot, warm
    or cold pixel, a CTE tail), else the smooth map
    (:func:`.local_background.background_grids` of the group's mean, stored with the
    reference: flash gradient and amplifier steps, no per-pixel noise); where no other dark was accepted the residual is
    0.  A telegraph pixel gets the smooth map (its mean mixes its states).  With 2 other darks
    the per-pixel mean carries half a dark's noise variance, which
    every footprint pixel would otherwise add to the energy (late-mission ACS/HRC group of
    3: median |dE| 2.85% -> 2.58%, rate 0.979 -> 0.985).  ``significance`` 0: always the
    per-pixel mean.
    """
    ny, nx = science_e.shape
    lvcol = _column_levels(levels, [slice(a, b) for a, b in ref.segments], nx)
    noise_floor = np.float32(read_noise_e ** 2 + gain ** 2 / 12.0) + np.maximum(lvcol, 0.0)
    smooth = ref.smooth_map(n_amplifiers) if significance > 0 else None
    residual, reference, sigma = (np.empty((ny, nx), dtype=np.float32) for _ in range(3))
    # ~20 elementwise passes: a strip of rows at a time stays in the CPU cache (a chip-sized
    # pass streams 32 MB through memory; in strips the whole chain runs ~1.5x faster)
    accepted = ref.accepted[member]
    rows = max(1, RESIDUAL_STRIP_PIXELS // nx)
    for r0 in range(0, ny, rows):
        s = slice(r0, r0 + rows)
        _residual_rows(science_e[s], lvcol, accepted[s], ref.count[s], ref.total_e[s],
                       None if smooth is None else smooth.rows(s.start, min(ny, s.stop)),
                       ref.telegraph[s], noise_floor,
                       significance, residual[s], reference[s], sigma[s])
    return residual, reference, sigma


#: pixels per strip of :func:`reference_residual` (~10 float32 strips of 512 KB in cache)
RESIDUAL_STRIP_PIXELS = 1 << 17


def _residual_rows(science_e, lvcol, accepted, count, total_e, smooth, telegraph,
                   noise_floor, significance, residual, reference, sigma) -> None:
    """:func:`reference_residual` on a strip of rows, into ``residual``, ``reference`` and
    ``sigma`` (views of the chip-sized outputs)."""
    nx = science_e.shape[1]
    x = np.subtract(science_e, lvcol, out=residual, dtype=np.float32)
    own = np.unpackbits(accepted, axis=-1, count=nx).view(bool)
    n_other = count - own.view(np.uint8)             # own implies count >= 1: no wrap
    # 1 / max(n_other, 1): a float32 division, twice as fast as a gather from a table of the
    # 256 values (whose index is widened to intp first), and the same correctly rounded values
    inv = np.divide(np.float32(1.0), np.maximum(n_other, 1), dtype=np.float32)
    none = n_other == 0
    np.multiply(x, own, out=reference)
    np.subtract(total_e, reference, out=reference)
    reference *= inv
    np.copyto(reference, x, where=none)
    pixel_var = np.maximum(reference, np.float32(0.0), out=sigma)
    pixel_var += noise_floor
    ref_var = np.multiply(pixel_var, inv, out=inv)
    if significance > 0:
        departure = np.subtract(reference, smooth)
        np.square(departure, out=departure)
        flat = departure <= np.float32(significance ** 2) * ref_var
        flat &= ~none
        # a telegraph pixel's mean mixes its states and can swallow half a cosmic ray's
        # core (-31% on a 1500 e- one in the tests); no state of it is known for this dark,
        # so it gets the smooth map like any pixel (its blink, if any, stays in the energy)
        flat |= telegraph
        np.copyto(reference, smooth, where=flat)
        # ref_var is finite and >= 0: times 0 where flat is the masked 0 (+0.0), ~5x faster
        np.invert(flat, out=flat)
        np.multiply(ref_var, flat, out=ref_var)
    np.subtract(x, reference, out=x)
    np.add(pixel_var, ref_var, out=pixel_var)
    np.sqrt(pixel_var, out=pixel_var)


def _detect_chip(chip, det, ref: ChipReference, member: int, levels: list[float],
                 params: AutoParams) -> ChipDetection:
    p = params.reference
    residual, reference, sigma = reference_residual(chip.science, ref, member, levels,
                                                    float(chip.read_noise_e or 0.0),
                                                    float(chip.gain or 0.0),
                                                    significance=p.pixel_significance,
                                                    n_amplifiers=amplifiers_per_chip(det))
    # Flagged hot and warm pixels are searched when the group can see them blink (>= 4
    # darks: the reference holds them and flags the telegraph ones); with 2 or 3 darks they
    # stay masked (letting them seed or grow counted blinking hot clusters: purity 0.994 ->
    # 0.991 on late-mission STIS and WFPC2 groups of 3).  Telegraph pixels cannot seed a
    # cosmic ray, but one seeded beside them grows over them: masking them cut every cosmic
    # ray crossing one (completeness 0.987 -> 0.996 on late-mission ACS/HRC groups of 5).
    search_hot = ref.accepted.shape[0] >= MIN_DARKS_TELEGRAPH
    bad = bad_pixel_mask(chip, det, search_hot=search_hot)
    # Masked or not, a flagged hot pixel is in the reference: a cosmic ray crossing one keeps
    # its charge there through the halo (masked, it was a hole: on late-mission groups of 3,
    # 2.5% hot pixels half of them flagged, one cosmic ray in six lost part of its core)
    halo_exclude = None if search_hot else bad_pixel_mask(chip, det, search_hot=True)
    typical = float(np.median(sigma[::7, ::7]))
    spikes = find_spikes(residual, bad, typical, min_sigma=p.seed_sigma,
                         neighbour_fraction=p.hot_neighbour_fraction,
                         neighbour_sigma=p.hot_neighbour_sigma)
    trail_idx = _spike_trails(residual, bad, spikes, sigma, typical, p.seed_sigma)
    # the trail pixels that would have seeded (the rest are blocked but were no seeds anyway)
    n_trail_seeds = int(np.count_nonzero(
        residual.ravel()[trail_idx] > p.seed_sigma * sigma.ravel()[trail_idx]))
    if halo_exclude is not None:
        # ... unless it jumped alone (a blink: its neighbours hold no share of it), which
        # would add the jump to a faint cosmic ray beside it
        flagged = np.flatnonzero(bad & ~halo_exclude & (residual > p.seed_sigma * sigma))
        jumped = spike_flags(residual, halo_exclude, flagged, typical,
                             p.hot_neighbour_fraction, p.hot_neighbour_sigma)
        halo_exclude.ravel()[flagged[jumped]] = True
    significance = np.divide(residual, sigma, out=sigma)          # sigma is not needed again
    # each mask formed once and combined in place: 10 passes over the chip's bytes, not 16
    masked = bad | spikes
    searched = np.logical_not(masked)
    seeds = np.greater(significance, p.seed_sigma)
    n_spikes = int(np.count_nonzero(spikes & seeds))
    seeds &= searched
    seeds &= ~ref.telegraph
    seeds.ravel()[trail_idx] = False
    grow = np.greater(significance, p.grow_sigma)
    grow &= searched
    grow |= seeds
    del significance, searched
    labels, n = ndimage.label(grow, structure=EIGHT)
    # the grow pixels listed once: the seeds, the kept pixels and labelling read them there
    grow_idx = np.flatnonzero(grow)
    del grow
    comp = labels.ravel()[grow_idx]
    keep = np.bincount(comp[seeds.ravel()[grow_idx]], minlength=n + 1) > 0
    keep[0] = False
    kept_idx, kept_comp = kept_of(keep, grow_idx, comp)
    offsets = level_offsets(residual, labels, keep, masked, typical, ref.segments,
                            kept_idx=kept_idx)
    # energies against level + reference + the offset left away from the cosmic rays:
    # image - background = residual - offset
    background = np.subtract(chip.science, residual, out=residual)
    background += _column_levels(offsets, [slice(a, b) for a, b in ref.segments],
                                 background.shape[1])
    del reference
    return ChipDetection(
        mask=Components(labels, keep, grow_idx, (kept_idx, kept_comp)), image_e=chip.science,
        background_e=(background, 0.0),
        noise_e=typical, bad=masked,
        halo_exclude=None if halo_exclude is None else halo_exclude | spikes,
        notes=[f"reference: levels {', '.join(f'{v:.2f}' for v in levels)} e-, offsets away "
               f"from the cosmic rays {', '.join(f'{v:+.3f}' for v in offsets)} e-, typical noise "
               f"{typical:.2f} e-, {np.count_nonzero(ref.telegraph)} telegraph pixels never seeds, "
               f"{n_spikes} single-pixel changes (new hot or telegraph pixels) rejected, "
               f"{n_trail_seeds} pixels of their CTE trails kept from seeding"])


def level_offsets(residual: np.ndarray, labels: np.ndarray, keep: np.ndarray,
                  excluded: np.ndarray, noise_e: float,
                  segments: Sequence[tuple[int, int]],
                  kept_idx: np.ndarray | None = None) -> list[float]:
    """Mean residual per amplifier segment away from every cosmic ray (e-).

    The level is a robust centre of each dark and the reference the mean of the other darks'
    accepted values; the other darks' cosmic rays leave their faint wings (pixels under the
    clip) in that mean, so the background sat ~0.25 e- per pixel high on a nominal 1000 s
    ACS/HRC group of 3 and every energy lost that times its ~14 pixels (-0.4% in the
    median).  The mean of the residual away from this dark's cosmic rays measures what the
    background leaves, whatever its cause; away from *kept* components only, so the noise
    above the grow threshold is not cut from one side.

    Parameters
    ----------
    residual : ndarray, (ny, nx)
        Image minus level minus reference (e-).
    labels, keep : ndarray
        Hysteresis components and which are cosmic rays.
    excluded : ndarray of bool, (ny, nx)
        Bad pixels and spikes.
    noise_e : float
        Typical pixel noise (e-): residuals beyond
        :data:`.local_background.OFFSET_CLIP_SIGMA` of it are left out.
    segments : sequence of (int, int)
        Column ranges of the amplifiers.
    kept_idx : ndarray of int, optional
        Flat indices of the kept components' pixels, when the caller listed them (else
        found from ``labels``, a pass over the frame).
    """
    if kept_idx is None:
        kept_idx = np.flatnonzero(keep[labels])
    return offsets_away_from(lambda rows: residual[rows], kept_idx, excluded, noise_e,
                             segments, residual.shape)


def _spike_trails(residual: np.ndarray, bad: np.ndarray, spikes: np.ndarray,
                  sigma: np.ndarray, typical: float, seed_sigma: float):
    """The pixels behind rejected spikes that may not seed (flat indices): within their
    spike's expected CTE trail plus ``seed_sigma`` of their noise
    (:func:`~.hotpixels.trail_allowance`)."""
    spike_idx = np.flatnonzero(spikes)
    direction = trail_direction(residual, bad, spike_idx, 0.0, typical)
    if direction == 0:
        return np.zeros(0, dtype=np.int64)
    profile = trail_profile(residual, bad, spike_idx, direction)
    idx, allowance = trail_allowance(residual.shape, spike_idx, residual.ravel()[spike_idx],
                                     direction, profile)
    return idx[residual.ravel()[idx] - allowance <= seed_sigma * sigma.ravel()[idx]]


def find_cosmic_rays_reference(dark: Dark, reference: GroupReference,
                               params: AutoParams | None = None, *, reason: str = ""
                               ) -> tuple[CosmicRayCatalog, DetectionSummary]:
    """Cosmic rays of one member of a group, against the group's reference.

    Parameters
    ----------
    dark : Dark
        A member of ``reference`` (its dataset is in ``reference.members``), loaded as
        :func:`hstcr_common.load.load_dark` loads it.
    reference : GroupReference
    params : AutoParams, optional
    reason : str
        ``summary.method_reason`` (default: the reference's description).

    Returns
    -------
    catalog, summary
        ``summary.method`` is ``"reference"``, ``group_size`` the group's darks.
    """
    params = params or AutoParams()
    if dark.dataset not in reference.members:
        raise HstcrError(f"{dark.dataset} is not a member of the reference "
                         f"({', '.join(reference.members)})", stage="detect")
    member = reference.members.index(dark.dataset)
    by_name = {c.name: c for c in reference.chips}
    for chip in dark.chips:
        ref = by_name.get(chip.name)
        if ref is None or ref.shape != chip.shape:
            raise HstcrError(f"{dark.dataset}: chip {chip.name} {chip.shape} does not match "
                             "the group reference", stage="detect")
    # a chip at a time: each is detected, labelled and measured before the next is detected
    chips = (_detect_chip(chip, dark.detector, by_name[chip.name], member,
                          reference.levels[dark.dataset][ci], params)
             for ci, chip in enumerate(dark.chips))
    recorded = {**params.to_dict(), "group_size": reference.size,
                "reference_center": reference.center}
    notes = [f"reference of {reference.size} darks ({reference.center}, other darks' clipped "
             f"mean): {', '.join(reference.members)}"]
    catalog, summary = catalog_and_summary(dark, "reference", chips, params.label,
                                           params.count, recorded, notes)
    summary.method_reason = reason or str(reference.meta.get("description", "")) or (
        f"group of {reference.size} darks")
    summary.group_size = reference.size
    return catalog, summary
