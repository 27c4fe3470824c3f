"""``hstcr show``: one dark with its cosmic rays outlined, DS9 regions, segmentation FITS."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from hstcr_common.cli import main
from hstcr_common.plots import dark_view

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_PIXEL = pa.struct([("x", pa.int16()), ("y", pa.int16()), ("e", pa.float32())])


def _crs(rows):
    """A cosmic_rays table from (chip, cr_id, energy, [(x, y), ...]) with bounding boxes."""
    cols = {c: [] for c in dark_view.CR_COLUMNS}
    for chip, cr_id, energy, pix in rows:
        xs, ys = [p[0] for p in pix], [p[1] for p in pix]
        for k, v in (("chip", chip), ("cr_id", cr_id), ("energy_e", energy), ("n_pixels", len(pix)),
                     ("x_min", min(xs)), ("x_max", max(xs)), ("y_min", min(ys)), ("y_max", max(ys)),
                     ("pixels", [{"x": x, "y": y, "e": 10.0} for x, y in pix])):
            cols[k].append(v)
    return pa.table({**{k: v for k, v in cols.items() if k != "pixels"},
                     "pixels": pa.array(cols["pixels"], pa.list_(_PIXEL))})


L_SHAPE = [(10, 20), (11, 20), (11, 21)]   # an L of 3 pixels: x 10..11, y 20..21


def test_label_image_and_outline_of_a_known_footprint():
    crs = _crs([("CCD", 7, 500.0, L_SHAPE), ("CCD", 8, 90.0, [(0, 0)])])
    labels = dark_view.label_images(crs, {"CCD": (30, 40)})["CCD"]
    assert labels.dtype == np.int32
    assert {(x, y) for y, x in zip(*np.nonzero(labels == 7))} == set(L_SHAPE)
    assert labels[0, 0] == 8 and (labels > 0).sum() == 4
    seg = dark_view.outline_segments(labels)
    # an L of 3 unit squares has a perimeter of 8 edges; the corner pixel's square has 4
    assert len(seg) == 8 + 4
    lengths = np.hypot(*(seg[:, 1] - seg[:, 0]).T)
    assert np.allclose(lengths, 1.0)
    # every edge lies on a pixel boundary (half-integer in x or in y)
    assert np.all((seg % 1 == 0.5).any(axis=2).all(axis=1))
    # the corner pixel (0, 0) is framed by x = -0.5 .. 0.5, y = -0.5 .. 0.5
    corner = seg[(seg.max(axis=(1, 2)) <= 0.5)]
    assert len(corner) == 4


def test_touching_footprints_keep_a_border():
    crs = _crs([("CCD", 1, 1.0, [(5, 5)]), ("CCD", 2, 1.0, [(6, 5)])])
    seg = dark_view.outline_segments(dark_view.label_images(crs, {"CCD": (10, 10)})["CCD"])
    # two unit squares side by side, each outlined: 4 + 4 - 1 shared edge drawn once
    assert len(seg) == 7
    assert any(np.allclose(s, [[5.5, 4.5], [5.5, 5.5]]) for s in seg)


def test_region_box_of_a_known_footprint(tmp_path):
    crs = _crs([("CCD", 7, 500.0, L_SHAPE), ("CCD", 8, 90.0, [(0, 0)])])
    (path,) = dark_view.write_regions(crs, ["CCD"], tmp_path / "d.reg", dataset="o1234567q")
    lines = path.read_text().splitlines()
    assert lines[0] == "# Region file format: DS9 version 4.1" and "image" in lines
    boxes = [ln for ln in lines if ln.startswith("box(")]
    assert len(boxes) == 2
    # DS9 image coordinates: pixel (x, y) 0-based has its centre at (x + 1, y + 1)
    assert boxes[0].startswith("box(11.5,21.5,2,2,0)") and "text={500}" in boxes[0]
    assert boxes[1].startswith("box(1,1,1,1,0)") and "text={90}" in boxes[1]


def test_regions_per_chip_and_ir_border(tmp_path):
    crs = _crs([("WFC1", 1, 10.0, [(3, 4)]), ("WFC2", 2, 20.0, [(5, 6)]), ("WFC2", 3, 30.0, [(7, 8)])])
    paths = dark_view.write_regions(crs, ["WFC1", "WFC2"], tmp_path / "d.reg", dataset="j1234567q")
    assert [p.name for p in paths] == ["d_WFC1.reg", "d_WFC2.reg"]
    assert [sum(ln.startswith("box(") for ln in p.read_text().splitlines()) for p in paths] == [1, 2]
    (ir,) = dark_view.write_regions(crs.slice(0, 1), ["WFC1"], tmp_path / "ir.reg", dataset="x", offset_px=5)
    assert "box(9,10,1,1,0)" in ir.read_text()


def test_plot_dark_draws_every_outline(tmp_path, monkeypatch):
    from matplotlib.collections import LineCollection

    crs = _crs([("CCD", 7, 500.0, L_SHAPE), ("CCD", 8, 90.0, [(0, 0)])])
    image = np.random.default_rng(1).normal(100.0, 5.0, (30, 40)).astype(np.float32)
    figures = []
    from hstcr_common.plots import canvas
    real_save = canvas._save
    monkeypatch.setattr(canvas, "_save", lambda fig, path: (figures.append(fig), real_save(fig, path))[1])
    path = dark_view.plot_dark({"CCD": image}, crs, tmp_path / "d.png", title="t", n_labels=1)
    assert path.read_bytes()[:8] == PNG_MAGIC
    ax = figures[0].axes[0]
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lines.get_segments()) == 12
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["7: 500 e$^-$"]          # only the most energetic is labelled
    # the display is background-subtracted: the median maps to 0
    assert abs(float(np.ma.median(ax.images[0].get_array()))) < 1.0


@pytest.fixture(scope="module")
def one_dark_lake(tmp_path_factory):
    """One synthetic STIS dark processed into a lake (real pipeline)."""
    root = tmp_path_factory.mktemp("showlake")
    darks = root / "darks"
    res = CliRunner().invoke(main, ["sample", "--instrument", "stis_ccd", "--n", "1", "--out", str(darks)])
    assert res.exit_code == 0, res.output
    lake = root / "lake"
    res = CliRunner().invoke(main, ["run", str(darks), "--lake", str(lake), "--workers", "1",
                                    "--method", "threshold"])
    assert res.exit_code == 0, res.output
    from hstcr_common.lake import run_sql
    row = run_sql("SELECT dataset, n_cr FROM exposures", str(lake)).to_pylist()[0]
    return str(lake), row["dataset"], row["n_cr"]


def test_cli_show_png_regions_fits(one_dark_lake, tmp_path):
    from astropy.io import fits

    from hstcr_common.lake import run_sql

    lake, dataset, n_cr = one_dark_lake
    assert n_cr > 10
    out, reg, seg = tmp_path / "d.png", tmp_path / "d.reg", tmp_path / "d.fits"
    res = CliRunner().invoke(main, ["show", dataset.upper(), "--lake", lake, "--out", str(out),
                                    "--regions", str(reg), "--fits", str(seg)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 20_000
    crs = run_sql(f"SELECT cr_id, x_min, x_max, y_min, y_max, energy_e, pixels FROM cosmic_rays "
                  f"WHERE dataset = '{dataset}' ORDER BY cr_id", lake).to_pylist()
    boxes = [ln for ln in reg.read_text().splitlines() if ln.startswith("box(")]
    assert len(boxes) == n_cr == len(crs)
    first = crs[0]
    numbers = [float(v) for v in re.match(r"box\(([^)]*)\)", boxes[0])[1].split(",")]
    assert numbers == pytest.approx([(first["x_min"] + first["x_max"]) / 2 + 1,
                                     (first["y_min"] + first["y_max"]) / 2 + 1,
                                     first["x_max"] - first["x_min"] + 1,
                                     first["y_max"] - first["y_min"] + 1, 0])
    with fits.open(seg) as hdul:
        assert hdul[0].header["DATASET"] == dataset
        assert hdul[1].name == "CCD" and hdul[1].data.dtype.kind == "i" and hdul[1].data.dtype.itemsize == 4
        labels = hdul[1].data
        for cr in crs[:50]:
            ys = [p["y"] for p in cr["pixels"]]
            xs = [p["x"] for p in cr["pixels"]]
            # halos of neighbours may overlap: the footprint is this cr_id except where shared
            assert np.mean(labels[ys, xs] == cr["cr_id"]) > 0.7
        assert set(np.unique(labels)) <= {0} | {c["cr_id"] for c in crs}


def test_cli_show_unknown_dataset_is_one_line_error(one_dark_lake, tmp_path):
    lake, _, _ = one_dark_lake
    res = CliRunner().invoke(main, ["show", "zzzzzzzzq", "--lake", lake, "--out", str(tmp_path / "x.png")])
    assert res.exit_code != 0
    assert "'zzzzzzzzq' is not in this lake" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x.png").exists()


def test_cli_show_missing_source_names_the_file_and_input_works(one_dark_lake, tmp_path):
    import shutil

    from hstcr_common.lake import run_sql

    lake, dataset, _ = one_dark_lake
    source = run_sql(f"SELECT source FROM exposures WHERE dataset = '{dataset}'", lake)["source"][0].as_py()
    moved = tmp_path / "moved"
    moved.mkdir()
    for f in __import__("pathlib").Path(source).parent.glob(f"{dataset}_*"):
        shutil.copy(f, moved / f.name)
    res = CliRunner().invoke(main, ["show", dataset, "--lake", lake, "--input", str(tmp_path / "nope.fits"),
                                    "--out", str(tmp_path / "x.png")])
    assert res.exit_code != 0 and "nope.fits" in res.output
    res = CliRunner().invoke(main, ["show", dataset, "--lake", lake, "--input", str(moved),
                                    "--out", str(tmp_path / "y.png")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "y.png").exists()


def test_plot_dark_box_zooms_and_labels_inside_only(tmp_path, monkeypatch):
    from hstcr_common.plots import canvas

    crs = _crs([("CCD", 7, 500.0, L_SHAPE), ("CCD", 8, 900.0, [(0, 0)])])
    figures = []
    real_save = canvas._save
    monkeypatch.setattr(canvas, "_save", lambda fig, path: (figures.append(fig), real_save(fig, path))[1])
    dark_view.plot_dark({"CCD": np.zeros((30, 40), np.float32)}, crs, tmp_path / "d.png", box=(5, 15, 25, 30))
    ax = figures[0].axes[0]
    assert ax.get_xlim() == (4.5, 24.5) and ax.get_ylim() == (14.5, 29.5)
    assert [t.get_text() for t in ax.texts] == ["7: 500 e$^-$"]   # cr 8 (more energy) is outside
