"""The laptop's side of ``hstcr aws``: find the deployed stack, start, watch and redrive runs,
query the lake with Athena (rows as text, or a pandas DataFrame through awswrangler).

Every call goes through :func:`hstcr_common.remote.aws_client` (credentials from the
standard AWS chain, botocore standard retries, endpoints from boto3's own settings).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from ..instruments import get_detector
from ..model import DEFAULT_METHOD, HstcrError
from ..remote import aws_client, region

#: The Step Functions console page of one execution.
CONSOLE = "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"
#: Item counts a Distributed Map run reports (DescribeMapRun ``itemCounts``).
MAP_ITEM_COUNTS = ("total", "succeeded", "failed", "running", "pending", "aborted", "timedOut")
#: The Map's concurrency is capped at this share of the account's unreserved Lambda
#: concurrency: the rest stays for the plan/summarize functions and anything else running.
CONCURRENCY_SHARE = 0.8
#: The stack's default MaxConcurrency (``hstcr:maxConcurrency``) when its output is unknown.
DEFAULT_MAX_CONCURRENCY = 500


def lambda_concurrency() -> dict[str, int]:
    """The account's Lambda concurrency in this region (``GetAccountSettings``):
    ``{"limit": ConcurrentExecutions, "unreserved": UnreservedConcurrentExecutions}``.
    New accounts often get a limit of 10."""
    limit = aws_client("lambda").get_account_settings()["AccountLimit"]
    return {"limit": int(limit["ConcurrentExecutions"]),
            "unreserved": int(limit.get("UnreservedConcurrentExecutions", limit["ConcurrentExecutions"]))}


def concurrency_cap(requested: int, concurrency: dict[str, int]) -> tuple[int, str]:
    """The Map's MaxConcurrency for an account: ``requested`` (0: no limit) capped at
    :data:`CONCURRENCY_SHARE` of the unreserved concurrency (at least 1), and a sentence
    saying what was decided.

    More children than Lambda can run at once are throttled; throttles are retried, but a
    storm of them turns into failed items and a failed Map.
    """
    unreserved = concurrency["unreserved"]
    cap = max(1, math.floor(CONCURRENCY_SHARE * unreserved))
    where = (f"Lambda concurrency: account limit {concurrency['limit']}, unreserved {unreserved}")
    if requested == 0 or requested > cap:
        asked = "no limit" if requested == 0 else str(requested)
        return cap, (f"{where}: MaxConcurrency capped from {asked} to {cap} "
                     f"({CONCURRENCY_SHARE:.0%} of unreserved; ask AWS for a higher Lambda quota to go faster)")
    return requested, f"{where}: MaxConcurrency {requested} fits ({CONCURRENCY_SHARE:.0%} of unreserved is {cap})"


def stack_outputs(stack_name: str = "hstcr") -> dict[str, str]:
    """The deployed stack's outputs (``StateMachineArn``, ``LakeBucketName``, ``AthenaWorkGroup``...)."""
    try:
        stacks = aws_client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as err:  # botocore ClientError: stack missing / no credentials
        raise HstcrError(f"cannot read CloudFormation stack {stack_name!r}: {err}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def console_url(execution_arn: str) -> str:
    """Link to an execution in the Step Functions console."""
    where = execution_arn.split(":")[3] if execution_arn.count(":") >= 4 else region()
    return CONSOLE.format(region=where, arn=execution_arn)


def submit(state_machine_arn: str, *, instrument: str | None = None, start: str | None = None,
           end: str | None = None, manifest: str | None = None, method: str = DEFAULT_METHOD,
           params: dict | None = None, reprocess: bool = False, name: str | None = None,
           max_concurrency: int | None = None, check_quota: bool = True) -> dict:
    """Start one execution.

    With ``check_quota`` the account's Lambda concurrency is read and the Map's
    MaxConcurrency (``max_concurrency``, default :data:`DEFAULT_MAX_CONCURRENCY`) capped below
    it (:func:`concurrency_cap`); the value goes into the execution input, which the plan
    passes to the Map (``MaxConcurrencyPath``).

    Returns
    -------
    dict
        ``{"executionArn", "startDate", "console_url", "input", "concurrency_note"}``.
    """
    request: dict[str, Any] = {"method": method, "reprocess": reprocess}
    requested = DEFAULT_MAX_CONCURRENCY if max_concurrency is None else int(max_concurrency)
    note = None
    if check_quota:
        try:
            requested, note = concurrency_cap(requested, lambda_concurrency())
        except Exception as err:  # noqa: BLE001 - no lambda:GetAccountSettings: say so, go on
            note = f"Lambda concurrency unknown ({err}); MaxConcurrency {requested} not checked"
    if check_quota or max_concurrency is not None:
        request["max_concurrency"] = requested
    if params:
        request["params"] = params
    if manifest:
        request["manifest"] = manifest
    else:
        if not (instrument and start and end):
            raise HstcrError("submit needs --instrument, --start and --end (or --manifest)")
        get_detector(instrument)  # an unknown id fails here, not in the cloud
        request.update(instrument=instrument, start=start, end=end)
    kwargs = {"stateMachineArn": state_machine_arn, "input": json.dumps(request)}
    if name:
        kwargs["name"] = name
    out = aws_client("stepfunctions").start_execution(**kwargs)
    return {"executionArn": out["executionArn"], "startDate": str(out.get("startDate")),
            "console_url": console_url(out["executionArn"]), "input": request,
            "concurrency_note": note}


def redrive(execution_arn: str) -> dict:
    """Redrive a failed (or aborted, timed-out) execution from where it stopped
    (Step Functions ``RedriveExecution``).

    A run stopped by its Map (more failed items than tolerated) restarts the Map Run's failed
    and unfinished children only; the children that succeeded are not run again, then the run
    goes on to Summarize.  Returns ``{"executionArn", "redriveDate", "console_url"}``.
    """
    try:
        out = aws_client("stepfunctions").redrive_execution(executionArn=execution_arn)
    except Exception as err:  # botocore: ExecutionNotRedrivable, ExecutionDoesNotExist, ...
        raise HstcrError(f"cannot redrive {execution_arn}: {err}") from None
    return {"executionArn": execution_arn, "redriveDate": str(out.get("redriveDate")),
            "console_url": console_url(execution_arn)}


def execution_status(execution_arn: str) -> dict:
    """Status of an execution and of its Distributed Map run(s).

    Returns
    -------
    dict
        ``status, startDate, stopDate, map_runs: [{mapRunArn, status, items: {total,
        succeeded, failed, running, pending, ...}}], summary`` (the summarize output when the
        run has finished).
    """
    sfn = aws_client("stepfunctions")
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
                                "items": {k: counts.get(k, 0) for k in MAP_ITEM_COUNTS}})
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
    athena = aws_client("athena")
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


def athena_dataframe(sql: str, *, workgroup: str, database: str = "hstcr", **kwargs):
    """Run SQL in Athena and return a pandas DataFrame (awswrangler's
    ``wr.athena.read_sql_query``, typed columns, no CTAS: results are read from the
    workgroup's output location, so no Glue write permission is needed).

    Needs the ``aws`` extra (awswrangler); extra keyword arguments go to
    ``read_sql_query``.  Example::

        from hstcr_common.aws import athena_dataframe
        df = athena_dataframe("SELECT instrument, sum(n_cr) AS n FROM exposures GROUP BY 1",
                              workgroup="hstcr-hstcr")
    """
    try:
        import awswrangler as wr
    except ImportError:
        raise HstcrError("athena_dataframe needs awswrangler: pip install 'hstcr[aws]'") from None
    kwargs.setdefault("ctas_approach", False)
    try:
        return wr.athena.read_sql_query(sql, database=database, workgroup=workgroup, **kwargs)
    except wr.exceptions.QueryFailed as err:
        raise HstcrError(f"Athena query failed: {err}") from None
