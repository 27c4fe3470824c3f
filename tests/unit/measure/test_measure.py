"""Labelling, splitting and per-cosmic-ray measurements on hand-built shapes (exact values)."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest

from hstcr_common.measure import add_halo, label_cosmic_rays, measure_cosmic_rays
from hstcr_common.model import LabelParams

#: the label settings these shapes are built for: no halo unless asked, 8-connected rings
BARE = LabelParams(halo_radius=0, halo_connectivity=8)
_SETTINGS = {f.name for f in fields(LabelParams)}


def _label(mask, image=None, **kw):
    """:func:`label_cosmic_rays` with :data:`BARE` changed by the label settings in ``kw``."""
    params = replace(BARE, **{k: v for k, v in kw.items() if k in _SETTINGS})
    return label_cosmic_rays(mask, image, params=params,
                             **{k: v for k, v in kw.items() if k not in _SETTINGS})


def _measure(image, mask=None, **kw):
    mask = image > 0 if mask is None else mask
    labels, n, n_merged, notes = _label(mask, image, noise_e=1.0, **kw)
    return measure_cosmic_rays(labels, n, image, n_merged=n_merged), labels, notes


def test_point_has_zero_moments():
    img = np.zeros((9, 9), np.float32)
    img[4, 6] = 100.0
    cat, _, _ = _measure(img, min_pixels=1)
    assert len(cat) == 1
    assert cat.n_pixels[0] == 1 and cat.energy_e[0] == 100.0 and cat.peak_e[0] == 100.0
    assert (cat.x_centroid[0], cat.y_centroid[0]) == (6.0, 4.0)
    assert cat.ixx[0] == 0 and cat.iyy[0] == 0 and cat.ixy[0] == 0
    assert cat.width_sigma[0] == 0 and cat.symmetry[0] == 0


def test_horizontal_line_is_symmetry_one():
    img = np.zeros((7, 12), np.float32)
    img[3, 2:9] = 50.0                               # 7 pixels x = 2..8
    cat, _, _ = _measure(img)
    x = np.arange(2, 9)
    assert cat.x_centroid[0] == pytest.approx(5.0)
    assert cat.ixx[0] == pytest.approx(np.mean((x - 5.0) ** 2))   # 4.0
    assert cat.iyy[0] == 0 and cat.ixy[0] == 0
    assert cat.symmetry[0] == pytest.approx(1.0)
    assert cat.width_sigma[0] == pytest.approx(np.sqrt(4.0 / 2))
    assert (cat.x_min[0], cat.x_max[0], cat.y_min[0], cat.y_max[0]) == (2, 8, 3, 3)


def test_diagonal_line_moments():
    img = np.zeros((10, 10), np.float32)
    for k in range(5):
        img[2 + k, 1 + k] = 10.0
    cat, _, _ = _measure(img)
    # x = y = 1..5 about 3 (shifted by 1 in y): Ixx = Iyy = Ixy = 2
    assert cat.ixx[0] == pytest.approx(2.0)
    assert cat.iyy[0] == pytest.approx(2.0)
    assert cat.ixy[0] == pytest.approx(2.0)
    assert cat.symmetry[0] == pytest.approx(1.0)


def test_symmetric_blob_is_round_with_exact_moments():
    img = np.zeros((11, 11), np.float32)
    img[4:7, 4:7] = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
    img *= 25
    cat, _, _ = _measure(img)
    assert cat.energy_e[0] == pytest.approx(400.0)
    assert (cat.x_centroid[0], cat.y_centroid[0]) == (5.0, 5.0)
    # weights per offset row: (1,2,1)/4 -> variance 0.5
    assert cat.ixx[0] == pytest.approx(0.5)
    assert cat.iyy[0] == pytest.approx(0.5)
    assert cat.ixy[0] == pytest.approx(0.0, abs=1e-7)
    assert cat.symmetry[0] == pytest.approx(0.0, abs=1e-6)
    assert cat.width_sigma[0] == pytest.approx(np.sqrt(0.5))


def test_negative_pixels_count_in_energy_but_not_in_moments():
    img = np.zeros((5, 9), np.float32)
    img[2, 2:5] = [100.0, 100.0, -30.0]
    mask = np.zeros(img.shape, bool)
    mask[2, 2:5] = True
    cat, _, _ = _measure(img, mask=mask)
    assert cat.energy_e[0] == pytest.approx(170.0)
    assert cat.x_centroid[0] == pytest.approx(2.5)     # the -30 pixel has weight 0
    assert cat.ixx[0] == pytest.approx(0.25)
    assert cat.n_pixels[0] == 3


def test_background_scalar_and_array_and_pixel_lists():
    img = np.full((6, 6), 10.0, np.float32)
    img[1, 1:3] = [60.0, 30.0]
    img[4, 4] = 110.0
    img[4, 3] = 20.0
    labels, n, nm, _ = _label(img > 15, img - 10, noise_e=1.0)
    cat = measure_cosmic_rays(labels, n, img, background_e=10.0)
    cat2 = measure_cosmic_rays(labels, n, img, background_e=np.full(img.shape, 10.0))
    np.testing.assert_array_equal(cat.energy_e, [70.0, 110.0])
    np.testing.assert_array_equal(cat.energy_e, cat2.energy_e)
    np.testing.assert_array_equal(cat.pixel_offsets, [0, 2, 4])
    np.testing.assert_array_equal(cat.pixel_x, [1, 2, 3, 4])
    np.testing.assert_array_equal(cat.pixel_y, [1, 1, 4, 4])
    np.testing.assert_array_equal(cat.pixel_e, [50, 20, 10, 100])
    # the pixel list sums to the energy
    np.testing.assert_allclose(np.add.reduceat(cat.pixel_e, cat.pixel_offsets[:-1]),
                               cat.energy_e)
    assert cat.cr_id.tolist() == [1, 2]


def test_eight_connectivity_and_min_pixels():
    mask = np.zeros((6, 6), bool)
    mask[1, 1] = mask[2, 2] = True                  # diagonal neighbours: one cosmic ray
    mask[4, 5] = True                               # single pixel: dropped at min_pixels=2
    labels, n, _, notes = _label(mask, split=False)
    assert n == 1 and labels[1, 1] == labels[2, 2] == 1 and labels[4, 5] == 0
    assert any("under 2 pixels" in t for t in notes)
    labels, n, _, _ = _label(mask, split=False, min_pixels=1)
    assert n == 2


def _gauss_blob(shape, x0, y0, energy, sigma=0.6):
    y, x = np.mgrid[: shape[0], : shape[1]]
    g = np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2))
    return (energy * g / g.sum()).astype(np.float32)


def test_split_two_touching_cosmic_rays():
    img = _gauss_blob((20, 30), 10, 10, 2000) + _gauss_blob((20, 30), 14, 10, 1000)
    mask = img > 5
    assert _label(mask, split=False)[1] == 1      # one connected component
    labels, n, n_merged, notes = _label(mask, img, noise_e=4.0)
    assert n == 2
    assert n_merged.tolist() == [2, 2]
    cat = measure_cosmic_rays(labels, n, img, n_merged=n_merged)
    order = np.argsort(cat.x_centroid)
    np.testing.assert_allclose(cat.x_centroid[order], [10, 14], atol=0.3)
    np.testing.assert_allclose(cat.energy_e[order], [2000, 1000], rtol=0.03)
    assert cat.energy_e.sum() == pytest.approx(img[mask].sum(), rel=1e-5)
    assert any("split 1 merged" in t for t in notes)


def test_no_split_along_a_smooth_track_or_on_noise():
    rng = np.random.default_rng(1)
    img = np.zeros((30, 40), np.float32)
    for t in np.linspace(0, 1, 60):                 # a diagonal track of uniform charge
        img += _gauss_blob(img.shape, 5 + 25 * t, 5 + 15 * t, 40, sigma=0.5)
    noisy = img + rng.normal(0, 4.0, img.shape).astype(np.float32)
    mask = img > 10
    labels, n, n_merged, _ = _label(mask, noisy, noise_e=4.0)
    assert n == 1 and n_merged[0] == 1


def test_split_respects_dip_significance():
    # two maxima separated by a shallow saddle (80% of the lower peak): one cosmic ray
    img = np.zeros((5, 9), np.float32)
    img[2, 1:8] = [10, 100, 90, 85, 90, 95, 10]
    labels, n, _, _ = _label(img > 0, img, noise_e=1.0)
    assert n == 1
    img[2, 1:8] = [10, 100, 20, 5, 20, 95, 10]      # a real gap
    labels, n, _, _ = _label(img > 0, img, noise_e=1.0)
    assert n == 2


def test_halo_ring_goes_to_the_brightest_neighbour_and_skips_excluded():
    img = np.zeros((7, 9), np.float32)
    img[3, 2] = 100
    img[3, 3] = 90
    img[3, 6] = 50
    img[3, 5] = 45                                  # gap pixel x=4 borders both
    excl = np.zeros(img.shape, bool)
    excl[0:2, :] = False
    excl[3, 0] = True
    labels, n, _, notes = _label(img > 0, img, noise_e=1.0, halo_radius=1,
                                            halo_exclude=excl)
    assert n == 2
    assert labels[3, 4] == labels[3, 3]             # 90 beats 45
    assert labels[3, 0] == 0                        # excluded
    assert labels[3, 1] == labels[3, 2]
    # ring around each: 2x (3x4) boxes minus overlap, never over excluded
    assert (labels > 0).sum() == 3 * 4 + 3 * 3 + 0  # x 1..4 and 5..7 in rows 2..4
    assert any("halo ring" in t for t in notes)


def test_add_halo_in_place_counts():
    labels = np.zeros((5, 5), np.int32)
    labels[2, 2] = 1
    added = add_halo(labels, np.array([12]), np.array([1], np.int32), None, 2,
                     connectivity=8)
    assert added == 24 and (labels == 1).all()


def test_empty_mask():
    labels, n, n_merged, _ = _label(np.zeros((8, 8), bool), np.zeros((8, 8)))
    assert n == 0 and n_merged.size == 0
    cat = measure_cosmic_rays(labels, n, np.zeros((8, 8)))
    assert len(cat) == 0 and cat.pixel_offsets.tolist() == [0]


def test_background_reference_plus_level_needs_no_copy():
    rng = np.random.default_rng(3)
    img = rng.normal(100, 3, (16, 16)).astype(np.float32)
    img[5:8, 5:8] += 300
    ref = rng.normal(0, 1, img.shape).astype(np.float32)
    labels, n, nm, _ = _label(img > 200, img, noise_e=3.0,
                                         background_e=(ref, 100.0))
    a = measure_cosmic_rays(labels, n, img, background_e=(ref, 100.0))
    b = measure_cosmic_rays(labels, n, img, background_e=ref + np.float32(100.0))
    np.testing.assert_allclose(a.energy_e, b.energy_e, rtol=1e-6)
    np.testing.assert_allclose(a.pixel_e, b.pixel_e, rtol=1e-6, atol=1e-4)


def test_touching_area_of_hand_built_footprints():
    from hstcr_common.detect import mean_touching_area
    # one single pixel and one horizontal pair, sampled as every ordered pair
    offsets = np.array([0, 1, 3])
    x = np.array([10, 20, 21])
    y = np.array([10, 30, 30])
    rng = np.random.default_rng(0)
    est = mean_touching_area(offsets, x, y, n_pairs=4000, rng=rng)
    # |dilate(A) + (-B)|: 1px-1px 9, 1px-pair 12, pair-1px 12, pair-pair 4x3 -> 15
    assert est == pytest.approx((9 + 12 + 12 + 15) / 4, rel=0.03)


def test_match_to_truth_by_hand():
    from hstcr_common.synthetic import match_to_truth

    class Truth:                                     # the CosmicRayTruth fields used
        energy_e = np.array([400.0, 500.0], np.float32)
        pixel_offsets = np.array([0, 2, 3])
        pixel_x = np.array([5, 6, 20], np.int16)
        pixel_y = np.array([5, 5, 9], np.int16)
        pixel_e = np.array([300.0, 100.0, 500.0], np.float32)

        def __len__(self):
            return 2

    # truth: CR A (2 px, 400 e-) and CR B (1 px, 500 e-) far apart
    truth = Truth()
    img = np.zeros((12, 30), np.float32)
    img[5, 5], img[5, 6] = 310, 100                  # detection 1: CR A (+10 e- noise)
    img[2, 25] = 800                                 # detection 2: a hot pixel
    img[9, 20] = 200                                 # CR B only partly detected ...
    mask = img > 0
    mask[9, 20] = False                              # ... actually missed
    labels, n, nm, _ = _label(mask, img, noise_e=1.0, min_pixels=1, split=False)
    cat = measure_cosmic_rays(labels, n, img)
    m = match_to_truth(cat, truth, 0, bins=(0, 450, 1000))
    assert m.found.tolist() == [True, False]
    assert m.real.tolist() == [False, True]          # raster order: the hot pixel first
    assert m.n_true.tolist() == [1, 1] and m.completeness.tolist() == [1.0, 0.0]
    assert m.purity.tolist() == [1.0, 0.0]           # 410 e- real, 800 e- hot pixel
    np.testing.assert_allclose(m.energy_ratio, [410 / 400])
    # the one-to-one pairs themselves: truth A with detection 1 (raster order: the hot pixel
    # at row 2 is catalogue row 0)
    assert m.truth_matched.tolist() == [0] and m.detection_matched.tolist() == [1]
    np.testing.assert_allclose(cat.energy_e[m.detection_matched] / truth.energy_e[m.truth_matched],
                               m.energy_ratio)


# ---------------------------------------------------------------------------------------------
# pixel lists instead of chip-sized arrays
# ---------------------------------------------------------------------------------------------

def test_neighbour_positions_equal_a_padded_lookup_image():
    from hstcr_common.measure import NEIGHBOURS_8, neighbour_positions
    from hstcr_common.measure.connectivity import HALF_NEIGHBOURS_8, NEIGHBOURS_4

    rng = np.random.default_rng(3)
    for shape in [(5, 7), (31, 40), (1, 9), (9, 1), (2, 2)]:
        for fraction in (0.0, 0.1, 0.5, 1.0):
            idx = np.flatnonzero(rng.random(shape) < fraction)
            m, (ny, nx) = idx.size, shape
            pos = np.full((ny + 2) * (nx + 2), m)
            y, x = np.divmod(idx, nx)
            base = (y + 1) * (nx + 2) + x + 1
            pos[base] = np.arange(m)
            found = neighbour_positions(idx, shape)
            for dy, dx in NEIGHBOURS_8:
                assert np.array_equal(found[(dy, dx)], pos[base + dy * (nx + 2) + dx])
            # the row above is found from the row below: asked for alone, it is the same
            for offsets in (HALF_NEIGHBOURS_8, [(-1, 1)], [(-1, -1), (0, 1)], NEIGHBOURS_4):
                some = neighbour_positions(idx, shape, offsets)
                assert sorted(some) == sorted(offsets)
                for dy, dx in offsets:
                    assert np.array_equal(some[(dy, dx)], pos[base + dy * (nx + 2) + dx])


def test_mask_components_equal_ndimage_label():
    from scipy import ndimage

    from hstcr_common.measure import EIGHT, mask_components

    rng = np.random.default_rng(8)
    for fraction in (0.05, 0.3, 0.6):
        mask = rng.random((60, 45)) < fraction
        mask[10, :] = True                                   # one long component
        ref, n_ref = ndimage.label(mask, structure=EIGHT)
        idx = np.flatnonzero(mask)
        comp, n = mask_components(idx, mask.shape)
        assert n == n_ref
        # same partition, numbered in raster order of first pixel as ndimage does
        assert np.array_equal(comp, ref.ravel()[idx])


def test_labels_object_carries_core_pixels_and_saturation():
    img = np.zeros((12, 12), np.float32)
    img[2, 2:5] = [50.0, 400.0, 60.0]                          # cosmic ray 1, saturated core
    img[8, 8:10] = [80.0, 90.0]                                # cosmic ray 2
    saturated = np.zeros(img.shape, bool)
    saturated[2, 3] = True
    params = replace(BARE, halo_radius=1, halo_connectivity=4, halo_source_sigma=0.0)
    result = label_cosmic_rays(img > 0, img, params=params, noise_e=1.0, saturated=saturated)
    labels, n, n_merged, notes = result                        # unpacks as before
    assert n == result.n == 2 and labels is result.image
    assert result.n_core_pixels.tolist() == [3, 2]
    assert result.saturated.tolist() == [True, False]
    cat = measure_cosmic_rays(result, n, img)
    ref = measure_cosmic_rays(labels, n, img, n_merged=n_merged)
    for f in fields(cat):
        if getattr(ref, f.name) is not None:
            assert np.array_equal(getattr(cat, f.name), getattr(ref, f.name)), f.name
    assert cat.n_pixels.tolist() == [3 + 2 * 3 + 2, 2 + 2 * 2 + 2]   # core + 4-connected ring
    assert cat.n_core_pixels.tolist() == [3, 2] and cat.saturated.tolist() == [True, False]
    assert ref.n_core_pixels is None and ref.saturated is None
    # no saturation mask: the flag is unknown; no cosmic rays: empty columns, not None
    assert label_cosmic_rays(img > 0, img, params=params, noise_e=1.0).saturated is None
    none = label_cosmic_rays(np.zeros_like(img, bool), img, params=params, noise_e=1.0,
                             saturated=saturated)
    empty = measure_cosmic_rays(none, 0, img)
    assert len(empty) == 0 and empty.n_core_pixels.dtype == np.int32
    with pytest.raises(ValueError):
        measure_cosmic_rays(result, 3, img)


def test_catalogue_concat_fills_the_new_columns():
    from hstcr_common.model import CosmicRayCatalog

    img = np.zeros((6, 6), np.float32)
    img[2, 2:4] = 30.0
    result = label_cosmic_rays(img > 0, img, params=BARE, noise_e=1.0,
                               saturated=np.zeros(img.shape, bool))
    with_cols = measure_cosmic_rays(result, result.n, img)
    without = measure_cosmic_rays(result.image, result.n, img)
    joined = CosmicRayCatalog.concat([with_cols, without, CosmicRayCatalog.empty()])
    assert joined.n_core_pixels.tolist() == [2, -1] and joined.saturated.tolist() == [False, False]
    assert CosmicRayCatalog.concat([without]).n_core_pixels is None
    assert CosmicRayCatalog.empty(optional=("saturated",)).saturated.shape == (0,)
    with pytest.raises(ValueError):
        CosmicRayCatalog.empty(optional=("energy_e",))


def test_insertion_slots_place_entries_as_np_insert_does():
    from hstcr_common.measure.connectivity import insert_at, insertion_slots

    rng = np.random.default_rng(4)
    for m, k in [(0, 0), (0, 3), (5, 0), (1, 1), (20, 7), (50, 200)]:
        old = np.sort(rng.choice(1000, m, replace=False)).astype(np.int64)
        new = np.sort(rng.choice(np.setdiff1d(np.arange(1000), old), k, replace=False))
        at = np.searchsorted(old, new)
        slots = insertion_slots(at, m)
        merged = insert_at(slots, old, new)
        assert np.array_equal(merged, np.insert(old, at, new))
        assert np.array_equal(merged, np.sort(np.r_[old, new]))
        flags = insert_at(slots, np.ones(m, dtype=bool), False)
        assert np.array_equal(flags, np.insert(np.ones(m, dtype=bool), at, False))
        labels = rng.integers(1, 9, m).astype(np.int32)
        assert np.array_equal(insert_at(slots, labels, np.arange(k)), np.insert(labels, at, np.arange(k)))


def test_sorted_unique_equals_np_unique():
    """The distinct integers, increasing, as np.unique gives them: empty, one value, all
    equal, negatives, int32 and int64, few and many duplicates."""
    from hstcr_common.measure import sorted_unique

    rng = np.random.default_rng(25)
    cases = [np.zeros(0, np.int64), np.array([7]), np.full(9, -3), np.array([2, 1, 2, 1]),
             rng.integers(-50, 50, 1000).astype(np.int32),
             rng.integers(0, 2**40, 50_000), np.repeat(rng.integers(0, 99, 300), 4)]
    for values in cases:
        got = sorted_unique(values)
        want = np.unique(values)
        assert got.dtype == want.dtype
        assert np.array_equal(got, want)
    values = rng.integers(0, 100, 500)
    before = values.copy()
    sorted_unique(values)
    assert np.array_equal(values, before)          # the input is not sorted in place


def test_halo_first_ring_from_known_neighbours_equals_the_search():
    """Given the taken pixels' neighbour positions (as the split found them), the halo's
    first ring looks its sources up there: same pixels and labels as searching, for 4- and
    8-connected rings of 1-3 pixels, with bad pixels excluded."""
    from hstcr_common.measure import NEIGHBOURS_8, neighbour_positions
    from hstcr_common.measure.halo import grow_halo

    rng = np.random.default_rng(17)
    shape = (40, 50)
    for fraction in (0.05, 0.3):
        taken = np.flatnonzero(rng.random(shape) < fraction)
        label = rng.integers(1, 30, taken.size).astype(np.int32)
        values = rng.normal(0.0, 10.0, shape[0] * shape[1]).astype(np.float32)
        exclude = rng.random(shape) < 0.1
        src_at = np.flatnonzero(rng.random(taken.size) < 0.6)
        neighbours = neighbour_positions(taken, shape, NEIGHBOURS_8)
        for connectivity in (4, 8):
            for radius in (1, 3):
                args = (taken, taken[src_at], label[src_at], values, radius, shape)
                kw = dict(connectivity=connectivity, exclude=exclude)
                searched = grow_halo(*args, **kw)
                looked_up = grow_halo(*args, **kw, src_at=src_at, neighbours=neighbours)
                assert searched[0].size > 0
                for a, b in zip(searched, looked_up):
                    assert np.array_equal(a, b)
