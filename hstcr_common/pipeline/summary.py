"""What a lake holds: counts per table and instrument, and the failures (the Lambda
"summarize" step and ``hstcr run``'s closing table)."""

from __future__ import annotations

from ..lake import Lake, partition_of


def summarize_lake(lake: str) -> dict:
    """Counts per table and instrument, and the failures, read from Parquet footers.

    Returns
    -------
    dict
        ``{"lake", "tables": {table: {instrument: {"files", "rows"}}}, "darks", "cosmic_rays",
        "n_failures", "failures": [{"dataset", "instrument", "stage", "message"}, ...]}``
        (at most 100 failures listed).
    """
    lake_obj = Lake(lake)
    tables: dict = {}
    for table in ("cosmic_rays", "exposures", "failures"):
        per_inst: dict = {}
        for path in lake_obj.files(table):
            inst = partition_of(path).instrument
            entry = per_inst.setdefault(inst, {"files": 0, "rows": 0})
            entry["files"] += 1
            entry["rows"] += lake_obj.num_rows(path)
        tables[table] = per_inst
    failures = []
    for path in lake_obj.files("failures")[:100]:
        t = lake_obj.read_file(path, columns=["dataset", "stage", "message"]).to_pylist()
        for row in t:
            row["instrument"] = partition_of(path).instrument
            failures.append(row)
    return {
        "lake": lake_obj.uri,
        "tables": tables,
        "darks": sum(v["files"] for v in tables["exposures"].values()),
        "cosmic_rays": sum(v["rows"] for v in tables["cosmic_rays"].values()),
        "n_failures": sum(v["rows"] for v in tables["failures"].values()),
        "failures": failures,
    }
