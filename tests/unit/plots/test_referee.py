"""The plots a referee would accept (issue 16): fixed colour scales, counts and significance,
the SAA contour, Poisson error bars, nothing clipped, histograms without spikes, and the
--instrument / --start / --end selection applied in SQL.  Assertions read the artists."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from factories import fake_rows
from hstcr_common.cli import main
from hstcr_common.lake import Lake, connect, run_named
from hstcr_common.model import HstcrError
from hstcr_common.plots import canvas, figures, histograms, rate_map


@pytest.fixture
def figs(monkeypatch):
    """Every figure saved during the test, kept open for inspection."""
    kept = []
    real = canvas._save

    def keep(fig, path):
        kept.append(fig)
        return real(fig, path)

    monkeypatch.setattr(canvas, "_save", keep)
    monkeypatch.setattr(figures, "_save", keep)
    return kept


def _map_table(rates, b_nt=None):
    """rate_map rows: one bin per (lat, lon, rate), exposure 100 s cm2 each."""
    lat = [r[0] for r in rates]
    lon = [r[1] for r in rates]
    n = [100.0 * r[2] for r in rates]
    cols = {"instrument": ["x"] * len(rates), "lat_center_deg": lat, "lon_center_deg": lon,
            "n_darks": [2] * len(rates), "n_minutes": [3] * len(rates), "n_cr": n, "n_cr_corrected": n,
            "exposure_s_cm2": [100.0] * len(rates), "rate_cr_s_cm2": [r[2] for r in rates],
            "rate_corrected_cr_s_cm2": [r[2] for r in rates]}
    if b_nt is not None:
        cols["mean_b_nt"] = b_nt
    return pa.table(cols)


def test_rate_map_scales_are_fixed_not_min_max(tmp_path, figs):
    from matplotlib.collections import QuadMesh

    # median 1.0; one SAA bin at 40 would stretch a min..max scale 40-fold
    rates = [(2.5, 2.5 + 5 * i, 1.0 + 0.01 * (i % 3)) for i in range(9)] + [(-22.5, -47.5, 40.0)]
    rate_map.plot_rate_map(_map_table(rates), tmp_path / "m.png")
    rate_ax, z_ax, n_ax = figs[0].axes[:3]
    (mesh,) = [c for c in rate_ax.collections if isinstance(c, QuadMesh)]
    median = float(np.median([r[2] for r in rates]))
    assert (mesh.norm.vmin, mesh.norm.vmax) == pytest.approx((0.0, 2 * median))
    (zmesh,) = [c for c in z_ax.collections if isinstance(c, QuadMesh)]
    assert (zmesh.norm.vmin, zmesh.norm.vmax) == (-5.0, 5.0)
    # the SAA bin's significance: (4000 - 100) / sqrt(100) = 390 sigma; a median bin ~0
    z = zmesh.get_array()
    assert np.nanmax(z) == pytest.approx((4000 - 100 * median) / np.sqrt(100 * median))
    (nmesh,) = [c for c in n_ax.collections if isinstance(c, QuadMesh)]
    assert np.nanmax(nmesh.get_array()) == 2
    caption = " ".join(t.get_text() for t in figs[0].texts)
    assert "one-minute" in caption and "time-weighted" in caption


def test_significance_uses_the_poisson_error_at_the_median():
    z = rate_map.significance(np.array([100.0, 0.0, 5.0]), np.array([100.0, 4.0, 0.0]), 1.0)
    assert z[0] == 0.0 and z[1] == pytest.approx(-2.0) and np.isnan(z[2])


def test_saa_contour_drawn_at_23000_nt(tmp_path, figs):
    from matplotlib.contour import ContourSet

    rates, b = [], []
    for i, lat in enumerate(np.arange(-27.5, 28, 5)):
        for j, lon in enumerate(np.arange(-87.5, 10, 5)):
            rates.append((lat, lon, 1.0))
            # a bowl of low field centred at (-20, -40): below 23,000 nT inside
            b.append(18_000 + 60 * ((lat + 20) ** 2 + (lon + 40) ** 2) ** 0.5 * 10)
    rate_map.plot_rate_map(_map_table(rates, b), tmp_path / "m.png")
    contours = [c for c in figs[0].axes[0].get_children() if isinstance(c, ContourSet)]
    assert len(contours) == 1 and list(contours[0].levels) == [rate_map.SAA_B_NT]
    verts = contours[0].get_paths()[0].vertices
    assert verts.size and np.all(np.abs(verts[:, 0] + 40) < 25) and np.all(np.abs(verts[:, 1] + 20) < 25)
    assert "green: SAA" in " ".join(t.get_text() for t in figs[0].texts)
    # no crossing (a quiet field everywhere): nothing drawn, and the caption says so
    rate_map.plot_rate_map(_map_table(rates, [30_000.0] * len(rates)), tmp_path / "q.png")
    assert not [c for c in figs[1].axes[0].get_children() if isinstance(c, ContourSet)]
    assert "not crossed" in " ".join(t.get_text() for t in figs[1].texts)


def _per_month():
    return pa.table({"instrument": ["a", "a", "a", "b"], "year": [2017, 2017, 2017, 2017],
                     "month": [1, 2, 3, 2], "n_darks": [1, 2, 3, 1],
                     "n_cr_corrected": [100.0, 4.0, 10_000.0, 400.0],
                     "exposure_s_cm2": [100.0, 2.0, 5_000.0, 100.0],
                     "rate_corrected_cr_s_cm2": [1.0, 2.0, 2.0, 4.0]})


def test_rate_vs_time_poisson_errors_and_nothing_clipped(tmp_path, figs):
    import matplotlib.dates as mdates

    figures.plot_rate_vs_time(_per_month(), tmp_path / "t.png")
    ax = figs[0].axes[0]
    ylo, yhi = ax.get_ylim()
    xlo, xhi = ax.get_xlim()
    bars = {}
    for container in ax.containers:
        (vlines,) = container.lines[2]
        x, _ = container.lines[0].get_data()
        segs = vlines.get_segments()
        bars[container.get_label()] = [(s[1, 1] - s[0, 1]) / 2 for s in segs]
        for xi, s in zip(mdates.date2num(x), segs):
            assert xlo < xi < xhi
            assert ylo < s[0, 1] and s[1, 1] < yhi      # the whole bar is inside the frame
    # sqrt(N) / exposure: 10/100, 2/2, 100/5000 and 20/100
    assert bars["a"] == pytest.approx([0.1, 1.0, 0.02])
    assert bars["b"] == pytest.approx([0.2])


def test_rate_vs_field_saa_label_on_the_low_field_side(tmp_path, figs):
    table = pa.table({"min_b_nt": [21_000.0, 25_000.0, 30_000.0], "n_darks": [3, 5, 9],
                      "n_cr_corrected": [900.0, 100.0, 110.0], "exposure_s_cm2": [100.0, 100.0, 110.0],
                      "rate_corrected_cr_s_cm2": [9.0, 1.0, 1.0]})
    figures.plot_rate_vs_field(table, tmp_path / "f.png")
    ax = figs[0].axes[0]
    (label,) = [t for t in ax.texts if "SAA" in t.get_text()]
    assert label.get_position()[0] == rate_map.SAA_B_NT and label.get_ha() == "right"
    assert label.get_text().startswith("\u2190")
    (container,) = ax.containers
    assert container.has_yerr
    ylo, yhi = ax.get_ylim()
    segs = container.lines[2][-1].get_segments() if len(container.lines[2]) > 1 else container.lines[2][0].get_segments()
    assert all(ylo < s[0, 1] and s[1, 1] < yhi for s in segs)


def test_histograms_fill_empty_bins_and_use_stairs(tmp_path, figs):
    from matplotlib.patches import StepPatch

    def hist(col, values, fractions, inst="x"):
        return pa.table({"instrument": [inst] * len(values), col: values, "fraction": fractions,
                         "n": [1] * len(values)})

    tables = {"energy_histogram": hist("log10_energy_e", [2.0, 2.1, 2.5], [0.5, 0.3, 0.2]),
              "size_histogram": hist("n_pixels", [5, 6, 13, 14, 100], [0.4, 0.3, 0.1, 0.1, 0.1]),
              "width_histogram": hist("width_sigma_px", [0.5, 0.9], [0.6, 0.4]),
              "symmetry_histogram": hist("symmetry", [0.0, 0.5], [0.7, 0.3])}
    histograms.plot_distributions(tables, tmp_path / "h.png")
    ax_e, ax_n, ax_w, ax_s = figs[0].axes[:4]
    (energy,) = [p for p in ax_e.patches if isinstance(p, StepPatch)]
    values, edges = energy.get_data().values, energy.get_data().edges
    # 2.0 .. 2.6 in 0.1-dex steps: the empty bins 2.2, 2.3, 2.4 are drawn at zero
    assert np.log10(edges) == pytest.approx(np.arange(2.0, 2.61, 0.1))
    assert values == pytest.approx([0.5, 0.3, 0, 0, 0, 0.2])
    (size,) = [p for p in ax_n.patches if isinstance(p, StepPatch)]
    sv, se = size.get_data().values, size.get_data().edges
    assert se[0] == 0.5 and np.all(np.diff(se) >= 1)
    # 13 and 14 share the bin 12..14 (3 sizes): 0.2 / 3 per size value; the overflow is not drawn
    assert sv[list(histograms.SIZE_EDGES).index(12)] == pytest.approx(0.2 / 3)
    assert sum(sv * np.diff(se)) == pytest.approx(0.9)
    assert any("not drawn" in t.get_text() for t in ax_n.texts)
    (width,) = [p for p in ax_w.patches if isinstance(p, StepPatch)]
    assert list(width.get_data().values) == pytest.approx([0.6, 0, 0, 0, 0.4])


def test_filled_bins_and_size_bins():
    edges, values = histograms.filled_bins(np.array([0.3, 0.0]), np.array([2.0, 1.0]), 0.1)
    assert edges == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4]) and list(values) == [1.0, 0, 0, 2.0]
    edges, density, overflow = histograms.size_bins(np.arange(1, 101), np.full(100, 0.01))
    assert overflow == pytest.approx(0.01) and density == pytest.approx(np.full(len(density), 0.01))


@pytest.fixture(scope="module")
def two_instrument_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("sellake")
    lake = Lake(root)
    for i, (det, month) in enumerate([("stis_ccd", 3), ("stis_ccd", 5), ("acs_hrc", 3), ("acs_hrc", 6)]):
        dataset = f"o00000{i}1q"
        key, crs, exp, _ = fake_rows(dataset, 30 + 10 * i, det, dt.datetime(2017, month, 5, tzinfo=dt.timezone.utc))
        lake.write("cosmic_rays", crs, key, dataset)
        lake.write("exposures", exp, key, dataset)
    return str(root)


def test_select_filters_every_view_in_sql(two_instrument_lake):
    con = connect(two_instrument_lake)
    assert run_named("rate_per_month", con=con).num_rows == 4
    words = figures.select(con, instruments=["STIS/CCD"], start="2017-04", end="2017-12")
    assert words == "stis_ccd; 2017-04 .. 2017-12"
    rows = run_named("rate_per_month", con=con).to_pylist()
    assert [(r["instrument"], r["month"]) for r in rows] == [("stis_ccd", 5)]
    assert con.execute("SELECT count(*) FROM cosmic_rays").fetchone()[0] == 40
    assert "stis_ccd" in con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'exposures'").fetchone()[0]


@pytest.mark.parametrize("kwargs, message", [
    ({"instruments": ["bogus"]}, "unknown instrument 'bogus'"),
    ({"start": "2017-3"}, "not a month YYYY-MM"),
    ({"start": "2017-05", "end": "2017-04"}, "is after --end"),
])
def test_select_refuses_bad_selections(two_instrument_lake, kwargs, message):
    with pytest.raises(HstcrError, match=message):
        figures.select(connect(two_instrument_lake), **kwargs)


def test_cli_plot_filters(two_instrument_lake, tmp_path, figs):
    res = CliRunner().invoke(main, ["plot", "rate_vs_time", "--lake", two_instrument_lake, "--out", str(tmp_path),
                                    "--instrument", "acs_hrc", "--instrument", "stis_ccd", "--start", "2017-04"])
    assert res.exit_code == 0, res.output
    ax = figs[0].axes[0]
    assert sorted(c.get_label() for c in ax.containers) == ["acs_hrc", "stis_ccd"]
    assert all(len(c.lines[0].get_xdata()) == 1 for c in ax.containers)   # months 5 and 6 only
    assert "[acs_hrc, stis_ccd; 2017-04 .. ...]" in ax.get_title()
    res = CliRunner().invoke(main, ["plot", "--lake", two_instrument_lake, "--out", str(tmp_path / "none"),
                                    "--start", "2020-01"])
    assert res.exit_code != 0 and "no dark in the selection" in res.output
