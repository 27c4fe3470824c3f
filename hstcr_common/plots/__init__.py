"""Figures from the lake's named analyses, and one dark with its cosmic rays (``hstcr show``)."""

from __future__ import annotations

from .._exports import attach

# name -> submodule, imported on first use (see hstcr_common/_exports.py)
_EXPORTS = {
    "HISTOGRAMS": "histograms",
    "PLOTS": "figures",
    "SAA_B_NT": "rate_map",
    "coastlines": "canvas",
    "draw_coastlines": "canvas",
    "filled_bins": "histograms",
    "label_images": "dark_view",
    "make_plots": "figures",
    "outline_segments": "dark_view",
    "plot_dark": "dark_view",
    "plot_distributions": "histograms",
    "plot_rate_map": "rate_map",
    "plot_rate_vs_field": "figures",
    "plot_rate_vs_time": "figures",
    "poisson_rate_error": "figures",
    "rate_grids": "rate_map",
    "select": "figures",
    "significance": "rate_map",
    "size_bins": "histograms",
    "write_regions": "dark_view",
    "write_segmentation": "dark_view",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
