"""``hstcr plot``: PNG plots from the named analyses."""

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
def command(names, lake, out_dir):
    """Write plots: rate_map, rate_vs_time, distributions, rate_vs_field, or all (default)."""
    from ..plots import make_plots

    names = list(names) or ["all"]
    if "all" in names:
        names = list(PLOTS)
    try:
        for path in make_plots(lake, out_dir, names):
            click.echo(str(path))
    except HstcrError as exc:
        raise click.ClickException(str(exc)) from None
