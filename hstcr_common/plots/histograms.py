"""Distributions of cosmic-ray properties per instrument, drawn as stairs on the bins' edges.

The histogram queries return one row per *occupied* bin.  A line through those rows joins
bins that are not neighbours (the spikes of a ``step`` plot); here every bin between the
first and the last gets its value, 0 when the query has no row for it, and the histogram is
drawn with :meth:`matplotlib.axes.Axes.stairs` on the true bin edges.

* energy: 0.1-dex bins of the query, log axis, fraction per 0.1 dex;
* size: the query's integer counts regrouped into bins growing geometrically (integer edges,
  at least one size per bin), drawn as fraction per pixel-count value on a log axis; the
  discreteness left at small sizes is real (a 1-pixel core plus its 4-connected halo is 5
  pixels);
* width: 0.1-pixel bins; symmetry: 0.05 bins.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa

HISTOGRAMS = ("energy_histogram", "size_histogram", "width_histogram", "symmetry_histogram")

#: size bins (pixels): integer lower edges, growing ~0.1 dex once above 10; the last bin,
#: 100, is the query's overflow (n_pixels >= 100) and is reported, not drawn
SIZE_EDGES = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 19, 24, 30, 38, 48, 60, 76, 100])


def filled_bins(lower: np.ndarray, value: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """(edges, values) of equal-width bins from the first to the last occupied one, 0 where a
    bin has no row.

    Parameters
    ----------
    lower : ndarray
        Lower edges of the occupied bins (any order).
    value : ndarray
        Their values.
    width : float
        Bin width (same unit as ``lower``).
    """
    lower = np.asarray(lower, float)
    if lower.size == 0:
        return np.zeros(1), np.zeros(0)
    index = np.rint((lower - lower.min()) / width).astype(int)
    values = np.zeros(index.max() + 1)
    np.add.at(values, index, np.asarray(value, float))
    edges = lower.min() + width * np.arange(values.size + 1)
    return edges, values


def size_bins(n_pixels: np.ndarray, fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Regroup per-size fractions into :data:`SIZE_EDGES`.

    Returns
    -------
    edges : ndarray
        Bin edges in pixels, at half-integers (``n`` sits in the middle of its bin).
    density : ndarray
        Fraction per pixel-count value in each bin (fraction / sizes in the bin).
    overflow : float
        Fraction with ``n_pixels >= 100`` (not drawn).
    """
    n = np.asarray(n_pixels, int)
    f = np.asarray(fraction, float)
    overflow = float(f[n >= SIZE_EDGES[-1]].sum())
    keep = n < SIZE_EDGES[-1]
    which = np.searchsorted(SIZE_EDGES, n[keep], side="right") - 1
    sums = np.zeros(SIZE_EDGES.size - 1)
    np.add.at(sums, which, f[keep])
    return SIZE_EDGES - 0.5, sums / np.diff(SIZE_EDGES), overflow


def _by_instrument(table: pa.Table):
    rows = table.to_pydict()
    instruments = np.asarray(rows.get("instrument", []), dtype=object)
    for inst in sorted(set(instruments)):
        sel = instruments == inst
        yield inst, {k: np.asarray(v, dtype=object)[sel] for k, v in rows.items()}


def plot_distributions(tables: dict[str, pa.Table], path: str | os.PathLike, *,
                       title: str | None = None) -> Path:
    """2 x 2 panels from :data:`HISTOGRAMS` (each instrument's cosmic rays sum to 1)."""
    from .canvas import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), dpi=110)
    ax_e, ax_n, ax_w, ax_s = axes.flat
    overflow = {}
    top_width = 0.5
    for inst, r in _by_instrument(tables["energy_histogram"]):
        edges, values = filled_bins(r["log10_energy_e"].astype(float), r["fraction"].astype(float), 0.1)
        ax_e.stairs(values, 10 ** edges, lw=1.2, label=inst)
    for inst, r in _by_instrument(tables["size_histogram"]):
        edges, density, overflow[inst] = size_bins(r["n_pixels"].astype(int), r["fraction"].astype(float))
        ax_n.stairs(density, edges, lw=1.2, label=inst)
    for inst, r in _by_instrument(tables["width_histogram"]):
        edges, values = filled_bins(r["width_sigma_px"].astype(float), r["fraction"].astype(float), 0.1)
        ax_w.stairs(values, edges, lw=1.2, label=inst)
        # show up to where 99.5 % of every instrument's cosmic rays are
        cumulative = np.cumsum(values)
        top_width = max(top_width, float(edges[1:][np.searchsorted(cumulative, 0.995 * cumulative[-1])]))
    for inst, r in _by_instrument(tables["symmetry_histogram"]):
        edges, values = filled_bins(r["symmetry"].astype(float), r["fraction"].astype(float), 0.05)
        ax_s.stairs(values, edges, lw=1.2, label=inst)
    ax_e.set_xscale("log")
    ax_e.set_xlabel("deposited energy (e$^-$; 0.1-dex bins)")
    ax_e.set_ylabel("fraction per 0.1 dex")
    ax_n.set_xscale("log")
    ax_n.set_xlim(0.5, SIZE_EDGES[-1] - 0.5)
    ax_n.set_yscale("log")
    ax_n.set_xlabel("pixels per cosmic ray (core + halo)")
    ax_n.set_ylabel("fraction per pixel-count value")
    big = max(overflow.values(), default=0.0)
    if big > 0:
        ax_n.text(0.98, 0.96, f"\u2265 {SIZE_EDGES[-1]} pixels (not drawn): \u2264 {100 * big:.2g} %",
                  transform=ax_n.transAxes, ha="right", va="top", fontsize=7)
    ax_w.set_xlim(0, top_width)
    ax_w.set_xlabel(r"width $\sqrt{(I_{xx}+I_{yy})/2}$ (pixels; 0.1-pixel bins)")
    ax_w.set_ylabel("fraction per bin")
    ax_s.set_xlim(0, 1)
    ax_s.set_xlabel("symmetry (0 round, 1 line; 0.05 bins)")
    ax_s.set_ylabel("fraction per bin")
    for ax in axes.flat:
        ax.set_ylim(bottom=0 if ax.get_yscale() == "linear" else None)
    if tables["energy_histogram"].num_rows:
        ax_e.legend(fontsize=7, ncol=2)
    fig.suptitle(title or "Cosmic-ray properties per instrument")
    fig.tight_layout()
    return _save(fig, path)
