"""The synthesized state machine, executed by moto: plan -> (method auto: a Distributed Map
building the group references) -> Distributed Map over the darks -> summarize.

Nine synthetic STIS/CCD darks (eight good, one corrupt) sit in a moto ``stpubdata`` bucket
at MAST's real key layout; Lambda invocations run the real handlers in this process; the
lake is moto S3, read back through pyarrow's S3 file system and DuckDB.
"""

from __future__ import annotations

import io
import json
import time

import pytest

pytestmark = pytest.mark.slow

LAKE_BUCKET = "hstcr-test-lake"
N_GOOD = 8


@pytest.fixture(scope="module")
def synthetic_darks(tmp_path_factory):
    """Eight full-frame synthetic STIS/CCD darks (science + support) written once."""
    from hstcr_common.synthetic import write_dark

    out = tmp_path_factory.mktemp("darks")
    return [write_dark("stis_ccd", out, seed=100 + i) for i in range(N_GOOD)]


def _definition(template: dict) -> tuple[str, dict]:
    machines = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert len(machines) == 1
    props = machines[0]["Properties"]
    return props["DefinitionString"], props["DefinitionSubstitutions"]


def _wait(sfn, arn: str, timeout_s: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ex = sfn.describe_execution(executionArn=arn)
        if ex["status"] != "RUNNING":
            return ex
        time.sleep(0.5)
    raise AssertionError(f"execution {arn} still running after {timeout_s} s")


def test_state_machine_runs_darks_into_the_lake(synth, moto_server, synthetic_darks, monkeypatch, tmp_path):
    import boto3
    import duckdb
    import pyarrow.dataset as ds

    from hstcr_common.remote import s3_filesystem
    from hstcr_common.remote import S3_BUCKET, s3_key
    from infra.workflow import substitute

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=S3_BUCKET)
    s3.create_bucket(Bucket=LAKE_BUCKET)

    # the darks at MAST's key layout: hst/public/<first 4>/<dataset>/<dataset>_<suffix>.fits
    items = []
    for dark in synthetic_darks:
        files = {}
        for role, path in dark.paths.items():
            suffix = path.name.split("_", 1)[1].split(".")[0]
            key = s3_key(dark.dataset, suffix)
            s3.upload_file(str(path), S3_BUCKET, key)
            files[role] = f"s3://{S3_BUCKET}/{key}"
        items.append({"dataset": dark.dataset, "instrument": "stis_ccd", "files": files})
    # a corrupt dark: a truncated FITS science file with a good support file
    good = synthetic_darks[0]
    corrupt = "obad01xyq"
    sci = good.paths["science"].read_bytes()[:5000]
    s3.put_object(Bucket=S3_BUCKET, Key=s3_key(corrupt, "flt"), Body=sci)
    s3.upload_file(str(good.paths["support"]), S3_BUCKET, s3_key(corrupt, "spt"))
    items.append({"dataset": corrupt, "instrument": "stis_ccd",
                  "files": {"science": f"s3://{S3_BUCKET}/{s3_key(corrupt, 'flt')}",
                            "support": f"s3://{S3_BUCKET}/{s3_key(corrupt, 'spt')}"}})

    # the three functions in moto; invocations run functions/<name>.py in this process
    lam = boto3.client("lambda")
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("placeholder.py", "")
    arns = {}
    for name, module in (("plan", "functions.plan"), ("process_dark", "functions.process_dark"),
                         ("summarize", "functions.summarize")):
        arns[name] = lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                                         Handler=f"{module}.handler", Code={"ZipFile": buf.getvalue()})["FunctionArn"]
        moto_server["handlers"][name] = module
    monkeypatch.setenv("HSTCR_LAKE", f"s3://{LAKE_BUCKET}/lake")
    monkeypatch.setenv("HSTCR_RUNS", f"s3://{LAKE_BUCKET}/runs")

    definition, substitutions = _definition(synth["template"])
    assert set(substitutions) == {"PlanFunctionArn", "ProcessDarkFunctionArn", "SummarizeFunctionArn", "LakeBucket"}
    text = substitute(definition, {"PlanFunctionArn": arns["plan"], "ProcessDarkFunctionArn": arns["process_dark"],
                                   "SummarizeFunctionArn": arns["summarize"], "LakeBucket": LAKE_BUCKET})
    # moto's ASL grammar knows only STANDARD child executions; AWS runs them as EXPRESS (the
    # template says so, asserted in test_template.py).  Semantics for the map are the same.
    assert text.count('"ExecutionType": "EXPRESS"') == 2  # the references map and the darks map
    text = text.replace('"ExecutionType": "EXPRESS"', '"ExecutionType": "STANDARD"')
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(name="hstcr-darks", definition=text,
                                       roleArn=role)["stateMachineArn"]

    from hstcr_common.aws import execution_status, submit

    # the client path `hstcr aws submit` uses, with a manifest instead of a MAST query
    manifest_key = "runs/input/manifest.jsonl"
    s3.put_object(Bucket=LAKE_BUCKET, Key=manifest_key,
                  Body="".join(json.dumps(it) + "\n" for it in items).encode())
    started = submit(machine, manifest=f"s3://{LAKE_BUCKET}/{manifest_key}", method="threshold",
                     name="run-1")
    assert started["console_url"].startswith("https://us-east-1.console.aws.amazon.com/states/")
    ex = _wait(sfn, started["executionArn"])
    assert ex["status"] == "SUCCEEDED", ex.get("cause") or ex

    output = json.loads(ex["output"])
    summary = output["summary"]["summary"]
    assert summary["run_id"] == "run-1"
    assert summary["n_items"] == N_GOOD + 1
    assert (summary["n_done"], summary["n_failed"]) == (N_GOOD, 1)
    assert summary["failures"][0]["dataset"] == corrupt
    # every dark went through its own process_dark invocation
    processed = [e["item"]["dataset"] for name, e in moto_server["calls"] if name == "process_dark"]
    assert sorted(processed) == sorted(it["dataset"] for it in items)

    status = execution_status(started["executionArn"])
    assert status["status"] == "SUCCEEDED"
    assert status["summary"]["n_done"] == N_GOOD
    assert len(status["map_runs"]) == 1
    assert status["map_runs"][0]["items"]["total"] == N_GOOD + 1
    assert status["map_runs"][0]["items"]["failed"] == 0  # a bad dark is a failures row, not a map failure

    # the lake, read back through pyarrow's S3 file system and DuckDB
    fs = s3_filesystem()
    tables = {}
    for table in ("exposures", "cosmic_rays", "failures"):
        dataset = ds.dataset(f"{LAKE_BUCKET}/lake/{table}", filesystem=fs, format="parquet",
                             partitioning="hive")
        tables[table] = dataset.to_table()
    con = duckdb.connect()
    for name, t in tables.items():
        con.register(name, t)
    exposures = con.sql("SELECT dataset, n_cr FROM exposures ORDER BY dataset").fetchall()
    assert [d for d, _ in exposures] == sorted(d.dataset for d in synthetic_darks)
    per_dark = dict(exposures)
    counted = dict(con.sql("SELECT dataset, count(*) FROM cosmic_rays GROUP BY dataset").fetchall())
    assert counted == {d: n for d, n in per_dark.items() if n > 0}
    assert all(n > 0 for n in per_dark.values())
    assert con.sql("SELECT DISTINCT CAST(instrument AS VARCHAR) FROM exposures").fetchall() == [("stis_ccd",)]
    failures = con.sql("SELECT dataset, stage, message FROM failures").fetchall()
    assert [f[0] for f in failures] == [corrupt]
    assert corrupt in failures[0][2] or "flt" in failures[0][2]

    # the run's own Parquet and summary beside the manifest
    runs = ds.dataset(f"{LAKE_BUCKET}/runs/run-1/results.parquet", filesystem=fs, format="parquet").to_table()
    assert sorted(runs.column("status").to_pylist()) == ["done"] * N_GOOD + ["failed"]
    assert json.loads(s3.get_object(Bucket=LAKE_BUCKET, Key="runs/run-1/summary.json")["Body"].read())["n_done"] == N_GOOD


