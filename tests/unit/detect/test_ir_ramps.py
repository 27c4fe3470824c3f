"""Infrared darks (WFC3/IR, NICMOS): ima loading, jump detection (method ``ramp``), synthetic ramps.

Truth tests run the detector on synthetic ramps with known cosmic rays and compare voxel by
voxel (read, row, column): completeness for jumps >= 10x the read-noise-limited sigma of a
difference (sqrt(2) x read noise, in the cosmic ray's brightest pixel), purity, read index
and energy.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from astropy.io import fits

from hstcr_common.model import CosmicRayCatalog
from hstcr_common.model import Chip
from hstcr_common.model import HstcrError, RampParams
from hstcr_common.instruments import get_detector
from hstcr_common.load import load_dark
from hstcr_common.detect import (
    PER_READ_STRUCTURE,
    detect_jumps,
    find_ir_cosmic_rays,
    measure_jumps,
    noise_model_calibration,
    ramp_rate,
    rate_differences,
    valid_differences,
)
from hstcr_common.lake import PIXEL
from hstcr_common.synthetic import MJD_1985, ORBIT_KEYWORDS
from hstcr_common.synthetic import (
    default_read_times,
    simulate_detector_ramp,
    simulate_ramp,
    write_ir_dark,
)


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def _detect(sim, det, **kw):
    return detect_jumps(sim.reads, sim.read_times_s, sim.read_noise_e, RampParams(),
                        read_dq=sim.read_dq,
                        bad_bits=det.bad_mask_bits | det.saturation_bit,
                        saturation_bit=det.saturation_bit, **kw)


def score(sim, jumps, catalog) -> dict:
    """Completeness / purity / read index / energy of a detection against the truth."""
    truth = sim.truth
    ndiff, ny, nx = jumps.labels.shape
    n_true = len(truth)
    cr_of_pixel = np.repeat(np.arange(1, n_true + 1), np.diff(truth.pixel_offsets))
    cube = np.zeros((ndiff, ny, nx), dtype=np.int32)
    cube[truth.read_index[cr_of_pixel - 1] - 1, truth.pixel_y, truth.pixel_x] = cr_of_pixel
    both = (jumps.labels > 0) & (cube > 0)
    pairs = np.unique(np.stack([jumps.labels[both], cube[both]]), axis=1)
    found = np.zeros(n_true + 1, dtype=bool)
    found[pairs[1]] = True
    real = np.zeros(jumps.n + 1, dtype=bool)
    real[pairs[0]] = True
    bright = truth.peak_e() >= 10.0 * np.sqrt(2.0) * sim.read_noise_e
    # one-to-one matches for read index and energy
    per_det = np.bincount(pairs[0], minlength=jumps.n + 1)
    per_true = np.bincount(pairs[1], minlength=n_true + 1)
    one = (per_det[pairs[0]] == 1) & (per_true[pairs[1]] == 1)
    d, t = pairs[0][one] - 1, pairs[1][one] - 1
    ratio = catalog.energy_e[d] / truth.energy_e[t] - 1.0
    return {
        "n_true": n_true, "n_bright": int(bright.sum()), "n_found": jumps.n,
        "completeness": float(found[1:][bright].mean()),
        "completeness_all": float(found[1:].mean()),
        "purity": float(real[1:].mean()),
        "read_index": float(np.mean(catalog.read_index[d] == truth.read_index[t])),
        "energy": float(np.median(np.abs(ratio[bright[t]]))),
        "energy_bias": float(np.median(ratio[bright[t]])),
        "matched": (d, t),
    }


# ------------------------------------------------------------------------------------------
# truth tests
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wfc3_run():
    det = get_detector("wfc3_ir")
    sim = simulate_detector_ramp(det, seed=11, n_reads=16)
    jumps = _detect(sim, det)
    catalog = measure_jumps(jumps, sim.read_times_s)
    return det, sim, jumps, catalog


@pytest.mark.parametrize("det_id,seed,n_reads", [("nicmos_nic3", 5, 20), ("nicmos_nic1", 6, 12)])
def test_truth_nicmos(det_id, seed, n_reads):
    det = get_detector(det_id)
    sim = simulate_detector_ramp(det, seed=seed, n_reads=n_reads, cr_rate_per_s_cm2=5.0)
    jumps = _detect(sim, det)
    s = score(sim, jumps, measure_jumps(jumps, sim.read_times_s))
    assert s["n_bright"] > 800
    assert s["completeness"] >= 0.98, s
    assert s["purity"] >= 0.99, s
    assert s["read_index"] >= 0.99, s
    assert s["energy"] <= 0.03, s


def test_truth_few_reads():
    """4 reads (0, 0.2, 128, 256 s): the rate comes from the two long differences only."""
    det = get_detector("nicmos_nic2")
    sim = simulate_detector_ramp(det, seed=8, n_reads=4, cr_rate_per_s_cm2=5.0)
    jumps = _detect(sim, det)
    s = score(sim, jumps, measure_jumps(jumps, sim.read_times_s))
    assert s["completeness"] >= 0.97, s
    assert s["purity"] >= 0.99 and s["read_index"] >= 0.99, s
    assert s["energy"] <= 0.08, s                 # few reads to average: noisier energies


def test_truth_wfc3_ir_full_frame(wfc3_run):
    det, sim, jumps, catalog = wfc3_run
    s = score(sim, jumps, catalog)
    print({k: v for k, v in s.items() if k != "matched"})
    assert s["n_bright"] > 4000                     # ~1.2 CR/s/cm2 over 3.3 cm2 and 1403 s
    assert s["completeness"] >= 0.98, s
    assert s["purity"] >= 0.99, s
    assert s["read_index"] >= 0.99, s
    assert s["energy"] <= 0.03, s
    assert abs(s["energy_bias"]) <= 0.02, s
    assert 0.9 < jumps.noise_scale < 1.1


def test_catalog_geometry_and_timing(wfc3_run):
    det, sim, jumps, catalog = wfc3_run
    n = len(catalog)
    assert n == jumps.n and catalog.read_index.dtype == np.int16
    ny, nx = det.chip_shape
    assert catalog.pixel_y.min() >= 0 and catalog.pixel_y.max() < ny
    assert catalog.pixel_x.min() >= 0 and catalog.pixel_x.max() < nx
    assert np.all((catalog.x_centroid >= catalog.x_min) & (catalog.x_centroid <= catalog.x_max))
    assert np.all((catalog.y_centroid >= catalog.y_min) & (catalog.y_centroid <= catalog.y_max))
    t = sim.read_times_s
    k = catalog.read_index.astype(int)
    assert k.min() >= 1 and k.max() <= len(t) - 1
    assert np.all((catalog.arrival_time_s > t[k - 1]) & (catalog.arrival_time_s < t[k]))
    # every pixel of a cosmic ray jumped in its read: its label sits at (read - 1, y, x)
    rows = np.repeat(np.arange(n), np.diff(catalog.pixel_offsets))
    assert np.array_equal(jumps.labels[k[rows] - 1, catalog.pixel_y, catalog.pixel_x], rows + 1)
    assert np.allclose(np.add.reduceat(catalog.pixel_e, catalog.pixel_offsets[:-1]),
                       catalog.energy_e, rtol=1e-4)


def test_defective_and_saturated_pixels_make_no_cosmic_rays(wfc3_run):
    det, sim, jumps, catalog = wfc3_run
    hits = jumps.labels.any(axis=0)
    assert sim.defective.sum() > 50
    assert not hits[sim.defective].any()
    assert np.all(jumps.searched_fraction[sim.defective] == 0)
    saturated_late = (sim.read_dq[-1] & 256 != 0) & (sim.read_dq[1] & 256 == 0)
    assert saturated_late.sum() >= 3                    # hot pixels crossing full well
    frac = jumps.searched_fraction[saturated_late & ~sim.defective]
    # searched until they saturate (the difference into saturation still counts)
    assert np.all(frac > 0) and np.any(frac < 1)


def _tiny_ramp(n_reads=8, shape=(32, 32), rn=15.0, seed=0):
    rng = np.random.default_rng(seed)
    times = np.arange(n_reads) * 100.0
    reads = rng.normal(0.0, rn, (n_reads,) + shape).astype(np.float32)
    reads += (0.05 * times)[:, None, None].astype(np.float32)
    return reads, times


def test_per_read_connectivity_and_read_index():
    reads, times = _tiny_ramp()
    reads[3:, 10, 10] += 2000                       # read 3: two diagonal pixels -> one CR
    reads[3:, 11, 11] += 1500
    reads[5:, 10, 11] += 1800                       # read 5, touching the first: its own CR
    reads[1:, 20, 20] += 900                        # first difference (read 0 -> 1)
    jumps = detect_jumps(reads, times, 15.0, RampParams())
    cat = measure_jumps(jumps, times)
    assert jumps.n == 3
    order = np.argsort(cat.read_index)
    assert cat.read_index[order].tolist() == [1, 3, 5]
    assert cat.n_pixels[order].tolist() == [1, 2, 1]
    assert np.allclose(cat.energy_e[order], [900, 3500, 1800], rtol=0.05)
    assert np.allclose(cat.arrival_time_s[order], [50, 250, 450])
    assert cat.x_centroid[order][1] == pytest.approx(10 + 1500 / 3500, abs=0.05)
    skipped = detect_jumps(reads, times, 15.0,
                           RampParams(skip_first_difference=True))
    assert skipped.n == 2 and skipped.labels[0].max() == 0


def test_jump_into_saturation_is_kept_later_reads_are_not():
    reads, times = _tiny_ramp()
    dq = np.zeros(reads.shape, dtype=np.int16)
    reads[4:, 5, 5] += 70000                        # saturating cosmic ray at read 4
    reads[6:, 5, 5] = 78000.0
    dq[4:, 5, 5] |= 256
    reads[2:, 9, 9] = 78000.0                        # a hot pixel full from read 2
    dq[2:, 9, 9] |= 256
    valid = valid_differences(dq, 1012 | 256, 256)
    assert valid[3, 5, 5] and not valid[4, 5, 5] and not valid[2, 9, 9]
    jumps = detect_jumps(reads, times, 15.0, RampParams(), read_dq=dq, bad_bits=1012 | 256,
                         saturation_bit=256)
    cat = measure_jumps(jumps, times)
    assert jumps.n == 2                             # the saturating CR + the hot pixel's jump
    assert set(cat.read_index.tolist()) == {2, 4}
    assert jumps.searched_fraction[5, 5] == pytest.approx(4 / 7)
    assert jumps.searched_fraction[0, 0] == 1.0


def test_bad_pixel_never_searched():
    reads, times = _tiny_ramp()
    dq = np.zeros(reads.shape, dtype=np.int16)
    reads[:, 7, 7] = np.cumsum(np.random.default_rng(1).normal(0, 500, reads.shape[0]))
    dq[:, 7, 7] = 4
    jumps = detect_jumps(reads, times, 15.0, RampParams(), read_dq=dq, bad_bits=4)
    assert jumps.n == 0 and jumps.searched_fraction[7, 7] == 0


def test_noise_model_is_calibrated_when_header_read_noise_is_wrong():
    det = get_detector("nicmos_nic2")
    sim = simulate_detector_ramp(det, seed=3, n_reads=12, cr_rate_per_s_cm2=5.0)
    # a header giving the CDS noise (x sqrt 2) instead of the per-read noise
    jumps = detect_jumps(sim.reads, sim.read_times_s, sim.read_noise_e * np.sqrt(2),
                         RampParams(), read_dq=sim.read_dq, bad_bits=det.bad_mask_bits)
    assert jumps.noise_scale == pytest.approx(1 / np.sqrt(2), rel=0.05)
    sim.read_noise_e = sim.read_noise_e          # scoring uses the true noise
    s = score(sim, jumps, measure_jumps(jumps, sim.read_times_s))
    assert s["completeness"] >= 0.98 and s["purity"] >= 0.99
    uncalibrated = detect_jumps(sim.reads, sim.read_times_s, sim.read_noise_e * 3,
                                RampParams(calibrate_noise=False), read_dq=sim.read_dq,
                                bad_bits=det.bad_mask_bits)
    assert uncalibrated.n < 0.95 * jumps.n          # the calibration is what rescued it


def test_no_false_jumps_in_pure_noise():
    reads, times = _tiny_ramp(n_reads=16, shape=(256, 256), seed=4)
    jumps = detect_jumps(reads, times, 15.0, RampParams())
    # 15 x 65536 differences: Gaussian 5-sigma tail expects ~0.3
    assert jumps.n <= 3
    assert jumps.noise_scale == pytest.approx(1.0, abs=0.03)


def test_step_fit_measures_jumps_better_than_one_difference():
    det = get_detector("nicmos_nic2")
    sim = simulate_detector_ramp(det, seed=13, n_reads=16, cr_rate_per_s_cm2=5.0)
    errors = {}
    for fit in (True, False):
        jumps = _detect(sim, det, fit_steps=fit)
        s = score(sim, jumps, measure_jumps(jumps, sim.read_times_s))
        errors[fit] = s["energy"]
    assert errors[True] < 0.8 * errors[False], errors


def test_rate_is_robust_and_helpers():
    diffs = np.full((6, 2, 2), 10.0, dtype=np.float32)
    diffs[2, 0, 0] = 5000.0                         # a cosmic ray does not move the median
    dt = np.full(6, 100.0)
    rate = ramp_rate(diffs, dt)
    assert np.allclose(rate, 0.1)
    valid = np.ones(diffs.shape, dtype=bool)
    valid[:4, 1, 1] = False
    diffs[:4, 1, 1] = -1e6
    assert ramp_rate(diffs, dt, valid)[1, 1] == pytest.approx(0.1)
    assert ramp_rate(diffs[:2], dt[:2]).shape == (2, 2)
    times = default_read_times(get_detector("wfc3_ir"), 16)
    f, expected = noise_model_calibration(np.diff(times), 15.0, 0.05)
    assert f[0] == pytest.approx(1.0, abs=0.04) and np.median(f[1:]) == pytest.approx(1.05, abs=0.03)
    assert 0.85 < expected < 1.0
    assert rate_differences(np.diff(times)) == slice(1, 15)     # not the 2.9 s first one
    f2, _ = noise_model_calibration(np.array([50.0, 50.0]), 15.0, 0.05)
    assert np.all(f2 > 1.2)                          # two differences: the minimum as rate
    assert PER_READ_STRUCTURE[0].sum() == 0 and PER_READ_STRUCTURE[1].all()


# ------------------------------------------------------------------------------------------
# synthetic files and loading
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wfc3_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("wfc3ir")
    return write_ir_dark("wfc3_ir", out, seed=21, n_reads=4, date="2016-03-02T05:06:07")


def test_write_ir_dark_layout(wfc3_files):
    files = wfc3_files
    assert files.dataset.startswith("i") and len(files.dataset) == 9
    assert set(files.paths) == {"science", "support"}
    with fits.open(files.paths["science"]) as hdul:
        names = [(h.name, h.ver) for h in hdul[1:]]
        assert names[:5] == [("SCI", 1), ("ERR", 1), ("DQ", 1), ("SAMP", 1), ("TIME", 1)]
        assert len(names) == 5 * 4
        assert hdul[0].header["NSAMP"] == 4 and hdul[0].header["INSTRUME"] == "WFC3"
        assert hdul["SCI", 1].data.shape == (1024, 1024)
        assert hdul["SCI", 1].header["SAMPTIME"] > hdul["SCI", 4].header["SAMPTIME"] == 0.0
        assert hdul["TIME", 1].data is None
        assert hdul["TIME", 1].header["PIXVALUE"] == hdul["SCI", 1].header["SAMPTIME"]
        assert hdul["SCI", 1].header["BUNIT"] == "ELECTRONS/S"
        expstart = hdul[0].header["EXPSTART"]
    spt = fits.getheader(files.paths["support"])
    for key in ORBIT_KEYWORDS:
        assert key in spt
    lead = (expstart - MJD_1985) * 86400.0 - spt["EPCHTIME"]
    assert 0 < lead < 86400
    truth = files.truth
    assert truth.num_rows == len(files.simulation.truth) > 50
    assert truth.schema.field("pixels").type == pa.list_(PIXEL)
    for col in ("dataset", "instrument", "chip", "cr_id", "energy_e", "n_pixels", "x0", "y1",
                "read_index", "arrival_time_s"):
        assert col in truth.column_names
    from hstcr_common.synthetic import TRUTH_SCHEMA, exposures_table
    assert truth.schema.names[:len(TRUTH_SCHEMA)] == TRUTH_SCHEMA.names  # one truth format
    assert exposures_table([files.exposure]).num_rows == 1
    item = files.manifest_item
    assert item["instrument"] == "wfc3_ir" and item["month"] == "2016-03"
    assert set(item["files"]) == {"science", "support"}
    sums = [sum(p["e"] for p in row) for row in truth.column("pixels").to_pylist()[:20]]
    assert np.allclose(sums, truth.column("energy_e").to_numpy()[:20], rtol=1e-4)
    again = write_ir_dark("wfc3_ir", files.paths["science"].parent / "again", seed=21, n_reads=4,
                          date="2016-03-02T05:06:07")
    assert again.dataset == files.dataset and again.truth.equals(truth)


def test_load_wfc3_ir(wfc3_files):
    dark = load_dark(wfc3_files.paths["science"], support=wfc3_files.paths["support"])
    sim = wfc3_files.simulation
    chip = dark.chips[0]
    assert dark.detector.id == "wfc3_ir" and dark.dataset == wfc3_files.dataset
    assert chip.reads.shape == (4, 1014, 1014) and chip.read_dq.shape == (4, 1014, 1014)
    assert chip.science.shape == chip.dq.shape == (1014, 1014)
    # reference pixels removed: exactly the simulated light-sensitive pixels, zeroth read first
    assert np.allclose(chip.reads, sim.reads, atol=0.02, rtol=1e-6)
    assert np.array_equal(chip.read_dq, sim.read_dq)
    assert np.allclose(chip.read_times_s, sim.read_times_s)
    assert chip.read_times_s[0] == 0.0 and np.all(np.diff(chip.read_times_s) > 0)
    assert np.allclose(chip.science, sim.reads[-1] - sim.reads[0], atol=0.05)
    assert dark.bunit == "ELECTRONS/S" and dark.science_suffix == "ima"
    assert dark.exptime_s == pytest.approx(sim.read_times_s[-1])
    assert dark.date_obs == dt.datetime(2016, 3, 2, 5, 6, 7, tzinfo=dt.timezone.utc)
    assert dark.support_header is not None and dark.support_note == ""
    assert chip.read_noise_e == pytest.approx(15.0) and chip.gain == pytest.approx(2.3)
    assert dark.header["nsamp"] == 4


@pytest.mark.parametrize("bunit", ["COUNTS/S", "COUNTS", "ELECTRONS", "ELECTRONS/S"])
def test_load_nicmos_units(tmp_path, bunit):
    files = write_ir_dark("nicmos_nic2", tmp_path, seed=8, n_reads=6, bunit=bunit, gain=5.4)
    dark = load_dark(files.paths["science"])
    chip = dark.chips[0]
    assert dark.detector.id == "nicmos_nic2" and chip.name == "NIC2"
    assert chip.reads.shape == (6, 256, 256)
    assert np.allclose(chip.reads, files.simulation.reads, atol=0.05, rtol=1e-5)
    assert dark.bunit == bunit and dark.support_header is None
    assert chip.gain == pytest.approx(5.4)
    with fits.open(files.paths["science"]) as hdul:
        assert hdul[0].header["CAMERA"] == 2


def test_flagged_cosmic_rays_and_exptime(tmp_path):
    files = write_ir_dark("nicmos_nic3", tmp_path, seed=4, n_reads=6, exptime_s=100.0,
                          flag_cosmic_rays=True, cr_rate_per_s_cm2=5.0)
    dark = load_dark(files.paths["science"])
    chip = dark.chips[0]
    assert chip.read_times_s[-1] == pytest.approx(100.0) and dark.exptime_s == pytest.approx(100)
    t = files.simulation.truth
    first = t.pixel_offsets[:-1]
    k = t.read_index.astype(int)
    y, x = t.pixel_y[first], t.pixel_x[first]
    assert np.all(chip.read_dq[k, y, x] & 512)              # flagged from the arrival read on
    assert np.all(chip.read_dq[-1, y, x] & 512)
    assert not np.any(chip.read_dq[0] & 512)
    catalog, _ = find_ir_cosmic_rays(dark)                  # the CR bit is not a bad bit
    assert len(catalog) > 0.85 * len(t) > 300
    with pytest.raises(HstcrError, match="post-flash"):
        write_ir_dark("wfc3_ir", tmp_path, seed=1, n_reads=2, flashdur_s=3.0)
    with pytest.raises(HstcrError, match="not an infrared"):
        write_ir_dark("acs_wfc", tmp_path, seed=1)


def test_dark_without_cosmic_rays(tmp_path):
    files = write_ir_dark("nicmos_nic1", tmp_path, seed=14, n_reads=4, cr_rate_per_s_cm2=0.0)
    assert files.truth.num_rows == 0
    catalog, summary = find_ir_cosmic_rays(load_dark(files.paths["science"]))
    assert summary.n_cr == len(catalog) <= 2               # Gaussian tail only
    assert catalog.read_index is not None and catalog.pixel_offsets.shape == (len(catalog) + 1,)


def test_detect_dispatches_ramp(tmp_path):
    from hstcr_common.detect import find_cosmic_rays

    files = write_ir_dark("nicmos_nic2", tmp_path, seed=12, n_reads=6)
    dark = load_dark(files.paths["science"])
    catalog, summary = find_cosmic_rays(dark, method="ramp")
    direct, _ = find_ir_cosmic_rays(dark)
    assert summary.method == "ramp" and np.array_equal(catalog.energy_e, direct.energy_e)


def test_nicmos_camera_picks_detector(tmp_path):
    for cam in (1, 3):
        files = write_ir_dark(f"nicmos_nic{cam}", tmp_path / str(cam), seed=cam, n_reads=3)
        assert load_dark(files.paths["science"]).detector.id == f"nicmos_nic{cam}"


def test_find_ir_cosmic_rays_on_loaded_dark(tmp_path):
    files = write_ir_dark("nicmos_nic2", tmp_path, seed=9, n_reads=10, cr_rate_per_s_cm2=4.0)
    dark = load_dark(files.paths["science"], support=files.paths["support"])
    catalog, summary = find_ir_cosmic_rays(dark)
    assert isinstance(catalog, CosmicRayCatalog)
    assert summary.method == "ramp" and summary.n_cr == len(catalog) > 500
    assert summary.params["threshold_sigma"] == 5.0
    assert 0.99 * 256 * 256 < summary.searched_pixels <= 256 * 256
    assert summary.searched_area_cm2 == pytest.approx(summary.searched_pixels * 0.004 ** 2)
    assert len(catalog) == pytest.approx(files.truth.num_rows, rel=0.1)
    assert catalog.read_index is not None and catalog.arrival_time_s is not None
    strict, _ = find_ir_cosmic_rays(dark, threshold_sigma=8.0)
    assert len(strict) < len(catalog)
    with pytest.raises(HstcrError, match="unknown parameter"):
        find_ir_cosmic_rays(dark, sigma=3)
    dark.chips[0] = Chip(name="NIC2", ccdchip=2, science=dark.chips[0].science,
                         dq=dark.chips[0].dq, gain=5.4, read_noise_e=26.0)
    with pytest.raises(HstcrError, match="no reads"):
        find_ir_cosmic_rays(dark)


# ------------------------------------------------------------------------------------------
# malformed ima files
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nicmos_hdul(tmp_path_factory):
    files = write_ir_dark("nicmos_nic1", tmp_path_factory.mktemp("nic1"), seed=2, n_reads=4)
    with fits.open(files.paths["science"]) as hdul:
        hdul.readall()
        return fits.HDUList([h.copy() for h in hdul])


def _write(hdul, path):
    fits.HDUList([h.copy() for h in hdul]).writeto(path, overwrite=True)
    return path


def test_malformed_missing_read(nicmos_hdul, tmp_path):
    hdul = fits.HDUList([h for h in nicmos_hdul if h.ver != 2 or h.name == "PRIMARY"])
    path = _write(hdul, tmp_path / "n1_ima.fits")
    with pytest.raises(HstcrError, match=r"n1_ima\.fits.*3 SCI reads but NSAMP = 4"):
        load_dark(path)
    del hdul[0].header["NSAMP"]
    _write(hdul, path)
    with pytest.raises(HstcrError, match=r"missing read.*\[2\]"):
        load_dark(path)


def test_malformed_wrong_shape(nicmos_hdul, tmp_path):
    hdul = fits.HDUList([h.copy() for h in nicmos_hdul])
    hdul["SCI", 3].data = hdul["SCI", 3].data[:128, :128]
    path = _write(hdul, tmp_path / "n2_ima.fits")
    with pytest.raises(HstcrError,
                       match=r"n2_ima\.fits.*SCI,3 has shape \(128, 128\), expected \(256, 256\)"):
        load_dark(path)


def test_malformed_times_and_units(nicmos_hdul, tmp_path):
    hdul = fits.HDUList([h.copy() for h in nicmos_hdul])
    hdul["TIME", 2].header["PIXVALUE"] = 0.0
    path = _write(hdul, tmp_path / "n3_ima.fits")
    with pytest.raises(HstcrError, match="read times are not increasing"):
        load_dark(path)
    hdul = fits.HDUList([h.copy() for h in nicmos_hdul])
    hdul["SCI", 1].header["BUNIT"] = "JY/PIXEL"
    _write(hdul, path)
    with pytest.raises(HstcrError, match="BUNIT 'JY/PIXEL'"):
        load_dark(path)
    hdul = fits.HDUList([h.copy() for h in nicmos_hdul if h.name != "TIME"])
    for h in hdul:
        if h.name == "SCI":
            del h.header["SAMPTIME"]
    _write(hdul, path)
    with pytest.raises(HstcrError, match="no TIME extension and no SAMPTIME"):
        load_dark(path)


def test_time_from_samptime_and_single_read(nicmos_hdul, tmp_path):
    hdul = fits.HDUList([h for h in nicmos_hdul if h.name != "TIME"])
    path = _write(hdul, tmp_path / "n4_ima.fits")
    dark = load_dark(path)
    assert np.all(np.diff(dark.chips[0].read_times_s) > 0)
    one = fits.HDUList([h for h in nicmos_hdul if h.name == "PRIMARY" or h.ver == 1])
    one[0].header["NSAMP"] = 1
    _write(one, path)
    with pytest.raises(HstcrError, match="at least 2"):
        load_dark(path)


def test_simulate_ramp_arrivals_are_after_the_zeroth_read():
    sim = simulate_ramp((64, 64), np.array([0.0, 10.0, 20.0, 30.0]), seed=1,
                        cr_rate_per_s_cm2=2000.0, pixel_area_cm2=18e-4 ** 2)
    t = sim.truth
    assert len(t) > 50
    assert np.all((t.arrival_time_s > sim.read_times_s[t.read_index - 1])
                  & (t.arrival_time_s <= sim.read_times_s[t.read_index]))
    assert np.all(t.pixel_e >= 5.0)


def test_ir_dark_through_the_pipeline_into_the_lake(tmp_path):
    """load -> ramp -> timing/orbit -> the same lake tables as the CCDs (IR columns filled)."""
    import duckdb

    from hstcr_common.pipeline import process_item

    files = write_ir_dark("nicmos_nic2", tmp_path / "in", seed=15, n_reads=12,
                          date="2004-05-06T07:08:09", cr_rate_per_s_cm2=3.0)
    result = process_item(files.manifest_item, lake=str(tmp_path / "lake"))
    assert result["status"] == "done", result
    crs = duckdb.sql(f"select read_index, arrival_time_s, method, energy_e, n_pixels from "
                     f"read_parquet('{tmp_path}/lake/cosmic_rays/**/*.parquet')").fetchnumpy()
    assert len(crs["read_index"]) == result["n_cr"] > 0.8 * files.truth.num_rows
    assert set(crs["method"]) == {"ramp"}
    assert crs["read_index"].min() >= 1 and crs["read_index"].max() <= 11
    assert np.all(crs["arrival_time_s"] > 0)
    exp = duckdb.sql(f"select n_cr, rate_cr_s_cm2, track, method from "
                     f"read_parquet('{tmp_path}/lake/exposures/**/*.parquet')").fetchall()
    n_cr, rate, track, method = exp[0]
    assert method == "ramp" and n_cr == result["n_cr"]
    assert rate == pytest.approx(3.0, rel=0.25)         # injected flux, minus the faintest
    assert track                                         # HST track from the spt elements


def test_label_jumps_relabels_the_same_from_the_candidates():
    from hstcr_common.detect.ramp import label_jumps

    rng = np.random.default_rng(4)
    grow = rng.random((3, 40, 50)) > 0.8
    grow_idx = np.flatnonzero(grow)
    seeds = grow_idx[rng.random(grow_idx.size) > 0.7]
    # candidates: every grow pixel and some that are not
    extra = np.flatnonzero(~grow)[::5]
    candidates = np.union1d(grow_idx, extra)
    want, n_want = label_jumps(grow, seeds)
    got, n_got = label_jumps(grow, seeds, candidates=candidates)
    assert n_got == n_want and 0 < n_want < len(np.unique(want)) + grow.sum()
    assert np.array_equal(got, want)
    # every kept label holds a seed, and the labels are 1..n
    assert set(np.unique(got[got > 0])) == set(range(1, n_want + 1))
    assert set(np.unique(got.reshape(-1)[seeds])) <= set(range(1, n_want + 1))
