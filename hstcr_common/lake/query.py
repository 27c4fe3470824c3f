"""SQL over the lake with DuckDB: views ``cosmic_rays``, ``exposures``, ``failures``, and the
named analyses in ``hstcr_common/lake/queries/*.sql``.

The named queries are written once for both engines (DuckDB here, Athena/Trino on AWS).  The
single construct where the dialects differ is unnesting an array of structs (the HST track):

* Trino expands ``CROSS JOIN UNNEST(e.track) AS t(time, latitude_deg, ...)`` into one column
  per struct field;
* DuckDB yields one struct column for ``UNNEST(list)`` in FROM.

The SQL files use the Trino form; :func:`to_duckdb` rewrites it into
``CROSS JOIN (SELECT UNNEST(e.track, max_depth := 2)) AS t(time, latitude_deg, ...)``
(a lateral subquery that unpacks the struct into the same named columns).  That is the whole
shim.

Local lakes are read with DuckDB's own ``read_parquet`` (Hive partitions, union by name);
``s3://`` lakes through a pyarrow dataset over :func:`hstcr_common.remote.s3_filesystem`, so no
DuckDB extension has to be downloaded.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa

from ..model import HstcrError
from .store import DEFAULT_LAKE, Lake
from .schemas import PARTITION_KEYS, TABLES

_UNNEST = re.compile(r"CROSS\s+JOIN\s+UNNEST\s*\(\s*([^()]+?)\s*\)\s+AS\s+(\w+)\s*\(([^)]*)\)",
                     re.IGNORECASE)

_HIVE_TYPES = {"instrument": "VARCHAR", "year": "INTEGER", "month": "INTEGER"}


def to_duckdb(sql: str) -> str:
    """Rewrite the shared (Trino) SQL into DuckDB's dialect (see module docstring)."""
    return _UNNEST.sub(r"CROSS JOIN (SELECT UNNEST(\1, max_depth := 2)) AS \2(\3)", sql)


def full_schema(table: str) -> pa.Schema:
    """A table's schema with the partition columns appended (what the views show)."""
    return pa.schema(list(TABLES[table]) + [pa.field(k, t) for k, t in PARTITION_KEYS])


#: where ``hstcr demo`` writes its lake (named in the hint when the default lake is missing)
DEMO_LAKE = "./hstcr-demo/lake"


def require_lake(lake: str | Lake) -> dict[str, list[str]]:
    """Every finished file of each table, after checking that ``lake`` is a lake.

    A query or a plot over a path that holds no lake would answer 0 rows or draw blank
    axes, which reads as "no cosmic rays"; it is refused instead.

    Raises
    ------
    HstcrError
        The folder does not exist, is a file, or holds no Parquet file under
        ``cosmic_rays/``, ``exposures/`` or ``failures/``.  The message names the path and,
        for the default lake after a demo, points at the demo's lake.
    """
    lake_obj = lake if isinstance(lake, Lake) else Lake(lake)
    hint = ""
    if lake_obj.uri in (DEFAULT_LAKE, DEFAULT_LAKE.removeprefix("./")) and Path(DEMO_LAKE).is_dir():
        hint = f" (hstcr demo wrote its lake to {DEMO_LAKE}: pass --lake {DEMO_LAKE})"
    if not lake_obj.is_s3:
        path = Path(lake_obj.base)
        if not path.exists():
            raise HstcrError(f"no lake here: the folder does not exist{hint}", source=lake_obj.uri)
        if not path.is_dir():
            raise HstcrError("not a lake: this is a file, a lake is a folder", source=lake_obj.uri)
    files = {table: lake_obj.files(table) for table in TABLES}
    if not any(files.values()):
        raise HstcrError("no lake here: no Parquet files under cosmic_rays/, exposures/ or "
                         f"failures/ (write one with `hstcr run ... --lake {lake_obj.uri}`){hint}",
                         source=lake_obj.uri)
    return files


def connect(lake: str | Lake = DEFAULT_LAKE, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per lake table.

    The lake must exist (:func:`require_lake`); a table with no files yet (a lake with only
    failures, say) is an empty view with the right columns.
    """
    lake_obj = lake if isinstance(lake, Lake) else Lake(lake)
    table_files = require_lake(lake_obj)
    con = duckdb.connect()
    # no progress bar on stdout (breaks --format csv); cache Parquet footers between
    # queries (a lake is one small file per dark: metadata reads dominate otherwise)
    con.execute("SET enable_progress_bar = false")
    for setting in ("SET parquet_metadata_cache = true", "SET enable_object_cache = true"):
        try:
            con.execute(setting)
            break
        except duckdb.Error:
            continue
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    hive_types = "{" + ", ".join(f"'{k}': '{v}'" for k, v in _HIVE_TYPES.items()) + "}"
    for table in TABLES:
        files = table_files[table]
        schema = full_schema(table)
        columns = ", ".join(f'"{n}"' for n in schema.names)
        if not files:
            con.register(f"_{table}_empty", schema.empty_table())
            con.execute(f"CREATE VIEW {table} AS SELECT {columns} FROM _{table}_empty")
        elif lake_obj.is_s3:
            import pyarrow.dataset as ds
            partitioning = ds.partitioning(pa.schema(list(PARTITION_KEYS)), flavor="hive")
            dataset = ds.dataset(files, schema=schema, filesystem=lake_obj.fs, format="parquet",
                                 partitioning=partitioning, partition_base_dir=lake_obj.table_dir(table))
            con.register(f"_{table}_dataset", dataset)
            con.execute(f"CREATE VIEW {table} AS SELECT {columns} FROM _{table}_dataset")
        else:
            pattern = lake_obj.table_dir(table).replace("'", "''") + "/*/*/*/*.parquet"
            # UNION ALL BY NAME with an empty table of the current schema: files written by an
            # earlier version (without a newer column) read as NULL there instead of failing
            con.register(f"_{table}_schema", schema.empty_table())
            con.execute(
                f"CREATE VIEW {table} AS SELECT {columns} FROM (SELECT * FROM read_parquet('{pattern}', "
                f"hive_partitioning = true, union_by_name = true, hive_types = {hive_types}) "
                f"UNION ALL BY NAME SELECT * FROM _{table}_schema)"
            )
    return con


def named_queries() -> dict[str, str]:
    """name -> one-line description, for every ``queries/*.sql``."""
    out = {}
    for entry in sorted(resources.files(__package__).joinpath("queries").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".sql"):
            first = entry.read_text().splitlines()[0] if entry.read_text() else ""
            out[entry.name[:-4]] = first.lstrip("- ").split(":", 1)[-1].strip()
    return out


def named_sql(name: str) -> str:
    """The shared SQL text of a named query (Trino/Athena form)."""
    path = resources.files(__package__).joinpath("queries", f"{name}.sql")
    if not path.is_file():
        raise HstcrError(f"unknown named query {name!r}; known: {', '.join(named_queries())}")
    return path.read_text()


def run_sql(sql: str, lake: str = DEFAULT_LAKE, *, con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """Run SQL over the lake's views; the result as a pyarrow table."""
    con = con or connect(lake)
    try:
        rel = con.sql(to_duckdb(sql))
        return rel.to_arrow_table() if rel is not None else pa.table({})
    except duckdb.Error as exc:
        raise HstcrError(f"SQL failed: {exc}") from None


def run_named(name: str, lake: str = DEFAULT_LAKE, *, con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """Run a named query (``rate_per_month``, ``rate_map`` ...) over the lake."""
    return run_sql(named_sql(name), lake, con=con)
