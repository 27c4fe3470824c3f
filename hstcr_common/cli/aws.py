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
@click.option("--max-concurrency", type=click.IntRange(min=0),
              help="Darks processed at once (default: the stack's hstcr:maxConcurrency); capped "
                   "at 80 % of the account's unreserved Lambda concurrency.")
@click.option("--no-quota-check", is_flag=True, help="Do not read the Lambda concurrency quota.")
def submit(instrument, start, end, manifest, method, params, reprocess, name, stack, state_machine,
           max_concurrency, no_quota_check):
    """Start an execution; prints its ARN and console link (and the concurrency decided on stderr)."""
    from ..aws import submit as submit_run

    try:
        outputs = {} if state_machine and max_concurrency is not None else _outputs_or_empty(stack, state_machine)
        arn = state_machine or outputs["StateMachineArn"]
        if max_concurrency is None and outputs.get("MaxConcurrency"):
            max_concurrency = int(outputs["MaxConcurrency"])
        out = submit_run(arn, instrument=instrument, start=start, end=end, manifest=manifest,
                         method=method, params=json.loads(params) if params else None,
                         reprocess=reprocess, name=name, max_concurrency=max_concurrency,
                         check_quota=not no_quota_check)
    except (HstcrError, KeyError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    if out.get("concurrency_note"):
        click.echo(out["concurrency_note"], err=True)
    click.echo(out["executionArn"])
    click.echo(out["console_url"])


def _outputs_or_empty(stack: str, state_machine: str | None) -> dict:
    """The stack's outputs; with an explicit state machine a missing stack is not an error."""
    try:
        return _outputs(stack)
    except HstcrError:
        if state_machine:
            return {}
        raise


@command.command()
@click.argument("execution_arn")
def redrive(execution_arn):
    """Redrive a failed run: re-run only the Map's failed darks, then summarize.

    For a run that FAILED (more failed darks than tolerated, a crash); what succeeded is not
    run again.  For a run that SUCCEEDED with some failed darks, or to process darks again
    with new code or parameters, submit again instead (``--reprocess`` for the latter).
    """
    from ..aws import redrive as redrive_run

    try:
        out = redrive_run(execution_arn)
    except HstcrError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"redriven {out['executionArn']} at {out['redriveDate']}")
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
    if st["status"] in ("FAILED", "TIMED_OUT", "ABORTED"):
        click.echo(f"to re-run only what failed: hstcr aws redrive {execution_arn}")


@command.command()
@click.argument("sql")
@click.option("--stack", default="hstcr", show_default=True)
@click.option("--workgroup", help="Athena workgroup (default: the stack's output).")
@click.option("--database", default="hstcr", show_default=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              help="Save the result through pandas (awswrangler) as .parquet or .csv instead of printing.")
def query(sql, stack, workgroup, database, out_path):
    """Run SQL (or a named query: @rate_per_month) in Athena and print the rows as TSV."""
    from ..aws import athena_query

    try:
        if sql.startswith("@"):
            from ..lake import named_sql

            sql = named_sql(sql[1:])
        wg = workgroup or _outputs(stack)["AthenaWorkGroup"]
        if out_path:
            from ..aws import athena_dataframe

            df = athena_dataframe(sql, workgroup=wg, database=database)
            if out_path.endswith(".parquet"):
                df.to_parquet(out_path, index=False)
            else:
                df.to_csv(out_path, index=False)
            click.echo(f"{len(df)} rows x {len(df.columns)} columns -> {out_path}")
            return
        columns, rows, stats = athena_query(sql, workgroup=wg, database=database)
    except (HstcrError, KeyError) as err:
        raise click.ClickException(str(err)) from None
    click.echo("\t".join(columns))
    for row in rows:
        click.echo("\t".join("" if v is None else v for v in row))
    scanned = stats.get("DataScannedInBytes")
    if scanned is not None:
        click.echo(f"# {len(rows)} rows, {scanned / 1e6:.1f} MB scanned", err=True)
