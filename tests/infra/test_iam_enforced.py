"""IAM as deployed: every handler path runs against a moto *server* that enforces IAM, as a
principal holding exactly the statements its role gets in the synthesized template.

The statements are read from the template at test time (every ``AWS::IAM::Policy`` attached
to the function's role, intrinsics resolved to this bucket and account), attached to an IAM
user in moto, and the handler runs with that user's keys: boto3 (receipts, manifests,
ResultWriter files) and pyarrow's S3 file system (the lake) both sign with them.

moto evaluates actions and resources but ignores ``Condition`` blocks it does not know
(``StringLike`` included), so :func:`_enforce_s3_prefix` adds what AWS does for
``s3:ListBucket``: the request's ``prefix`` must match a granted ``s3:prefix`` pattern.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
from urllib.parse import parse_qs, urlparse

import pytest

pytestmark = pytest.mark.slow

LAKE_BUCKET = "hstcr-iam-lake"
ACCOUNT = "123456789012"
REGION = "us-east-1"


# --------------------------------------------------------------------------- the template's policies

def _resolve(value, ids: dict[str, str]):
    """CloudFormation intrinsics -> strings, for this test's account, region and bucket."""
    if isinstance(value, list):
        return [_resolve(v, ids) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                "AWS::URLSuffix": "amazonaws.com"}.get(value["Ref"], ids.get(value["Ref"], value["Ref"]))
    if "Fn::GetAtt" in value:
        logical, attr = value["Fn::GetAtt"]
        return ids.get(f"{logical}.{attr}", f"arn:aws:other:{REGION}:{ACCOUNT}:{logical}")
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(str(_resolve(p, ids)) for p in parts)
    return {k: _resolve(v, ids) for k, v in value.items()}


def role_statements(template: dict) -> dict[str, list[dict]]:
    """{"plan" | "process_dark" | "summarize" | "workflow": every statement its role gets}."""
    resources = template["Resources"]
    lake_id = next(k for k, r in resources.items() if r["Type"] == "AWS::S3::Bucket" and k.startswith("LakeBucket"))
    ids = {f"{lake_id}.Arn": f"arn:aws:s3:::{LAKE_BUCKET}", lake_id: LAKE_BUCKET}
    role_of = {}
    for r in resources.values():
        if r["Type"] == "AWS::Lambda::Function":
            name = r["Properties"]["Handler"].split(".")[1]
            role_of[r["Properties"]["Role"]["Fn::GetAtt"][0]] = name
        elif r["Type"] == "AWS::StepFunctions::StateMachine":
            role_of[r["Properties"]["RoleArn"]["Fn::GetAtt"][0]] = "workflow"
    out: dict[str, list[dict]] = {name: [] for name in role_of.values()}
    for r in resources.values():
        if r["Type"] != "AWS::IAM::Policy":
            continue
        for role in r["Properties"]["Roles"]:
            out[role_of[role["Ref"]]].extend(_resolve(r["Properties"]["PolicyDocument"]["Statement"], ids))
    return out


# --------------------------------------------------------------------------- moto with IAM on

def _enforce_s3_prefix(monkeypatch):
    """AWS evaluates ``s3:prefix`` conditions on ListBucket; moto skips StringLike. Deny a
    listing whose prefix no Allow of the caller's policies grants."""
    from moto.iam import access_control

    original = access_control.S3IAMRequest.check_action_permitted

    def check(self, resource):
        original(self, resource)
        if self._action != "s3:ListBucket":
            return
        prefix = parse_qs(urlparse(self._path).query).get("prefix", [""])[0]
        for policy in self._access_key.collect_policies():
            document = json.loads(policy if isinstance(policy, str) else policy["policy_document"])
            for st in document["Statement"]:
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                if st["Effect"] != "Allow" or not any(fnmatch.fnmatchcase("s3:ListBucket", a) for a in actions):
                    continue
                patterns = (st.get("Condition") or {}).get("StringLike", {}).get("s3:prefix")
                if patterns is None or any(fnmatch.fnmatchcase(prefix, p)
                                           for p in (patterns if isinstance(patterns, list) else [patterns])):
                    return
        self._raise_access_denied()

    monkeypatch.setattr(access_control.S3IAMRequest, "check_action_permitted", check)


