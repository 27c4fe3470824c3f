"""The deployed stack's lake from Python, through Athena: the notebook API of
:class:`hstcr_common.lake.OpenLake`, answering with pandas DataFrames.

>>> import hstcr
>>> lake = hstcr.open_athena()                 # workgroup and database from the stack outputs
>>> lake.sql("SELECT instrument, count(*) AS n FROM cosmic_rays GROUP BY 1")   # a DataFrame
>>> lake.rate_per_month()                      # every named analysis, the same SQL files

Athena has no lazy relation to hand back, so ``sql`` returns the DataFrame that awswrangler's
``read_sql_query`` reads (the ``aws`` extra).
"""

from __future__ import annotations

from ..lake import named_queries, named_sql
from ..model import HstcrError
from .client import athena_dataframe, stack_outputs

DEFAULT_DATABASE = "hstcr"


class AthenaLake:
    """The Glue tables ``cosmic_rays``, ``exposures`` and ``failures`` of a deployed stack.

    Parameters
    ----------
    workgroup : str, optional
        Athena workgroup; default: the stack's ``AthenaWorkGroup`` output.
    database : str, optional
        Glue database; default: the stack's ``GlueDatabase`` output, else ``hstcr``.
    stack : str
        CloudFormation stack name (``hstcr``), read only when a default is needed.
    """

    def __init__(self, workgroup: str | None = None, database: str | None = None, *, stack: str = "hstcr"):
        if workgroup is None or database is None:
            outputs = stack_outputs(stack)
            workgroup = workgroup or outputs.get("AthenaWorkGroup")
            database = database or outputs.get("GlueDatabase") or DEFAULT_DATABASE
            if not workgroup:
                raise HstcrError(f"stack {stack!r} has no AthenaWorkGroup output: pass workgroup=")
        self.workgroup, self.database = workgroup, database

    def __repr__(self) -> str:
        return f"AthenaLake(workgroup={self.workgroup!r}, database={self.database!r})"

    def sql(self, query: str, **kwargs):
        """Run SQL (Trino dialect) in Athena; a pandas DataFrame."""
        return athena_dataframe(query, workgroup=self.workgroup, database=self.database, **kwargs)

    def named(self, name: str, **kwargs):
        """A named analysis (:meth:`analyses` lists them)."""
        return self.sql(named_sql(name), **kwargs)

    @staticmethod
    def analyses() -> dict[str, str]:
        return named_queries()

    def __getattr__(self, name: str):
        if not name.startswith("_") and name in named_queries():
            return lambda **kwargs: self.named(name, **kwargs)
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}; named analyses: "
                             f"{', '.join(named_queries())}")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(named_queries()))


def open_athena(workgroup: str | None = None, database: str | None = None, *, stack: str = "hstcr") -> AthenaLake:
    """Open the deployed stack's lake for queries through Athena (see :class:`AthenaLake`)."""
    return AthenaLake(workgroup, database, stack=stack)
