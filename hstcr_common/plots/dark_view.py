"""One dark and its cosmic rays: an outlined PNG, a DS9 region file, a segmentation image.

All three are built from the lake's ``cosmic_rays`` rows of the dark (their ``pixels`` lists,
0-based ``x`` column / ``y`` row in the chip frame) and, for the PNG, the dark's science
arrays in electrons (:func:`hstcr_common.load.load_dark`).

* :func:`label_images` - one int32 image per chip, value = ``cr_id``, 0 = no cosmic ray
  (the photutils ``SegmentationImage`` convention);
* :func:`outline_segments` - the pixel-edge outline of every footprint, as line segments;
* :func:`plot_dark` - one panel per chip, background-subtracted, asinh stretch, footprints
  outlined, the largest labelled with ``cr_id`` and energy;
* :func:`write_regions` - DS9 regions (image coordinates, 1-based), one box per cosmic ray;
* :func:`write_segmentation` - the label images as a FITS file, one HDU per chip.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: columns of ``cosmic_rays`` these functions read
CR_COLUMNS = ("chip", "cr_id", "energy_e", "n_pixels", "x_min", "x_max", "y_min", "y_max", "pixels")


def label_images(crs: pa.Table, shapes: dict[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    """Segmentation image per chip from the cosmic rays' pixel lists.

    Parameters
    ----------
    crs : pyarrow.Table
        ``cosmic_rays`` rows of one dark (columns ``chip``, ``cr_id``, ``pixels``).
    shapes : dict
        chip name -> (ny, nx) of the chip frame (pixels).

    Returns
    -------
    dict
        chip name -> int32 array (ny, nx): ``cr_id`` on every footprint pixel, 0 elsewhere.
        A pixel claimed by two footprints (halos may touch) keeps the later row's id.
    """
    out = {chip: np.zeros(shape, np.int32) for chip, shape in shapes.items()}
    if not crs.num_rows:
        return out
    pixels = crs["pixels"].combine_chunks() if isinstance(crs["pixels"], pa.ChunkedArray) else crs["pixels"]
    row = pc.list_parent_indices(pixels).to_numpy()
    flat = pc.list_flatten(pixels)
    x = flat.field("x").to_numpy(zero_copy_only=False).astype(np.intp)
    y = flat.field("y").to_numpy(zero_copy_only=False).astype(np.intp)
    cr_id = crs["cr_id"].to_numpy().astype(np.int32)[row]
    chip_of_row = np.asarray(crs["chip"].to_pylist(), dtype=object)[row]
    for chip, image in out.items():
        sel = chip_of_row == chip
        ok = sel & (x >= 0) & (y >= 0) & (y < image.shape[0]) & (x < image.shape[1])
        image[y[ok], x[ok]] = cr_id[ok]
    return out


def outline_segments(labels: np.ndarray) -> np.ndarray:
    """The outline of every labelled region along pixel edges.

    An edge is drawn wherever two neighbouring pixels carry different labels and at least one
    is a footprint (so touching footprints keep a border between them).  Pixel ``(x, y)``
    covers ``x - 0.5 .. x + 0.5`` (matplotlib's ``imshow`` convention).

    Parameters
    ----------
    labels : ndarray of int, shape (ny, nx)

    Returns
    -------
    ndarray, float, shape (n_edges, 2, 2)
        Segments ``[(x0, y0), (x1, y1)]`` in pixel coordinates, for a
        :class:`matplotlib.collections.LineCollection`.
    """
    padded = np.pad(labels, 1)
    # boundary between row r-1 and row r (padded indices): a horizontal edge at y = r - 1.5
    rows, cols = np.nonzero(padded[1:, 1:-1] != padded[:-1, 1:-1])
    y_h = rows - 0.5
    x_h = cols.astype(float)
    horizontal = np.stack([np.stack([x_h - 0.5, y_h], -1), np.stack([x_h + 0.5, y_h], -1)], 1)
    rows, cols = np.nonzero(padded[1:-1, 1:] != padded[1:-1, :-1])
    x_v = cols - 0.5
    y_v = rows.astype(float)
    vertical = np.stack([np.stack([x_v, y_v - 0.5], -1), np.stack([x_v, y_v + 0.5], -1)], 1)
    return np.concatenate([horizontal, vertical]).reshape(-1, 2, 2)


def display_norm(science: np.ndarray):
    """Background-subtracted frame and an asinh normalisation for it.

    The background is the median of the finite pixels and the noise the MAD-based sigma
    (cosmic rays and hot pixels barely move either); the scale runs from -3 sigma to the
    99.9th percentile (at least 30 sigma) with an asinh stretch, so the noise shows as grain
    and bright tracks do not saturate the rest to black.

    Returns
    -------
    frame : ndarray, float32
        ``science - background`` (e-).
    norm : astropy.visualization.ImageNormalize
    """
    from astropy.visualization import AsinhStretch, ImageNormalize

    data = np.asarray(science, np.float32)
    good = data[np.isfinite(data)]
    if good.size == 0:
        return data, ImageNormalize(vmin=-1.0, vmax=1.0, stretch=AsinhStretch(0.1))
    background = float(np.median(good))
    sigma = 1.4826 * float(np.median(np.abs(good - background))) or float(np.std(good)) or 1.0
    frame = data - np.float32(background)
    top = max(float(np.percentile(good - background, 99.9)), 30.0 * sigma)
    return frame, ImageNormalize(vmin=-3.0 * sigma, vmax=top, stretch=AsinhStretch(0.1))


def plot_dark(chips: dict[str, np.ndarray], crs: pa.Table, path: str | os.PathLike, *,
              title: str = "", n_labels: int = 10, box: tuple[int, int, int, int] | None = None) -> Path:
    """PNG of a dark: one panel per chip with every cosmic ray outlined.

    Parameters
    ----------
    chips : dict
        chip name -> science array (e-), in the chip frame the lake's ``pixels`` refer to.
    crs : pyarrow.Table
        The dark's ``cosmic_rays`` rows (:data:`CR_COLUMNS`).
    path : path
        PNG to write.
    title : str
        Figure title (the dataset, instrument, date ...).
    n_labels : int
        The ``n_labels`` cosmic rays with the most energy are labelled ``cr_id: energy``.
    box : (x0, y0, x1, y1), optional
        Show only columns ``x0 .. x1 - 1`` and rows ``y0 .. y1 - 1`` (0-based) of every chip, and
        label the most energetic cosmic rays inside it.
    """
    from matplotlib.collections import LineCollection

    from .canvas import _pyplot, _save

    plt = _pyplot()
    labels = label_images(crs, {name: data.shape for name, data in chips.items()})
    n = len(chips)
    ny, nx = next(iter(chips.values())).shape
    ncols = 2 if n > 1 else 1
    nrows = -(-n // ncols)
    width = 7.0 * ncols
    if box is not None:
        ny, nx = box[3] - box[1], box[2] - box[0]
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, 1.0 + nrows * 7.0 * ny / nx), dpi=110,
                             squeeze=False)
    energy = crs["energy_e"].to_numpy(zero_copy_only=False) if crs.num_rows else np.zeros(0)
    chip_col = np.asarray(crs["chip"].to_pylist(), dtype=object) if crs.num_rows else np.zeros(0, object)
    inside = np.ones(crs.num_rows, bool)
    if box is not None and crs.num_rows:
        x0, y0, x1, y1 = box
        xs = crs["x_max"].to_numpy(zero_copy_only=False)
        ys = crs["y_max"].to_numpy(zero_copy_only=False)
        inside = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
    order = np.argsort(-energy, kind="stable")
    order = order[inside[order]]
    for ax, (name, data) in zip(axes.flat, chips.items()):
        frame, norm = display_norm(data)
        ax.imshow(frame, origin="lower", cmap="gray", norm=norm, interpolation="nearest")
        segments = outline_segments(labels[name])
        ax.add_collection(LineCollection(segments, colors="tab:red", linewidths=0.6, label="cosmic rays"))
        mine = order[chip_col[order] == name][:n_labels]
        for i in mine:
            ax.annotate(f"{int(crs['cr_id'][i].as_py())}: {energy[i]:,.0f} e$^-$",
                        (float(crs["x_max"][i].as_py()) + 1, float(crs["y_max"][i].as_py()) + 1),
                        color="yellow", fontsize=7, xytext=(3, 3), textcoords="offset points", clip_on=True)
        count = int((chip_col == name).sum())
        ax.set_title(f"{name}: {count:,} cosmic rays", fontsize=9)
        if box is not None:
            ax.set_xlim(box[0] - 0.5, box[2] - 0.5)
            ax.set_ylim(box[1] - 0.5, box[3] - 0.5)
        ax.set_xlabel("x (pixel, 0-based)")
        ax.set_ylabel("y (pixel, 0-based)")
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    fig.suptitle(f"{title}\nred: footprints (core + halo) from the lake; labels: the {n_labels} most "
                 "energetic per chip (cr_id: energy)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def region_lines(crs: pa.Table, chip: str, *, offset_px: int = 0) -> list[str]:
    """DS9 ``box`` regions of one chip's cosmic rays, image coordinates.

    DS9 puts the centre of the first pixel at (1, 1): a footprint spanning columns
    ``x_min..x_max`` (0-based) is a box centred at ``(x_min + x_max) / 2 + 1`` and
    ``x_max - x_min + 1`` wide.  ``offset_px`` adds the border cut off the chip frame
    (WFC3/IR's reference pixels) so the boxes land on the file's extension.
    """
    sel = crs.filter(pc.equal(crs["chip"], chip)) if crs.num_rows else crs
    if not sel.num_rows:
        return []
    cols = {c: sel[c].to_numpy(zero_copy_only=False).astype(float) for c in
            ("x_min", "x_max", "y_min", "y_max", "energy_e")}
    cr_id = sel["cr_id"].to_numpy()
    xc = (cols["x_min"] + cols["x_max"]) / 2 + 1 + offset_px
    yc = (cols["y_min"] + cols["y_max"]) / 2 + 1 + offset_px
    w = cols["x_max"] - cols["x_min"] + 1
    h = cols["y_max"] - cols["y_min"] + 1
    return [f"box({a:g},{b:g},{c:g},{d:g},0) # text={{{e:.0f}}} tag={{cr_id {i}}}"
            for a, b, c, d, e, i in zip(xc, yc, w, h, cols["energy_e"], cr_id)]


def write_regions(crs: pa.Table, chips: list[str], path: str | os.PathLike, *, dataset: str,
                  offset_px: int = 0) -> list[Path]:
    """Write DS9 region files: ``path`` for a one-chip dark, ``<stem>_<chip><suffix>`` per chip
    otherwise (image coordinates refer to one extension, so each chip gets its own file).

    Returns the files written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for chip in chips:
        out = path if len(chips) == 1 else path.with_name(f"{path.stem}_{chip}{path.suffix}")
        header = ["# Region file format: DS9 version 4.1",
                  f"# hstcr show {dataset}, chip {chip}: one box per cosmic ray (its bounding box), "
                  "text = energy (e-)",
                  f"# image coordinates, 1-based pixel centres; offset {offset_px} px from the lake's "
                  "0-based chip frame",
                  'global color=red dashlist=8 3 width=1 font="helvetica 8 normal roman" '
                  "select=1 highlite=1 dash=0 fixed=0 edit=0 move=0 delete=1 include=1 source=1",
                  "image"]
        out.write_text("\n".join(header + region_lines(crs, chip, offset_px=offset_px)) + "\n")
        written.append(out)
    return written


def write_segmentation(labels: dict[str, np.ndarray], path: str | os.PathLike, *, dataset: str,
                       instrument: str = "") -> Path:
    """The segmentation images as FITS: an empty primary HDU, then one int32 image per chip
    (EXTNAME = chip name; value = ``cr_id``, 0 = no cosmic ray)."""
    from astropy.io import fits

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    primary = fits.PrimaryHDU()
    primary.header["DATASET"] = (dataset, "MAST dataset")
    primary.header["INSTRUME"] = (instrument, "hstcr detector id")
    primary.header["ORIGIN"] = ("hstcr show", "segmentation from the lake's pixel lists")
    hdus = [primary]
    for chip, image in labels.items():
        hdu = fits.ImageHDU(np.asarray(image, np.int32), name=chip)
        hdu.header["DATASET"] = (dataset, "MAST dataset")
        hdu.header["BUNIT"] = ("", "cr_id of the cosmic ray; 0 = none")
        hdus.append(hdu)
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path
