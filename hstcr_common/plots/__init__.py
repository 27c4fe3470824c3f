"""Figures from the lake's named analyses."""

from __future__ import annotations

from .._exports import attach

# name -> submodule, imported on first use (see hstcr_common/_exports.py)
_EXPORTS = {
    "PLOTS": "figures",
    "coastlines": "figures",
    "draw_coastlines": "figures",
    "make_plots": "figures",
    "plot_distributions": "figures",
    "plot_rate_map": "figures",
    "plot_rate_vs_field": "figures",
    "plot_rate_vs_time": "figures",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
