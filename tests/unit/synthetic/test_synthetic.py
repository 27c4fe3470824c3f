"""Synthetic darks: the chip simulation, the MAST-shaped files and the truth table."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from click.testing import CliRunner

from hstcr_common.model import HstcrError
from hstcr_common.instruments import ccd_detectors, get_detector
from hstcr_common.synthetic import FANO_FACTOR
from hstcr_common.synthetic import (
    ORBITAL_ELEMENT_SETS,
    TRUTH_SCHEMA,
    dataset_name,
    dq_bits,
    read_truth_exposures,
    simulate_chip,
    simulate_cosmic_rays,
    simulate_dark,
    write_dark,
    write_sample,
)

CCD_IDS = [d.id for d in ccd_detectors()]


# ------------------------------------------------------------------------------------------
# simulate_chip
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stis_chip():
    """One full STIS/CCD chip (1024^2, 1115 s) with CR flags."""
    return simulate_chip("stis_ccd", exposure_s=1115.0, rng=7, flag_cosmic_rays=True)


@pytest.fixture(scope="module")
def acs_tracks():
    """20,000 cosmic rays with the ACS/WFC geometry."""
    det = get_detector("acs_wfc")
    return simulate_cosmic_rays(20_000, det.chip_shape, det.thickness_um, det.pixel_size_um,
                                np.random.default_rng(3))


def test_simulate_chip_is_deterministic():
    kw = dict(shape=(128, 160), exposure_s=2000.0, cr_rate_per_s_cm2=30.0)
    a = simulate_chip("acs_hrc", rng=5, **kw)
    b = simulate_chip("acs_hrc", rng=np.random.default_rng(5), **kw)
    c = simulate_chip("acs_hrc", rng=6, **kw)
    assert np.array_equal(a.science_e, b.science_e)
    assert np.array_equal(a.dq, b.dq)
    for name in ("cr_id", "energy_e", "x0", "y1", "pixel_offsets", "pixel_x", "pixel_e"):
        assert np.array_equal(getattr(a.cosmic_rays, name), getattr(b.cosmic_rays, name))
    assert not np.array_equal(a.science_e, c.science_e)
    assert len(a.cosmic_rays) > 50


def test_truth_dtypes_and_pixel_sums(stis_chip):
    cr = stis_chip.cosmic_rays
    n = len(cr)
    assert cr.cr_id.dtype == np.int32 and np.array_equal(cr.cr_id, np.arange(1, n + 1))
    assert cr.energy_e.dtype == np.float32 and cr.n_pixels.dtype == np.int32
    for name in ("x0", "y0", "x1", "y1", "pixel_e"):
        assert getattr(cr, name).dtype == np.float32
    assert cr.pixel_x.dtype == np.int16 and cr.pixel_y.dtype == np.int16
    assert cr.pixel_offsets.dtype == np.int64 and cr.pixel_offsets.shape == (n + 1,)
    assert np.array_equal(np.diff(cr.pixel_offsets), cr.n_pixels)
    assert cr.n_pixels.min() >= 1
    sums = np.add.reduceat(cr.pixel_e.astype(np.float64), cr.pixel_offsets[:-1])
    np.testing.assert_allclose(cr.energy_e, sums, rtol=1e-6)
    assert cr.pixel_e.min() >= 0.5
    ny, nx = stis_chip.shape
    assert cr.pixel_x.min() >= 0 and cr.pixel_x.max() < nx
    assert cr.pixel_y.min() >= 0 and cr.pixel_y.max() < ny
    # one entry per (cosmic ray, pixel)
    key = cr.pixel_cr_index * (ny * nx) + cr.pixel_y.astype(np.int64) * nx + cr.pixel_x
    assert np.unique(key).size == key.size


def test_truth_pixels_lie_along_the_track(stis_chip):
    cr = stis_chip.cosmic_rays
    k = cr.pixel_cr_index
    ax, ay, bx, by = (getattr(cr, n)[k].astype(np.float64) for n in ("x0", "y0", "x1", "y1"))
    px, py = cr.pixel_x.astype(np.float64), cr.pixel_y.astype(np.float64)
    seg = np.hypot(bx - ax, by - ay)
    t = np.where(seg > 0, ((px - ax) * (bx - ax) + (py - ay) * (by - ay))
                 / np.maximum(seg, 1e-12) ** 2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    dist = np.hypot(px - (ax + t * (bx - ax)), py - (ay + t * (by - ay)))
    # diffusion kernel half-width 3 px plus the rounding of a sub-step to its pixel
    assert dist.max() <= 3 * math.sqrt(2) + 0.75
    # the charge is concentrated on the track: most of it within 1 px
    near = np.bincount(k, weights=cr.pixel_e * (dist <= 1.0), minlength=len(cr))
    assert np.median(near / cr.energy_e) > 0.85


def test_cosmic_ray_count_follows_rate_area_time(stis_chip):
    det = get_detector("stis_ccd")
    expected = 1.2 * 1115.0 * det.area_cm2
    assert stis_chip.area_cm2 == pytest.approx(det.area_cm2, rel=1e-3)
    assert abs(len(stis_chip.cosmic_rays) - expected) < 5 * math.sqrt(expected)
    # and scales with the rate and the chip area
    small = simulate_chip("stis_ccd", shape=(256, 256), exposure_s=1000.0, rng=1,
                          cr_rate_per_s_cm2=20.0)
    lam = 20.0 * 1000.0 * 256 * 256 * det.pixel_area_cm2
    assert abs(len(small.cosmic_rays) - lam) < 5 * math.sqrt(lam)


def test_acs_cosmic_ray_sizes_and_energies(acs_tracks):
    cr = acs_tracks
    # every injected cosmic ray keeps pixels (tiny deposits are ~never dropped)
    assert len(cr) >= 19_990
    median_e = float(np.median(cr.energy_e))
    assert 850.0 < median_e < 1200.0
    # detectable size (pixels above ~3 sigma of an ACS dark's noise) ~ 9 px; truth wider
    detectable = np.bincount(cr.pixel_cr_index, weights=cr.pixel_e > 15.0, minlength=len(cr))
    assert 7.0 < detectable.mean() < 11.0
    assert 12.0 < cr.n_pixels.mean() < 30.0
    assert 4 <= np.median(detectable) <= 9
    length = cr.track_length_px
    assert length.max() <= 200.0 + 1e-3
    # isotropic flux on a slab: P(length > L) = 1 / (1 + (L p / t)^2)
    det = get_detector("acs_wfc")
    p_long = 1.0 / (1.0 + (10.0 * det.pixel_size_um / det.thickness_um) ** 2)
    assert abs((length > 10.0).mean() - p_long) < 5 * math.sqrt(p_long / len(cr))
    assert abs((length > 1.0).mean() - 0.5) < 0.03


def test_energy_scales_with_thickness(acs_tracks):
    det = get_detector("wfpc2")
    wfpc2 = simulate_cosmic_rays(20_000, det.chip_shape, det.thickness_um, det.pixel_size_um,
                                 np.random.default_rng(3))
    ratio = np.median(wfpc2.energy_e) / np.median(acs_tracks.energy_e)
    assert 0.55 < ratio < 0.8   # 10 um vs 14.9 um of silicon


def test_science_is_background_hot_truth_plus_noise(stis_chip):
    chip = stis_chip
    expected = chip.expected_e.astype(np.float64)
    assert np.sum(chip.cosmic_rays.image(chip.shape), dtype=np.float64) == pytest.approx(
        np.sum(chip.cosmic_rays.energy_e, dtype=np.float64), rel=1e-5)
    # Poisson dark current and hot pixels, Fano-noise cosmic-ray charge, read noise
    cr = chip.cosmic_rays.image(chip.shape).astype(np.float64)
    variance = chip.read_noise_e ** 2 + (expected - cr) + FANO_FACTOR * cr
    z = (chip.science_e - expected) / np.sqrt(variance)
    assert abs(z.mean()) < 0.01
    assert 0.98 < z.std() < 1.02
    # the same on cosmic-ray pixels alone: there the noise is Fano's, well below Poisson's
    on_cr = chip.cosmic_rays.image(chip.shape) > 50
    z_poisson = (chip.science_e - expected) / np.sqrt(chip.read_noise_e ** 2 + expected)
    assert z_poisson[cr > 2000].std() < 0.6
    assert on_cr.sum() > 10_000
    assert abs(z[on_cr].mean()) < 0.05 and 0.95 < z[on_cr].std() < 1.05
    # background level = dark current x time
    det = get_detector("stis_ccd")
    assert chip.background_e == pytest.approx(det.dark_current_e_per_s * 1115.0)
    quiet = (~chip.hot_pixels) & ~on_cr & (chip.cosmic_rays.image(chip.shape) == 0)
    assert np.median(chip.science_e[quiet]) == pytest.approx(chip.background_e, abs=0.5)


def test_hot_pixels_bad_columns_and_dq(stis_chip):
    chip = stis_chip
    det = get_detector("stis_ccd")
    hot_bit, column_bit = dq_bits(det)
    npix = chip.science_e.size
    assert chip.hot_pixels.sum() == round(0.005 * npix)
    assert not (chip.unflagged_hot_pixels & ~chip.hot_pixels).any()
    frac = chip.unflagged_hot_pixels.sum() / chip.hot_pixels.sum()
    assert 0.07 < frac < 0.13
    flagged = chip.hot_pixels & ~chip.unflagged_hot_pixels
    assert np.all(chip.dq[flagged] & hot_bit)
    assert not np.any(chip.dq[chip.unflagged_hot_pixels & ~np.isin(
        np.arange(chip.shape[1])[None, :], chip.bad_columns)] & hot_bit)
    # hot pixels are well above the background (>= 0.08 e-/s, log-uniform)
    assert chip.hot_pixel_e[chip.hot_pixels].min() >= 0.08 * 1115.0 * 0.999
    assert np.all(chip.hot_pixel_e[~chip.hot_pixels] == 0)
    assert chip.bad_columns.size == 2
    assert np.all(chip.dq[:, chip.bad_columns] & column_bit)
    for bit in (hot_bit, column_bit):
        assert bit in det.bad_bits
    # CR flags where cosmic rays put much charge, nowhere without cosmic-ray charge
    cr_image = chip.cosmic_rays.image(chip.shape)
    has_cr_bit = (chip.dq & det.cr_bit) > 0
    assert not np.any(has_cr_bit & (cr_image == 0))
    assert has_cr_bit[cr_image > 100].mean() > 0.99


def test_no_cr_flags_unless_asked_and_wfpc2_has_no_cr_bit():
    a = simulate_chip("acs_hrc", shape=(200, 200), rng=2, cr_rate_per_s_cm2=50.0)
    assert not np.any(a.dq & 8192)
    w = simulate_chip("wfpc2", shape=(200, 200), rng=2, flag_cosmic_rays=True,
                      cr_rate_per_s_cm2=50.0)
    hot_bit, column_bit = dq_bits(get_detector("wfpc2"))
    assert set(np.unique(w.dq)) <= {0, hot_bit, column_bit, hot_bit | column_bit}


def test_fixed_pattern_is_shared_between_darks():
    kw = dict(shape=(256, 300), exposure_s=500.0, fixed_pattern_seed=42)
    a = simulate_chip("acs_wfc", rng=1, **kw)
    b = simulate_chip("acs_wfc", rng=2, **kw)
    assert np.array_equal(a.hot_pixels, b.hot_pixels)
    assert np.array_equal(a.hot_pixel_e, b.hot_pixel_e)
    assert np.array_equal(a.unflagged_hot_pixels, b.unflagged_hot_pixels)
    assert np.array_equal(a.bad_columns, b.bad_columns)
    assert np.array_equal(a.dq, b.dq)
    assert not np.array_equal(a.cosmic_rays.x0[:10], b.cosmic_rays.x0[:10])
    c = simulate_chip("acs_wfc", rng=1, shape=(256, 300), exposure_s=500.0)
    assert not np.array_equal(a.hot_pixels, c.hot_pixels)


def test_label_image_marks_the_dominant_cosmic_ray(stis_chip):
    cr = stis_chip.cosmic_rays
    labels = stis_chip.cosmic_rays.label_image(stis_chip.shape)
    assert set(np.unique(labels)) - {0} <= set(cr.cr_id.tolist())
    k = int(np.argmax(cr.energy_e))
    s = slice(cr.pixel_offsets[k], cr.pixel_offsets[k + 1])
    peak = np.argmax(cr.pixel_e[s])
    assert labels[cr.pixel_y[s][peak], cr.pixel_x[s][peak]] == cr.cr_id[k]


def test_ir_and_bad_input_raise():
    with pytest.raises(HstcrError):
        simulate_chip("wfc3_ir")
    with pytest.raises(HstcrError):
        simulate_chip("nope")
    with pytest.raises(HstcrError, match="exposure"):
        simulate_chip("acs_hrc", exposure_s=-1.0)
    with pytest.raises(HstcrError):
        write_dark("nicmos_nic2", "/nonexistent", seed=1)


# ------------------------------------------------------------------------------------------
# files shaped like MAST's
# ------------------------------------------------------------------------------------------

DATES = {"wfpc2": dt.datetime(1997, 5, 3, 4, 5, 6, tzinfo=dt.timezone.utc),
         "acs_hrc": dt.datetime(2005, 6, 7, 8, 9, 10, tzinfo=dt.timezone.utc)}


@pytest.fixture(scope="session")
def written(tmp_path_factory):
    """One full-frame dark per CCD detector, written once per session."""
    out = tmp_path_factory.mktemp("synthetic_darks")
    darks = {}
    for det_id in CCD_IDS:
        darks[det_id] = write_dark(
            det_id, out / det_id, seed=101, date=DATES.get(det_id, dt.datetime(
                2016, 3, 5, 6, 7, 8, tzinfo=dt.timezone.utc)),
            flashdur_s=2.0 if get_detector(det_id).flashdur_applies else None,
            hot_pixel_fraction=0.001, cr_rate_per_s_cm2=0.3)
    return darks


@pytest.mark.parametrize("det_id", [d for d in CCD_IDS if d != "wfpc2"])
def test_imset_files_shape_dtype_bunit(written, det_id):
    dark = written[det_id]
    det = dark.detector
    # the preferred product: flc (CTE-corrected) first where it exists
    assert dark.paths["science"].name == f"{dark.dataset}_{det.science_suffixes[0]}.fits"
    assert dark.paths["support"].name == f"{dark.dataset}_spt.fits"
    with fits.open(dark.paths["science"]) as hdul:
        names = [h.name for h in hdul]
        assert names == ["PRIMARY"] + ["SCI", "ERR", "DQ"] * det.n_chips
        primary = hdul[0].header
        assert primary["NEXTEND"] == 3 * det.n_chips
        assert primary["INSTRUME"] == det.instrume
        assert primary["ROOTNAME"] == dark.dataset
        assert primary["FILENAME"] == dark.paths["science"].name
        assert hdul[0].data is None
        for layout in det.chips:
            sci, dq = hdul["SCI", layout.extver], hdul["DQ", layout.extver]
            err = hdul["ERR", layout.extver]
            assert sci.data.shape == det.chip_shape
            assert sci.header["BITPIX"] == -32 and err.header["BITPIX"] == -32
            assert sci.header["BUNIT"] == det.bunit
            # uint16 stored as MAST does: BITPIX 16, BZERO 32768
            assert dq.header["BITPIX"] == 16 and dq.header["BZERO"] == 32768
            assert dq.data.dtype == np.uint16 and dq.data.shape == det.chip_shape
            if det.id != "stis_ccd":
                assert sci.header["CCDCHIP"] == layout.ccdchip
    if det.n_chips == 2:
        with fits.open(dark.paths["science"]) as hdul:
            assert hdul[1].header["CCDCHIP"] == 2 and hdul[4].header["CCDCHIP"] == 1


@pytest.mark.parametrize("det_id", ["acs_wfc", "acs_hrc", "wfc3_uvis"])
def test_acs_wfc3_primary_keywords(written, det_id):
    dark = written[det_id]
    primary = fits.getheader(dark.paths["science"], 0)
    for key in ("INSTRUME", "DETECTOR", "ROOTNAME", "FILENAME", "DATE-OBS", "TIME-OBS",
                "EXPSTART", "EXPEND", "EXPTIME", "FLASHDUR", "FLASHSTA", "CCDAMP", "CCDGAIN",
                "ATODGNA", "ATODGNB", "ATODGNC", "ATODGND", "IMAGETYP", "TARGNAME",
                "SUBARRAY", "NEXTEND"):
        assert key in primary, key
    assert primary["IMAGETYP"] == "DARK" and primary["TARGNAME"] == "DARK"
    assert primary["SUBARRAY"] is False
    exp = dark.exposure
    assert primary["EXPTIME"] == exp["exptime_s"]
    assert primary["EXPSTART"] == pytest.approx(exp["expstart_mjd"])
    assert (primary["EXPEND"] - primary["EXPSTART"]) * 86400 == pytest.approx(
        exp["exptime_s"] + exp["flashdur_s"], abs=1e-3)
    if dark.detector.flashdur_applies:
        assert primary["FLASHDUR"] == 2.0 and primary["FLASHSTA"] == "SUCCESSFUL"
        assert primary["DARKTIME"] == pytest.approx(exp["integration_time_s"])
        assert exp["integration_time_s"] > primary["EXPTIME"] + primary["FLASHDUR"]
    else:
        assert "DARKTIME" not in primary
        assert exp["integration_time_s"] == primary["EXPTIME"] + dark.detector.readout_time_s


KEY_PRIMARY = ["INSTRUME", "DETECTOR", "ROOTNAME", "FILENAME", "FILETYPE", "TARGNAME",
               "TDATEOBS", "TTIMEOBS", "TEXPSTRT", "TEXPEND", "TEXPTIME", "OBSTYPE",
               "SUBARRAY", "CCDAMP", "CCDGAIN", "ATODGAIN", "READNSE", "NEXTEND", "CRSPLIT",
               "NRPTEXP", "DATE-OBS", "TIME-OBS", "EXPSTART", "EXPEND", "EXPTIME", "BUNIT"]
KEY_SCI = ["EXTNAME", "EXTVER", "ROOTNAME", "EXPNAME", "BUNIT", "DATE-OBS", "TIME-OBS",
           "EXPSTART", "EXPEND", "EXPTIME", "EXPFLAG", "ATODGAIN", "CCDGAIN", "INSTRUME"]


def _placement(path, keys_primary, keys_sci):
    with fits.open(path) as hdul:
        return ({k: k in hdul[0].header for k in keys_primary},
                {k: k in hdul["SCI", 1].header for k in keys_sci})


def test_stis_keywords_where_the_real_files_have_them(written, stis_fixture_dir,
                                                      astropy_test_file):
    ours = _placement(written["stis_ccd"].paths["science"], KEY_PRIMARY, KEY_SCI)
    reals = sorted(stis_fixture_dir.glob("*_raw.fits")) + [astropy_test_file(
        "o4sp040b0_raw.fits")]
    assert len(reals) >= 5
    for real in reals:
        assert _placement(real, KEY_PRIMARY, KEY_SCI) == ours, real.name
    with fits.open(written["stis_ccd"].paths["science"]) as hdul:
        assert hdul["SCI", 1].header["BUNIT"] == "COUNTS"
        assert hdul[0].header["ATODGAIN"] > 0   # calibrated: not the 0 of raw files


def test_stis_spt_like_the_real_ones(written, stis_fixture_dir):
    ours = fits.open(written["stis_ccd"].paths["support"])
    real = fits.open(sorted(stis_fixture_dir.glob("*_spt.fits"))[0])
    assert [h.name for h in ours] == [h.name for h in real][:len(ours)]
    for key in ("INSTRUME", "ROOTNAME", "FILENAME", "FILETYPE", "NEXTEND",
                *ORBITAL_ELEMENT_SETS["oc7w11viq"]):
        assert key in ours[0].header and key in real[0].header, key
    assert ours[1].data.dtype == real[1].data.dtype


def test_wfpc2_files_like_test0(written, astropy_test_file):
    dark = written["wfpc2"]
    assert set(dark.paths) == {"science", "support", "dq"}
    assert dark.paths["science"].name.endswith("_c0m.fits")
    assert dark.paths["dq"].name.endswith("_c1m.fits")
    assert dark.paths["support"].name.endswith("_shm.fits")
    keys_p = ["INSTRUME", "ROOTNAME", "FILETYPE", "IMAGETYP", "MODE", "SERIALS", "ATODGAIN",
              "DATE-OBS", "TIME-OBS", "EXPSTART", "EXPEND", "EXPTIME", "EXPFLAG", "FILENAME",
              "NEXTEND", "DETECTOR", "BUNIT", "CCDGAIN"]
    keys_s = ["EXTNAME", "EXTVER", "ROOTNAME", "EXPNAME", "DETECTOR", "ATODGAIN", "EXPTIME"]
    assert _placement(dark.paths["science"], keys_p, keys_s) == _placement(
        astropy_test_file("test0.fits"), keys_p, keys_s)
    with fits.open(dark.paths["science"]) as c0m, fits.open(dark.paths["dq"]) as c1m:
        assert [h.name for h in c0m] == ["PRIMARY"] + ["SCI"] * 4
        assert len(c1m) == 5
        assert all(h.data.dtype.newbyteorder('=') == np.int16 for h in c1m[1:])
        assert c0m[0].header["DATE-OBS"] == "03/05/97"      # dd/mm/yy before 1999
        assert c0m[0].header["ATODGAIN"] == 7.0
        for i, (layout, chip) in enumerate(zip(dark.detector.chips, dark.chips), start=1):
            assert c0m[i].header["DETECTOR"] == layout.ccdchip == c1m[i].header["DETECTOR"]
            assert c0m[i].data.shape == (800, 800) and c0m[i].header['BITPIX'] == -32
            assert c0m[i].header["BUNIT"] == "COUNTS"
            np.testing.assert_allclose(c0m[i].data, chip.science_e / 7.0, rtol=1e-6)
            assert np.array_equal(c1m[i].data, chip.dq.astype(np.int16))


def test_wfpc2_iso_date_after_1999(tmp_path):
    dark = write_dark("wfpc2", tmp_path, seed=3, shape=(40, 40),
                      date=dt.datetime(2005, 1, 2, 3, 4, 5))
    assert fits.getheader(dark.paths["science"])["DATE-OBS"] == "2005-01-02"


@pytest.mark.parametrize("det_id", CCD_IDS)
def test_support_file_orbit_is_valid_at_the_dark(written, det_id):
    dark = written[det_id]
    h = fits.getheader(dark.paths["support"], 0)
    expstart = dark.exposure["expstart_mjd"]
    dt_s = (expstart - 46066.0) * 86400.0 - h["EPCHTIME"]
    assert 0.0 <= dt_s < 86400.0
    # the element set is a real one (only the epoch-dependent angles change)
    source = min(ORBITAL_ELEMENT_SETS.values(),
                 key=lambda e: abs(e["EPCHTIME"] - h["EPCHTIME"]))
    for key in ("FDMEANAN", "ECCENTRY", "SEMILREC", "COSINCLI", "SINEINCL", "HSTHORB"):
        assert h[key] == source[key]
    assert 0.0 <= h["MEANANOM"] < 2 * math.pi
    # the orbit model of hst-detectors.md puts HST 480-650 km above a spherical Earth
    m = h["MEANANOM"] + 2 * math.pi * (h["FDMEANAN"] * dt_s + 0.5 * h["SDMEANAN"] * dt_s ** 2)
    nu = m + math.sin(m) * (h["ECCENTX2"] + h["ECBDX3"] * math.cos(m) ** 2
                            - h["ECBDX4D3"] * math.sin(m) ** 2 + h["ESQDX5D2"] * math.cos(m))
    r_km = h["SEMILREC"] / (1 + h["ECCENTRY"] * math.cos(nu)) / 1e3
    assert 480.0 < r_km - 6371.0 < 650.0


def test_meananom_varies_with_the_seed(tmp_path):
    a = write_dark("acs_hrc", tmp_path / "a", seed=1, shape=(32, 32), date="2005-01-01")
    b = write_dark("acs_hrc", tmp_path / "b", seed=2, shape=(32, 32), date="2005-01-01")
    ha, hb = (fits.getheader(d.paths["support"]) for d in (a, b))
    assert ha["MEANANOM"] != hb["MEANANOM"]
    assert ha["EPCHTIME"] == hb["EPCHTIME"]


def test_dataset_names():
    names = {dataset_name("j", [s, 1]) for s in range(200)}
    assert len(names) == 200
    for name in names:
        assert len(name) == 9 and name[0] == "j" and name[-1] == "q"
        assert name == name.lower() and name.isalnum()
    assert dataset_name("o", 5) == dataset_name("o", 5)


def test_round_trip_through_load_dark(written):
    """write_dark -> load_dark gives back the simulated electrons and DQ (every CCD)."""
    from hstcr_common.load import load_dark

    for det_id, dark in written.items():
        loaded = load_dark(dark.paths["science"], dq=dark.paths.get("dq"),
                           support=dark.paths["support"])
        assert loaded.dataset == dark.dataset
        assert loaded.detector.id == det_id
        assert [c.name for c in loaded.chips] == [c.name for c in dark.detector.chips]
        for chip, truth in zip(loaded.chips, dark.chips):
            np.testing.assert_allclose(chip.science, truth.science_e, rtol=2e-7, atol=1e-6,
                                       err_msg=det_id)
            assert np.array_equal(chip.dq.astype(np.int64), truth.dq.astype(np.int64))
        exp = dark.exposure
        assert loaded.exptime_s == exp["exptime_s"]
        assert loaded.expstart_mjd == pytest.approx(exp["expstart_mjd"], abs=1e-8)
        assert loaded.date_obs == dt.datetime.fromisoformat(exp["date_obs"]).replace(
            microsecond=0)
        if exp["darktime_s"] is not None:
            assert loaded.darktime_s == pytest.approx(exp["darktime_s"])
        assert loaded.support_header["EPCHTIME"] == exp["orbital_elements"]["EPCHTIME"]


def test_in_memory_dark_matches_the_loaded_one(written):
    """simulate_dark(...).dark is what load_dark gives from the written files."""
    from hstcr_common.load import load_dark

    for det_id, made in written.items():
        mine = made.dark
        loaded = load_dark(made.paths["science"], dq=made.paths.get("dq"),
                           support=made.paths["support"])
        for name in ("dataset", "date_obs", "exptime_s", "darktime_s", "flashdur_s",
                     "ccdamp", "bunit", "science_suffix", "subarray"):
            assert getattr(mine, name) == getattr(loaded, name), (det_id, name)
        assert mine.expstart_mjd == pytest.approx(loaded.expstart_mjd, abs=1e-9)
        assert mine.expend_mjd == pytest.approx(loaded.expend_mjd, abs=1e-9)
        assert mine.month == loaded.month
        for a, b in zip(mine.chips, loaded.chips):
            assert (a.name, a.ccdchip) == (b.name, b.ccdchip)
            assert a.gain == pytest.approx(b.gain) and a.read_noise_e == pytest.approx(
                b.read_noise_e)
            np.testing.assert_allclose(a.science, b.science, rtol=2e-7, atol=1e-6)
        for key in ORBITAL_ELEMENT_SETS["oc7w11viq"]:
            assert mine.support_header[key] == loaded.support_header[key], (det_id, key)


def test_simulate_dark_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    made = simulate_dark("stis_ccd", seed=3, exptime_s=60.0)
    assert made.paths == {} and list(tmp_path.iterdir()) == []
    assert made.dark.chips[0].science is made.chips[0].science_e
    assert made.truth.num_rows == made.exposure["n_cr"] > 0


# ------------------------------------------------------------------------------------------
# samples, truth table, CLI
# ------------------------------------------------------------------------------------------

def test_write_sample_truth_and_determinism(tmp_path):
    kw = dict(start="2016-02-10", exptime_s=60.0, cr_rate_per_s_cm2=5.0)
    darks = write_sample("stis_ccd", 3, tmp_path / "a", seed=9, **kw)
    again = write_sample("stis_ccd", 3, tmp_path / "b", seed=9, **kw)
    assert [d.dataset for d in darks] == [d.dataset for d in again]
    assert len({d.dataset for d in darks}) == 3
    truth = pq.read_table(tmp_path / "a" / "truth.parquet")
    assert truth.equals(pq.read_table(tmp_path / "b" / "truth.parquet"))
    assert truth.schema.remove_metadata().equals(TRUTH_SCHEMA)
    assert truth.num_rows == sum(d.exposure["n_cr"] for d in darks)
    for a, b in zip(darks, again):
        assert np.array_equal(fits.getdata(a.paths["science"], 1),
                              fits.getdata(b.paths["science"], 1))
    # one month, one set-up, one hot-pixel pattern
    months = {d.exposure["date_obs"][:7] for d in darks}
    assert months == {"2016-02"}
    assert len({d.exposure["group"] for d in darks}) == 1
    assert np.array_equal(darks[0].chips[0].hot_pixels, darks[2].chips[0].hot_pixels)
    # pixels column sums to energy_e, per cosmic ray
    first = truth.slice(0, 200).to_pylist()
    for row in first:
        assert len(row["pixels"]) == row["n_pixels"]
        assert sum(p["e"] for p in row["pixels"]) == pytest.approx(row["energy_e"], rel=1e-5)
    # exposure truth in the metadata, a table and a manifest
    exposures = read_truth_exposures(tmp_path / "a" / "truth.parquet")
    assert [e["dataset"] for e in exposures] == [d.dataset for d in darks]
    assert exposures[0]["integration_time_s"] == 60.0 + 15.0
    table = pq.read_table(tmp_path / "a" / "truth_exposures.parquet").to_pylist()
    assert [r["n_cr"] for r in table] == [d.exposure["n_cr"] for d in darks]
    manifest = [json.loads(line) for line in
                (tmp_path / "a" / "manifest.jsonl").read_text().splitlines()]
    assert [m["dataset"] for m in manifest] == [d.dataset for d in darks]
    assert manifest[0]["month"] == "2016-02" and manifest[0]["instrument"] == "stis_ccd"
    assert set(manifest[0]["files"]) == {"science", "support"}


def test_write_dark_input_errors(tmp_path):
    with pytest.raises(HstcrError, match="FLASHDUR"):
        write_dark("stis_ccd", tmp_path, seed=1, flashdur_s=3.0, shape=(8, 8))
    with pytest.raises(HstcrError, match="c0m"):
        write_dark("wfpc2", tmp_path, seed=1, science_suffix="flt", shape=(8, 8))
    with pytest.raises(HstcrError, match="date"):
        write_dark("acs_hrc", tmp_path, seed=1, date="2005-14-01", shape=(8, 8))
    with pytest.raises(HstcrError):
        write_dark("acs_hrc", tmp_path, seed=1, exptime_s=0.0, shape=(8, 8))


def test_small_frame_is_labelled_subarray(tmp_path, written):
    small = write_dark("acs_hrc", tmp_path, seed=4, shape=(64, 64))
    assert fits.getheader(small.paths["science"])["SUBARRAY"] is True
    assert fits.getheader(written["acs_hrc"].paths["science"])["SUBARRAY"] is False


def test_counts_product_divides_by_gain(tmp_path):
    dark = write_dark("acs_hrc", tmp_path, seed=4, shape=(64, 64), bunit="COUNTS")
    sci = fits.getdata(dark.paths["science"], ("SCI", 1))
    assert fits.getheader(dark.paths["science"], ("SCI", 1))["BUNIT"] == "COUNTS"
    np.testing.assert_allclose(sci * 2.0, dark.chips[0].science_e, rtol=1e-6)


def test_cli_sample(tmp_path):
    from hstcr_common.cli import main

    runner = CliRunner()
    out = tmp_path / "sample"
    result = runner.invoke(main, ["sample", "--instrument", "stis_ccd", "--n", "2", "--out",
                                  str(out), "--seed", "3", "--date", "2016-03-01",
                                  "--exptime", "60", "--rate", "2", "--flag-crs"])
    assert result.exit_code == 0, result.output
    assert "wrote 2 STIS/CCD darks" in result.output
    assert (out / "truth.parquet").exists() and (out / "manifest.jsonl").exists()
    assert len(list(out.glob("*_flt.fits"))) == 2 and len(list(out.glob("*_spt.fits"))) == 2
    dq = fits.getdata(next(out.glob("*_flt.fits")), ("DQ", 1))
    assert np.any(dq & 8192)
    # (IR detectors are written as ramps since e5a749a; an unknown detector is refused)
    bad = runner.invoke(main, ["sample", "--instrument", "acs_sbc", "--out", str(tmp_path)])
    assert bad.exit_code != 0 and "acs_sbc" in bad.output


# ------------------------------------------------------------------------------------------
# specs: one frozen object per generator, keyword overrides by field name
# ------------------------------------------------------------------------------------------

def test_spec_and_keyword_overrides_make_the_same_dark():
    from hstcr_common.synthetic import DarkSpec

    spec = DarkSpec(exptime_s=60.0, shape=(32, 32), cr_rate_per_s_cm2=5.0)
    a = simulate_dark("stis_ccd", spec, seed=3)
    b = simulate_dark("stis_ccd", seed=3, exptime_s=60.0, shape=(32, 32), cr_rate_per_s_cm2=5.0)
    assert np.array_equal(a.chips[0].science_e, b.chips[0].science_e)
    assert a.truth.equals(b.truth) and a.exposure == b.exposure


def test_unknown_override_is_a_type_error_naming_it(tmp_path):
    from hstcr_common.synthetic import simulate_ramp, write_ir_dark

    with pytest.raises(TypeError, match="'exptime'"):
        simulate_dark("stis_ccd", seed=1, exptime=60.0)
    with pytest.raises(TypeError, match="'rate'"):
        simulate_chip("acs_hrc", rng=1, rate=2.0)
    with pytest.raises(TypeError, match="'n_read'"):
        simulate_ramp((8, 8), [0.0, 1.0], n_read=3)
    with pytest.raises(TypeError, match="'nreads'"):
        write_ir_dark("nicmos_nic2", tmp_path, seed=1, nreads=3)
