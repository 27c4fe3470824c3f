"""``hstcr run``: darks -> cosmic rays -> Parquet lake, over a process pool, resumable."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..lake import DEFAULT_LAKE
from ..model import HstcrError
from ..model.constants import CCD_METHODS, DEFAULT_METHOD

#: exit status when the run finished but some darks failed (their failures rows are written)
EXIT_SOME_FAILED = 3
#: exit status when the run stopped because darks could not be downloaded (network down)
EXIT_STOPPED = 4
#: exit status on Ctrl-C (128 + SIGINT, the shell's convention)
EXIT_INTERRUPTED = 130


def _parse_params(pairs: tuple[str, ...]) -> dict:
    """``key=value`` pairs; values parsed as JSON when possible (numbers, lists, booleans)."""
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="--param")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


def _month(text: str | None, name: str) -> str | None:
    import re
    if text is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise click.BadParameter(f"{text!r} is not YYYY-MM", param_hint=name)
    return text


def collect_items(paths, manifest, instrument, start, end, *, echo=None) -> list[dict]:
    """Work items from exactly one of: files/folders, a manifest, or an instrument + months.

    Files of the input that are not used are reported through ``echo`` (counted, with the
    reason), never dropped silently.
    """
    from ..instruments import detector_id
    from ..pipeline import read_items, scan_inputs

    echo = echo or (lambda text: click.echo(text, err=True))
    given = [x is not None for x in (paths, manifest, start)]
    if sum(given) != 1:
        raise click.UsageError("give one input: FILES or FOLDERS of darks, --manifest FILE, "
                               "or --instrument X --start YYYY-MM --end YYYY-MM")
    instrument = detector_id(instrument) if instrument else None
    if paths is not None:
        scan = scan_inputs(paths)
        for reason, files in scan.unused_by_reason().items():
            shown = ", ".join(Path(f).name for f in files[:3]) + (", ..." if len(files) > 3 else "")
            echo(f"not used: {len(files)} file(s), {reason}: {shown}")
        items = scan.items
        if instrument:  # from the headers; an unreadable file (instrument None) is kept
            others = [it for it in items if it.get("instrument") not in (None, instrument)]
            items = [it for it in items if it.get("instrument") in (None, instrument)]
            if others:
                echo(f"not used: {len(others)} dark(s) of other instruments (--instrument {instrument})")
        if not items:
            raise HstcrError("no darks to process in the input (see the 'not used' lines above)",
                             source=", ".join(map(str, paths)))
        return items
    if manifest is not None:
        items = read_items(manifest)
        kept = [it for it in items if not instrument or it.get("instrument") == instrument]
        if len(kept) < len(items):
            echo(f"not used: {len(items) - len(kept)} manifest item(s) of other instruments")
        return kept
    if not instrument:
        raise click.UsageError("--start/--end need --instrument")
    from ..remote import plan_darks
    echo(f"asking MAST for {instrument} darks, {start} .. {end or start} ...")
    return list(plan_darks(instrument, start, end or start))


def print_summary(summary, lake: str, console) -> None:
    from rich.table import Table

    from ..pipeline import summarize_lake

    per_inst: dict = {}
    for r in summary.results:
        e = per_inst.setdefault(r.get("instrument") or "unknown", {"done": 0, "failed": 0, "skipped": 0, "n_cr": 0})
        e[r["status"]] += 1
        e["n_cr"] += r["n_cr"]
    table = Table(title="hstcr run")
    for col in ("instrument", "done", "failed", "skipped", "cosmic rays"):
        table.add_column(col, justify="left" if col == "instrument" else "right")
    for inst, e in sorted(per_inst.items()):
        table.add_row(inst, str(e["done"]), str(e["failed"]), str(e["skipped"]), f"{e['n_cr']:,}")
    table.add_row("total", str(summary.done), str(summary.failed), str(summary.skipped),
                  f"{summary.n_cr:,}", style="bold")
    console.print(table)
    console.print(f"{summary.seconds:.1f} s: {summary.darks_per_s:.2f} darks/s, "
                  f"{summary.cr_per_s:,.0f} cosmic rays/s")
    for r in summary.results:
        if r["status"] == "failed":
            console.print(f"[red]failed[/red] {r['dataset']}: {r['error']}", markup=True, highlight=False)
    lake_summary = summarize_lake(lake)
    console.print(f"lake {lake}: {lake_summary['darks']} darks, {lake_summary['cosmic_rays']:,} cosmic rays, "
                  f"{lake_summary['n_failures']} failures")


def execute(items, *, lake, method, params, reprocess, workers, quiet=False):
    """Run with a rich progress bar (none when ``quiet``); returns the RunSummary."""
    from ..pipeline import run

    if quiet:
        # rich (its console and progress modules, ~35 ms to import) only draws the bar
        return run(items, lake=lake, method=method, params=params, reprocess=reprocess,
                   workers=workers)
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    console = Console(stderr=True)
    n_cr = [0]
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[crs]} CRs"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task("darks", total=len(items), crs="0")

        def on_chunk(month, n):
            progress.update(task, description=f"darks {month or ''}".strip())

        def on_result(r):
            n_cr[0] += r["n_cr"]
            progress.update(task, advance=1, crs=f"{n_cr[0]:,}")

        summary = run(items, lake=lake, method=method, params=params, reprocess=reprocess,
                      workers=workers, on_result=on_result, on_chunk=on_chunk)
    return summary


def _stopped(exc, lake: str, as_json: bool) -> None:
    """What a stopped run kept, and how to resume; exit 130 (Ctrl-C) or 4 (network down)."""
    summary = exc.summary
    if as_json:
        click.echo(json.dumps({**summary.as_dict(), "stopped": exc.reason, "not_started": summary.not_started,
                               "results": summary.results}, default=str))
    click.echo(f"stopped: {exc.reason}.\n"
               f"kept in {lake}: {summary.done} darks done ({summary.n_cr:,} cosmic rays), "
               f"{summary.failed} failed, {summary.skipped} already there; "
               f"{summary.not_started} not started.\n"
               f"resume: run the same command again; finished darks are skipped.", err=True)
    sys.exit(EXIT_INTERRUPTED if "interrupted" in exc.reason else EXIT_STOPPED)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--manifest", type=click.Path(dir_okay=False), help="Manifest: JSON Lines, JSON or CSV.")
@click.option("--instrument", help="Detector (acs_wfc or ACS/WFC, any case): plan from MAST with --start/--end, or filter the input.")
@click.option("--start", help="First month YYYY-MM (with --instrument: plan darks from MAST).")
@click.option("--end", help="Last month YYYY-MM (default: --start).")
@click.option("--lake", default=DEFAULT_LAKE, show_default=True, help="Lake root: folder or s3://bucket/prefix.")
@click.option("--method", type=click.Choice(CCD_METHODS), default=DEFAULT_METHOD,
              show_default=True,
              help="CCD detection method (IR darks always use 'ramp').  auto: darks grouped by "
                   "set-up (detector, CCDAMP, gain, EXPTIME, FLASHDUR, month), each searched "
                   "against its group's reference; a dark with no group by threshold.  The "
                   "lake records the method used and why.")
@click.option("--param", "param_pairs", multiple=True, metavar="KEY=VALUE",
              help="Detection parameter (repeatable), e.g. --param seed_sigma=6.")
@click.option("--workers", type=int, default=None, help="Processes (default: all cores).")
@click.option("--reprocess", is_flag=True, help="Re-do darks already in the lake with the same version and parameters.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON on stdout.")
@click.option("--quiet", is_flag=True, help="No progress bar or table.")
def command(paths, manifest, instrument, start, end, lake, method, param_pairs, workers, reprocess,
            as_json, quiet):
    """Find and measure the cosmic rays of darks into the lake.

    Input is PATHS: dark files or folders of darks (<dataset>_<suffix>.fits with their
    spt/shm/c1m files), a --manifest, or --instrument X --start YYYY-MM --end YYYY-MM
    (planned from MAST).  Files of the input that are not used are listed with the reason.
    Darks already in the lake with the same software version and parameters are skipped.
    A dark that fails becomes a row of the 'failures' table and the run goes on; the exit
    status is then 3.  Ctrl-C stops the run (exit 130) and says how to resume; 10 darks in
    a row that cannot be downloaded stop it too (exit 4).
    """
    from ..pipeline.collector import imports_without_collection

    # the libraries the search uses (numpy, scipy, astropy, pyarrow) load here: ~0.05-0.09 s
    # of the collector's passes over their objects spared (pipeline.collector)
    with imports_without_collection():
        from ..lake import Lake
        from ..model import parse_params
        from ..pipeline import RunStopped, check_lake_is_writable

    _month(start, "--start")
    _month(end, "--end")
    try:
        # parsed and validated before any work: a typo is one error, not a failures row per dark
        params = parse_params(method, _parse_params(param_pairs))
        check_lake_is_writable(Lake(lake))
        items = collect_items(list(paths) or None, manifest, instrument, start, end)
    except HstcrError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("stopped: interrupted (Ctrl-C) before any dark was processed; nothing was written.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if not items:
        click.echo("nothing to do: the plan or manifest lists no darks", err=True)
        return
    try:
        summary = execute(items, lake=lake, method=method, params=params, reprocess=reprocess,
                          workers=workers, quiet=quiet or as_json)
    except RunStopped as exc:
        _stopped(exc, lake, as_json)
    except HstcrError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps({**summary.as_dict(), "results": summary.results}, default=str))
    elif not quiet:
        from rich.console import Console

        print_summary(summary, lake, Console())
    if summary.failed:
        sys.exit(EXIT_SOME_FAILED)
