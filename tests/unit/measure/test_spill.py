"""The edge-spill correction: charge diffused past a footprint, fitted on the chip's cosmic rays."""

from __future__ import annotations

import datetime as dt

import numpy as np

from hstcr_common.detect import find_cosmic_rays
from hstcr_common.instruments import get_detector
from hstcr_common.measure import spill_correction
from hstcr_common.model import Chip, Dark, parse_params

SHAPE = (512, 512)
LEVEL = 10.0
RN = 4.0


def _spots(rng, n, sigma_px, wing_px=1.5, wing_share=0.08):
    """Compact diffused hits: a Gaussian of ``sigma_px`` plus a wide wing (``wing_share`` of
    the charge with ``wing_px``: the field-free region of a thick CCD), below the noise two
    pixels out; energies 300-5000 e- log-uniform, on a flat level with read noise."""
    image = rng.normal(LEVEL, RN, SHAPE)
    yy, xx = np.mgrid[-4:5, -4:5]
    ys = rng.integers(8, SHAPE[0] - 8, n)
    xs = rng.integers(8, SHAPE[1] - 8, n)
    # keep them apart: one per 16x16 cell at most, so every hit is isolated
    cell = (ys // 16) * 64 + xs // 16
    _, first = np.unique(cell, return_index=True)
    ys, xs = ys[first], xs[first]
    energy = np.exp(rng.uniform(np.log(300), np.log(5000), ys.size))
    dy, dx = rng.uniform(-0.5, 0.5, (2, ys.size))
    for y, x, e, oy, ox in zip(ys, xs, energy, dy, dx):
        r2 = (yy - oy) ** 2 + (xx - ox) ** 2
        core = np.exp(-r2 / (2 * sigma_px ** 2))
        wing = np.exp(-r2 / (2 * wing_px ** 2))
        spot = (1 - wing_share) * core / core.sum() + wing_share * wing / wing.sum()
        image[y - 4:y + 5, x - 4:x + 5] += e * spot
    return image.astype(np.float32), ys, xs, energy


def _dark(image):
    chip = Chip("WFC1", 1, science=image, dq=np.zeros(SHAPE, np.uint16), gain=1.0,
                read_noise_e=RN)
    return Dark(dataset="spill", detector=get_detector("acs_wfc"), chips=[chip],
                date_obs=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc), expstart_mjd=58849.0,
                expend_mjd=58849.01, exptime_s=1000.0)


def _ratios(catalog, ys, xs, energy):
    owner = np.repeat(np.arange(len(catalog)), np.diff(catalog.pixel_offsets))
    key = catalog.pixel_y.astype(np.int64) * SHAPE[1] + catalog.pixel_x
    at = {k: o for k, o in zip(key.tolist(), owner.tolist())}
    hit = np.array([at.get(int(y) * SHAPE[1] + int(x), -1) for y, x in zip(ys, xs)])
    ok = hit >= 0
    return catalog.energy_e[hit[ok]] / energy[ok]


def test_spill_past_the_footprint_is_restored_without_adding_noise():
    image, ys, xs, energy = _spots(np.random.default_rng(3), 900, sigma_px=0.6)
    dark = _dark(image)
    off, off_summary = find_cosmic_rays(dark, parse_params("threshold",
                                                            {"spill_correction": False}))
    on, summary = find_cosmic_rays(dark, "threshold")
    r_off, r_on = _ratios(off, ys, xs, energy), _ratios(on, ys, xs, energy)
    assert r_off.size == r_on.size > 550
    # the footprints leave 2% of these hits outside; the fit puts back what the next ring
    # out holds (the wing reaching further stays out: -2.0% -> -0.7%)
    bias_off, bias_on = np.median(r_off) - 1, np.median(r_on) - 1
    assert bias_off < -0.015, bias_off
    assert abs(bias_on) < 0.4 * abs(bias_off), (bias_off, bias_on)
    # a prediction from each hit's own bright pixels: the scatter does not grow
    assert np.std(r_on / np.median(r_on)) <= 1.02 * np.std(r_off / np.median(r_off))
    assert summary.spill_fraction > 0.004 and np.isnan(off_summary.spill_fraction)
    assert any("energy spill past the footprints" in n for n in summary.notes)


def test_hits_without_wings_gain_next_to_nothing():
    image, ys, xs, energy = _spots(np.random.default_rng(4), 900, sigma_px=0.6, wing_share=0.0)
    on, _ = find_cosmic_rays(_dark(image), "threshold")
    assert abs(np.median(_ratios(on, ys, xs, energy)) - 1) < 0.003


def test_no_spill_fitted_where_there_is_none():
    # sharp one-pixel "hits" with nothing around them: the fitted spill is not significant
    rng = np.random.default_rng(5)
    image = rng.normal(LEVEL, RN, SHAPE).astype(np.float32)
    ys, xs = np.divmod(rng.choice(SHAPE[0] * SHAPE[1], 400, replace=False), SHAPE[1])
    image[ys, xs] += rng.uniform(300, 3000, ys.size).astype(np.float32)
    idx = np.sort(ys * SHAPE[1] + xs).astype(np.int64)
    label = np.arange(1, idx.size + 1, dtype=np.int32)
    added, fit = spill_correction(idx, label, np.ones(idx.size, bool), idx.size, image, LEVEL)
    assert fit.n_fit > 300
    assert fit.core == 0.0 and fit.halo == 0.0 and not added.any()


def test_too_few_isolated_cosmic_rays_leave_energies_alone():
    image = np.full(SHAPE, LEVEL, np.float32)
    idx = np.array([1000, 5000], dtype=np.int64)
    added, fit = spill_correction(idx, np.array([1, 2], np.int32), np.ones(2, bool), 2,
                                  image, LEVEL)
    assert fit.n_fit == 2 and not added.any() and "not fitted" in fit.note()


def test_free_sides_equal_a_padded_lookup_image():
    """Each footprint pixel's side neighbours are free when on the chip, in no footprint and
    not bad: the list-based answer (one search for both columns) equals a padded image's."""
    from hstcr_common.measure.connectivity import NEIGHBOURS_4
    from hstcr_common.measure.spill import _free_sides

    rng = np.random.default_rng(11)
    for shape in [(6, 9), (40, 33), (1, 12), (12, 1)]:
        for fraction in (0.1, 0.5, 0.9):
            mask = rng.random(shape) < fraction
            bad = rng.random(shape) < 0.2
            idx = np.flatnonzero(mask)
            ny, nx = shape
            free_image = np.zeros((ny + 2, nx + 2), dtype=bool)
            free_image[1:-1, 1:-1] = ~mask & ~bad
            y, x = np.divmod(idx, nx)
            for with_bad, sides in ((True, _free_sides(idx, shape, bad)),
                                    (False, _free_sides(idx, shape, None))):
                if not with_bad:
                    free_image[1:-1, 1:-1] = ~mask
                for (dy, dx), (free, q) in zip(NEIGHBOURS_4, sides):
                    assert np.array_equal(free, free_image[y + 1 + dy, x + 1 + dx])
                    assert np.array_equal(q[free], idx[free] + dy * nx + dx)
