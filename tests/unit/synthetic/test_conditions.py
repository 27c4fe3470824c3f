"""Realistic synthetic darks (issue 13 item 2): every condition is present with the requested
statistics, the truth stays exact, and ``clean`` reproduces the ideal darks bit for bit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from hstcr_common.instruments import get_detector
from hstcr_common.model import HstcrError
from hstcr_common.synthetic import (
    EPOCHS,
    HOT_PIXEL_SCHEMA,
    TRUTH_SCHEMA,
    DarkConditions,
    bleed_columns,
    cte_trails,
    dq_bits,
    saturation_bits,
    simulate_chip,
    simulate_cosmic_rays,
    simulate_dark,
    write_sample,
)

CCDS = ["acs_wfc", "acs_hrc", "stis_ccd", "wfc3_uvis", "wfpc2"]
#: only the hot-pixel population: no readout effects, no cosmic rays
HOT_ONLY = DarkConditions(hot_fraction=0.025, unflagged_share=0.5, cluster_share=0.02,
                          telegraph_share=0.05, label="test")


def _chip(det="acs_wfc", conditions=HOT_ONLY, rng=1, shape=(512, 512), **kw):
    kw.setdefault("cr_rate_per_s_cm2", 0.0)
    return simulate_chip(det, shape=shape, exposure_s=1000.0, rng=rng, conditions=conditions,
                         read_noise_e=kw.pop("read_noise_e", 4.0), **kw)


# ------------------------------------------------------------------------------------------
# clean: the ideal dark, unchanged
# ------------------------------------------------------------------------------------------

def test_clean_reproduces_the_ideal_dark_bit_for_bit():
    # hash of this chip made by the generator before issue 13 (commit HEAD of 2026-12-02)
    chip = simulate_chip("acs_hrc", shape=(96, 128), rng=17, exposure_s=900.0, read_noise_e=4.0,
                         cr_rate_per_s_cm2=40.0, fixed_pattern_seed=3,
                         conditions=DarkConditions.clean())
    digest = hashlib.sha256(chip.science_e.tobytes() + chip.dq.tobytes()).hexdigest()
    assert digest == "9d6b1487a1fd622d817f108f682bbd37fb9c90d7165e5377efc87f7401e71a75"
    assert len(chip.cosmic_rays) == 2002
    assert DarkConditions().is_clean and DarkConditions.clean().is_clean
    assert not DarkConditions(cte_fraction=0.01).is_clean
    default = simulate_dark("stis_ccd", seed=4, shape=(64, 64), cr_rate_per_s_cm2=5.0)
    clean = simulate_dark("stis_ccd", seed=4, shape=(64, 64), cr_rate_per_s_cm2=5.0,
                          conditions="clean")
    assert np.array_equal(default.chips[0].science_e, clean.chips[0].science_e)
    assert default.truth.equals(clean.truth)
    # the ideal truth: observed energy is the deposit, nothing saturated, no heavy ion
    t = clean.truth.to_pydict()
    assert t["energy_observed_e"] == t["energy_e"]
    assert not any(t["saturated"]) and not any(t["heavy_ion"])


# ------------------------------------------------------------------------------------------
# hot pixels: fraction, unflagged share, clusters, telegraph, growth
# ------------------------------------------------------------------------------------------

def test_hot_population_statistics():
    chip = _chip(fixed_pattern_seed=7)
    hot = chip.hot_pixels
    n_hot = hot.sum()
    assert abs(hot.mean() - 0.025) < 0.025 * 0.05
    unflagged = chip.unflagged_hot_pixels
    assert not (unflagged & ~hot).any()
    assert abs(unflagged.sum() / n_hot - 0.5) < 0.03
    hot_bit, column_bit = dq_bits(get_detector("acs_wfc"))
    in_bad_column = np.isin(np.arange(512)[None, :], chip.bad_columns)
    assert np.all(chip.dq[hot & ~unflagged] & hot_bit)
    assert not np.any(chip.dq[unflagged & ~in_bad_column] & hot_bit)
    # clusters: ~2 % of the hot pixels, 2-6 pixels within the 3x3 box around their seed
    ids = chip.hot_cluster_id
    assert abs((ids > 0).sum() / n_hot - 0.02) < 0.006
    sizes = np.bincount(ids[ids > 0])[1:]
    sizes = sizes[sizes > 0]
    assert sizes.max() <= 6 and (sizes >= 2).mean() > 0.95 and 3.3 < sizes.mean() < 4.5
    yy, xx = np.nonzero(ids)
    for axis in (yy, xx):
        lo = np.full(ids.max() + 1, np.inf)
        hi = np.full(ids.max() + 1, -np.inf)
        np.minimum.at(lo, ids[yy, xx], axis)
        np.maximum.at(hi, ids[yy, xx], axis)
        present = np.isfinite(lo)
        assert np.all(hi[present] - lo[present] <= 2)      # adjacent: inside a 3x3 box
    # telegraph: ~5 % of the hot pixels, about half of them high in this dark
    tele = chip.telegraph_pixels
    assert not (tele & ~hot).any()
    assert abs(tele.sum() / n_hot - 0.05) < 0.01
    assert 0.4 < chip.telegraph_high[tele].mean() < 0.6
    # rates: log-uniform over the range (times the exposure), telegraph low level below it
    levels = chip.hot_pixel_e[hot & ~tele & (ids == 0)]
    assert levels.min() >= 0.08 * 1000 * 0.999 and levels.max() <= 8.0 * 1000 * 1.001
    assert np.all(chip.hot_pixel_e[~hot] == 0)


def test_fixed_hot_pixels_are_shared_and_telegraph_pixels_blink():
    a = _chip(rng=1, fixed_pattern_seed=11)
    b = _chip(rng=2, fixed_pattern_seed=11)
    assert np.array_equal(a.hot_pixels, b.hot_pixels)
    assert np.array_equal(a.unflagged_hot_pixels, b.unflagged_hot_pixels)
    assert np.array_equal(a.telegraph_pixels, b.telegraph_pixels)
    assert np.array_equal(a.dq, b.dq)
    steady = a.hot_pixels & ~a.telegraph_pixels
    assert np.array_equal(a.hot_pixel_e[steady], b.hot_pixel_e[steady])
    tele = a.telegraph_pixels
    switched = a.telegraph_high[tele] != b.telegraph_high[tele]
    assert 0.3 < switched.mean() < 0.7
    ratio = a.hot_pixel_e[tele][switched] / b.hot_pixel_e[tele][switched]
    # (a cluster member landing on a brighter hot pixel keeps that one's level)
    assert np.mean(np.isclose(ratio, 0.1, rtol=1e-4) | np.isclose(ratio, 10.0, rtol=1e-4)) > 0.98
    # later in the anneal cycle: the same hot pixels plus new ones (nested populations)
    later = _chip(rng=1, fixed_pattern_seed=11,
                  conditions=dataclasses.replace(HOT_ONLY, hot_fraction=0.04))
    assert not (a.hot_pixels & ~later.hot_pixels).any()
    assert later.hot_pixels.sum() > 1.5 * a.hot_pixels.sum()


def test_hot_pixel_truth_table():
    dark = simulate_dark("acs_hrc", seed=3, shape=(256, 256), conditions="late-mission",
                         cr_rate_per_s_cm2=0.0)
    table = dark.hot_pixels
    chip = dark.chips[0]
    assert table.schema.equals(HOT_PIXEL_SCHEMA)
    assert table.num_rows == chip.hot_pixels.sum()
    rows = table.to_pydict()
    x, y = np.array(rows["x"]), np.array(rows["y"])
    assert np.all(chip.hot_pixels[y, x])
    assert np.array_equal(np.array(rows["flagged"]), ~chip.unflagged_hot_pixels[y, x])
    np.testing.assert_allclose(rows["level_e"], chip.hot_pixel_e[y, x])
    assert np.array_equal(rows["telegraph"], chip.telegraph_pixels[y, x])
    assert np.array_equal(rows["cluster_id"], chip.hot_cluster_id[y, x])


# ------------------------------------------------------------------------------------------
# CTE trails
# ------------------------------------------------------------------------------------------

def test_cte_trail_direction_shape_and_charge_conservation():
    image = np.zeros((400, 8))
    image[100, 3] = 1000.0
    a = np.exp(-1.0 / 2.0)
    bottom = cte_trails(image, 0.04, 2.0, "bottom")
    lost = 1000.0 * 0.04 * 101 / 400
    assert bottom[100, 3] == pytest.approx(1000.0 - lost)
    assert np.all(bottom[:100] == 0) and np.all(bottom[:, [0, 1, 2, 4, 5, 6, 7]] == 0)
    assert bottom[101, 3] == pytest.approx(lost * (1 - a))
    np.testing.assert_allclose(bottom[102:110, 3] / bottom[101:109, 3], a)
    assert bottom.sum() == pytest.approx(1000.0, rel=1e-9)       # nothing reaches the end
    top = cte_trails(image, 0.04, 2.0, "top")
    assert top[100, 3] == pytest.approx(1000.0 - 1000.0 * 0.04 * 300 / 400)
    assert np.all(top[101:] == 0) and top[99, 3] > 0
    assert top.sum() == pytest.approx(1000.0, rel=1e-9)


def test_cte_lowers_observed_energies_and_trails_away_from_the_register():
    cond = DarkConditions(hot_fraction=0.0, cte_fraction=0.05, label="cte")
    kw = dict(shape=(400, 300), cr_rate_per_s_cm2=2.0, read_noise_e=0.0)
    chip0 = _chip("acs_wfc", cond, rng=5, chip_index=0, **kw)      # register at the bottom
    cr = chip0.cosmic_rays
    ratio = cr.energy_observed_e / cr.energy_e
    # (a footprint can gain charge trailed from another cosmic ray read before it)
    assert np.mean(ratio <= 1.0 + 1e-5) > 0.9 and 0.95 < np.median(ratio) < 0.995
    # the noise-free frame conserves the charge: what left the footprints is in the trails
    excess = chip0.expected_e.astype(np.float64) - chip0.background_image()
    deposit = cr.image(chip0.shape).astype(np.float64)
    assert excess.sum() == pytest.approx(deposit.sum(), rel=2e-3)
    # far from the register the loss is larger
    far = cr.y0 > 300
    near = cr.y0 < 100
    assert np.median(ratio[far]) < np.median(ratio[near])
    # the truth energies themselves stay the deposited ones
    np.testing.assert_allclose(
        cr.energy_e, np.add.reduceat(cr.pixel_e.astype(np.float64), cr.pixel_offsets[:-1]),
        rtol=1e-6)
    # chip 1 of ACS/WFC reads out at the top: there the far side is y = 0
    chip1 = _chip("acs_wfc", cond, rng=5, chip_index=1, **kw)
    assert chip0.readout.register == "bottom" and chip1.readout.register == "top"
    ratio1 = chip1.cosmic_rays.energy_observed_e / chip1.cosmic_rays.energy_e
    assert np.median(ratio1[chip1.cosmic_rays.y0 < 100]) < np.median(
        ratio1[chip1.cosmic_rays.y0 > 300])


# ------------------------------------------------------------------------------------------
# post-flash, amplifier offsets
# ------------------------------------------------------------------------------------------

def test_flash_level_gradient_and_poisson_noise():
    cond = DarkConditions(hot_fraction=0.0, flash_e=12.0, flash_gradient=0.3, label="flash")
    chip = _chip("wfc3_uvis", cond, shape=(2000, 400), read_noise_e=3.0)
    dark = chip.background_e - chip.flash_e
    columns = chip.science_e.mean(axis=0) - dark
    assert chip.flash_e == 12.0 and columns.mean() == pytest.approx(12.0, abs=0.05)
    assert columns[:20].mean() == pytest.approx(12.0 * 0.85, abs=0.15)
    assert columns[-20:].mean() == pytest.approx(12.0 * 1.15, abs=0.15)
    resid = chip.science_e - chip.expected_e
    assert resid.var() == pytest.approx(chip.background_image().mean() + 9.0, rel=0.03)


def test_realistic_flashed_dark_writes_flashdur():
    dark = simulate_dark("acs_wfc", seed=2, shape=(64, 64), conditions="realistic",
                         date="2019-05-05")
    assert dark.exposure["flashdur_s"] == pytest.approx(12.0)
    assert dark.chips[0].flash_e == pytest.approx(12.0)
    early = simulate_dark("acs_wfc", seed=2, shape=(64, 64), conditions="realistic",
                          date="2005-05-05")
    assert early.exposure["flashdur_s"] == 0.0
    with pytest.raises(HstcrError, match="FLASHDUR"):
        simulate_dark("stis_ccd", seed=2, shape=(8, 8), conditions="late-mission",
                      condition_overrides=(("flash_e", 12.0),))


def test_amplifier_offsets():
    cond = DarkConditions(hot_fraction=0.0, amp_offset_e=3.0, label="amps")
    chip = _chip("acs_wfc", cond, shape=(1000, 400))
    offsets = np.array(chip.amp_offsets_e)
    assert offsets.size == 2 and np.all(np.abs(offsets) <= 3.0)
    dark = chip.background_e
    left = chip.science_e[:, :200].mean() - dark
    right = chip.science_e[:, 200:].mean() - dark
    assert left == pytest.approx(offsets[0], abs=0.05)
    assert right == pytest.approx(offsets[1], abs=0.05)
    other = _chip("acs_wfc", cond, rng=2, shape=(8, 400))
    assert other.amp_offsets_e != chip.amp_offsets_e       # new bias residuals every dark
    assert len(_chip("stis_ccd", cond, shape=(8, 8)).amp_offsets_e) == 1


# ------------------------------------------------------------------------------------------
# saturation and bleeding
# ------------------------------------------------------------------------------------------

def test_bleed_conserves_charge_and_fills_the_column():
    column = np.full((50, 3), 10.0)
    column[25, 1] = 3.5 * 1000.0
    bled, saturated = bleed_columns(column, 1000.0)
    assert bled.sum() == pytest.approx(column.sum(), rel=1e-9)
    assert bled.max() <= 1000.0 + 1e-3
    assert np.array_equal(bled[:, [0, 2]], column[:, [0, 2]])
    run = np.nonzero(saturated[:, 1])[0]
    assert run.size == 3 and run.min() == 24 and run.max() == 26
    assert not saturated[:, [0, 2]].any()


def test_saturated_cosmic_rays_are_clipped_flagged_and_bled():
    det = get_detector("acs_wfc")
    full_bit, adc_bit = saturation_bits(det)
    cond = DarkConditions(hot_fraction=0.0, saturation=True, full_well_e=600.0,
                          adc_limit_e=1e9, label="sat")
    chip = _chip("acs_wfc", cond, shape=(300, 300), cr_rate_per_s_cm2=10.0, read_noise_e=0.0)
    cr = chip.cosmic_rays
    sat = cr.saturated
    assert sat.sum() > 20
    flagged = (chip.dq & full_bit) > 0
    assert flagged.any() and not (chip.dq & adc_bit).any()
    assert chip.expected_e.max() <= 600.0 + 1e-2
    # truth: saturated cosmic rays are those holding a flagged pixel
    on_flag = np.logical_or.reduceat(flagged[cr.pixel_y, cr.pixel_x], cr.pixel_offsets[:-1])
    assert np.array_equal(sat, on_flag)
    # bleeding conserves the charge, except what spills off a column's ends
    excess = chip.expected_e.astype(np.float64) - chip.background_image()
    inside = ~(flagged[0] | flagged[-1])
    assert inside.sum() > 250
    assert excess[:, inside].sum() == pytest.approx(
        float(cr.image(chip.shape)[:, inside].sum()), rel=1e-6)
    # unsaturated cosmic rays keep their energy unless they touch a bleed
    assert np.isclose(cr.energy_observed_e[~sat], cr.energy_e[~sat], rtol=1e-4).mean() > 0.9
    # most bled charge stays inside the cosmic ray's own (haloed) footprint
    assert np.median(cr.energy_observed_e[sat] / cr.energy_e[sat]) == pytest.approx(1.0, abs=0.02)
    # the A/D limit clips (charge lost) and sets both bits
    adc = DarkConditions(hot_fraction=0.0, saturation=True, full_well_e=1e9,
                         adc_limit_e=1500.0, label="adc")
    clipped = _chip("acs_wfc", adc, shape=(300, 300), cr_rate_per_s_cm2=10.0)
    hit = (clipped.dq & adc_bit) > 0
    assert hit.any() and np.all(clipped.science_e[hit] == 1500.0)
    assert np.all(clipped.dq[hit] & full_bit)
    c = clipped.cosmic_rays
    # clipped charge is lost (a pixel at the limit only through noise loses nothing)
    clip_ratio = c.energy_observed_e[c.saturated] / c.energy_e[c.saturated]
    assert np.all(clip_ratio <= 1.0 + 1e-5) and np.median(clip_ratio) < 0.98


def test_default_full_wells_and_adc_limits():
    cond = DarkConditions.for_detector("acs_wfc", "2019-01-01")
    assert cond.full_well(get_detector("acs_wfc")) == 84_700.0
    assert cond.adc_limit(get_detector("acs_wfc")) == 65535 * 2.0
    assert cond.adc_limit(get_detector("wfpc2")) == 4095 * 7.0
    assert saturation_bits(get_detector("wfpc2")) == (8, 8)


# ------------------------------------------------------------------------------------------
# heavy ions
# ------------------------------------------------------------------------------------------

def test_heavy_ions_are_rare_bright_and_long_and_leave_the_others_alone():
    det = get_detector("acs_wfc")
    args = (20_000, (1024, 1024), det.thickness_um, det.pixel_size_um)
    plain = simulate_cosmic_rays(*args, np.random.default_rng(4))
    mixed = simulate_cosmic_rays(*args, np.random.default_rng(4), heavy_ion_fraction=0.01)
    heavy = mixed.heavy_ion
    assert abs(heavy.mean() - 0.01) < 0.003
    assert np.median(mixed.energy_e[heavy]) > 30 * np.median(mixed.energy_e[~heavy])
    assert np.all(mixed.track_length_px[heavy] >= 20.0 - 1e-3)
    assert np.mean(mixed.track_length_px[~heavy] > 20.0) < 0.01
    # same seed: the ordinary cosmic rays are those of the dark without heavy ions
    assert len(plain) == len(mixed)
    assert np.array_equal(plain.x0[~heavy], mixed.x0[~heavy])
    assert np.array_equal(plain.energy_e[~heavy], mixed.energy_e[~heavy])
    np.testing.assert_allclose(
        mixed.energy_e, np.add.reduceat(mixed.pixel_e.astype(np.float64),
                                        mixed.pixel_offsets[:-1]), rtol=1e-6)


# ------------------------------------------------------------------------------------------
# presets and the epoch model
# ------------------------------------------------------------------------------------------

def test_epoch_model_grows_with_the_anneal_cycle_and_the_mission():
    start = EPOCHS["acs_wfc"].installed
    day1 = DarkConditions.for_detector("acs_wfc", start + dt.timedelta(days=28 * 200 + 1))
    day27 = DarkConditions.for_detector("acs_wfc", start + dt.timedelta(days=28 * 200 + 27))
    assert day27.hot_fraction - day1.hot_fraction == pytest.approx(
        26 * 5e-5 + 26 / 365.25 * 1e-3)
    assert day27.unflagged_share > 5 * day1.unflagged_share
    early = DarkConditions.for_detector("acs_wfc", "2004-06-01")
    late = DarkConditions.for_detector("acs_wfc", "2024-06-01")
    assert late.hot_fraction > 0.015 > early.hot_fraction
    assert 0.03 < late.cte_fraction < 0.06 and early.cte_fraction < 0.01
    assert early.flash_e == 0.0 and late.flash_e == 12.0 and late.saturation
    assert DarkConditions.for_detector("stis_ccd", "2020-01-01").flash_e == 0.0


@pytest.mark.parametrize("det_id", CCDS)
def test_late_mission_preset_for_every_ccd(det_id):
    cond = DarkConditions.late_mission(det_id)
    assert cond.hot_fraction == 0.025 and cond.unflagged_share == 0.5
    assert cond.cluster_share == 0.02 and cond.telegraph_share == 0.05
    assert cond.cte_fraction >= 0.03 and cond.saturation and cond.amp_offset_e == 3.0
    assert cond.flash_e == (12.0 if get_detector(det_id).flashdur_applies else 0.0)
    assert cond.label == "late-mission"


def test_presets_by_name_and_errors():
    with pytest.raises(HstcrError, match="unknown dark conditions"):
        simulate_dark("stis_ccd", seed=1, shape=(8, 8), conditions="awful")
    with pytest.raises(HstcrError, match="CCDs only"):
        DarkConditions.for_detector("wfc3_ir", "2020-01-01")
    with pytest.raises(TypeError, match="'hot'"):
        simulate_dark("stis_ccd", seed=1, shape=(8, 8), conditions="realistic",
                      condition_overrides=(("hot", 0.1),))


def test_zero_cosmic_rays_means_none_injected():
    dark = simulate_dark("wfpc2", seed=6, shape=(200, 200), conditions="late-mission",
                         cr_rate_per_s_cm2=0.0)
    assert dark.truth.num_rows == 0 and dark.exposure["n_cr"] == 0
    assert dark.truth.schema.equals(TRUTH_SCHEMA)
    for chip in dark.chips:
        assert chip.hot_pixels.mean() == pytest.approx(0.025, rel=0.1)
        assert np.isfinite(chip.science_e).all()


# ------------------------------------------------------------------------------------------
# samples and the CLI
# ------------------------------------------------------------------------------------------

def test_realistic_sample_shares_hot_pixels_and_writes_their_truth(tmp_path):
    darks = write_sample("stis_ccd", 2, tmp_path, seed=5, start="2019-04-02",
                         shape=(128, 128), conditions="realistic", cr_rate_per_s_cm2=2.0)
    a, b = (d.chips[0] for d in darks)
    assert a.conditions.label == "realistic"
    # one pattern: the smaller population (earlier in the anneal cycle, or after an anneal)
    # is inside the larger one
    small, large = sorted((a, b), key=lambda c: c.hot_pixels.sum())
    assert not (small.hot_pixels & ~large.hot_pixels).any()
    table = pq.read_table(tmp_path / "hot_pixels.parquet")
    assert table.num_rows == a.hot_pixels.sum() + b.hot_pixels.sum()
    truth = pq.read_table(tmp_path / "truth.parquet")
    assert truth.schema.remove_metadata().equals(TRUTH_SCHEMA)
    assert darks[0].exposure["conditions"]["label"] == "realistic"


def test_cli_sample_conditions_and_overrides(tmp_path):
    from hstcr_common.cli import main

    out = tmp_path / "s"
    result = CliRunner().invoke(main, [
        "sample", "--instrument", "acs_hrc", "--n", "1", "--out", str(out), "--seed", "2",
        "--date", "2006-03-01", "--conditions", "late-mission", "--hot-fraction", "0.03",
        "--telegraph-share", "0.1", "--cte", "0.02", "--no-saturation", "--rate", "0.5"])
    assert result.exit_code == 0, result.output
    exposure = pq.read_table(out / "truth_exposures.parquet").to_pylist()[0]
    assert exposure["n_hot"] == pytest.approx(0.03 * 1024 * 1024, rel=0.05)
    from hstcr_common.synthetic import read_truth_exposures
    cond = read_truth_exposures(out / "truth.parquet")[0]["conditions"]
    assert cond["label"] == "custom" and cond["cte_fraction"] == 0.02
    assert cond["saturation"] is False and cond["unflagged_share"] == 0.5
    assert (out / "hot_pixels.parquet").exists()
    bad = CliRunner().invoke(main, ["sample", "--instrument", "wfc3_ir", "--out",
                                    str(tmp_path / "ir"), "--hot-fraction", "0.1"])
    assert bad.exit_code != 0 and "CCD darks only" in bad.output
