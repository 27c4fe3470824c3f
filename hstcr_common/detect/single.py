"""One chip of one dark, detected alone (methods ``threshold`` and ``dq``), ready to label.

Both methods measure against the chip's smooth local background
(:func:`.local_background.local_background`: per amplifier region, robust 64-pixel boxes),
for the thresholds and for the energies.  The energies take the map plus one offset: the
*mean* of the residual away from detections (:func:`hstcr_common.measure.background_mean`),
because the median under the thresholds sits a few tenths of an electron high (Poisson skew
of dark current, the faint charge of cosmic rays), ~0.4% of a cosmic ray's energy.
Saturated pixels are searched and kept in the footprint they touch (:mod:`.dq`).
"""

from __future__ import annotations

import numpy as np

from ..instruments import Detector
from ..measure import background_mean
from ..model import Chip, ThresholdParams
from .catalogue import ChipDetection
from .dq import bad_pixel_mask, detect_dq, saturated_mask
from .local_background import BackgroundMap, amplifiers_per_chip, local_background_maps
from .threshold import detect_threshold, find_spikes

#: the hot-pixel test ``dq`` masks unflagged hot pixels with: the threshold method's defaults
DQ_SPIKE_TEST = ThresholdParams()


def chip_background(chip: Chip, detector: Detector,
                    bad: np.ndarray) -> tuple[BackgroundMap, BackgroundMap]:
    """Local background and noise maps (e-) of a chip, the noise floored at half the read
    noise (a quantised or nearly constant image cannot give a zero threshold); read where
    the search needs them, never expanded to frames (:class:`.local_background.BackgroundMap`)."""
    return local_background_maps(chip.science, bad, n_amplifiers=amplifiers_per_chip(detector),
                                 sigma_floor_e=max(0.5 * float(chip.read_noise_e or 0.0), 1e-3))


def _energy_offset(chip: Chip, level: np.ndarray, sigma_e: float, exclude: np.ndarray,
                   components=None) -> float:
    """Mean of ``science - level`` away from detections: the energies' correction (e-)."""
    return background_mean(chip.science, exclude, 0.0, sigma_e, exclude_components=components,
                           subtract=level)


def threshold_chip(chip: Chip, detector: Detector, params: ThresholdParams) -> ChipDetection:
    """Method ``threshold`` on one chip: hysteresis against the local background, hot pixels
    (isolated, pairs, clusters, CTE trails) masked, saturated pixels kept."""
    bad = bad_pixel_mask(chip, detector)
    saturated = saturated_mask(chip, detector) & ~bad
    level, sigma = chip_background(chip, detector, bad)
    comps, hot = detect_threshold(chip, detector, params, bad=bad, background=(level, sigma),
                                  saturated=saturated, return_spikes=True,
                                  return_components=True)
    noise = float(np.median(sigma[::7, ::7]))    # a smooth map: a sample gives its median
    masked = bad | hot
    offset = _energy_offset(chip, level, noise, masked, comps)
    return ChipDetection(
        mask=comps, image_e=chip.science, background_e=(level, offset), noise_e=noise,
        bad=masked, saturated=saturated,
        # count_nonzero: 8x faster than a bool sum (which adds up as integers)
        notes=[f"{np.count_nonzero(hot)} unflagged hot-pixel pixels masked (isolated, pairs, "
               "clusters, CTE trails)", _background_note(level, sigma, offset)])


def dq_chip(chip: Chip, detector: Detector) -> ChipDetection:
    """Method ``dq`` on one chip: the cosmic-ray DQ bit plus the saturated pixels it touches,
    unflagged hot pixels masked (a flagged footprint or halo can hold one whose charge is
    not the cosmic ray's)."""
    bad = bad_pixel_mask(chip, detector)
    saturated = saturated_mask(chip, detector) & ~bad
    level, sigma = chip_background(chip, detector, bad)
    spikes = find_spikes(chip.science, bad, sigma, level_e=level,
                         min_sigma=DQ_SPIKE_TEST.seed_sigma,
                         neighbour_fraction=DQ_SPIKE_TEST.hot_neighbour_fraction,
                         neighbour_sigma=DQ_SPIKE_TEST.hot_neighbour_sigma)
    spikes &= ~saturated
    masked = bad | spikes
    mask = detect_dq(chip, detector, bad=masked, saturated=saturated)
    noise = float(np.median(sigma[::7, ::7]))    # a smooth map: a sample gives its median
    offset = _energy_offset(chip, level, noise, mask | masked)
    return ChipDetection(
        mask=mask, image_e=chip.science, background_e=(level, offset), noise_e=noise,
        bad=masked, saturated=saturated,
        notes=[f"{np.count_nonzero(spikes)} unflagged hot pixels masked",
               _background_note(level, sigma, offset)])


def _background_note(level: np.ndarray, sigma: np.ndarray, offset: float) -> str:
    lo, hi = np.percentile(level[::7, ::7], [1, 99])
    return (f"local background {lo:.2f}..{hi:.2f} e- (1-99%), mean offset {offset:+.2f} e-, "
            f"noise median {float(np.median(sigma[::7, ::7])):.2f} e-")
