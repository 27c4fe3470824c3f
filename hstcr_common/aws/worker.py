"""AWS edges of hstcr: the work behind the Lambda handlers and the ``hstcr aws`` commands.

Lambda side (called by ``functions/*.py``, one call each):

- :func:`plan_run` -- items (MAST query, a given manifest or inline) -> ``runs/<run_id>/manifest.jsonl``
- :func:`process_event` -- one Distributed Map item (a dark or a stack group), or a batch
- :func:`summarize_run` -- counts, failures, ``runs/<run_id>/results.parquet`` + ``summary.json``

Client side (``hstcr aws``): :func:`stack_outputs`, :func:`submit`, :func:`execution_status`,
:func:`athena_query`.

boto3 is imported inside functions only (the science stack never needs it); endpoints come
from boto3's standard settings (``AWS_ENDPOINT_URL``...), which is how tests use moto.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
import uuid
from collections import Counter
from typing import Any, Iterable

from ..model import HstcrError

#: ``process_dark`` writes one small JSON result per item here (summarize reads them back).
RESULTS_DIR = "results"
MANIFEST_NAME = "manifest.jsonl"
CONSOLE = "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"


# --------------------------------------------------------------------------- small helpers

def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def client(service: str):
    """A boto3 client in the configured region (endpoint from boto3's own settings)."""
    import boto3

    return boto3.client(service, region_name=_region())


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``; the key has no leading slash."""
    m = re.match(r"^s3://([^/]+)/?(.*)$", uri or "")
    if not m:
        raise HstcrError(f"not an s3:// location: {uri!r}")
    return m.group(1), m.group(2).strip("/")


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *[p.strip("/") for p in parts if p]])


def _put(uri: str, body: bytes, content_type: str = "application/json") -> None:
    bucket, key = split_s3(uri)
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def _exists(uri: str) -> bool:
    """True when the S3 object exists (a 404 is False; other errors propagate)."""
    import botocore.exceptions

    bucket, key = split_s3(uri)
    try:
        client("s3").head_object(Bucket=bucket, Key=key)
        return True
    except botocore.exceptions.ClientError as err:
        if str(err.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def _run_id(execution_name: str | None) -> str:
    if execution_name:
        return re.sub(r"[^A-Za-z0-9._-]", "-", execution_name)
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


# --------------------------------------------------------------------------- plan

def group_items(items: list[dict]) -> list[dict]:
    """Stack-method work items: darks grouped by set-up and month (the manifest's ``group``
    key when every item has one, as ``hstcr run`` does, else
    :func:`hstcr_common.detect.methods.group_for_stack`); each group is one map item
    ``{"dataset": "<first>+<n-1>", "instrument", "month", "group", "items": [...]}``."""
    if items and all(it.get("group") for it in items):
        by_key: dict[str, list[dict]] = {}
        for it in items:
            by_key.setdefault(str(it["group"]), []).append(it)
        grouped = [(key, members) for key, members in sorted(by_key.items())]
    else:
        from ..detect import group_for_stack

        grouped = []
        for members in group_for_stack(items):
            first = members[0]
            key = f"{first['instrument']}-{first.get('month', '')}-{first['dataset']}"
            grouped.append((key, [dict(m, group=key) for m in members]))
    out = []
    for key, members in grouped:
        first = members[0]
        out.append({
            "dataset": first["dataset"] if len(members) == 1 else f"{first['dataset']}+{len(members) - 1}",
            "instrument": first["instrument"],
            "month": first.get("month"),
            "group": key,
            "items": members,
        })
    return out


def _planned_items(request: dict) -> list[dict]:
    from ..pipeline import read_manifest, validate_item

    if request.get("items") is not None:
        return [validate_item(it, f"request item {i}") for i, it in enumerate(request["items"])]
    if request.get("manifest"):
        return list(read_manifest(request["manifest"]))
    missing = [k for k in ("instrument", "start", "end") if not request.get(k)]
    if missing:
        raise HstcrError(f"plan request needs 'items', 'manifest' or instrument/start/end (missing {missing})")
    from ..remote import plan_darks

    return list(plan_darks(request["instrument"], request["start"], request["end"]))


def plan_run(request: dict, *, runs_root: str, lake: str, execution_name: str | None = None) -> dict:
    """Plan a run and write its manifest (JSON Lines) to ``<runs_root>/<run_id>/manifest.jsonl``.

    Parameters
    ----------
    request : dict
        ``{"instrument", "start": "YYYY-MM", "end": "YYYY-MM"}`` (MAST query), or
        ``{"manifest": "s3://..."}``, or ``{"items": [...]}``; plus optional ``method``
        (``threshold``, ``dq``, ``stack``), ``params`` (dict) and ``reprocess`` (bool).
    runs_root : str
        ``s3://bucket/runs``.
    lake : str
        The lake root the workers write to (echoed for the summary).
    execution_name : str, optional
        The Step Functions execution name: the run id.

    Returns
    -------
    dict
        ``run_id, bucket, key, n_items, n_darks, method, params, reprocess, lake`` (what the
        Distributed Map's ItemReader and ItemSelector read).
    """
    method = request.get("method") or "threshold"
    if method not in ("threshold", "dq", "stack"):
        raise HstcrError(f"unknown method {method!r}: choose threshold, dq or stack")
    items = _planned_items(request)
    work = group_items(items) if method == "stack" else items
    run_id = _run_id(execution_name)
    uri = _join(runs_root, run_id, MANIFEST_NAME)
    body = "".join(json.dumps(it, separators=(",", ":")) + "\n" for it in work).encode()
    _put(uri, body, "application/x-ndjson")
    bucket, key = split_s3(uri)
    return {"run_id": run_id, "bucket": bucket, "key": key, "n_items": len(work),
            "n_darks": len(items), "method": method, "params": request.get("params") or {},
            "reprocess": bool(request.get("reprocess", False)), "lake": lake}


# --------------------------------------------------------------------------- process

def _process_one(item: dict, *, lake: str, method: str, params: dict | None, reprocess: bool) -> list[dict]:
    from ..pipeline import process_group, process_item

    if item.get("items"):
        return process_group(item["items"], lake=lake, params=params, reprocess=reprocess)
    return [process_item(item, lake=lake, method=method, params=params, reprocess=reprocess)]


def process_event(event: dict, *, lake: str, runs_root: str | None = None) -> dict:
    """Process a Distributed Map item (``{"item", "run_id", "method", "params", "reprocess"}``)
    or an ItemBatcher batch (``{"Items": [{"item"}...], "BatchInput": {...}}``).

    Bad darks never raise: :func:`hstcr_common.pipeline.core.process_item` records them as
    ``failures`` rows and returns ``status="failed"``.  Each dark's result is also written to
    ``<runs_root>/<run_id>/results/<dataset>.json`` for :func:`summarize_run`.

    Returns
    -------
    dict
        ``{"results": [per-dark result dicts], "n_done", "n_failed", "n_skipped"}``
    """
    if "Items" in event:
        settings = event.get("BatchInput") or {}
        entries = [e.get("item", e) for e in event["Items"]]
    else:
        settings = event
        entries = [event["item"]]
    method = settings.get("method") or "threshold"
    params = settings.get("params") or None
    reprocess = bool(settings.get("reprocess", False))
    run_id = settings.get("run_id")
    results = []
    for entry in entries:
        results.extend(_process_one(entry, lake=lake, method=method, params=params, reprocess=reprocess))
    if runs_root and run_id:
        for res in results:
            uri = _join(runs_root, run_id, RESULTS_DIR, f"{res['dataset']}.json")
            # a retried invocation (Lambda retry, duplicate delivery) finds the dark done and
            # skips it: keep the first attempt's "done" result so the summary still counts it
            if res["status"] == "skipped" and _exists(uri):
                continue
            _put(uri, json.dumps(res, default=str).encode())
    counts = Counter(r["status"] for r in results)
    # keep the map's own result small: Step Functions caps state payloads at 256 KB
    slim = [{k: r.get(k) for k in ("dataset", "instrument", "status", "n_cr", "seconds", "error")}
            for r in results]
    return {"results": slim, "n_done": counts["done"], "n_failed": counts["failed"],
            "n_skipped": counts["skipped"]}


# --------------------------------------------------------------------------- summarize

def _list_keys(bucket: str, prefix: str) -> list[str]:
    s3 = client("s3")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


def _read_json(bucket: str, key: str):
    return json.loads(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def _map_failures(map_output: dict | None) -> int:
    """Items the Distributed Map itself failed (Lambda errors after retries), from the
    ResultWriter manifest; 0 when there is none."""
    details = (map_output or {}).get("ResultWriterDetails")
    if not details:
        return 0
    try:
        manifest = _read_json(details["Bucket"], details["Key"])
    except Exception:  # noqa: BLE001 - the summary must still be written
        return 0
    n = 0
    for entry in (manifest.get("ResultFiles") or {}).get("FAILED", []):
        try:
            n += len(_read_json(manifest["DestinationBucket"], entry["Key"]))
        except Exception:  # noqa: BLE001
            n += 1
    return n


RESULT_SCHEMA_FIELDS = [("dataset", "string"), ("instrument", "string"), ("month", "string"),
                        ("status", "string"), ("n_cr", "int64"), ("seconds", "float64"),
                        ("error", "string")]


def results_table(results: Iterable[dict]):
    """Per-dark results as a pyarrow Table (one row per dark)."""
    import pyarrow as pa

    results = list(results)
    schema = pa.schema([(name, getattr(pa, t)()) for name, t in RESULT_SCHEMA_FIELDS])
    columns = {name: [r.get(name) for r in results] for name, _ in RESULT_SCHEMA_FIELDS}
    columns["n_cr"] = [int(v or 0) for v in columns["n_cr"]]
    columns["seconds"] = [float(v or 0.0) for v in columns["seconds"]]
    return pa.table(columns, schema=schema)


def summarize_run(event: dict, *, lake: str, runs_root: str) -> dict:
    """Summarize one run: counts per status, cosmic rays, time, failures.

    Reads ``<runs_root>/<run_id>/results/*.json`` (written by :func:`process_event`), writes
    ``results.parquet`` (one row per dark) and ``summary.json`` beside the manifest.

    Parameters
    ----------
    event : dict
        The state machine's state: ``{"plan": {...}, "map": {...}?, "map_error": {...}?}``.
    """
    import io

    import pyarrow.parquet as pq

    plan = event.get("plan") or {}
    run_id = plan.get("run_id") or event.get("run_id")
    if not run_id:
        raise HstcrError("summarize needs the plan's run_id")
    bucket, prefix = split_s3(_join(runs_root, run_id, RESULTS_DIR) + "/")
    results = [_read_json(bucket, key) for key in _list_keys(bucket, prefix + "/") if key.endswith(".json")]
    results.sort(key=lambda r: r.get("dataset", ""))
    counts = Counter(r.get("status") for r in results)
    table = results_table(results)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    _put(_join(runs_root, run_id, "results.parquet"), buf.getvalue(), "application/vnd.apache.parquet")
    summary = {
        "run_id": run_id,
        "lake": lake,
        "method": plan.get("method"),
        "n_items": plan.get("n_items", 0),
        "n_darks_planned": plan.get("n_darks", plan.get("n_items", 0)),
        "n_results": len(results),
        "n_done": counts.get("done", 0),
        "n_failed": counts.get("failed", 0),
        "n_skipped": counts.get("skipped", 0),
        "n_map_failures": _map_failures(event.get("map")),
        "cosmic_rays": int(sum(int(r.get("n_cr") or 0) for r in results)),
        "seconds": round(sum(float(r.get("seconds") or 0.0) for r in results), 3),
        "failures": [{"dataset": r.get("dataset"), "instrument": r.get("instrument"), "error": r.get("error")}
                     for r in results if r.get("status") == "failed"][:100],
        "map_error": event.get("map_error"),
        "results": _join(runs_root, run_id, "results.parquet"),
    }
    _put(_join(runs_root, run_id, "summary.json"), json.dumps(summary, indent=1, default=str).encode())
    return summary


# --------------------------------------------------------------------------- client side

def stack_outputs(stack_name: str = "hstcr") -> dict[str, str]:
    """The deployed stack's outputs (``StateMachineArn``, ``LakeBucketName``, ``AthenaWorkGroup``...)."""
    try:
        stacks = client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as err:  # botocore ClientError: stack missing / no credentials
        raise HstcrError(f"cannot read CloudFormation stack {stack_name!r}: {err}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def console_url(execution_arn: str) -> str:
    """Link to an execution in the Step Functions console."""
    region = execution_arn.split(":")[3] if execution_arn.count(":") >= 4 else _region()
    return CONSOLE.format(region=region, arn=execution_arn)


def submit(state_machine_arn: str, *, instrument: str | None = None, start: str | None = None,
           end: str | None = None, manifest: str | None = None, method: str = "threshold",
           params: dict | None = None, reprocess: bool = False, name: str | None = None) -> dict:
    """Start one execution; returns ``{"executionArn", "startDate", "console_url", "input"}``."""
    request: dict[str, Any] = {"method": method, "reprocess": reprocess}
    if params:
        request["params"] = params
    if manifest:
        request["manifest"] = manifest
    else:
        if not (instrument and start and end):
            raise HstcrError("submit needs --instrument, --start and --end (or --manifest)")
        from ..instruments import get_detector

        get_detector(instrument)  # an unknown id fails here, not in the cloud
        request.update(instrument=instrument, start=start, end=end)
    kwargs = {"stateMachineArn": state_machine_arn, "input": json.dumps(request)}
    if name:
        kwargs["name"] = name
    out = client("stepfunctions").start_execution(**kwargs)
    return {"executionArn": out["executionArn"], "startDate": str(out.get("startDate")),
            "console_url": console_url(out["executionArn"]), "input": request}


def execution_status(execution_arn: str) -> dict:
    """Status of an execution and of its Distributed Map run(s).

    Returns
    -------
    dict
        ``status, startDate, stopDate, map_runs: [{mapRunArn, status, items: {total,
        succeeded, failed, running, pending, ...}}], summary`` (the summarize output when the
        run has finished).
    """
    sfn = client("stepfunctions")
    ex = sfn.describe_execution(executionArn=execution_arn)
    out = {"executionArn": execution_arn, "status": ex["status"], "startDate": str(ex.get("startDate")),
           "stopDate": str(ex.get("stopDate")) if ex.get("stopDate") else None, "map_runs": [],
           "summary": None, "error": ex.get("error"), "cause": ex.get("cause")}
    try:
        runs = sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", [])
    except Exception:  # noqa: BLE001 - older emulators lack ListMapRuns
        runs = []
    for run in runs:
        info = sfn.describe_map_run(mapRunArn=run["mapRunArn"])
        counts = info.get("itemCounts", {})
        out["map_runs"].append({"mapRunArn": run["mapRunArn"], "status": info.get("status"),
                                "items": {k: counts.get(k, 0) for k in
                                          ("total", "succeeded", "failed", "running", "pending",
                                           "aborted", "timedOut")}})
    if ex.get("output"):
        try:
            out["summary"] = json.loads(ex["output"]).get("summary", {}).get("summary")
        except (ValueError, AttributeError):
            pass
    return out


def athena_query(sql: str, *, workgroup: str, database: str = "hstcr", poll_s: float = 1.0,
                 timeout_s: float = 600.0) -> tuple[list[str], list[list[str | None]], dict]:
    """Run SQL in Athena and return ``(columns, rows, statistics)`` (values as strings).

    Raises
    ------
    HstcrError
        When the query fails or is cancelled (e.g. over the workgroup's bytes-scanned limit).
    """
    athena = client("athena")
    qid = athena.start_query_execution(QueryString=sql, WorkGroup=workgroup,
                                       QueryExecutionContext={"Database": database})["QueryExecutionId"]
    deadline = time.monotonic() + timeout_s
    while True:
        ex = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        state = ex["Status"]["State"]
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        if time.monotonic() > deadline:
            athena.stop_query_execution(QueryExecutionId=qid)
            raise HstcrError(f"Athena query {qid} still {state} after {timeout_s:.0f} s; stopped")
        time.sleep(poll_s)
    if state != "SUCCEEDED":
        reason = ex["Status"].get("StateChangeReason", "")
        raise HstcrError(f"Athena query {qid} {state}: {reason}")
    columns: list[str] = []
    rows: list[list[str | None]] = []
    first = True
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid):
        rs = page["ResultSet"]
        if not columns:
            columns = [c.get("Name", c.get("Label", "")) for c in rs.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
        data = rs.get("Rows", [])
        if first and data and columns and [d.get("VarCharValue") for d in data[0]["Data"]] == columns:
            data = data[1:]  # Athena repeats the header as the first row of the first page
        first = False
        rows.extend([d.get("VarCharValue") for d in row["Data"]] for row in data)
    return columns, rows, ex.get("Statistics", {})
