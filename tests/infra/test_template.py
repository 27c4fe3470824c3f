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
        assert [{"name": c["Name"], "type": c["Type"], "comment": c["Comment"]}
                for c in sd["Columns"]] == glue_columns(schema)
        assert [(k["Name"], k["Type"]) for k in tables[name]["PartitionKeys"]] == [
            (n, glue_type(ty)) for n, ty in PARTITION_KEYS]
        assert sd["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    pixels = next(c for c in tables["cosmic_rays"]["StorageDescriptor"]["Columns"] if c["Name"] == "pixels")
    assert pixels["Type"] == "array<struct<x:smallint,y:smallint,e:float>>"


def test_glue_column_comments_carry_description_and_unit(synth):
    """Every column's Glue comment is "<description> [<unit>]" from its pyarrow field metadata."""
    from hstcr_common.lake import field_doc
    from infra.lake import GLUE_COMMENT_MAX, glue_comment

    tables = {r["Properties"]["TableInput"]["Name"]: r["Properties"]["TableInput"]
              for r in _resources(synth["template"], "AWS::Glue::Table").values()}
    n_units = 0
    for name, schema in TABLES.items():
        comments = {c["Name"]: c["Comment"] for c in tables[name]["StorageDescriptor"]["Columns"]}
        for field in schema:
            unit, description = field_doc(field)
            assert description, (name, field.name)
            comment = comments[field.name]
            assert 0 < len(comment) <= GLUE_COMMENT_MAX
            full = f"{description} [{unit}]" if unit else description
            n_units += bool(unit)
            if len(full) <= GLUE_COMMENT_MAX:
                assert comment == full, (name, field.name)
            else:  # cut inside the description, the unit kept
                assert comment.endswith(f"\u2026 [{unit}]" if unit else "\u2026"), (name, field.name)
                assert description.startswith(comment.split("\u2026")[0]), (name, field.name)
    assert n_units > 10
    energy = {c["Name"]: c["Comment"] for c in tables["cosmic_rays"]["StorageDescriptor"]["Columns"]}["energy_e"]
    assert energy.endswith("[e-]") or "[" in energy
    # a description longer than Glue allows is cut, the unit kept
    long = pa.field("x", pa.float32(), metadata={"unit": "keV", "description": "word " * 100})
    cut = glue_comment(long)
    assert len(cut) == GLUE_COMMENT_MAX and cut.endswith("\u2026 [keV]")


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
        assert resource["Fn::Join"][1][1] in ("/lake/*", "/runs/*/results/*", "/runs/*/references/*")
    # method auto: the reference children's receipts, read and written, nothing else under runs/
    receipts = next(s for s in s3_statements if s.get("Sid") == "ReferenceReceipts")
    assert sorted(_as_list(receipts["Action"])) == ["s3:GetObject", "s3:PutObject"]
    assert receipts["Resource"]["Fn::Join"][1][1] == "/runs/*/references/*"
    delete = [s for s in writes if "s3:DeleteObject" in _as_list(s["Action"])]
    assert [s["Resource"]["Fn::Join"][1][1] for s in delete] == ["/lake/*"]
    listing = [s for s in s3_statements if "s3:ListBucket" in _as_list(s["Action"])]
    assert listing[0]["Condition"] == {"StringLike": {"s3:prefix": ["lake/*", "runs/*"]}}
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
    # the concurrency comes from the plan (hstcr aws submit caps it below the Lambda quota)
    assert m["MaxConcurrencyPath"] == "$.plan.max_concurrency" and "MaxConcurrency" not in m
    assert states["Plan"]["ResultSelector"]["max_concurrency.$"] == "$.Payload.max_concurrency"
    assert m["ToleratedFailurePercentage"] == 5.0
    assert "ItemBatcher" not in m  # off by default (hstcr:itemsPerBatch)
    assert m["ResultWriter"]["Parameters"] == {"Bucket": "${LakeBucket}", "Prefix": "runs/map-results"}
    retry = m["ItemProcessor"]["States"]["ProcessDark"]["Retry"][0]
    assert "Lambda.TooManyRequestsException" in retry["ErrorEquals"]
    assert retry["BackoffRate"] > 1 and retry["MaxAttempts"] >= 3
    assert states["Summarize"]["Parameters"]["FunctionName"] == "${SummarizeFunctionArn}"
    # recovery: no Catch on the Map and no Fail state, so a failed Map fails the execution AT
    # the Map, where RedriveExecution resumes the Map Run's failed children
    assert "Catch" not in m
    assert not [s for s in states.values() if s["Type"] == "Fail"]
    assert m["Next"] == "Summarize" and states["Summarize"]["Next"] == "Done"
    assert states["AnyDarks"]["Default"] == "Summarize"
    # method auto: the references map first, one EXPRESS child per group
    assert states["Plan"]["Next"] == "AnyReferences"
    assert states["AnyReferences"]["Choices"][0]["Variable"] == "$.plan.n_groups"
    assert states["AnyReferences"]["Choices"][0]["Next"] == "BuildReferences"
    assert states["AnyReferences"]["Default"] == "AnyDarks"
    r = states["BuildReferences"]
    assert r["Type"] == "Map" and r["Next"] == "RemainingDarks" and "Catch" not in r
    # ... then the manifest less the darks its children searched, by the plan function
    left = states["RemainingDarks"]
    assert left["Parameters"] == {"FunctionName": "${PlanFunctionArn}", "Payload": {"remaining.$": "$"}}
    assert left["ResultPath"] == "$.plan" and left["Next"] == "AnyDarks"
    assert left["ResultSelector"] == states["Plan"]["ResultSelector"]
    assert r["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    assert r["ItemReader"]["Parameters"] == {"Bucket.$": "$.plan.bucket", "Key.$": "$.plan.references_key"}
    assert r["MaxConcurrencyPath"] == "$.plan.max_concurrency" and "ItemBatcher" not in r
    # a failed reference only sends its darks to threshold: never fails the run
    assert r["ToleratedFailurePercentage"] == 100.0
    assert r["ResultWriter"] == m["ResultWriter"] and r["ResultPath"] == "$.references"
    build = r["ItemProcessor"]["States"]["BuildReference"]
    assert build["Parameters"]["FunctionName"] == "${ProcessDarkFunctionArn}"
    assert build["Retry"] == m["ItemProcessor"]["States"]["ProcessDark"]["Retry"]
    subs = props["DefinitionSubstitutions"]
    assert set(subs) == {"PlanFunctionArn", "ProcessDarkFunctionArn", "SummarizeFunctionArn", "LakeBucket"}
    # the role can start (and redrive) its own map children and nothing else
    statements = _policy_statements(t, "WorkflowPolicy")
    start = next(s for s in statements if s.get("Sid") == "RunMapChildren")
    assert "stateMachine:hstcr-darks" in json.dumps(start["Resource"])
    watch = next(s for s in statements if s.get("Sid") == "WatchMapChildren")
    assert "states:RedriveExecution" in watch["Action"]


def test_express_children_outlive_no_lambda(synth):
    """process_dark's timeout + every retry wait of its child stays under 80 % of the EXPRESS
    child's 5 minutes; plan and summarize (in the Standard parent) may use 15."""
    from infra.workflow import (CHILD_BUDGET_FRACTION, EXPRESS_CHILD_LIMIT_S, child_worst_case_s,
                                retry_waits_s)

    t = synth["template"]
    fns = {r["Properties"]["Handler"]: r["Properties"] for r in _resources(t, "AWS::Lambda::Function").values()}
    worker = fns["functions.process_dark.handler"]
    _, sm = _one(t, "AWS::StepFunctions::StateMachine")
    states = json.loads(sm["Properties"]["DefinitionString"])["States"]
    child = states["ProcessDarks"]["ItemProcessor"]
    waits = sum(retry_waits_s(r) for r in child["States"]["ProcessDark"]["Retry"])
    # the reference child runs the same function with the same retries: the same bound
    reference_child = states["BuildReferences"]["ItemProcessor"]["States"]["BuildReference"]
    assert sum(retry_waits_s(r) for r in reference_child["Retry"]) == waits
    assert worker["Timeout"] == 180
    worst = worker["Timeout"] + waits
    print(f"\nEXPRESS child worst case: Lambda {worker['Timeout']} s + retry waits {waits:.0f} s = {worst:.0f} s "
          f"of {EXPRESS_CHILD_LIMIT_S} s")
    assert worst == child_worst_case_s(worker["Timeout"])
    assert worst <= CHILD_BUDGET_FRACTION * EXPRESS_CHILD_LIMIT_S
    assert fns["functions.summarize.handler"]["Timeout"] == 900
    # the largest reference group the plan lets through, at the measured time per dark,
    # takes at most 40 % of the worker's timeout
    from hstcr_common.aws.plan import MAX_REFERENCE_GROUP, REFERENCE_SECONDS_PER_DARK

    assert MAX_REFERENCE_GROUP * REFERENCE_SECONDS_PER_DARK <= 0.4 * worker["Timeout"]


def test_reference_children_have_room_for_their_darks(synth):
    """A reference child keeps the group's darks (SCI + DQ as read) in /tmp: the largest group
    of the largest CCD darks fits process_dark's ephemeral storage with 512 MB to spare."""
    from hstcr_common.aws.plan import MAX_REFERENCE_GROUP
    from hstcr_common.instruments import detectors

    fns = {r["Properties"]["Handler"]: r["Properties"]
           for r in _resources(synth["template"], "AWS::Lambda::Function").values()}
    storage_mb = fns["functions.process_dark.handler"]["EphemeralStorage"]["Size"]
    largest = max(d.n_chips * d.chip_shape[0] * d.chip_shape[1] * (4 + 2)
                  for d in detectors().values() if d.kind == "ccd")
    assert MAX_REFERENCE_GROUP * largest / 2**20 + 512 <= storage_mb <= 10240
    assert fns["functions.plan.handler"].get("EphemeralStorage", {"Size": 512})["Size"] == 512


def test_the_worker_gets_one_vcpu_and_no_more(synth):
    """process_dark searches on one thread: it is deployed at the memory where Lambda's CPU
    share reaches one vCPU (1,769 MB), the default and cdk.json agree, and the cost model
    prices that same setting."""
    from benchmarks.cost_model import FULL_VCPU_MB, worker_memory_mb
    from infra.functions import WORKER_MEMORY_MB

    fns = {r["Properties"]["Handler"]: r["Properties"]
           for r in _resources(synth["template"], "AWS::Lambda::Function").values()}
    assert fns["functions.process_dark.handler"]["MemorySize"] == WORKER_MEMORY_MB == FULL_VCPU_MB
    assert json.loads((REPO / "cdk.json").read_text())["context"]["hstcr:workerMemoryMb"] == WORKER_MEMORY_MB
    assert worker_memory_mb() == WORKER_MEMORY_MB


def test_item_batcher_is_bounded_by_the_child_time_limit():
    from infra.workflow import DARK_SECONDS_BOUND, build_definition, max_items_per_batch

    n = max_items_per_batch()
    assert n * DARK_SECONDS_BOUND <= 180
    d = build_definition(items_per_batch=n, tolerated_failure_percentage=1)
    m = d["States"]["ProcessDarks"]
    assert m["ItemBatcher"]["MaxItemsPerBatch"] == n
    assert m["ItemBatcher"]["BatchInput"]["run_id.$"] == "$.plan.run_id"
    assert m["ToleratedFailurePercentage"] == 1.0
    with pytest.raises(ValueError, match="items_per_batch"):
        build_definition(items_per_batch=n + 1)
    with pytest.raises(ValueError, match="EXPRESS"):
        build_definition(worker_timeout_s=280)


# --------------------------------------------------------------------------- region, tags, observability

def _synth_with(tmp_path, **context):
    import aws_cdk as cdk

    from infra.app import build_app

    ctx = json.loads((REPO / "cdk.json").read_text())["context"]
    ctx.update({"hstcr:assets": "placeholder", **context})
    app, stack = build_app(cdk.App(outdir=str(tmp_path), context=ctx), nag=False)
    app.synth()
    return stack


def test_the_stack_refuses_other_regions_unless_allowed(tmp_path, monkeypatch):
    from infra.stack import RegionError

    monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    with pytest.raises(RegionError, match="us-east-1"):
        _synth_with(tmp_path / "a", **{"hstcr:region": "eu-west-1"})
    monkeypatch.setenv("CDK_DEFAULT_REGION", "us-west-2")  # the CLI's default region
    with pytest.raises(RegionError, match="us-west-2"):
        _synth_with(tmp_path / "b")
    stack = _synth_with(tmp_path / "c", **{"hstcr:region": "eu-west-1", "hstcr:allowOtherRegion": "true"})
    assert stack.region == "eu-west-1"


def test_the_stack_is_pinned_to_us_east_1(synth):
    assert synth["stack"].region == "us-east-1"


def test_every_taggable_resource_carries_the_cost_allocation_tags(synth):
    # CloudFormation has no Tags property for these types
    untaggable = {"AWS::Athena::NamedQuery", "AWS::Glue::Database", "AWS::Glue::Table", "AWS::IAM::Policy",
                  "AWS::Lambda::LayerVersion", "AWS::S3::BucketPolicy", "AWS::CDK::Metadata"}
    n = 0
    for rid, r in synth["template"]["Resources"].items():
        if r["Type"] in untaggable:
            continue
        tags = r["Properties"].get("Tags")
        if isinstance(tags, dict):  # Athena WorkGroup/Glue style {key: value}
            tags = [{"Key": k, "Value": v} for k, v in tags.items()]
        assert {"Key": "Project", "Value": "hstcr"} in (tags or []), (rid, r["Type"])
        n += 1
    assert n >= 15


def test_dashboard_alarms_and_outputs(synth):
    t = synth["template"]
    _, dash = _one(t, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dash["Properties"]["DashboardBody"])
    for metric in ("DarksDone", "DarksFailed", "CosmicRays", "Seconds", "ExecutionsFailed"):
        assert metric in body, metric
    alarms = list(_resources(t, "AWS::CloudWatch::Alarm").values())
    assert len(alarms) == 2
    executions = [a for a in alarms if a["Properties"].get("MetricName") == "ExecutionsFailed"]
    assert executions and executions[0]["Properties"]["Namespace"] == "AWS/States"
    darks = [a for a in alarms if "Metrics" in a["Properties"]]
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in darks[0]["Properties"]["Metrics"] if "MetricStat" in m}
    assert names == {"DarksDone", "DarksFailed", "DarksSkipped"}
    namespaces = {m["MetricStat"]["Metric"]["Namespace"] for m in darks[0]["Properties"]["Metrics"] if "MetricStat" in m}
    assert namespaces == {"hstcr"}
    assert set(t["Outputs"]) >= {"LakeBucketName", "AthenaWorkGroup", "GlueDatabase", "StateMachineArn",
                                 "DashboardUrl", "MaxConcurrency"}
    assert "dashboards:name=hstcr-hstcr" in json.dumps(t["Outputs"]["DashboardUrl"])
    env = next(r["Properties"]["Environment"]["Variables"] for r in _resources(t, "AWS::Lambda::Function").values()
               if r["Properties"]["Handler"] == "functions.process_dark.handler")
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "hstcr" and env["POWERTOOLS_SERVICE_NAME"] == "hstcr"
    # the searching worker keeps freed memory and starts no BLAS threads (pipeline.memory, .cores)
    from hstcr_common.pipeline.cores import ONE_THREAD_ENVIRONMENT
    from hstcr_common.pipeline.memory import MALLOC_ENVIRONMENT

    assert {**MALLOC_ENVIRONMENT, **ONE_THREAD_ENVIRONMENT}.items() <= env.items()


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
