"""``hstcr query``: SQL over the lake with DuckDB (views cosmic_rays, exposures, failures)."""

from __future__ import annotations

import sys

import click

from ..model import HstcrError
from ..lake import DEFAULT_LAKE


def _print_table(table, max_rows: int) -> None:
    from rich.table import Table

    from . import output_console

    out = Table(show_lines=False)
    for name in table.column_names:
        out.add_column(name, overflow="fold")
    for row in table.slice(0, max_rows).to_pylist():
        out.add_row(*[_fmt(v) for v in row.values()])
    console = output_console()
    console.print(out)
    if table.num_rows > max_rows:
        console.print(f"... {table.num_rows - max_rows} more rows (use --format csv or --out)")
    else:
        console.print(f"{table.num_rows} rows")


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        text = str(value)
        return text if len(text) < 80 else text[:77] + "..."
    return str(value)


@click.command()
@click.argument("sql", required=False)
@click.option("--named", help="Run a named analysis (hstcr query --list shows them).")
@click.option("--list", "list_named", is_flag=True, help="List the named analyses.")
@click.option("--show-sql", is_flag=True, help="Print the SQL of --named (as shared with Athena) and exit.")
@click.option("--lake", default=DEFAULT_LAKE, show_default=True, help="Lake root: folder or s3://bucket/prefix.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "parquet", "json"]), default="table",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the result here instead of stdout.")
@click.option("--max-rows", type=int, default=50, show_default=True, help="Rows shown by --format table.")
@click.option("--athena", is_flag=True,
              help="Run in the deployed stack's Athena workgroup instead (same as `hstcr aws query`).")
@click.option("--workgroup", help="With --athena: the workgroup (default: the stack's output).")
@click.option("--stack", default="hstcr", show_default=True, help="With --athena: the CDK stack name.")
@click.pass_context
def command(ctx, sql, named, list_named, show_sql, lake, fmt, out, max_rows, athena, workgroup, stack):
    """Run SQL over the lake (DuckDB), or with --athena over the AWS lake (Athena).

    The views are cosmic_rays, exposures and failures, each with the partition columns
    instrument, year and month.  Example:

        hstcr query "SELECT instrument, count(*) FROM cosmic_rays GROUP BY 1"
    """
    from ..lake import named_queries, named_sql, run_sql

    if list_named:
        for name, desc in named_queries().items():
            click.echo(f"{name:22s} {desc}")
        return
    if (sql is None) == (named is None):
        raise click.UsageError("give either SQL or --named NAME")
    try:
        if named:
            sql = named_sql(named)
            if show_sql:
                click.echo(sql)
                return
        if athena:
            # the named files are already in Athena's (Trino) dialect; results print as TSV
            from .aws import query as athena_query_command

            ctx.invoke(athena_query_command, sql=sql, stack=stack, workgroup=workgroup,
                       database="hstcr")
            return
        table = run_sql(sql, lake)
    except HstcrError as exc:
        raise click.ClickException(str(exc)) from None

    if fmt == "parquet":
        import pyarrow.parquet as pq
        if not out:
            raise click.UsageError("--format parquet needs --out FILE")
        pq.write_table(table, out)
        click.echo(f"{table.num_rows} rows -> {out}", err=True)
        return
    if fmt == "table" and not out:
        _print_table(table, max_rows)
        return
    if fmt == "json":
        import json
        text = "\n".join(json.dumps(r, default=str) for r in table.to_pylist()) + "\n"
        data = text.encode()
    else:
        import pyarrow as pa
        import pyarrow.csv as pacsv
        # nested columns (pixels, track) have no CSV form: write them as text
        cols = [pa.array([None if v is None else str(v) for v in c.to_pylist()], pa.string())
                if not _flat(c.type) else c for c in table.columns]
        sink = pa.BufferOutputStream()
        pacsv.write_csv(pa.table(cols, names=table.column_names), sink)
        data = sink.getvalue().to_pybytes()
    if out:
        with open(out, "wb") as f:
            f.write(data)
        click.echo(f"{table.num_rows} rows -> {out}", err=True)
    else:
        sys.stdout.buffer.write(data)


def _flat(dtype) -> bool:
    import pyarrow as pa
    return not (pa.types.is_nested(dtype))
