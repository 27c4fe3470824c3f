"""``hstcr columns``: the data dictionary (every column's unit and description)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--out", type=click.Path(dir_okay=False), help="Write the Markdown here (docs/columns.md).")
def command(out):
    """Print the lake's data dictionary as Markdown, generated from the schemas."""
    from ..lake.schemas import data_dictionary

    text = data_dictionary()
    if out:
        Path(out).write_text(text)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)