@pytest.fixture
def enforced(synth, moto_server, monkeypatch, tmp_path):
    """Buckets, darks and one IAM user per role (statements from the template); then IAM on.
    Yields ``{"as": context manager (role name -> that principal's keys), "admin": boto3 s3
    client with full rights, "items": {...}}``."""
    import boto3
    import moto.settings

    from hstcr_common.remote import S3_BUCKET, clients, s3_key
    from hstcr_common.synthetic import write_dark

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=S3_BUCKET)
    s3.create_bucket(Bucket=LAKE_BUCKET)
    items = {}
    full_science = {}
    for i in range(4):
        dark = write_dark("stis_ccd", tmp_path / "darks", seed=300 + i)
        files = {}
        for role, path in dark.paths.items():
            key = s3_key(dark.dataset, path.name.split("_", 1)[1].split(".")[0])
            body = path.read_bytes()
            if i == 3 and role == "science":  # the corrupt dark: truncated until "fixed" upstream
                full_science[key] = body
                body = body[:5000]
            s3.put_object(Bucket=S3_BUCKET, Key=key, Body=body)
            files[role] = f"s3://{S3_BUCKET}/{key}"
        items["corrupt" if i == 3 else f"good{i}"] = {
            "dataset": dark.dataset, "instrument": "stis_ccd", "month": dark.manifest_item["month"], "files": files}

    iam = boto3.client("iam")
    keys = {}
    statements = role_statements(synth["template"])
    statements["admin"] = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    for name, st in statements.items():
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-as-deployed",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": st}))
        k = iam.create_access_key(UserName=name)["AccessKey"]
        keys[name] = (k["AccessKeyId"], k["SecretAccessKey"])
    monkeypatch.setenv("HSTCR_LAKE", f"s3://{LAKE_BUCKET}/lake")
    monkeypatch.setenv("HSTCR_RUNS", f"s3://{LAKE_BUCKET}/runs")
    _enforce_s3_prefix(monkeypatch)
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # IAM on from here

    @contextlib.contextmanager
    def principal(name):
        with monkeypatch.context() as m:
            m.setenv("AWS_ACCESS_KEY_ID", keys[name][0])
            m.setenv("AWS_SECRET_ACCESS_KEY", keys[name][1])
            clients._cache.clear()
            try:
                yield
            finally:
                clients._cache.clear()

    admin = boto3.client("s3", aws_access_key_id=keys["admin"][0], aws_secret_access_key=keys["admin"][1])
    yield {"as": principal, "admin": admin, "items": items, "statements": statements, "full_science": full_science}


def _event(item, run_id, **settings):
    return {"item": item, "run_id": run_id, "method": "threshold", "params": {}, "reprocess": False, **settings}


def _keys(admin, prefix):
    pages = admin.get_paginator("list_objects_v2").paginate(Bucket=LAKE_BUCKET, Prefix=prefix)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def test_iam_is_enforced_at_all(enforced):
    """The emulator denies what the template does not grant (so the passes below mean something)."""
    import botocore.exceptions

    from hstcr_common.remote import aws_client

    with enforced["as"]("process_dark"):
        s3 = aws_client("s3")
        for call in (lambda: s3.put_object(Bucket=LAKE_BUCKET, Key="elsewhere/x", Body=b"x"),
                     lambda: s3.put_object(Bucket=LAKE_BUCKET, Key="runs/r/manifest.jsonl", Body=b"x"),
                     lambda: s3.list_objects_v2(Bucket=LAKE_BUCKET, Prefix="athena-results/"),
                     lambda: s3.list_objects_v2(Bucket=LAKE_BUCKET)):
            with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
                call()
    with enforced["as"]("summarize"):
        with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
            aws_client("s3").put_object(Bucket=LAKE_BUCKET, Key="lake/exposures/x.parquet", Body=b"x")
    with enforced["as"]("plan"):
        with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
            aws_client("s3").get_object(Bucket="stpubdata", Key="hst/public/o6bg/x")


