"""``hstcr aws``: submit a run to the deployed stack, watch it, query the lake with Athena."""

from __future__ import annotations

import json

import click

from ..model import CCD_METHODS, DEFAULT_METHOD, HstcrError


def _outputs(stack: str) -> dict:
    from ..aws import stack_outputs

    return stack_outputs(stack)


@click.group(name="aws")
def command():
    """Run hstcr on AWS (deploy first: see docs/aws.md)."""


@command.command()
@click.option("--instrument", help="Detector id (hstcr instruments).")
@click.option("--start", help="First month, YYYY-MM.")
@click.option("--end", help="Last month, YYYY-MM (inclusive).")
@click.option("--manifest", help="s3:// manifest to run instead of a MAST query.")
@click.option("--method", type=click.Choice(CCD_METHODS), default=DEFAULT_METHOD, show_default=True)
@click.option("--params", help="Detection parameters as JSON.")
@click.option("--reprocess", is_flag=True, help="Process darks already in the lake again.")
@click.option("--name", help="Execution name (becomes the run id).")
@click.option("--stack", default="hstcr", show_default=True, help="CloudFormation stack name.")
@click.option("--state-machine", help="State machine ARN (default: the stack's output).")
def submit(instrument, start, end, manifest, method, params, reprocess, name, stack, state_machine):
    """Start an execution; prints its ARN and console link."""
    from ..aws import submit as submit_run

    try:
        arn = state_machine or _outputs(stack)["StateMachineArn"]
        out = submit_run(arn, instrument=instrument, start=start, end=end, manifest=manifest,
                         method=method, params=json.loads(params) if params else None,
                         reprocess=reprocess, name=name)
    except (HstcrError, KeyError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(out["executionArn"])
    click.echo(out["console_url"])


@command.command()
@click.argument("execution_arn")
@click.option("--json", "as_json", is_flag=True, help="Print the raw status as JSON.")
def status(execution_arn, as_json):
    """Progress of an execution: its status and the map's items processed/failed."""
    from ..aws import execution_status

    try:
        st = execution_status(execution_arn)
    except Exception as err:  # botocore errors: unknown ARN, no credentials
        raise click.ClickException(str(err)) from None
    if as_json:
        click.echo(json.dumps(st, indent=1, default=str))
        return
    click.echo(f"execution {st['status']}  started {st['startDate']}"
               + (f"  stopped {st['stopDate']}" if st["stopDate"] else ""))
    for run in st["map_runs"]:
        i = run["items"]
        click.echo(f"map run {run['status']}: {i['succeeded']}/{i['total']} items succeeded, "
                   f"{i['failed']} failed, {i['running']} running, {i['pending']} pending")
    if st["summary"]:
        s = st["summary"]
        click.echo(f"darks: {s['n_done']} done, {s['n_failed']} failed, {s['n_skipped']} skipped; "
                   f"{s['cosmic_rays']} cosmic rays; results {s['results']}")
    if st["error"]:
        click.echo(f"error: {st['error']}: {st['cause']}")


@command.command()
@click.argument("sql")
@click.option("--stack", default="hstcr", show_default=True)
@click.option("--workgroup", help="Athena workgroup (default: the stack's output).")
@click.option("--database", default="hstcr", show_default=True)
def query(sql, stack, workgroup, database):
    """Run SQL (or a named query: @rate_per_month) in Athena and print the rows as TSV."""
    from ..aws import athena_query

    try:
        if sql.startswith("@"):
            from ..lake import named_sql

            sql = named_sql(sql[1:])
        wg = workgroup or _outputs(stack)["AthenaWorkGroup"]
        columns, rows, stats = athena_query(sql, workgroup=wg, database=database)
    except (HstcrError, KeyError) as err:
        raise click.ClickException(str(err)) from None
    click.echo("\t".join(columns))
    for row in rows:
        click.echo("\t".join("" if v is None else v for v in row))
    scanned = stats.get("DataScannedInBytes")
    if scanned is not None:
        click.echo(f"# {len(rows)} rows, {scanned / 1e6:.1f} MB scanned", err=True)
