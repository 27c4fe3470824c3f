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
                                       "--end", "2019-12", "--name", "acs-2019"])
    assert result.exit_code == 0, result.output
    execution_arn, link = result.output.strip().splitlines()
    assert execution_arn.startswith("arn:aws:states:us-east-1:") and execution_arn.endswith(":acs-2019")
    assert link.startswith("https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/")
    sfn = boto3.client("stepfunctions")
    request = json.loads(sfn.describe_execution(executionArn=execution_arn)["input"])
    assert request == {"method": "threshold", "reprocess": False, "instrument": "acs_wfc",
                       "start": "2019-01", "end": "2019-12"}


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
    execution_arn = result.output.splitlines()[0]
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
