"""The ``hstcr`` command line.

Each command lives in its own module of this package and defines a click command named
``command``; :data:`COMMAND_MODULES` lists them.  Modules are imported only when their
command runs (``hstcr --help`` stays fast and a missing optional extra only breaks its
own command).
"""

from __future__ import annotations

import importlib

import click

from .. import __version__
from ..pipeline.cores import one_blas_thread
from ..pipeline.collector import freeze_at_exit

# before any command imports numpy: BLAS threads only spin in a search (pipeline.cores)
one_blas_thread()
# registered before any library's exit handler, so it runs after all of them: every command
# ends without the collector's passes over the objects still alive (pipeline.collector)
freeze_at_exit()

# command name -> (module, one-line help)
COMMAND_MODULES: dict[str, tuple[str, str]] = {
    "instruments": ("instruments", "Print the instrument table."),
    "plan": ("plan", "Find darks in MAST (month by month) and write a manifest."),
    "run": ("run", "Process darks into the Parquet lake (folder, manifest or MAST plan)."),
    "query": ("query", "SQL over the lake with DuckDB; named analyses."),
    "plot": ("plot", "Plots from the named analyses (PNG)."),
    "show": ("show", "One dark with its cosmic rays outlined (PNG); DS9 regions, segmentation FITS."),
    "columns": ("columns", "The data dictionary: every lake column's unit and description."),
    "demo": ("demo", "Offline demo: synthetic darks -> lake -> summary + plots."),
    "sample": ("sample", "Write synthetic darks (MAST-shaped FITS) with cosmic-ray truth."),
    "aws": ("aws", "Run on AWS: submit a run, watch its status, query with Athena."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMAND_MODULES)

    def get_command(self, ctx, name):
        if name not in COMMAND_MODULES:
            return None
        module = importlib.import_module(f".{COMMAND_MODULES[name][0]}", __name__)
        return module.command

    def format_commands(self, ctx, formatter):
        rows = [(name, help_) for name, (_, help_) in COMMAND_MODULES.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def output_console(**kwargs):
    """A rich console for tables: the terminal's width, or 200 columns when piped to a file
    (rich's default of 80 folds every cell of a wide table into slivers)."""
    from rich.console import Console

    return Console(width=None if Console().is_terminal else 200, **kwargs)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="hstcr")
def main():
    """hstcr: find and measure every cosmic ray in HST calibration darks."""
