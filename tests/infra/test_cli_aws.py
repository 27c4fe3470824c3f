"""``hstcr aws submit | status | query`` with the real boto3 client against moto."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from hstcr_common.cli import main


@pytest.fixture
def aws(fake_aws_env):
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


def _machine(definition: dict) -> str:
    import boto3

    role = boto3.client("iam").create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return boto3.client("stepfunctions").create_state_machine(
        name="hstcr-darks", definition=json.dumps(definition), roleArn=role)["stateMachineArn"]


def _stack_with_outputs(outputs: dict[str, str]) -> None:
    import boto3

    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {k: {"Value": v} for k, v in outputs.items()}}
    boto3.client("cloudformation").create_stack(StackName="hstcr", TemplateBody=json.dumps(template))


def test_submit_prints_arn_and_console_link_and_passes_the_request(aws):
    import boto3

    arn = _machine({"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}})
    _stack_with_outputs({"StateMachineArn": arn})
    result = CliRunner().invoke(main, ["aws", "submit", "--instrument", "acs_wfc", "--start", "2019-01",
                                       "--end", "2019-12", "--name", "acs-2019", "--method", "threshold"])
    assert result.exit_code == 0, result.output
    execution_arn, link = result.stdout.strip().splitlines()
    assert execution_arn.startswith("arn:aws:states:us-east-1:") and execution_arn.endswith(":acs-2019")
    assert link.startswith("https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/")
    sfn = boto3.client("stepfunctions")
    request = json.loads(sfn.describe_execution(executionArn=execution_arn)["input"])
    # moto has no GetAccountSettings: the cap is not checked, and submit says so
    assert "Lambda concurrency unknown" in result.stderr
    assert request == {"method": "threshold", "reprocess": False, "instrument": "acs_wfc",
                       "start": "2019-01", "end": "2019-12", "max_concurrency": 500}


def test_submit_rejects_an_unknown_instrument_before_calling_aws(aws):
    arn = _machine({"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}})
    result = CliRunner().invoke(main, ["aws", "submit", "--state-machine", arn, "--instrument", "acs_nope",
                                       "--start", "2019-01", "--end", "2019-02"])
    assert result.exit_code != 0
    assert "acs_nope" in result.output


def test_status_reports_the_execution(aws):
    arn = _machine({"StartAt": "Summary", "States": {"Summary": {
        "Type": "Pass", "Result": {"summary": {"n_done": 3, "n_failed": 1, "n_skipped": 0,
                                               "cosmic_rays": 42, "results": "s3://b/runs/x/results.parquet"}},
        "ResultPath": "$.summary", "End": True}}})
    result = CliRunner().invoke(main, ["aws", "submit", "--state-machine", arn, "--manifest", "s3://b/m.jsonl"])
    assert result.exit_code == 0, result.output
    execution_arn = result.stdout.splitlines()[0]
    import boto3

    sfn = boto3.client("stepfunctions")
    for _ in range(100):
        if sfn.describe_execution(executionArn=execution_arn)["status"] != "RUNNING":
            break
        time.sleep(0.05)
    result = CliRunner().invoke(main, ["aws", "status", execution_arn])
    assert result.exit_code == 0, result.output
    assert "execution SUCCEEDED" in result.output
    assert "darks: 3 done, 1 failed, 0 skipped; 42 cosmic rays" in result.output
    raw = CliRunner().invoke(main, ["aws", "status", execution_arn, "--json"])
    assert json.loads(raw.output)["summary"]["cosmic_rays"] == 42


def test_query_runs_sql_in_the_stack_workgroup(aws):
    import boto3
    from moto.athena.models import QueryResults, athena_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    boto3.client("s3").create_bucket(Bucket="results")
    boto3.client("athena").create_work_group(
        Name="hstcr-hstcr", Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/"}})
    _stack_with_outputs({"AthenaWorkGroup": "hstcr-hstcr"})
    # moto does not execute SQL: queue the result set Athena would return (header row first)
    rows = [{"Data": [{"VarCharValue": "instrument"}, {"VarCharValue": "n_cr"}]},
            {"Data": [{"VarCharValue": "acs_wfc"}, {"VarCharValue": "1234"}]},
            {"Data": [{"VarCharValue": "stis_ccd"}, {}]}]
    columns = [{"Name": "instrument", "Type": "varchar"}, {"Name": "n_cr", "Type": "bigint"}]
    athena_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].query_results_queue.append(QueryResults(rows, columns))
    result = CliRunner().invoke(main, ["aws", "query", "SELECT instrument, sum(n_cr) AS n_cr FROM exposures GROUP BY 1"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if not line.startswith("#")]
    assert lines == ["instrument\tn_cr", "acs_wfc\t1234", "stis_ccd\t"]
    executions = boto3.client("athena").list_query_executions(WorkGroup="hstcr-hstcr")["QueryExecutionIds"]
    assert len(executions) == 1
    ex = boto3.client("athena").get_query_execution(QueryExecutionId=executions[0])["QueryExecution"]
    assert ex["QueryExecutionContext"]["Database"] == "hstcr"
    assert ex["Query"].startswith("SELECT instrument")


def test_query_resolves_named_queries(aws):
    import boto3

    boto3.client("athena").create_work_group(
        Name="wg", Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/"}})
    boto3.client("s3").create_bucket(Bucket="results")
    result = CliRunner().invoke(main, ["aws", "query", "@rate_per_month", "--workgroup", "wg"])
    assert result.exit_code == 0, result.output
    ex_id = boto3.client("athena").list_query_executions(WorkGroup="wg")["QueryExecutionIds"][0]
    query = boto3.client("athena").get_query_execution(QueryExecutionId=ex_id)["QueryExecution"]["Query"]
    assert "FROM exposures" in query
    missing = CliRunner().invoke(main, ["aws", "query", "@no_such_query", "--workgroup", "wg"])
    assert missing.exit_code != 0 and "no_such_query" in missing.output


def test_hstcr_query_athena_runs_the_named_sql_in_athena(aws):
    """`hstcr query --athena --named X` sends the shared .sql file, unchanged, to Athena."""
    import boto3

    from hstcr_common.lake import named_sql

    boto3.client("athena").create_work_group(
        Name="wg", Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/"}})
    boto3.client("s3").create_bucket(Bucket="results")
    result = CliRunner().invoke(main, ["query", "--athena", "--named", "rate_map", "--workgroup", "wg"])
    assert result.exit_code == 0, result.output
    ex_id = boto3.client("athena").list_query_executions(WorkGroup="wg")["QueryExecutionIds"][0]
    query = boto3.client("athena").get_query_execution(QueryExecutionId=ex_id)["QueryExecution"]["Query"]
    assert query == named_sql("rate_map") and "CROSS JOIN UNNEST(e.track)" in query


# --------------------------------------------------------------------------- quotas, redrive, pandas

@pytest.mark.parametrize("limit, unreserved, requested, expected", [
    (10, 10, 500, 8),        # a new account: 80 % of 10
    (1000, 900, 500, 500),   # the default fits a raised quota
    (1000, 1000, 0, 800),    # "no limit" is capped too
    (1, 1, 500, 1),          # never below one
])
def test_concurrency_cap(limit, unreserved, requested, expected):
    from hstcr_common.aws import concurrency_cap

    cap, note = concurrency_cap(requested, {"limit": limit, "unreserved": unreserved})
    assert cap == expected
    assert f"account limit {limit}" in note and f"unreserved {unreserved}" in note
    assert ("capped" in note) == (expected != requested)


def test_submit_caps_max_concurrency_below_the_account_quota(aws, monkeypatch):
    """GetAccountSettings (moto lacks it: answered by botocore's Stubber) -> the cap goes into
    the execution input, which the plan hands to the Map's MaxConcurrencyPath."""
    import boto3
    from botocore.stub import Stubber

    from hstcr_common.aws import client as client_module

    lam = boto3.client("lambda")
    stub = Stubber(lam)
    stub.add_response("get_account_settings", {"AccountLimit": {
        "ConcurrentExecutions": 10, "UnreservedConcurrentExecutions": 10, "TotalCodeSize": 1,
        "CodeSizeUnzipped": 1, "CodeSizeZipped": 1}, "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0}})
    stub.activate()
    real = client_module.aws_client
    monkeypatch.setattr(client_module, "aws_client", lambda name, **kw: lam if name == "lambda" else real(name, **kw))
    arn = _machine({"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}})
    _stack_with_outputs({"StateMachineArn": arn, "MaxConcurrency": "500"})
    result = CliRunner().invoke(main, ["aws", "submit", "--manifest", "s3://b/m.jsonl"])
    assert result.exit_code == 0, result.output
    assert "account limit 10, unreserved 10: MaxConcurrency capped from 500 to 8" in result.stderr
    request = json.loads(boto3.client("stepfunctions").describe_execution(
        executionArn=result.stdout.splitlines()[0])["input"])
    assert request["max_concurrency"] == 8
    stub.assert_no_pending_responses()


def test_redrive_calls_redrive_execution(monkeypatch):
    """moto has no RedriveExecution: the call is checked at botocore's boundary (Stubber)."""
    import datetime as dt

    import boto3
    from botocore.stub import Stubber

    from hstcr_common.aws import client as client_module

    arn = "arn:aws:states:us-east-1:123456789012:execution:hstcr-darks:acs-2019"
    sfn = boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(sfn)
    stub.add_response("redrive_execution", {"redriveDate": dt.datetime(2026, 1, 2)}, {"executionArn": arn})
    stub.add_client_error("redrive_execution", "ExecutionNotRedrivable", "execution SUCCEEDED",
                          expected_params={"executionArn": arn})
    stub.activate()
    monkeypatch.setattr(client_module, "aws_client", lambda name, **kw: sfn)
    result = CliRunner().invoke(main, ["aws", "redrive", arn])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"redriven {arn} at 2026-01-02")
    again = CliRunner().invoke(main, ["aws", "redrive", arn])
    assert again.exit_code != 0 and "ExecutionNotRedrivable" in again.output
    stub.assert_no_pending_responses()


def test_athena_dataframe_through_awswrangler(aws, tmp_path):
    """awswrangler's read_sql_query runs against moto's Athena: moto answers the queued rows
    and writes them as the CSV result file, which awswrangler reads from S3 (no CTAS)."""
    import boto3
    from moto.athena.models import QueryResults, athena_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    from hstcr_common.aws import athena_dataframe

    boto3.client("s3").create_bucket(Bucket="results")
    boto3.client("athena").create_work_group(
        Name="wg", Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/"}})
    rows = [{"Data": [{"VarCharValue": "instrument"}, {"VarCharValue": "n_cr"}]},
            {"Data": [{"VarCharValue": "acs_wfc"}, {"VarCharValue": "1234"}]},
            {"Data": [{"VarCharValue": "stis_ccd"}, {"VarCharValue": "56"}]}]
    columns = [{"Name": "instrument", "Type": "varchar"}, {"Name": "n_cr", "Type": "bigint"}]
    backend = athena_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    backend.query_results_queue.append(QueryResults(rows, columns))
    df = athena_dataframe("SELECT instrument, sum(n_cr) AS n_cr FROM exposures GROUP BY 1", workgroup="wg")
    assert list(df.columns) == ["instrument", "n_cr"]
    assert df["instrument"].tolist() == ["acs_wfc", "stis_ccd"]
    assert df["n_cr"].tolist() == [1234, 56] and str(df["n_cr"].dtype) == "Int64"
    ex_id = boto3.client("athena").list_query_executions(WorkGroup="wg")["QueryExecutionIds"][0]
    ex = boto3.client("athena").get_query_execution(QueryExecutionId=ex_id)["QueryExecution"]
    assert ex["QueryExecutionContext"]["Database"] == "hstcr"
    # the CLI path: --out saves the DataFrame
    backend.query_results_queue.append(QueryResults(rows, columns))
    out = tmp_path / "counts.parquet"
    result = CliRunner().invoke(main, ["aws", "query", "SELECT 1", "--workgroup", "wg", "--out", str(out)])
    assert result.exit_code == 0, result.output
    import pandas as pd

    assert pd.read_parquet(out)["n_cr"].tolist() == [1234, 56]


def test_open_athena_is_the_notebook_api_over_athena(aws, monkeypatch):
    """``hstcr.open_athena()`` finds the workgroup and database in the stack outputs; ``sql``
    and the named analyses answer DataFrames through awswrangler (moto's Athena)."""
    import boto3
    from moto.athena.models import QueryResults, athena_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    import hstcr
    from hstcr_common.aws import athena_lake
    from hstcr_common.lake import named_sql

    monkeypatch.setattr(athena_lake, "stack_outputs",
                        lambda stack: {"AthenaWorkGroup": "wg2", "GlueDatabase": "hstcr_db"})
    boto3.client("s3").create_bucket(Bucket="results2")
    boto3.client("athena").create_work_group(
        Name="wg2", Configuration={"ResultConfiguration": {"OutputLocation": "s3://results2/"}})
    rows = [{"Data": [{"VarCharValue": "n"}]}, {"Data": [{"VarCharValue": "7"}]}]
    backend = athena_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    lake = hstcr.open_athena()
    assert (lake.workgroup, lake.database) == ("wg2", "hstcr_db")
    backend.query_results_queue.append(QueryResults(rows, [{"Name": "n", "Type": "bigint"}]))
    assert lake.sql("SELECT count(*) AS n FROM exposures")["n"].tolist() == [7]
    backend.query_results_queue.append(QueryResults(rows, [{"Name": "n", "Type": "bigint"}]))
    lake.rate_per_month()
    athena = boto3.client("athena")
    sent = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"]
            for i in athena.list_query_executions(WorkGroup="wg2")["QueryExecutionIds"]]
    assert named_sql("rate_per_month").strip() in [q.strip() for q in sent]
    with pytest.raises(AttributeError, match="named analyses"):
        lake.no_such_analysis
