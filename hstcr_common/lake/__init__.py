"""The Parquet lake: schemas, rows, atomic writes, reads and SQL."""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
_EXPORTS = {
    "COSMIC_RAYS": "schemas",
    "DEFAULT_LAKE": "store",
    "DEMO_LAKE": "query",
    "EXPOSURES": "schemas",
    "FAILURES": "schemas",
    "Lake": "store",
    "OpenLake": "notebook",
    "PARQUET_OPTIONS": "store",
    "PARTITION_KEYS": "schemas",
    "PIXEL": "schemas",
    "PartitionKey": "store",
    "SOFTWARE_VERSION": "rows",
    "TABLES": "schemas",
    "TRACK_POINT": "schemas",
    "connect": "query",
    "cosmic_rays_table": "rows",
    "exposures_table": "rows",
    "failures_table": "rows",
    "full_schema": "query",
    "named_queries": "query",
    "named_sql": "query",
    "open_lake": "notebook",
    "partition_of": "store",
    "require_lake": "query",
    "run_named": "query",
    "run_sql": "query",
    "to_duckdb": "query",
    "track_array": "rows",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
