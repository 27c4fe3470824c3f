"""The local background held as box grids (BackgroundMap): the same map as the frame-sized
arrays, read at pixels, by strips and by slices, and the same detections from it."""

from __future__ import annotations

import numpy as np
import pytest

from scipy.interpolate import RegularGridInterpolator

from hstcr_common.detect.local_background import (BACKGROUND_BOX_PX, BackgroundMap,
                                                  background_grids, local_background,
                                                  local_background_maps)
from hstcr_common.detect.threshold import hysteresis_pixels, pixels_above
from hstcr_common.measure import background_at, background_mean

#: (shape, amplifiers): two regions, one, single-box axes, sizes not a multiple of the box
CASES = [((300, 512), 2), ((256, 256), 1), ((40, 130), 1), ((70, 50), 2), ((1, 200), 1)]


def _chip(shape, seed=3):
    """A dark with a flash gradient, an amplifier step and a few bright pixels (e-)."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx]
    image = 20.0 + 15.0 * x / nx + 6.0 * y / max(ny, 1) + 4.0 * (x >= nx // 2)
    image = rng.poisson(image).astype(np.float32) + rng.normal(0, 3.0, shape).astype(np.float32)
    image.ravel()[rng.integers(0, image.size, image.size // 100)] += 400.0
    bad = np.zeros(shape, dtype=bool)
    bad.ravel()[rng.integers(0, image.size, image.size // 200)] = True
    return image, bad


def _bilinear(grids, shape, which, box=BACKGROUND_BOX_PX):
    """The map the grids stand for, by scipy: bilinear between box centres (a partial last
    box's centre kept on the chip), constant beyond the outer centres, per region."""
    ny, nx = shape
    out = np.empty(shape)
    for g in grids:
        grid = np.asarray(g[which], dtype=np.float64)
        x0, x1 = g["x0"], g["x1"]
        axes = []
        for n, n_boxes in ((ny, grid.shape[0]), (x1 - x0, grid.shape[1])):
            centres = np.minimum(np.arange(n_boxes) * box + (box - 1) / 2, n - 1)
            axes.append((centres, np.clip(np.arange(n), centres[0], centres[-1])))
        if grid.shape[0] == 1:         # linear interpolation needs two points an axis
            grid, axes[0] = np.r_[grid, grid], (np.r_[axes[0][0], axes[0][0] + 1], axes[0][1])
        if grid.shape[1] == 1:
            grid, axes[1] = np.c_[grid, grid], (np.r_[axes[1][0], axes[1][0] + 1], axes[1][1])
        y, x = np.meshgrid(axes[0][1], axes[1][1], indexing="ij")
        out[:, x0:x1] = RegularGridInterpolator((axes[0][0], axes[1][0]), grid)(
            np.stack([y, x], axis=-1))
    return out


@pytest.mark.parametrize("shape,n_amp", CASES)
def test_the_held_maps_are_the_bilinear_maps_of_the_grids(shape, n_amp):
    image, bad = _chip(shape)
    level, sigma = local_background_maps(image, bad, n_amplifiers=n_amp, sigma_floor_e=2.5)
    grids = background_grids(image, bad, n_amplifiers=n_amp)
    want_level = _bilinear(grids, shape, "level")
    want_sigma = np.maximum(_bilinear(grids, shape, "sigma"), 2.5)
    for held, want in ((level, want_level), (sigma, want_sigma)):
        frame = np.asarray(held)
        assert frame.shape == shape and frame.dtype == np.float32 and np.ndim(held) == 2
        np.testing.assert_allclose(frame, want, rtol=1e-6, atol=1e-5)
        # at every pixel, in float64: the same values to float32 rounding
        every = held.at(np.arange(image.size)).reshape(shape)
        np.testing.assert_allclose(every, want, rtol=1e-6, atol=1e-5)
        # strips and slices are the frame's
        assert np.array_equal(held.rows(3 % shape[0], shape[0]), frame[3 % shape[0]:])
        assert np.array_equal(held[::7, 2::5], frame[::7, 2::5])
        assert held[::7, 2::5].dtype == np.float32
        # the extremes are the frame's, not bounds
        assert np.min(held) == float(frame.min()) and np.max(held) == float(frame.max())
    assert float(np.min(sigma)) >= 2.5
    # local_background still gives the arrays
    arrays = local_background(image, bad, n_amplifiers=n_amp, sigma_floor_e=2.5)
    assert all(isinstance(a, np.ndarray) for a in arrays)
    assert np.array_equal(arrays[0], np.asarray(level))


def test_a_bilinear_maps_minimum_lies_between_box_centres_not_at_them():
    # a single low box: the minimum is at the pixels next to its centre (31.5, 31.5), where
    # the interpolation already mixes in its neighbours -- above the box's own value
    grid = np.full((3, 3), 10.0)
    grid[1, 1] = 2.0
    held = BackgroundMap([{"x0": 0, "x1": 192, "level": grid, "sigma": grid}], (192, 192))
    frame = np.asarray(held)
    assert np.min(held) == float(frame.min())
    assert 2.0 < np.min(held) < 2.5
    assert np.max(held) == 10.0


@pytest.mark.parametrize("shape,n_amp", CASES)
def test_detections_against_held_maps_are_those_against_arrays(shape, n_amp):
    image, bad = _chip(shape, seed=11)
    level, sigma = local_background_maps(image, bad, n_amplifiers=n_amp, sigma_floor_e=1.0)
    level_a, sigma_a = np.asarray(level), np.asarray(sigma)
    for n in (6.0, 2.0, -1.0):
        assert np.array_equal(pixels_above(image, level, sigma, n),
                              pixels_above(image, level_a, sigma_a, n))
        assert np.array_equal(pixels_above(image, level, sigma, n),
                              np.flatnonzero(image > level_a + np.float32(n) * sigma_a))
    # seeds tested among each strip's grow pixels, or (a seed threshold below the grow one)
    # both over the strips; with a scalar level or noise as well
    for lv, sg, lv_a, sg_a in ((level, sigma, level_a, sigma_a), (level, 3.0, level_a, 3.0),
                               (20.0, sigma, 20.0, sigma_a)):
        for seed_sigma, grow_sigma in ((6.0, 2.0), (2.0, 2.0), (2.0, 6.0)):
            seeds, grow = hysteresis_pixels(image, lv, sg, seed_sigma, grow_sigma)
            want_seeds, want_grow = hysteresis_pixels(image, lv_a, sg_a, seed_sigma, grow_sigma)
            assert np.array_equal(seeds, want_seeds) and np.array_equal(grow, want_grow)
            assert np.array_equal(seeds, np.flatnonzero(
                image > lv_a + np.float32(seed_sigma) * np.asarray(sg_a, np.float32)))
            assert seeds.size
    # a scalar noise with a held level, and a held noise with a scalar level
    assert np.array_equal(pixels_above(image, level, 3.0, 5.0),
                          pixels_above(image, level_a, 3.0, 5.0))
    assert np.array_equal(pixels_above(image, 20.0, sigma, 5.0),
                          pixels_above(image, 20.0, sigma_a, 5.0))


def test_background_at_and_the_energy_offset_read_held_maps():
    image, bad = _chip((300, 512))
    level, _ = local_background_maps(image, bad, n_amplifiers=2)
    idx = np.random.default_rng(0).integers(0, image.size, 5000)
    want = np.asarray(level).ravel()[idx].astype(np.float64)
    np.testing.assert_allclose(background_at(level, idx), want, rtol=1e-6)
    np.testing.assert_allclose(background_at((level, 1.5), idx), want + 1.5, rtol=1e-6)
    assert background_at(level, idx, np.float32).dtype == np.float32
    held = background_mean(image, bad, 0.0, 5.0, subtract=level)
    array = background_mean(image, bad, 0.0, 5.0, subtract=np.asarray(level))
    assert held == pytest.approx(array, abs=1e-5)
