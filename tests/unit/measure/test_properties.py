"""Property tests (hypothesis) of the measurement invariants.

* energy conservation: the cosmic rays' energies plus the background over their pixels plus
  the unlabelled pixels add up to the image, whatever the splitting and halo do;
* the labelled pixels are a partition: no pixel in two cosmic rays, none lost;
* translation invariance of energy, width, symmetry, peak and pixel count (the centroid moves
  with the image);
* symmetry 0 for 4-fold (90 degree) rotationally symmetric blobs, 1 for any line; width,
  symmetry and energy unchanged by a 90 degree rotation;
* labels never cross a chip seam: a track crossing the seam of a two-chip dark is one cosmic
  ray on each chip, never one with pixels of both, and the per-chip counts are right.

Images are built with numpy from a hypothesis-drawn seed and parameters (hypothesis arrays
of thousands of pixels would be slow to generate and to shrink).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hstcr_common.model import Chip, Dark, LabelParams
from hstcr_common.detect import find_cosmic_rays
from hstcr_common.instruments import detectors
from hstcr_common.measure import label_cosmic_rays, measure_cosmic_rays

pytestmark = pytest.mark.timeout(120)

SETTINGS = dict(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def blobs_image(seed: int, shape: tuple[int, int], n_blobs: int, margin: int = 0) -> np.ndarray:
    """Non-negative image of ``n_blobs`` random cosmic-ray-like blobs (Gaussian spots and
    short tracks), zero elsewhere; blobs may touch and merge."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    image = np.zeros(shape)
    for _ in range(n_blobs):
        y0 = rng.uniform(margin + 2, ny - margin - 3)
        x0 = rng.uniform(margin + 2, nx - margin - 3)
        sigma = rng.uniform(0.4, 1.5)
        amp = rng.uniform(50, 5000)
        length = rng.uniform(0, 6)
        angle = rng.uniform(0, np.pi)
        for t in np.linspace(-length / 2, length / 2, max(1, int(length) + 1)):
            cy, cx = y0 + t * np.sin(angle), x0 + t * np.cos(angle)
            image += amp * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    image[image < 5.0] = 0.0  # compact footprints
    return image


def _measure(image, background=0.0, *, split=True, halo_radius=0, min_pixels=1,
             noise_e=2.0):
    mask = image > background
    params = LabelParams(split=split, min_pixels=min_pixels, halo_radius=halo_radius,
                         halo_source_sigma=0.0, halo_connectivity=8)
    labels, n, n_merged, _ = label_cosmic_rays(mask, image, params=params, noise_e=noise_e,
                                               background_e=background)
    return labels, n, measure_cosmic_rays(labels, n, image, background_e=background,
                                          n_merged=n_merged)


# ---------------------------------------------------------------------------------------------
# energy conservation and partition
# ---------------------------------------------------------------------------------------------

@settings(**SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), n_blobs=st.integers(1, 25),
       background=st.sampled_from([0.0, 0.0, 37.5, 1000.0]), split=st.booleans(),
       halo_radius=st.integers(0, 2))
def test_energy_is_conserved_and_pixels_partitioned(seed, n_blobs, background, split,
                                                    halo_radius):
    signal = blobs_image(seed, (48, 56), n_blobs)
    image = (signal + background).astype(np.float32)
    labels, n, cat = _measure(image, background, split=split, halo_radius=halo_radius)
    assert n == len(cat) and n >= 1
    labelled = labels > 0
    # every signal pixel is in a cosmic ray (min_pixels=1); halos only add pixels
    assert np.all(labelled[signal > 0])
    assert cat.n_pixels.sum() == labelled.sum()
    # the pixel lists are a partition of the labelled pixels: no pixel twice, none lost
    flat = cat.pixel_y.astype(np.int64) * image.shape[1] + cat.pixel_x
    assert np.unique(flat).size == flat.size == labelled.sum()
    cr_of_pixel = np.repeat(np.arange(1, n + 1), np.diff(cat.pixel_offsets))
    assert np.array_equal(labels.ravel()[flat], cr_of_pixel)
    # sum over cosmic rays + background under them + unlabelled pixels = image
    total = (cat.energy_e.astype(np.float64).sum() + background * labelled.sum()
             + image[~labelled].astype(np.float64).sum())
    assert total == pytest.approx(image.astype(np.float64).sum(), rel=1e-6, abs=1e-2)
    # each cosmic ray's energy is the sum of its own pixel list
    per_cr = np.add.reduceat(cat.pixel_e.astype(np.float64), cat.pixel_offsets[:-1])
    np.testing.assert_allclose(per_cr, cat.energy_e, rtol=1e-5, atol=1e-2)


