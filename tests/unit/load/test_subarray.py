"""Subarrays are processed as read (issue 13): real WFC3/IR ramps and synthetic CCD subarrays,
loaded and run end to end through ``hstcr run`` into the lake."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from click.testing import CliRunner

from hstcr_common.cli import main
from hstcr_common.instruments import get_detector
from hstcr_common.lake import run_sql
from hstcr_common.load import load_dark, read_header_facts

IR_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hst" / "wfc3_ir"
IR_DATASETS = ("ibxy01z8q", "ibxy07p9q")


@pytest.mark.parametrize("dataset", IR_DATASETS)
def test_real_wfc3_ir_subarray_ramps_load(dataset):
    """SQ256SUB RAPID: 266x266 reads with the 5-pixel reference border, 4 reads, 0.83 s."""
    path = IR_FIXTURES / f"{dataset}_ima.fits"
    dark = load_dark(path)
    assert dark.instrument == "wfc3_ir" and dark.dataset == dataset
    assert dark.subarray is True and dark.subarray_name == "SQ256SUB"
    assert dark.aperture == "GRISM256"
    # LTV1 = LTV2 = -374 in the 266x266 frame: the 256x256 pixels start at 5 + 374 = 379 of
    # the 1014x1014 frame, i.e. the subarray is centred ((1014 - 256) / 2 = 379)
    assert dark.subarray_origin == (379, 379)
    assert read_header_facts(path)["subarray_origin"] == (379, 379)
    chip = dark.chips[0]
    assert chip.shape == (256, 256) and chip.reads.shape == (4, 256, 256)
    assert chip.read_dq.shape == (4, 256, 256)
    np.testing.assert_allclose(chip.read_times_s, [0.0, 0.277815, 0.55563, 0.833445], atol=1e-5)
    assert dark.exptime_s == pytest.approx(0.833445)
    assert dark.cte_corrected is None  # HgCdTe: no charge transfer
    assert dark.support_header is None and "no support file" in dark.support_note
    # electrons, not DN: two reads differ by READNSEA (20.2 e-, WFC3's CDS noise); in DN
    # (gain 2.34) it would be ~8.6
    diff = chip.reads[2] - chip.reads[1]
    sigma = 1.4826 * np.median(np.abs(diff - np.median(diff)))
    assert 16.0 < sigma < 25.0


def test_real_wfc3_ir_subarrays_run_end_to_end(tmp_path):
    """``hstcr run`` on the real ramps: two exposures, at most a handful of cosmic rays (< 1
    expected over 256x256 18-um pixels in 0.83 s), a null track and the reason."""
    lake = tmp_path / "lake"
    res = CliRunner().invoke(main, ["run", str(IR_FIXTURES), "--lake", str(lake),
                                    "--workers", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    rows = run_sql("SELECT * FROM exposures ORDER BY dataset", str(lake)).to_pylist()
    assert [r["dataset"] for r in rows] == list(IR_DATASETS)
    for row in rows:
        assert row["method"] == "ramp" and row["science_suffix"] == "ima"
        assert row["subarray"] is True and row["subarray_name"] == "SQ256SUB"
        assert (row["subarray_x0"], row["subarray_y0"]) == (379, 379)
        assert row["aperture"] == "GRISM256" and row["cte_corrected"] is None
        assert 0.95 * 256 * 256 < row["searched_pixels"] <= 256 * 256
        assert row["searched_area_cm2"] == pytest.approx(
            row["searched_pixels"] * get_detector("wfc3_ir").pixel_area_cm2)
        assert row["n_cr"] <= 5
        assert row["track"] is None and "no support file" in row["track_note"]
        # 2021 rule: EXPTIME + 1 s readout; EXPTIME < readout, so flagged
        assert row["integration_time_2021_s"] == pytest.approx(0.833445 + 1.0)
        assert row["short_exposure"] is True
    crs = run_sql("SELECT energy_e, energy_kev FROM cosmic_rays", str(lake)).to_pylist()
    assert len(crs) == sum(r["n_cr"] for r in rows)
    assert all(r["energy_kev"] is None for r in crs)  # WFC3/IR HgCdTe: no trusted eV/pair


def _subarray_dark(tmp_path, ltv=(-1800.0, -900.0), aperture="WFC1A-512"):
    """A synthetic ACS/WFC 512x512 dark (the generator marks it SUBARRAY=T), placed in the
    chips by LTV1/LTV2 and named by APERTURE as a real ACS subarray is."""
    from hstcr_common import synthetic
    made = synthetic.write_dark("acs_wfc", tmp_path / "darks", seed=21, shape=(512, 512),
                                exptime_s=1000.0)
    with fits.open(made.paths["science"], mode="update") as hdul:
        assert hdul[0].header["SUBARRAY"] is True
        hdul[0].header["APERTURE"] = aperture
        for hdu in hdul[1:]:
            hdu.header["LTV1"], hdu.header["LTV2"] = ltv
    return made


def test_synthetic_ccd_subarray_loads_in_its_own_frame(tmp_path):
    made = _subarray_dark(tmp_path)
    dark = load_dark(made.paths["science"], support=made.paths["support"])
    assert dark.subarray is True and dark.subarray_name == "WFC1A-512"
    assert dark.subarray_origin == (1800, 900)
    assert [c.shape for c in dark.chips] == [(512, 512)] * 2
    for chip, truth in zip(dark.chips, made.chips):
        np.testing.assert_allclose(chip.science, truth.science_e, rtol=2e-7, atol=1e-3)


def test_synthetic_ccd_subarray_runs_to_the_injected_rate(tmp_path):
    made = _subarray_dark(tmp_path)
    lake = tmp_path / "lake"
    res = CliRunner().invoke(main, ["run", str(tmp_path / "darks"), "--lake", str(lake),
                                    "--workers", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    row = run_sql("SELECT * FROM exposures", str(lake)).to_pylist()[0]
    assert row["subarray"] is True and row["n_chips"] == 2
    assert (row["subarray_x0"], row["subarray_y0"]) == (1800, 900)
    assert row["subarray_name"] == "WFC1A-512" and row["aperture"] == "WFC1A-512"
    assert 0.95 * 2 * 512 * 512 < row["searched_pixels"] <= 2 * 512 * 512
    # the count over the real array: 1,488 injected (Poisson draw of 1,420 expected at
    # 1.2 CR/s/cm2 x 1003 s x 1.18 cm2), 1,472 found after the coincidence correction
    assert row["n_cr_corrected"] == pytest.approx(made.exposure["n_cr"], rel=0.03)
    area = row["searched_pixels"] * get_detector("acs_wfc").pixel_area_cm2
    assert row["searched_area_cm2"] == pytest.approx(area)
    assert row["rate_corrected_cr_s_cm2"] == pytest.approx(
        row["n_cr_corrected"] / (row["integration_time_s"] * area))
    # the 2021 scale: EXPTIME + 50 s readout (no FLASHDUR) against DARKTIME = EXPTIME + 3 s
    assert (row["integration_time_s"], row["integration_time_2021_s"]) == (1003.0, 1050.0)
    assert row["rate_2021_cr_s_cm2"] == pytest.approx(
        row["rate_corrected_cr_s_cm2"] * 1003.0 / 1050.0)
    assert row["short_exposure"] is False
    xy = run_sql("SELECT max(x_max) AS x, max(y_max) AS y FROM cosmic_rays",
                 str(lake)).to_pylist()[0]
    assert xy["x"] < 512 and xy["y"] < 512  # coordinates stay in the subarray frame
