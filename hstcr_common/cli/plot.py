"""``hstcr plot``: PNG plots from the named analyses, optionally of some instruments and months."""

from __future__ import annotations

import click

from ..model import HstcrError
from ..lake import DEFAULT_LAKE
from ..plots import PLOTS


@click.command()
@click.argument("names", nargs=-1)
@click.option("--lake", default=DEFAULT_LAKE, show_default=True, help="Lake root: folder or s3://bucket/prefix.")
@click.option("--out", "out_dir", default="./hstcr-plots", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the PNG files.")
@click.option("--instrument", "instruments", multiple=True,
              help="Only this detector (acs_wfc or ACS/WFC, any case); repeat for several.")
@click.option("--start", help="First month YYYY-MM (inclusive).")
@click.option("--end", help="Last month YYYY-MM (inclusive).")
def command(names, lake, out_dir, instruments, start, end):
    """Write plots: rate_map, rate_vs_time, distributions, rate_vs_field, or all (default).

    --instrument and --start/--end select darks in SQL (the partition columns) before any
    plot is drawn; a selection with no dark is an error.
    """
    from ..plots import make_plots

    names = list(names) or ["all"]
    if "all" in names:
        names = list(PLOTS)
    try:
        for path in make_plots(lake, out_dir, names, instruments=instruments, start=start, end=end):
            click.echo(str(path))
    except HstcrError as exc:
        raise click.ClickException(str(exc)) from None
