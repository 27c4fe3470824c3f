"""``hstcr plan``: find a detector's darks in MAST and write the manifest."""

from __future__ import annotations

import click

from ..model import HstcrError


@click.command()
@click.option("--instrument", required=True, help="Detector id (see `hstcr instruments`), e.g. acs_wfc.")
@click.option("--start", "start_month", required=True, metavar="YYYY-MM", help="First month (inclusive).")
@click.option("--end", "end_month", required=True, metavar="YYYY-MM", help="Last month (inclusive).")
@click.option("--out", "out", default="-", show_default=True, metavar="PATH",
              help="Manifest (JSON Lines); '-' writes to stdout. A summary "
                   "<name>.summary.json is written beside a file.")
@click.option("--min-exptime", default=0.5, show_default=True, type=float, help="Shortest exposure (s).")
@click.option("--max-exptime", default=10000.0, show_default=True, type=float, help="Longest exposure (s).")
@click.option("--pagesize", default=2000, show_default=True, type=int, help="MAST rows per page.")
def command(instrument, start_month, end_month, out, min_exptime, max_exptime, pagesize):
    """Query MAST month by month for calibration darks and write one work item per dark.

    Each item lists the dark's files in the MAST open-data bucket (s3://stpubdata/...) and
    as MAST HTTPS download URLs.  A per-month summary goes to stderr.
    """
    from ..remote import mast
    from ..pipeline import write_manifest

    plans = []

    def items():
        for plan in mast.plan_months(instrument, start_month, end_month, min_exptime=min_exptime,
                                     max_exptime=max_exptime, pagesize=pagesize):
            plans.append(plan)
            note = "" if plan.active else "  (detector not in use: not queried)"
            dropped = (f"  of which {plan.subarray} subarray" if plan.subarray else "") + \
                (f"  dropped: {plan.incomplete} incomplete" if plan.incomplete else "")
            click.echo(f"{plan.month}  {plan.darks:5d} darks  {plan.bytes_full / 1e9:8.2f} GB{dropped}{note}",
                       err=True)
            yield from plan.items

    try:
        n = write_manifest(items(), out)
    except HstcrError as err:
        raise click.ClickException(str(err)) from None
    data = mast.summary(instrument, start_month, end_month, plans,
                        min_exptime=min_exptime, max_exptime=max_exptime)
    click.echo(f"total    {n:5d} darks  {data['total_bytes_full'] / 1e9:8.2f} GB (whole files)", err=True)
    if out != "-":
        path = mast.summary_path(out)
        mast.write_summary(data, path)
        click.echo(f"manifest: {out}\nsummary:  {path}", err=True)
