"""The Parquet lake: schemas, rows, atomic writes, reads and SQL."""

from __future__ import annotations

from .._exports import attach

# name -> submodule, imported on first use (see hstcr_common/_exports.py)
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
    "REFERENCES": "store",
    "SOFTWARE_VERSION": "rows",
    "TABLES": "schemas",
    "TRACK_POINT": "schemas",
    "connect": "query",
    "cosmic_rays_table": "rows",
    "energy_kev_array": "rows",
    "kev_per_electron_of_chips": "rows",
    "exposures_table": "rows",
    "failures_table": "rows",
    "field_doc": "schemas",
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
    "numeric_array": "rows",
    "string_array": "rows",
    "value_array": "rows",
    "row_table": "rows",
    "temporary_path": "store",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