@settings(**SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), n_blobs=st.integers(1, 12))
def test_splitting_only_partitions(seed, n_blobs):
    """Splitting merged cosmic rays moves no charge: the split and unsplit catalogues hold
    the same pixels and the same total energy, and splitting never lowers the count."""
    image = blobs_image(seed, (40, 40), n_blobs).astype(np.float32)
    labels_a, n_a, cat_a = _measure(image, split=False)
    labels_b, n_b, cat_b = _measure(image, split=True)
    assert np.array_equal(labels_a > 0, labels_b > 0)
    assert n_b >= n_a
    assert cat_b.energy_e.sum() == pytest.approx(cat_a.energy_e.sum(), rel=1e-5)
    # a split never mixes components: every split cosmic ray lies inside one unsplit one
    pairs = np.unique(np.stack([labels_b[labels_b > 0], labels_a[labels_b > 0]]), axis=1)
    assert np.unique(pairs[0]).size == pairs.shape[1]


# ---------------------------------------------------------------------------------------------
# translation and rotation invariance
# ---------------------------------------------------------------------------------------------

_SHAPE_COLUMNS = ("energy_e", "peak_e", "width_sigma", "symmetry", "ixx", "iyy", "ixy")


def _sorted_catalog(cat):
    order = np.lexsort((cat.y_centroid, cat.x_centroid))
    return {name: np.asarray(getattr(cat, name))[order] for name in
            _SHAPE_COLUMNS + ("n_pixels", "x_centroid", "y_centroid")}


@settings(**SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), n_blobs=st.integers(1, 10),
       dy=st.integers(-10, 10), dx=st.integers(-10, 10), background=st.sampled_from([0.0, 25.0]))
def test_measurements_are_translation_invariant(seed, n_blobs, dy, dx, background):
    signal = blobs_image(seed, (64, 64), n_blobs, margin=12)
    moved = np.roll(signal, (dy, dx), axis=(0, 1))  # the margin keeps every blob inside
    assert moved.sum() == pytest.approx(signal.sum())
    _, n_a, a = _measure((signal + background).astype(np.float32), background)
    _, n_b, b = _measure((moved + background).astype(np.float32), background)
    assert n_a == n_b
    a, b = _sorted_catalog(a), _sorted_catalog(b)
    assert np.array_equal(a["n_pixels"], b["n_pixels"])
    for name in _SHAPE_COLUMNS:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-4, err_msg=name)
    np.testing.assert_allclose(b["x_centroid"] - a["x_centroid"], dx, atol=1e-3)
    np.testing.assert_allclose(b["y_centroid"] - a["y_centroid"], dy, atol=1e-3)


def _one(image: np.ndarray):
    """The single cosmic ray of an image (no split, no halo, every positive pixel)."""
    labels, n, cat = _measure(image.astype(np.float32), split=False)
    assert n == 1
    return cat


stamp_values = st.integers(0, 2**32 - 1).map(lambda s: np.random.default_rng(s))


@settings(**SETTINGS)
@given(rng=stamp_values, half=st.integers(1, 5), shape=st.sampled_from(["square", "plus", "disk"]))
def test_four_fold_symmetric_blobs_have_symmetry_zero(rng, half, shape):
    size = 2 * half + 1
    a = rng.uniform(1.0, 1000.0, (size, size))
    stamp = a + np.rot90(a, 1) + np.rot90(a, 2) + np.rot90(a, 3)  # invariant under 90 deg
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    if shape == "plus":
        stamp[(yy != 0) & (xx != 0)] = 0.0
    elif shape == "disk":
        stamp[yy**2 + xx**2 > half**2 + half] = 0.0
    image = np.zeros((size + 10, size + 10))
    image[5:5 + size, 5:5 + size] = stamp
    cat = _one(image)
    assert cat.symmetry[0] == pytest.approx(0.0, abs=1e-4)
    assert cat.ixx[0] == pytest.approx(cat.iyy[0], rel=1e-4)
    assert cat.x_centroid[0] == pytest.approx(5 + half, abs=1e-4)
    assert cat.y_centroid[0] == pytest.approx(5 + half, abs=1e-4)


@settings(**SETTINGS)
@given(rng=stamp_values, length=st.integers(2, 20),
       direction=st.sampled_from([(0, 1), (1, 0), (1, 1), (1, -1)]))
def test_lines_have_symmetry_one(rng, length, direction):
    image = np.zeros((30, 30))
    dy, dx = direction
    t = np.arange(length)
    y0, x0 = 5, 5 if dx >= 0 else 25
    image[y0 + dy * t, x0 + dx * t] = rng.uniform(1.0, 1000.0, length)
    cat = _one(image)
    assert cat.symmetry[0] == pytest.approx(1.0, abs=1e-4)
    assert cat.n_pixels[0] == length


@settings(**SETTINGS)
@given(rng=stamp_values, k=st.integers(1, 3))
def test_rotation_by_90_degrees_keeps_width_symmetry_energy(rng, k):
    stamp = rng.uniform(1.0, 1000.0, (7, 5))  # an elongated, lumpy, connected footprint
    stamp[0, 0] = stamp[6, 4] = 0.0
    image = np.zeros((20, 20))
    image[6:13, 7:12] = stamp
    a = _one(image)
    b = _one(np.rot90(image, k))
    for name in ("energy_e", "width_sigma", "symmetry", "peak_e"):
        assert getattr(b, name)[0] == pytest.approx(getattr(a, name)[0], rel=1e-4, abs=1e-5), name


