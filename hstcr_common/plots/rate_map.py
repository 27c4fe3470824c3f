"""The rate map: rate, significance and exposure per 5 x 5 degree bin along HST's track.

Three panels, one colour scale each that does not depend on the extremes of the data:

* rate, linear from 0 to 2 x the median bin rate on a diverging scale centred on the
  median (white = median; bins above 2 x median, the SAA, take the "over" colour);
* significance ``(n - median x exposure) / sqrt(median x exposure)``, the bin's excess over
  the median rate in units of its Poisson error, fixed -5 .. +5;
* darks per bin (how much data each bin rests on).

The South Atlantic Anomaly is drawn as the contour |B| = :data:`SAA_B_NT` of the mean IGRF
field of the track minutes in each bin (``mean_b_nt`` of the ``rate_map`` query), and a
caption says how a dark's rate is attributed along its track.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa

#: |B| below which HST is inside the SAA (nT): the threshold of the ``saa_darks`` query
SAA_B_NT = 23_000.0

#: bin size of the ``rate_map`` query (deg)
BIN_DEG = 5.0

#: significance scale of the middle panel (Poisson sigmas either side of the median rate)
SIGNIFICANCE_LIMIT = 5.0

ATTRIBUTION = ("A dark's cosmic rays and exposure (s cm$^2$) are shared equally among the one-minute "
               "points of its track (time-weighted: every minute gets the dark's rate);\n"
               "a bin's rate = $\\Sigma$ cosmic rays / $\\Sigma$ exposure over the minutes HST spent "
               "in it. Coincidence-corrected counts, all selected instruments summed.")


def rate_grids(table: pa.Table) -> dict[str, np.ndarray]:
    """The ``rate_map`` rows summed over instruments onto the 36 x 72 grid of 5-degree bins.

    Returns
    -------
    dict of ndarray (36, 72), row 0 = latitude -90..-85, column 0 = longitude -180..-175
        ``n`` (coincidence-corrected cosmic rays), ``exposure`` (s cm2), ``rate`` (CR/s/cm2,
        NaN without exposure), ``n_darks`` (darks with a minute in the bin; a dark seen by two
        instruments counts twice), ``b_nt`` (minute-weighted mean |B|, NaN where no minute).
    """
    shape = (int(180 / BIN_DEG), int(360 / BIN_DEG))
    grids = {k: np.zeros(shape) for k in ("n", "exposure", "n_darks", "minutes", "b_sum")}
    if table.num_rows:
        def col(name):
            return np.asarray(table[name].to_numpy(zero_copy_only=False), float)

        iy = np.clip(((col("lat_center_deg") + 90) // BIN_DEG).astype(int), 0, shape[0] - 1)
        ix = np.clip(((col("lon_center_deg") + 180) // BIN_DEG).astype(int), 0, shape[1] - 1)
        minutes = col("n_minutes")
        np.add.at(grids["n"], (iy, ix), col("n_cr_corrected"))
        np.add.at(grids["exposure"], (iy, ix), col("exposure_s_cm2"))
        np.add.at(grids["n_darks"], (iy, ix), col("n_darks"))
        if "mean_b_nt" in table.column_names:
            b = col("mean_b_nt")
            ok = np.isfinite(b)
            np.add.at(grids["minutes"], (iy[ok], ix[ok]), minutes[ok])
            np.add.at(grids["b_sum"], (iy[ok], ix[ok]), (b * minutes)[ok])
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(grids["exposure"] > 0, grids["n"] / grids["exposure"], np.nan)
        b_nt = np.where(grids["minutes"] > 0, grids["b_sum"] / grids["minutes"], np.nan)
    return {"n": grids["n"], "exposure": grids["exposure"], "rate": rate,
            "n_darks": grids["n_darks"], "b_nt": b_nt}


def significance(n: np.ndarray, exposure: np.ndarray, rate0: float) -> np.ndarray:
    """Excess of each bin over the rate ``rate0`` in Poisson sigmas.

    ``(n - rate0 x exposure) / sqrt(rate0 x exposure)``: the error is the one expected at
    ``rate0``, so a bin with few minutes and no cosmic ray is -sqrt(expected), not -infinity.
    NaN where there is no exposure.
    """
    expected = rate0 * np.asarray(exposure, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(expected > 0, (np.asarray(n, float) - expected) / np.sqrt(expected), np.nan)


def draw_saa_contour(ax, b_nt: np.ndarray, level: float = SAA_B_NT):
    """Contour |B| = ``level`` of a (36, 72) grid of mean |B| at the bin centres; None when the
    tracks never cross it (no bin on either side of the level next to each other)."""
    finite = b_nt[np.isfinite(b_nt)]
    if finite.size < 4 or not (finite.min() < level < finite.max()):
        return None
    lat = np.arange(-90 + BIN_DEG / 2, 90, BIN_DEG)
    lon = np.arange(-180 + BIN_DEG / 2, 180, BIN_DEG)
    cs = ax.contour(lon, lat, np.ma.masked_invalid(b_nt), levels=[level], colors="lime",
                    linewidths=1.4, zorder=4)
    paths = cs.get_paths()
    if not paths or len(paths[0].vertices) == 0:
        cs.remove()
        return None
    return cs


def _map_axes(ax, draw_coastlines):
    draw_coastlines(ax)
    # darker than the colour of the median (white), so a bin without data never reads as "median"
    ax.axhspan(-28.5, 28.5, color="0.78", zorder=0)
    ax.set_xlim(-180, 180)
    ax.set_ylim(-45, 45)
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(-180, 181, 30))
    ax.set_yticks(np.arange(-45, 46, 15))
    ax.set_ylabel("latitude (deg)")


def plot_rate_map(table: pa.Table, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Rate, significance and darks per bin from the ``rate_map`` query (see module docstring).

    The figure's axes carry the artists the tests read: ``fig.axes[0..2]`` are the rate,
    significance and darks panels; each colour mesh's ``norm`` holds its fixed limits.
    """
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm, Normalize

    from .canvas import _pyplot, _save, draw_coastlines

    plt = _pyplot()
    g = rate_grids(table)
    lon_edges = np.arange(-180, 180 + BIN_DEG, BIN_DEG)
    lat_edges = np.arange(-90, 90 + BIN_DEG, BIN_DEG)
    fig, axes = plt.subplots(3, 1, figsize=(11, 12), dpi=110, sharex=True)
    seen = np.isfinite(g["rate"])
    median = float(np.median(g["rate"][seen])) if seen.any() else float("nan")
    if seen.any() and median > 0:
        cmap = colormaps["RdBu_r"].with_extremes(over="black")
        mesh = axes[0].pcolormesh(lon_edges, lat_edges, np.ma.masked_invalid(g["rate"]), cmap=cmap,
                                  norm=Normalize(0.0, 2.0 * median), zorder=1)
        fig.colorbar(mesh, ax=axes[0], extend="max", pad=0.01, shrink=0.9,
                     label="cosmic rays / s / cm$^2$\n(white: median; black: > 2 x median)")
        z = significance(g["n"], g["exposure"], median)
        cmap_z = colormaps["PuOr_r"]
        mesh = axes[1].pcolormesh(lon_edges, lat_edges, np.ma.masked_invalid(z), cmap=cmap_z,
                                  norm=Normalize(-SIGNIFICANCE_LIMIT, SIGNIFICANCE_LIMIT), zorder=1)
        fig.colorbar(mesh, ax=axes[1], extend="both", pad=0.01, shrink=0.9,
                     label="(N - median x exposure)\n/ sqrt(median x exposure)")
        darks = np.where(g["n_darks"] > 0, g["n_darks"], np.nan)
        most = float(np.nanmax(darks))
        norm = LogNorm(1.0, most) if most > 20 else Normalize(0.5, max(most, 1.0) + 0.5)
        mesh = axes[2].pcolormesh(lon_edges, lat_edges, np.ma.masked_invalid(darks), cmap="viridis",
                                  norm=norm, zorder=1)
        fig.colorbar(mesh, ax=axes[2], pad=0.01, shrink=0.9, label="darks with a minute in the bin")
    titles = [f"rate (median bin {median:.3g} CR/s/cm$^2$; fixed scale 0 .. 2 x median)",
              "significance of the excess over the median rate (Poisson sigmas, fixed -5 .. +5)",
              f"darks per bin ({int(np.nansum(g['n_darks'] > 0))} bins with data)"]
    saa_drawn = False
    for ax, text in zip(axes, titles):
        _map_axes(ax, draw_coastlines)
        ax.set_title(text, fontsize=9)
        saa_drawn = draw_saa_contour(ax, g["b_nt"]) is not None or saa_drawn
    axes[2].set_xlabel("longitude (deg)")
    saa_note = (f"green: SAA, mean IGRF |B| = {SAA_B_NT:,.0f} nT along the tracks" if saa_drawn
                else f"SAA contour (|B| = {SAA_B_NT:,.0f} nT): not crossed by these tracks")
    fig.suptitle(title or "Cosmic-ray rate along HST's track (5° bins; grey: HST's latitude range, no data)",
                 fontsize=11)
    fig.text(0.01, 0.005, ATTRIBUTION + "\n" + saa_note, fontsize=8, va="bottom", ha="left")
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    return _save(fig, path)