def _deploy_in_moto(synth, moto_server, monkeypatch, *, routes: dict[str, str]) -> str:
    """Create the three functions and the synthesized state machine in moto; returns its ARN."""
    import zipfile

    import boto3

    from infra.workflow import substitute

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=LAKE_BUCKET)
    role = boto3.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("placeholder.py", "")
    lam = boto3.client("lambda")
    arns = {}
    for name, module in routes.items():
        arns[name] = lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                                         Handler="x.handler", Code={"ZipFile": buf.getvalue()})["FunctionArn"]
        moto_server["handlers"][name] = module
    monkeypatch.setenv("HSTCR_LAKE", f"s3://{LAKE_BUCKET}/lake")
    monkeypatch.setenv("HSTCR_RUNS", f"s3://{LAKE_BUCKET}/runs")
    definition, _ = _definition(synth["template"])
    text = substitute(definition, {"PlanFunctionArn": arns["plan"], "ProcessDarkFunctionArn": arns["process_dark"],
                                   "SummarizeFunctionArn": arns["summarize"], "LakeBucket": LAKE_BUCKET})
    text = text.replace('"ExecutionType": "EXPRESS"', '"ExecutionType": "STANDARD"')
    return boto3.client("stepfunctions").create_state_machine(name="hstcr-darks", definition=text,
                                                               roleArn=role)["stateMachineArn"]