# ---------------------------------------------------------------------------------------------
# chip seams
# ---------------------------------------------------------------------------------------------

def _two_chip_dark(science: list[np.ndarray], dq: list[np.ndarray]) -> Dark:
    det = detectors()["acs_wfc"]
    chips = [Chip(name=layout.name, ccdchip=layout.ccdchip, science=s.astype(np.float32),
                  dq=d.astype(np.uint16), gain=2.0, read_noise_e=4.0)
             for layout, s, d in zip(det.chips, science, dq)]
    start = dt.datetime(2019, 3, 1, tzinfo=dt.timezone.utc)
    return Dark(dataset="jseam0001", detector=det, chips=chips, date_obs=start,
                expstart_mjd=58543.0, expend_mjd=58543.0 + 1000 / 86400, exptime_s=1000.0,
                source="synthetic")


@settings(**{**SETTINGS, "max_examples": 25})
@given(seed=st.integers(0, 2**32 - 1), n_cross=st.integers(1, 4), n_inner=st.integers(0, 4),
       method=st.sampled_from(["threshold", "dq"]))
def test_cosmic_rays_never_cross_a_chip_seam(seed, n_cross, n_inner, method):
    """Chip 0's last row abuts chip 1's first row (the two halves of the mosaic).  Tracks
    drawn across that seam are one cosmic ray on each chip, with that chip's part of the
    charge; cosmic rays inside a chip are counted on their chip only."""
    rng = np.random.default_rng(seed)
    ny, nx = 40, 96
    mosaic = np.zeros((2 * ny, nx))
    owner = np.zeros((2 * ny, nx), dtype=np.int64)  # planted cosmic ray of each pixel (1..)
    xs = rng.permutation(np.arange(4, nx - 4, 9))[: n_cross + n_inner]
    planted_chip = []
    for k, x in enumerate(xs, start=1):
        if k <= n_cross:   # a vertical track over the seam rows ny-2 .. ny+1
            rows = np.arange(ny - 2, ny + 2)
            planted_chip.append((0, 1))
        else:              # a compact track inside one chip, away from the seam
            chip = int(rng.integers(0, 2))
            top = int(rng.integers(5, ny - 9)) + chip * ny
            rows = np.arange(top, top + 3)
            planted_chip.append((chip,))
        # a smooth track (no deep dip along it: splitting it would be right), with the
        # charge diffusion every real track has (a sharp edge is what a hot pixel looks like)
        amp = rng.uniform(400, 3000)
        mosaic[rows, x] += amp * rng.uniform(0.9, 1.1, rows.size)
        mosaic[rows, x + 1] += 0.3 * amp * rng.uniform(0.9, 1.1, rows.size)
        mosaic[rows, x - 1] += 0.08 * amp
        owner[rows, x - 1] = owner[rows, x] = owner[rows, x + 1] = k
    noise = rng.normal(20.0, 3.0, mosaic.shape)
    dq_mosaic = np.where(owner > 0, 8192, 0)
    halves = [slice(0, ny), slice(ny, 2 * ny)]
    dark = _two_chip_dark([mosaic[h] + noise[h] for h in halves], [dq_mosaic[h] for h in halves])
    cat, _ = find_cosmic_rays(dark, method=method, halo_radius=0, correct_coincidences=False)
    chip_of_pixel = np.repeat(cat.chip_index, np.diff(cat.pixel_offsets))
    # every cosmic ray's pixels lie in its own chip (chip-frame coordinates, no mosaic row)
    assert np.all((cat.pixel_y >= 0) & (cat.pixel_y < ny))
    mosaic_y = cat.pixel_y.astype(np.int64) + ny * chip_of_pixel
    seen = owner[mosaic_y, cat.pixel_x]
    cr_of_pixel = np.repeat(np.arange(len(cat)), np.diff(cat.pixel_offsets))
    expected_per_chip = [0, 0]
    for k, chips in enumerate(planted_chip, start=1):
        for chip in chips:
            expected_per_chip[chip] += 1
            # exactly one cosmic ray on this chip holds planted track k
            holders = np.unique(cr_of_pixel[(seen == k) & (chip_of_pixel == chip)])
            assert holders.size == 1, (k, chip, holders)
            (cr,) = holders
            # its charge is this chip's part of the track, to within the noise
            part = mosaic[halves[chip]][owner[halves[chip]] == k].sum()
            assert cat.energy_e[cr] == pytest.approx(part, abs=6 * 3.0 * 8 + 0.02 * part)
    assert np.bincount(cat.chip_index, minlength=2).tolist() == expected_per_chip
