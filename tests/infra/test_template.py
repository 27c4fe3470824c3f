"""CDK assertions on the synthesized template, cfn-lint, and the cdk-nag AwsSolutions report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from aws_cdk.assertions import Match

from hstcr_common.instruments import detectors
from hstcr_common.lake import PARTITION_KEYS, TABLES
from infra.lake import glue_columns, glue_type, query_files

REPO = Path(__file__).resolve().parents[2]


def _resources(template, type_):
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def _one(template, type_):
    found = _resources(template, type_)
    assert len(found) == 1, f"expected one {type_}, found {list(found)}"
    return next(iter(found.items()))


def _lake_bucket_id(template):
    buckets = _resources(template, "AWS::S3::Bucket")
    return next(k for k in buckets if k.startswith("LakeBucket"))


def _policy_statements(template, policy_prefix):
    policies = {k: r for k, r in _resources(template, "AWS::IAM::Policy").items() if k.startswith(policy_prefix)}
    assert len(policies) == 1, list(policies)
    return next(iter(policies.values()))["Properties"]["PolicyDocument"]["Statement"]


def _as_list(x):
    return x if isinstance(x, list) else [x]


# --------------------------------------------------------------------------- type converter

@pytest.mark.parametrize("arrow, hive", [
    (pa.int16(), "smallint"), (pa.int32(), "int"), (pa.int64(), "bigint"),
    (pa.float32(), "float"), (pa.float64(), "double"), (pa.string(), "string"),
    (pa.bool_(), "boolean"), (pa.timestamp("us", tz="UTC"), "timestamp"),
    (pa.list_(pa.struct([("x", pa.int16()), ("e", pa.float32())])), "array<struct<x:smallint,e:float>>"),
    (pa.map_(pa.string(), pa.int32()), "map<string,int>"),
    (pa.decimal128(10, 3), "decimal(10,3)"),
])
def test_glue_type(arrow, hive):
    assert glue_type(arrow) == hive


def test_glue_type_refuses_unknown_types():
    with pytest.raises(TypeError, match="no Glue"):
        glue_type(pa.duration("s"))


# --------------------------------------------------------------------------- lake

def test_lake_bucket_is_private_encrypted_ssl_only_with_lifecycle(synth):
    t = synth["template"]
    bucket_id = _lake_bucket_id(t)
    props = t["Resources"][bucket_id]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
        "SSEAlgorithm"] == "AES256"
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-athena-results"]["Prefix"] == "athena-results/"
    assert rules["expire-run-artefacts"]["Prefix"] == "runs/"
    assert all(r["Status"] == "Enabled" for r in rules.values())
    assert "LoggingConfiguration" in props
    # enforceSSL: a Deny on aws:SecureTransport=false in the bucket policy
    policies = [p for p in _resources(t, "AWS::S3::BucketPolicy").values()
                if p["Properties"]["Bucket"] == {"Ref": bucket_id}]
    statements = policies[0]["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in statements)


def test_glue_columns_are_the_pyarrow_schemas(synth):
    t = synth["template"]
    tables = {r["Properties"]["TableInput"]["Name"]: r["Properties"]["TableInput"]
              for r in _resources(t, "AWS::Glue::Table").values()}
    assert set(tables) == set(TABLES)
    for name, schema in TABLES.items():
        sd = tables[name]["StorageDescriptor"]
        assert [c["Name"] for c in sd["Columns"]] == schema.names
        assert [{"name": c["Name"], "type": c["Type"]} for c in sd["Columns"]] == glue_columns(schema)
        assert [(k["Name"], k["Type"]) for k in tables[name]["PartitionKeys"]] == [
            (n, glue_type(ty)) for n, ty in PARTITION_KEYS]
        assert sd["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    pixels = next(c for c in tables["cosmic_rays"]["StorageDescriptor"]["Columns"] if c["Name"] == "pixels")
    assert pixels["Type"] == "array<struct<x:smallint,y:smallint,e:float>>"


def test_partition_projection(synth):
    t = synth["template"]
    bucket_id = _lake_bucket_id(t)
    for r in _resources(t, "AWS::Glue::Table").values():
        ti = r["Properties"]["TableInput"]
        p = ti["Parameters"]
        assert p["projection.enabled"] == "true"
        assert p["projection.instrument.type"] == "enum"
        assert p["projection.instrument.values"].split(",") == sorted(detectors()) + ["unknown"]
        assert p["projection.year.type"] == "integer"
        lo, hi = map(int, p["projection.year.range"].split(","))
        assert lo <= 1990 and hi >= 2030
        assert (p["projection.month.type"], p["projection.month.range"], p["projection.month.digits"]) == (
            "integer", "1,12", "2")
        template = p["storage.location.template"]
        # "s3://${Bucket}/lake/<table>/instrument=${instrument}/year=${year}/month=${month}"
        joined = json.dumps(template)
        assert bucket_id in joined
        assert joined.endswith(f'/lake/{ti["Name"]}/instrument=${{instrument}}/year=${{year}}/month=${{month}}"]]}}')


def test_athena_workgroup_and_named_queries(synth):
    t = synth["template"]
    _, wg = _one(t, "AWS::Athena::WorkGroup")
    cfg = wg["Properties"]["WorkGroupConfiguration"]
    assert cfg["BytesScannedCutoffPerQuery"] == 10 * 1024**3
    assert cfg["EnforceWorkGroupConfiguration"] is True
    assert "athena-results/" in json.dumps(cfg["ResultConfiguration"]["OutputLocation"])
    queries = {q["Properties"]["Name"]: q["Properties"] for q in _resources(t, "AWS::Athena::NamedQuery").values()}
    sql = query_files()
    assert sql, "hstcr_common/queries/*.sql missing"
    assert {n: q["QueryString"] for n, q in queries.items()} == sql
    assert all(q["Database"] == "hstcr" for q in queries.values())


# --------------------------------------------------------------------------- functions + IAM

def test_functions_are_arm64_python312_with_layers(synth):
    a = synth["assertions"]
    for handler in ("functions.plan.handler", "functions.process_dark.handler", "functions.summarize.handler"):
        a.has_resource_properties("AWS::Lambda::Function", {
            "Handler": handler, "Runtime": "python3.12", "Architectures": ["arm64"],
            "TracingConfig": {"Mode": "Active"},
            "Environment": {"Variables": Match.object_like({"HSTCR_LAKE": Match.any_value(),
                                                            "HSTCR_RUNS": Match.any_value()})},
        })
    assert len(_resources(synth["template"], "AWS::Lambda::LayerVersion")) == 2
    # no AWS-managed policy anywhere: every role has only its own inline policy
    for role in _resources(synth["template"], "AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


def test_process_dark_reads_only_stpubdata_and_writes_only_the_lake(synth):
    t = synth["template"]
    bucket_id = _lake_bucket_id(t)
    statements = _policy_statements(t, "FunctionsProcessDarkPolicy")
    s3_statements = [s for s in statements if any(a.startswith("s3:") for a in _as_list(s["Action"]))]
    stpub = [s for s in s3_statements if "stpubdata" in json.dumps(s["Resource"])]
    assert len(stpub) == 1
    assert _as_list(stpub[0]["Action"]) == ["s3:GetObject"]
    assert stpub[0]["Resource"] == {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::stpubdata/hst/public/*"]]}
    writes = [s for s in s3_statements if set(_as_list(s["Action"])) & {"s3:PutObject", "s3:DeleteObject"}]
    for s in writes:
        resource = s["Resource"]
        assert resource["Fn::Join"][1][0] == {"Fn::GetAtt": [bucket_id, "Arn"]}
        assert resource["Fn::Join"][1][1] in ("/lake/*", "/runs/*")
    delete = [s for s in writes if "s3:DeleteObject" in _as_list(s["Action"])]
    assert [s["Resource"]["Fn::Join"][1][1] for s in delete] == ["/lake/*"]
    listing = [s for s in s3_statements if "s3:ListBucket" in _as_list(s["Action"])]
    assert listing[0]["Condition"] == {"StringLike": {"s3:prefix": ["lake/*"]}}
    # nothing else anywhere: no wildcard actions, no "*" resources on S3
    assert all("*" not in a for s in s3_statements for a in _as_list(s["Action"]))
    assert all(s["Resource"] != "*" for s in s3_statements)


def test_plan_and_summarize_cannot_write_the_lake(synth):
    t = synth["template"]
    for prefix in ("FunctionsPlanPolicy", "FunctionsSummarizePolicy"):
        for s in _policy_statements(t, prefix):
            actions = set(_as_list(s["Action"]))
            if actions & {"s3:PutObject", "s3:DeleteObject"}:
                assert s["Resource"]["Fn::Join"][1][1] == "/runs/*", (prefix, s)
            assert "stpubdata" not in json.dumps(s)


# --------------------------------------------------------------------------- workflow

def test_state_machine_definition(synth):
    t = synth["template"]
    _, sm = _one(t, "AWS::StepFunctions::StateMachine")
    props = sm["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    definition = json.loads(props["DefinitionString"])
    states = definition["States"]
    assert definition["StartAt"] == "Plan"
    m = states["ProcessDarks"]
    assert m["Type"] == "Map"
    assert m["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    assert m["ItemReader"]["ReaderConfig"] == {"InputType": "JSONL"}
    assert m["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert m["MaxConcurrency"] == 500
    assert m["ToleratedFailurePercentage"] == 5.0
    assert "ItemBatcher" not in m  # off by default (hstcr:itemsPerBatch)
    assert m["ResultWriter"]["Parameters"] == {"Bucket": "${LakeBucket}", "Prefix": "runs/map-results"}
    retry = m["ItemProcessor"]["States"]["ProcessDark"]["Retry"][0]
    assert "Lambda.TooManyRequestsException" in retry["ErrorEquals"]
    assert retry["BackoffRate"] > 1 and retry["MaxAttempts"] >= 3
    assert states["Summarize"]["Parameters"]["FunctionName"] == "${SummarizeFunctionArn}"
    # a map over its failure budget is caught, the run summarized, then the execution fails
    assert m["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.map_error", "Next": "Summarize"}]
    assert states["Summarize"]["Next"] == "MapFailed"
    assert states["MapFailed"]["Choices"][0] == {"Variable": "$.map_error", "IsPresent": True,
                                                 "Next": "TooManyFailures"}
    assert states["TooManyFailures"]["Type"] == "Fail"
    assert states["AnyDarks"]["Default"] == "Summarize"
    subs = props["DefinitionSubstitutions"]
    assert set(subs) == {"PlanFunctionArn", "ProcessDarkFunctionArn", "SummarizeFunctionArn", "LakeBucket"}
    # the role can start its own map children and nothing else
    statements = _policy_statements(t, "WorkflowPolicy")
    start = next(s for s in statements if s.get("Sid") == "RunMapChildren")
    assert "stateMachine:hstcr-darks" in json.dumps(start["Resource"])


def test_item_batcher_is_optional():
    from infra.workflow import build_definition

    d = build_definition(items_per_batch=20, max_concurrency=50, tolerated_failure_percentage=1)
    m = d["States"]["ProcessDarks"]
    assert m["ItemBatcher"]["MaxItemsPerBatch"] == 20
    assert m["ItemBatcher"]["BatchInput"]["run_id.$"] == "$.plan.run_id"
    assert m["MaxConcurrency"] == 50 and m["ToleratedFailurePercentage"] == 1.0


# --------------------------------------------------------------------------- linters

def test_cfn_lint_passes(synth, tmp_path):
    path = tmp_path / "template.json"
    path.write_text(json.dumps(synth["template"]))
    exe = Path(sys.executable).parent / "cfn-lint"
    # W3005 (a DependsOn that a GetAtt already implies): CDK's Lambda Function and
    # StateMachine L2s add DependsOn on their own role; redundant and harmless.
    proc = subprocess.run([str(exe), "--format", "parseable", "--template", str(path), "--ignore-checks", "W3005"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cdk_nag_aws_solutions_passes_with_justified_acknowledgements(synth):
    assert synth["error"] is None, f"synth failed (cdk-nag?): {synth['error']}"
    reports = {p["pluginName"]: p for p in synth["report"]["pluginReports"]}
    nag = reports["AwsSolutions"]
    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    for suppressed in nag.get("suppressedViolations", []):
        assert len(suppressed["reason"]) > 30, suppressed
    # every acknowledgement in the tree carries a reason
    tree = json.loads((synth["outdir"] / "manifest.json").read_text())
    del tree
    metadata = (synth["outdir"] / f"{synth['stack'].stack_name}.metadata.json")
    if metadata.exists():
        text = metadata.read_text()
        assert "AwsSolutions::" in text