ROUTES = {"plan": "functions.plan", "process_dark": "functions.process_dark", "summarize": "functions.summarize"}


def test_an_empty_plan_skips_the_map(synth, moto_server, monkeypatch):
    import boto3

    from hstcr_common.aws import submit

    machine = _deploy_in_moto(synth, moto_server, monkeypatch, routes=ROUTES)
    boto3.client("s3").put_object(Bucket=LAKE_BUCKET, Key="runs/in/empty.jsonl", Body=b"")
    started = submit(machine, manifest=f"s3://{LAKE_BUCKET}/runs/in/empty.jsonl", name="empty")
    ex = _wait(boto3.client("stepfunctions"), started["executionArn"])
    assert ex["status"] == "SUCCEEDED", ex
    summary = json.loads(ex["output"])["summary"]["summary"]
    assert (summary["n_items"], summary["n_results"]) == (0, 0)
    assert not [c for c in moto_server["calls"] if c[0] == "process_dark"]


def test_a_crashing_worker_is_counted_by_the_map_and_the_run_still_summarized(synth, moto_server, monkeypatch,
                                                                             tmp_path):
    """A worker that crashes (a Lambda error, not a bad dark) is a failed map item.

    On AWS, failures above ToleratedFailurePercentage fail the Map and with it the execution,
    at the Map state, where ``hstcr aws redrive`` resumes it (asserted structurally in
    test_template.py); moto does not enforce the percentage, so here the map run counts the
    failure and the run is summarized.
    """
    import boto3

    from hstcr_common.aws import execution_status, submit

    crash = tmp_path / "crashing_worker.py"
    crash.write_text("def handler(event, context=None):\n    raise MemoryError('out of memory')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    machine = _deploy_in_moto(synth, moto_server, monkeypatch,
                              routes={**ROUTES, "process_dark": "crashing_worker"})
    item = {"dataset": "o6bgsnp2q", "instrument": "stis_ccd",
            "files": {"science": "s3://stpubdata/hst/public/o6bg/o6bgsnp2q/o6bgsnp2q_flt.fits"}}
    boto3.client("s3").put_object(Bucket=LAKE_BUCKET, Key="runs/in/one.jsonl", Body=(json.dumps(item) + "\n").encode())
    started = submit(machine, manifest=f"s3://{LAKE_BUCKET}/runs/in/one.jsonl", name="crash")
    _wait(boto3.client("stepfunctions"), started["executionArn"])
    status = execution_status(started["executionArn"])
    assert status["map_runs"][0]["items"]["failed"] == 1
    assert status["map_runs"][0]["items"]["succeeded"] == 0
    assert [c[0] for c in moto_server["calls"]].count("summarize") == 1
    summary = json.loads(boto3.client("s3").get_object(Bucket=LAKE_BUCKET, Key="runs/crash/summary.json")["Body"].read())
    # the crashed dark left no result: moto hands ResultWriter a null output for it, which
    # the summary counts as a child the Map failed (on AWS: a FAILED_<n>.json record)
    assert summary["n_items"] == 1 and summary["n_done"] == 0
    assert summary["n_map_failed"] == summary["n_results"] == 1


