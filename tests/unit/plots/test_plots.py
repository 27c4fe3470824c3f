"""Plots from the named queries, the coastline reader, ``hstcr plot`` and ``hstcr demo``."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from click.testing import CliRunner

from hstcr_common.plots import figures as plots
from hstcr_common.cli import main
from hstcr_common.lake import Lake
from factories import fake_rows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_coastlines_are_the_continents():
    from matplotlib.path import Path as MplPath

    polys = plots.coastlines()
    assert len(polys) > 500
    pts = np.concatenate(polys)
    assert pts[:, 0].min() >= -180 and pts[:, 0].max() <= 180
    assert pts[:, 1].min() >= -90 and pts[:, 1].max() <= 90

    def on_land(lon, lat):
        return any(MplPath(p).contains_point((lon, lat)) for p in polys if len(p) > 50)

    assert on_land(20.0, 0.0)        # Congo basin, Africa
    assert on_land(-60.0, -10.0)     # Amazon, South America
    assert on_land(135.0, -25.0)     # central Australia
    assert not on_land(-30.0, 0.0)   # mid Atlantic
    assert not on_land(-150.0, 0.0)  # Pacific


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("plotlake")
    lake = Lake(root)
    for i, (det, month) in enumerate([("stis_ccd", 3), ("stis_ccd", 4), ("acs_hrc", 3)]):
        dataset = f"o00000{i}0q"
        key, crs, exp, _ = fake_rows(dataset, 40 + 10 * i, det,
                                     dt.datetime(2017, month, 5, tzinfo=dt.timezone.utc))
        lake.write("cosmic_rays", crs, key, dataset)
        lake.write("exposures", exp, key, dataset)
    return str(root)


def test_make_plots_writes_pngs(small_lake, tmp_path):
    written = plots.make_plots(small_lake, tmp_path)
    assert [p.name for p in written] == [f"{n}.png" for n in plots.PLOTS]
    for p in written:
        data = p.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000


def test_plots_on_no_lake_are_an_error_not_blank_pngs(tmp_path):
    """Issue 16: a missing lake used to give blank PNGs and exit 0."""
    import pytest

    from hstcr_common.model import HstcrError

    with pytest.raises(HstcrError, match="no lake here"):
        plots.make_plots(str(tmp_path / "empty"), tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_rate_map_pixels_follow_the_data(tmp_path):
    """The bin with a rate is coloured; an empty bin stays background."""
    import matplotlib.image as mpimg
    import pyarrow as pa

    table = pa.table({"instrument": ["x", "x"], "lat_center_deg": [-17.5, 22.5],
                      "lon_center_deg": [-47.5, 92.5], "n_darks": [1, 1], "n_minutes": [3, 3],
                      "n_cr": [300.0, 30.0], "n_cr_corrected": [310.0, 30.0],
                      "exposure_s_cm2": [100.0, 100.0], "rate_cr_s_cm2": [3.0, 0.3],
                      "rate_corrected_cr_s_cm2": [3.1, 0.3]})
    path = plots.plot_rate_map(table, tmp_path / "m.png")
    img = mpimg.imread(path)
    assert img.shape[2] in (3, 4)
    # the two bins get different colours: high rate bright, low rate dark (inferno)
    flat = img[..., :3].reshape(-1, 3)
    assert (flat.sum(axis=1) > 2.7).sum() > 0


def test_cli_plot(small_lake, tmp_path):
    res = CliRunner().invoke(main, ["plot", "rate_map", "--lake", small_lake, "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "rate_map.png").exists() and not (tmp_path / "distributions.png").exists()
    res = CliRunner().invoke(main, ["plot", "nope", "--lake", small_lake, "--out", str(tmp_path)])
    assert res.exit_code != 0 and "unknown plot" in res.output


@pytest.mark.slow  # ~23 s on 2 shared cores: the whole demo, twice
def test_demo_small(tmp_path, monkeypatch):
    from hstcr_common.cli import demo

    monkeypatch.setattr(demo, "DEMO_DARKS", {"stis_ccd": 2, "nicmos_nic2": 1})
    monkeypatch.setattr(demo, "DEMO_MONTHS", 1)
    res = CliRunner().invoke(main, ["demo", "--out", str(tmp_path), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "stis_ccd" in res.output and "nicmos_nic2" in res.output
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {f"{n}.png" for n in plots.PLOTS}
    rows = demo.summary_rows(str(tmp_path / "lake"), demo.generate_darks(tmp_path / "darks"))
    for r in rows:
        assert 0.85 < r["recovered"] < 1.05
    # ~12,000 cosmic rays: the coincidence-corrected rate is measured to ~1% (Poisson); the
    # separable-only rate is low by the merged fraction; NICMOS's ~300 vary by Poisson +-6%
    stis = next(r for r in rows if r["instrument"] == "stis_ccd")
    assert 0.97 < stis["rate"] / stis["injected_rate"] < 1.03
    assert 0.88 < stis["rate_separable"] / stis["injected_rate"] < stis["rate"] / stis["injected_rate"]
    # running again reuses the darks and skips everything already in the lake
    res = CliRunner().invoke(main, ["demo", "--out", str(tmp_path), "--workers", "1"])
    assert res.exit_code == 0 and "3 skipped" in res.output
