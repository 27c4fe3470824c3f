"""The lake from Python: two lines from a path to a DataFrame.

>>> import hstcr
>>> lake = hstcr.open_lake("hstcr-demo/lake")
>>> lake.sql("SELECT instrument, count(*) AS n FROM cosmic_rays GROUP BY 1").df()
>>> lake.rate_per_month().df()            # every named analysis is a method
>>> lake.exposures.to_arrow_table()       # each table is a DuckDB relation

``sql`` returns a DuckDB relation, so ``.df()`` (pandas), ``.to_arrow_table()`` or ``.arrow()``
(pyarrow; a batch reader in DuckDB >= 1.4), ``.pl()``
(polars) and ``.fetchall()`` all work, and it can be refined further
(``lake.cosmic_rays.filter("energy_e > 1e4").aggregate("count(*)")``).  The named analyses
are the same SQL files ``hstcr query --named`` and Athena run.  An S3 lake
(``s3://bucket/prefix``) is read the same way, through pyarrow's S3 file system.
"""

from __future__ import annotations

import duckdb

from ..model import HstcrError
from .query import connect, named_queries, named_sql, to_duckdb
from .schemas import TABLES
from .store import Lake


class OpenLake:
    """A lake opened for queries: views ``cosmic_rays``, ``exposures`` and ``failures``.

    Parameters
    ----------
    path : str
        Folder or ``s3://bucket/prefix`` written by ``hstcr run`` (``hstcr demo`` writes
        ``./hstcr-demo/lake``).
    threads : int, optional
        DuckDB worker threads (default: all cores).

    Raises
    ------
    HstcrError
        When ``path`` holds no lake (missing, a file, or no Parquet files).
    """

    def __init__(self, path: str, *, threads: int | None = None):
        self.path = str(path)
        self.con = connect(Lake(self.path), threads=threads)

    def __repr__(self) -> str:
        return f"OpenLake({self.path!r})"

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """Run SQL over the views; the result as a lazy DuckDB relation.

        The Trino form of ``CROSS JOIN UNNEST(track) AS t(...)`` used by the shared SQL files
        is accepted too.
        """
        try:
            return self.con.sql(to_duckdb(query))
        except duckdb.Error as exc:
            raise HstcrError(f"SQL failed: {exc}", source=self.path) from None

    def table(self, name: str) -> duckdb.DuckDBPyRelation:
        """One table as a relation (``cosmic_rays``, ``exposures``, ``failures``)."""
        if name not in TABLES:
            raise HstcrError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
        return self.con.table(name)

    @property
    def cosmic_rays(self) -> duckdb.DuckDBPyRelation:
        return self.table("cosmic_rays")

    @property
    def exposures(self) -> duckdb.DuckDBPyRelation:
        return self.table("exposures")

    @property
    def failures(self) -> duckdb.DuckDBPyRelation:
        return self.table("failures")

    def named(self, name: str) -> duckdb.DuckDBPyRelation:
        """A named analysis (:func:`analyses` lists them) as a relation."""
        return self.sql(named_sql(name))

    @staticmethod
    def analyses() -> dict[str, str]:
        """name -> one-line description of every named analysis."""
        return named_queries()

    def __getattr__(self, name: str):
        # each named analysis is also a method: lake.rate_per_month(), lake.rate_map(), ...
        if not name.startswith("_") and name in named_queries():
            return lambda: self.named(name)
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}; named analyses: "
                             f"{', '.join(named_queries())}")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(named_queries()))

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "OpenLake":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_lake(path: str, *, threads: int | None = None) -> OpenLake:
    """Open a lake for queries (see :class:`OpenLake`)."""
    return OpenLake(path, threads=threads)