def test_method_auto_runs_the_references_map_then_the_darks(synth, moto_server, synthetic_darks, monkeypatch):
    """One child reads the group's darks once, builds its reference into lake/references/
    and searches them against it (``exposures``: method reference, group size); the darks'
    map gets only the darks it left (none here), and the summary counts both maps."""
    import boto3
    import pyarrow.dataset as ds

    from hstcr_common.aws import execution_status, submit
    from hstcr_common.remote import S3_BUCKET, s3_filesystem, s3_key

    machine = _deploy_in_moto(synth, moto_server, monkeypatch, routes=ROUTES)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=S3_BUCKET)
    items = []
    for dark in synthetic_darks[:3]:
        files = {}
        for role, path in dark.paths.items():
            key = s3_key(dark.dataset, path.name.split("_", 1)[1].split(".")[0])
            s3.upload_file(str(path), S3_BUCKET, key)
            files[role] = f"s3://{S3_BUCKET}/{key}"
        items.append({"dataset": dark.dataset, "instrument": "stis_ccd", "month": "2017-03", "files": files})
    s3.put_object(Bucket=LAKE_BUCKET, Key="runs/in/auto.jsonl",
                  Body="".join(json.dumps(it) + "\n" for it in items).encode())
    # a dark's own child would read it again (pipeline.process.fetch): the reference child
    # read each one once and searched it from its copy
    from hstcr_common.pipeline import process as pipeline_process

    fetched = []
    fetch = pipeline_process.fetch
    monkeypatch.setattr(pipeline_process, "fetch", lambda item: fetched.append(item["dataset"]) or fetch(item))
    started = submit(machine, manifest=f"s3://{LAKE_BUCKET}/runs/in/auto.jsonl", method="auto", name="auto")
    ex = _wait(boto3.client("stepfunctions"), started["executionArn"])
    assert ex["status"] == "SUCCEEDED", ex.get("cause") or ex

    calls = [e["item"] for name, e in moto_server["calls"] if name == "process_dark"]
    kinds = [c.get("kind", "dark") for c in calls]
    # the reference child searched every dark: the darks' map had none left and never ran
    assert kinds == ["reference"]
    assert len(execution_status(started["executionArn"])["map_runs"]) == 1
    assert [e for name, e in moto_server["calls"] if name == "plan" and "remaining" in e]
    assert fetched == []
    output = json.loads(ex["output"])
    assert (output["plan"]["n_items"], output["plan"]["n_items_planned"]) == (0, 3)
    summary = output["summary"]["summary"]
    assert (summary["n_done"], summary["n_failed"], summary["n_items"]) == (3, 0, 3)
    assert summary["n_searched_by_references"] == 3
    fs = s3_filesystem()
    rows = ds.dataset(f"{LAKE_BUCKET}/lake/exposures", filesystem=fs, format="parquet",
                      partitioning="hive").to_table(columns=["method", "group_size"]).to_pylist()
    assert [(r["method"], r["group_size"]) for r in rows] == [("reference", 3)] * 3
    refs = s3.list_objects_v2(Bucket=LAKE_BUCKET, Prefix="lake/references/").get("Contents", [])
    assert [o["Key"] for o in refs if o["Key"].endswith(".npz")]