def test_every_handler_path_runs_with_the_deployed_policies(enforced):
    import pyarrow.parquet as pq

    from functions import plan, process_dark, summarize
    from tests.infra.test_aws_lambda_side import child_record, result_writer_files

    admin, items = enforced["admin"], enforced["items"]
    good0, good1, good2, corrupt = (items[k] for k in ("good0", "good1", "good2", "corrupt"))

    # plan: inline items, and a manifest the user put under runs/
    with enforced["as"]("plan"):
        out = plan.handler({"request": {"items": [good0, good1], "method": "threshold", "max_concurrency": 4},
                            "execution_name": "run-1"})
    assert (out["n_items"], out["max_concurrency"]) == (2, 4)
    admin.put_object(Bucket=LAKE_BUCKET, Key="runs/in/manifest.jsonl",
                     Body="".join(json.dumps(it) + "\n" for it in (good2, corrupt)).encode())
    with enforced["as"]("plan"):
        out = plan.handler({"request": {"manifest": f"s3://{LAKE_BUCKET}/runs/in/manifest.jsonl"},
                            "execution_name": "run-1b"})
    assert out["n_items"] == 2

    outputs = []
    with enforced["as"]("process_dark"):
        # first run of a dark
        first = process_dark.handler(_event(good0, "run-1"))
        assert first["results"][0]["status"] == "done", first
        outputs.append(first)
        # a batch: a good dark and a corrupt one (a failures row, not an error)
        batch = process_dark.handler({"Items": [{"item": good1}, {"item": corrupt}],
                                      "BatchInput": {"run_id": "run-1", "method": "threshold", "params": {},
                                                     "reprocess": False}})
        assert sorted(r["status"] for r in batch["results"]) == ["done", "failed"]
        outputs.append(batch)
        # a retry after a success (lost answer, duplicate delivery, redrive): this run's receipt
        retry = process_dark.handler(_event(good0, "run-1"))
        assert retry["results"][0]["status"] == "done"
        assert retry["results"][0]["n_cr"] == first["results"][0]["n_cr"]
        # a re-run (a new run): skipped, with its own receipt
        rerun = process_dark.handler(_event(good0, "run-2"))
        assert rerun["results"][0]["status"] == "skipped"
        # --reprocess replaces the dark's files
        again = process_dark.handler(_event(good0, "run-3", reprocess=True))
        assert again["results"][0]["status"] == "done"
    assert "runs/run-2/results/" + good0["dataset"] + ".json" in _keys(admin, "runs/run-2/")
    failures = _keys(admin, "lake/failures/")
    assert [k for k in failures if corrupt["dataset"] in k]

    # the corrupt dark fixed upstream: processed, and its stale failures file deleted
    for key, body in enforced["full_science"].items():
        admin.put_object(Bucket="stpubdata", Key=key, Body=body)
    with enforced["as"]("process_dark"):
        fixed = process_dark.handler(_event(corrupt, "run-4"))
    assert fixed["results"][0]["status"] == "done", fixed
    assert not [k for k in _keys(admin, "lake/failures/") if corrupt["dataset"] in k]

    # the state machine writes the Map's ResultWriter files (as its role), summarize reads them
    records = [child_record("SUCCEEDED", {"dataset": o["results"][0]["dataset"]}, o) for o in outputs]
    records[0]["Input"] = json.dumps(_event(good0, "run-1"))
    with enforced["as"]("workflow"):
        from hstcr_common.remote import aws_client

        map_output = result_writer_files(aws_client("s3"), LAKE_BUCKET, "runs/map-results/uuid-1", records,
                                         [child_record("FAILED", good2, Error="Sandbox.Timedout")])
    with enforced["as"]("summarize"):
        summary = summarize.handler({"plan": {"run_id": "run-1", "n_items": 4, "n_darks": 4, "method": "threshold"},
                                     "map": map_output})
    assert (summary["n_done"], summary["n_failed"], summary["n_map_failed"]) == (2, 1, 1)
    table = pq.read_table(io.BytesIO(admin.get_object(Bucket=LAKE_BUCKET, Key="runs/run-1/results.parquet")["Body"].read()))
    assert table.num_rows == 4


def test_method_auto_reference_and_darks_run_with_the_deployed_policies(enforced):
    """auto: the plan's two manifests, a reference child (lake/references/, its receipt under
    runs/<run_id>/references/), then the darks against it, each function as deployed."""
    from functions import plan, process_dark

    admin, items = enforced["admin"], enforced["items"]
    group = [dict(items[k], month="2017-03") for k in ("good0", "good1", "good2")]
    with enforced["as"]("plan"):
        out = plan.handler({"request": {"items": group}, "execution_name": "auto-1"})
    assert (out["method"], out["n_groups"], out["n_items"]) == ("auto", 1, 3)

    def lines(key):
        return [json.loads(line) for line in
                admin.get_object(Bucket=LAKE_BUCKET, Key=key)["Body"].read().decode().splitlines()]

    (ref_item,) = lines(out["references_key"])
    settings = {"method": "auto"}
    with enforced["as"]("process_dark"):
        built = process_dark.handler(_event(ref_item, "auto-1", **settings))
        assert built["reference"]["status"] == "built", built
        # a retried reference child finds the reference already in the lake
        again = process_dark.handler(_event(ref_item, "auto-1", **settings))
        assert again["reference"]["status"] == "reused", again
        done = [process_dark.handler(_event(it, "auto-1", **settings)) for it in lines(out["key"])]
    assert [d["results"][0]["status"] for d in done] == ["done"] * 3, done
    assert [k for k in _keys(admin, "lake/references/") if k.endswith(".npz")]
    assert _keys(admin, "runs/auto-1/references/") == [f"runs/auto-1/references/{ref_item['group']}.json"]
    # between the maps, the plan function (its own policy) reads the references map's
    # ResultWriter output, as Step Functions wrote it, and writes the manifest of darks left
    prefix = "runs/map-results/auto-1-references"
    record = {"Status": "SUCCEEDED", "Input": json.dumps(_event(ref_item, "auto-1", **settings)),
              "Output": json.dumps(built)}
    admin.put_object(Bucket=LAKE_BUCKET, Key=f"{prefix}/SUCCEEDED_0.json", Body=json.dumps([record]))
    admin.put_object(Bucket=LAKE_BUCKET, Key=f"{prefix}/manifest.json", Body=json.dumps(
        {"DestinationBucket": LAKE_BUCKET,
         "ResultFiles": {"SUCCEEDED": [{"Key": f"{prefix}/SUCCEEDED_0.json"}], "FAILED": []}}))
    references = {"ResultWriterDetails": {"Bucket": LAKE_BUCKET, "Key": f"{prefix}/manifest.json"}}
    with enforced["as"]("plan"):
        left = plan.handler({"remaining": {"plan": out, "references": references}})
    assert (left["n_items"], left["n_items_planned"]) == (0, 3)
    assert _keys(admin, "runs/auto-1/remaining.jsonl") == ["runs/auto-1/remaining.jsonl"]
