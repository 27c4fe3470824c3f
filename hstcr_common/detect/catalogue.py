"""From per-chip detections to a dark's catalogue and summary: label, measure, count.

Every chip's detection is labelled and split (:func:`hstcr_common.measure.label_cosmic_rays`)
and measured (:func:`hstcr_common.measure.measure_cosmic_rays`); the chips' catalogues are
joined, the cosmic rays hidden in unsplit merges estimated (:mod:`.coincidence`), and the
searched area counted (:func:`searched_pixel_count`).

Rates: ``n_cr_corrected`` is the headline.  The lake's ``rate_corrected_cr_s_cm2`` (=
n_cr_corrected / (integration time x searched area)) estimates the cosmic rays that hit;
``rate_cr_s_cm2`` (= n_cr / ...) counts the resolved ones, one per catalogue row, and falls
with crowding (longer exposures, bigger footprints).  Through the real pipeline on the
full-size synthetic darks of every CCD (``write_dark`` -> ``process_item``), the corrected
rate is within 1% of the injected one and the resolved rate 3-7% below it
(``tests/unit/detect/test_detect.py::test_pipeline_rates_*``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ..measure import label_cosmic_rays, measure_cosmic_rays, spill_correction
from ..model import CosmicRayCatalog, CountParams, Dark, DetectionSummary, HstcrError
from ..model import LabelParams, SEARCHED_AREA_RULES
from ..measure import NEIGHBOURS_8
from .coincidence import coincidence_correction, mean_touching_area
from .dq import saturated_mask


@dataclass
class ChipDetection:
    """What detection found on one chip, ready to be labelled and measured.

    Attributes
    ----------
    mask : ndarray of bool (ny, nx), or (label_image, keep)
        Cosmic-ray pixels, or the threshold hysteresis's components and which are kept.
    image_e : ndarray, (ny, nx)
        Electrons.
    background_e : float or (ndarray, float)
        What the energies are measured against: a chip level, or the stack reference plus
        the dark's level (e-).
    noise_e : float
        Pixel noise (e- rms), for the split significance and the halo sources.
    bad : ndarray of bool, (ny, nx)
        Pixels never searched and never in a halo (DQ-bad and unflagged hot pixels).
    notes : list of str
    saturated : ndarray of bool, (ny, nx), optional
        Saturated pixels (searched, kept in the footprint they touch); the cosmic rays
        holding one are flagged ``saturated``.  None: none known.
    halo_exclude : ndarray of bool, (ny, nx), optional
        Pixels never added to a halo; None: ``bad``.  Narrower than ``bad`` where a pixel
        may not seed or grow a cosmic ray but its charge above the background is still
        known (a flagged hot pixel the group's reference subtracts).
    """

    mask: np.ndarray | tuple[np.ndarray, np.ndarray]
    image_e: np.ndarray
    background_e: float | tuple[np.ndarray, float]
    noise_e: float
    bad: np.ndarray
    notes: list[str] = field(default_factory=list)
    saturated: np.ndarray | None = None
    halo_exclude: np.ndarray | None = None


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
    if rule not in SEARCHED_AREA_RULES:
        raise HstcrError(f"unknown searched_area rule {rule!r}: use 'detectable' or 'unmasked'",
                         stage="detect")
    ny, nx = bad.shape
    b = np.flatnonzero(bad)
    y, x = np.divmod(b, nx)
    flat = bad.ravel()
    # inside the chip's 1-pixel border every neighbour exists: no bounds test per offset
    edge = (y == 0) | (y == ny - 1) | (x == 0) | (x == nx - 1)
    inner = b[~edge]
    all_bad = np.ones(inner.size, dtype=bool)
    for dy, dx in NEIGHBOURS_8:
        all_bad &= flat[inner + (dy * nx + dx)]
    n_seen = int(inner.size - np.count_nonzero(all_bad))
    if edge.any():
        ye, xe, be = y[edge], x[edge], b[edge]
        seen = np.zeros(be.size, dtype=bool)
        for dy, dx in NEIGHBOURS_8:
            ok = (ye + dy >= 0) & (ye + dy < ny) & (xe + dx >= 0) & (xe + dx < nx)
            seen[ok] |= ~flat[be[ok] + (dy * nx + dx)]
        n_seen += int(np.count_nonzero(seen))
    return int(bad.size - n_bad + n_seen)


def _in_detection(mask, part: CosmicRayCatalog) -> np.ndarray:
    """Which of a chip's measured pixels (its catalogue's pixel lists, in order) are in the
    detection mask, i.e. not in a halo ring added after labelling.

    ``mask`` is a bool mask or ``(label_image, keep)`` components; read at flat indices
    (``take``), about 2.5x faster than indexing with the rows and columns.
    """
    image = mask[0] if isinstance(mask, tuple) else mask
    flat = part.pixel_y.astype(np.int64)
    flat *= image.shape[1]
    flat += part.pixel_x
    inside = image.ravel().take(flat)
    return np.asarray(mask[1]).take(inside) if isinstance(mask, tuple) else inside


def _coincidence_estimate(catalog: CosmicRayCatalog, in_detection: list[np.ndarray],
                          n_components: int, searched: int) -> tuple[float, str]:
    """Cosmic rays behind the components (Boolean model), and a note saying so.

    ``in_detection``: per chip, :func:`_in_detection` of its catalogue's pixels.
    """
    n_cr = len(catalog)
    # the model counts components of the detection masks, so it needs those footprints
    # (without the halo rings added after labelling)
    in_core = np.concatenate(in_detection) if in_detection else np.zeros(0, bool)
    cr_of_pixel = np.repeat(np.arange(n_cr), np.diff(catalog.pixel_offsets))
    # every measured footprint, the pieces of split blobs included: the isolated cosmic rays
    # alone are a size-biased sample (a larger footprint touches a neighbour more often, so
    # at high occupancy the isolated ones are the small ones), which made the touching area
    # and the count low: ACS/HRC at twice the normal density 0.961 of the injected rate with
    # isolated footprints only, 0.985 with all (late-mission conditions, group of 3)
    core_offsets = np.zeros(n_cr + 1, dtype=np.int64)
    np.cumsum(np.bincount(cr_of_pixel[in_core], minlength=n_cr), out=core_offsets[1:])
    x = mean_touching_area(core_offsets, catalog.pixel_x[in_core], catalog.pixel_y[in_core])
    estimate = coincidence_correction(n_components, searched, x)
    return estimate, (f"coincidence model: {n_components} components, mean touching area "
                      f"{x:.1f} px -> {estimate:.1f} cosmic rays expected; "
                      f"n_cr_corrected = max(n_cr, model)")


def catalog_and_summary(dark: Dark, method: str, chips: Iterable[ChipDetection],
                        label: LabelParams, count: CountParams, recorded: dict,
                        notes: list[str]) -> tuple[CosmicRayCatalog, DetectionSummary]:
    """Label (split) and measure every chip; count, correct, and summarise.

    Parameters
    ----------
    dark : Dark
    method : str
        Recorded in the summary.
    chips : iterable of ChipDetection
        One per ``dark.chips``, in order.  A generator is consumed a chip at a time: each
        chip is labelled and measured, and its frame-sized arrays freed, before the next
        one is detected (the next chip's detection then reuses that memory).
    label, count : LabelParams, CountParams
    recorded : dict
        ``summary.params``: every parameter that changed the result, JSON-able.
    notes : list of str
        Notes so far; the chips' detection notes follow, then their labelling notes.
    """
    parts, in_detection, chip_notes = [], [], []
    notes = list(notes)
    n_components = searched = core = 0
    summed = spilled = 0.0
    ci = -1
    # no enumerate(): its reused result tuple would keep the last chip's detection (a
    # frame-sized label image and masks) alive while the next chip is detected
    for chip in chips:
        ci += 1
        name = dark.chips[ci].name
        notes += [f"chip {name}: {t}" for t in chip.notes]
        # a mask, or (label_image, keep) components from the threshold hysteresis
        comps = chip.mask if isinstance(chip.mask, tuple) else None
        saturated = chip.saturated
        if saturated is None:       # a detection that did not say: the product's DQ does
            saturated = saturated_mask(dark.chips[ci], dark.detector) & ~chip.bad
        labelled = label_cosmic_rays(
            None if comps else chip.mask, chip.image_e, params=label, noise_e=chip.noise_e,
            background_e=chip.background_e,
            halo_exclude=chip.bad if chip.halo_exclude is None else chip.halo_exclude,
            components=comps,
            saturated=saturated)
        # attributes, not tuple unpacking: unpacking builds the chip-sized label image
        n, n_merged = labelled.n, labelled.n_merged
        parts.append(measure_cosmic_rays(labelled, n, chip.image_e,
                                         background_e=chip.background_e, chip_index=ci))
        if label.spill_correction and n:
            added, fit = spill_correction(labelled.idx, labelled.pixel_label, labelled.is_core,
                                          n, chip.image_e, chip.background_e, bad=chip.bad,
                                          n_merged=labelled.n_merged,
                                          saturated=labelled.saturated,
                                          values_e=labelled.values_against(chip.background_e))
            summed += float(parts[-1].energy_e.sum())
            spilled += float(added.sum())
            parts[-1].energy_e = (parts[-1].energy_e + added).astype(np.float32)
            chip_notes.append(f"chip {name}: {fit.note()}")
        # the cores of the cosmic rays kept: O(cosmic rays), not a pass over the frame
        core += int(parts[-1].n_core_pixels.sum())
        n_components += int(round(float(np.sum(1.0 / n_merged)))) if n else 0
        searched += searched_pixel_count(chip.bad, count.searched_area)
        chip_notes += [f"chip {name}: {t}" for t in labelled.notes]
        if count.correct_coincidences:
            in_detection.append(_in_detection(chip.mask, parts[-1]))
        # the chip's frame-sized arrays go before the next chip is detected (``chips`` may
        # be a generator): the next chip reuses their memory instead of touching new pages
        del chip, comps, saturated, labelled
    notes += chip_notes
    catalog = CosmicRayCatalog.concat(parts)
    n_cr = len(catalog)
    n_corrected = float(n_cr)
    if count.correct_coincidences and n_cr:
        estimate, note = _coincidence_estimate(catalog, in_detection, n_components, searched)
        n_corrected = max(float(n_cr), estimate)
        notes.append(note)
    n_saturated = int(np.count_nonzero(catalog.saturated)) if catalog.saturated is not None else 0
    summary = DetectionSummary(
        method=method, params=recorded, n_cr=n_cr, n_cr_split=n_cr - n_components,
        n_cr_corrected=n_corrected, searched_pixels=searched,
        searched_area_cm2=searched * dark.detector.pixel_area_cm2, notes=notes,
        occupancy=core / searched if searched else float("nan"), n_saturated=n_saturated,
        spill_fraction=spilled / summed if summed > 0 else float("nan"))
    return catalog, summary
