"""The work behind the Lambda handlers (hstcr_common.aws: plan, process, summarize), boto3 against moto, lake on disk."""

from __future__ import annotations

import json

import pytest

from hstcr_common.model import HstcrError

RUNS = "s3://runs-bucket/runs"


@pytest.fixture
def aws(fake_aws_env):
    from moto import mock_aws

    with mock_aws():
        import boto3

        boto3.client("s3").create_bucket(Bucket="runs-bucket")
        yield boto3.client("s3")


def _item(dataset, month="2019-03", exptime=1100.0, **extra):
    return {"dataset": dataset, "instrument": "stis_ccd", "month": month, "exptime_s": exptime,
            "ccdamp": "D", "files": {"science": f"s3://stpubdata/hst/public/{dataset[:4]}/{dataset}/{dataset}_flt.fits"},
            **extra}


def test_plan_writes_the_manifest_and_groups_darks_for_stack(aws):
    from hstcr_common.aws import plan_run

    items = [_item("o6bg01aaq"), _item("o6bg01abq"), _item("o6bg01acq", month="2019-04")]
    out = plan_run({"items": items, "method": "stack"}, runs_root=RUNS, lake="s3://l/lake",
                   execution_name="stack run:1")
    assert out["run_id"] == "stack-run-1"
    assert (out["bucket"], out["key"]) == ("runs-bucket", "runs/stack-run-1/manifest.jsonl")
    assert (out["n_darks"], out["method"]) == (3, "stack")
    lines = aws.get_object(Bucket="runs-bucket", Key=out["key"])["Body"].read().decode().splitlines()
    groups = [json.loads(line) for line in lines]
    assert len(groups) == out["n_items"] == 2  # March pair, April single
    assert sorted(len(g["items"]) for g in groups) == [1, 2]
    assert all(m["group"] == g["group"] for g in groups for m in g["items"])


def test_plan_one_item_per_dark_for_threshold(aws):
    from hstcr_common.aws import plan_run

    out = plan_run({"items": [_item("o6bg01aaq"), _item("o6bg01abq")], "method": "threshold"},
                   runs_root=RUNS, lake="x")
    lines = aws.get_object(Bucket="runs-bucket", Key=out["key"])["Body"].read().decode().splitlines()
    assert [json.loads(line)["dataset"] for line in lines] == ["o6bg01aaq", "o6bg01abq"]
    assert out["method"] == "threshold" and out["n_items"] == 2


@pytest.mark.parametrize("request_, match", [
    ({"items": [], "method": "magic"}, "unknown method"),
    ({"instrument": "acs_wfc"}, "missing"),
    ({"items": [{"dataset": "x"}]}, "request item 0"),
])
def test_plan_rejects_bad_requests(aws, request_, match):
    from hstcr_common.aws import plan_run

    with pytest.raises(HstcrError, match=match):
        plan_run(request_, runs_root=RUNS, lake="x")


def test_process_event_batch_records_results_and_bad_darks(aws, tmp_path):
    from hstcr_common.aws import process_event
    from hstcr_common.synthetic import write_dark

    dark = write_dark("stis_ccd", tmp_path / "darks", seed=3)
    good = {"dataset": dark.dataset, "instrument": "stis_ccd", "files": {k: str(v) for k, v in dark.paths.items()}}
    broken = tmp_path / "obad02xyq_flt.fits"
    broken.write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    bad = {"dataset": "obad02xyq", "instrument": "stis_ccd", "files": {"science": str(broken)}}
    event = {"Items": [{"item": good}, {"item": bad}],
             "BatchInput": {"run_id": "r1", "method": "threshold", "params": {}, "reprocess": False}}
    out = process_event(event, lake=str(tmp_path / "lake"), runs_root=RUNS)
    assert (out["n_done"], out["n_failed"], out["n_skipped"]) == (1, 1, 0)
    by_dataset = {r["dataset"]: r for r in out["results"]}
    assert by_dataset[dark.dataset]["n_cr"] > 0
    assert "obad02xyq" in by_dataset["obad02xyq"]["error"] or "flt" in by_dataset["obad02xyq"]["error"]
    keys = sorted(o["Key"] for o in aws.list_objects_v2(Bucket="runs-bucket", Prefix="runs/r1/")["Contents"])
    assert keys == sorted(f"runs/r1/results/{d}.json" for d in (dark.dataset, "obad02xyq"))
    # the same dark again (planned items carry their month) is skipped: runs are resumable
    month = json.loads(aws.get_object(Bucket="runs-bucket", Key=f"runs/r1/results/{dark.dataset}.json")["Body"].read())["month"]
    again = process_event({"item": {**good, "month": month}, "run_id": "r2", "method": "threshold"},
                          lake=str(tmp_path / "lake"), runs_root=RUNS)
    assert again["n_skipped"] == 1


def result_writer_files(s3, bucket: str, prefix: str, succeeded: list[dict], failed: list[dict],
                        per_file: int = 1000) -> dict:
    """Write ResultWriter output as AWS does (manifest.json + SUCCEEDED_<n>.json/FAILED_<n>.json,
    each a JSON array of child records whose Input/Output are JSON strings); returns the
    Map's ``{"ResultWriterDetails": ...}``."""
    files = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
    for status, records in (("SUCCEEDED", succeeded), ("FAILED", failed)):
        for i in range(0, len(records), per_file):
            key = f"{prefix}/{status}_{i // per_file}.json"
            body = json.dumps(records[i:i + per_file]).encode()
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            files[status].append({"Key": key, "Size": len(body)})
    s3.put_object(Bucket=bucket, Key=f"{prefix}/manifest.json", Body=json.dumps(
        {"DestinationBucket": bucket, "MapRunArn": "arn:aws:states:us-east-1:1:mapRun:m/x:y", "ResultFiles": files}))
    return {"ResultWriterDetails": {"Bucket": bucket, "Key": f"{prefix}/manifest.json"}}


def child_record(status: str, item: dict, output: dict | None = None, **extra) -> dict:
    return {"ExecutionArn": f"arn:aws:states:us-east-1:1:execution:m/x:{item['dataset']}", "Name": item["dataset"],
            "Status": status, "Input": json.dumps({"item": item, "run_id": "r9"}),
            "Output": json.dumps(output) if output is not None else None, "RedriveCount": 0, **extra}


def test_summarize_reads_the_map_result_writer_output(aws):
    import io

    import pyarrow.parquet as pq

    from hstcr_common.aws import summarize_run

    def result(name, status, n):
        return {"dataset": name, "instrument": "acs_wfc", "month": "2019-03", "status": status, "n_cr": n,
                "seconds": 1.5, "error": "bad" if status == "failed" else None}

    succeeded = [child_record("SUCCEEDED", {"dataset": d}, {"results": [result(d, s, n)]})
                 for d, s, n in (("a", "done", 5), ("b", "failed", 0), ("c", "skipped", 0))]
    # a batch child: two darks in one output
    succeeded.append(child_record("SUCCEEDED", {"dataset": "d"}, {"results": [result("d", "done", 2),
                                                                               result("e", "done", 3)]}))
    # two children the Map failed (Lambda crashed, time-out): one row per dark of their input
    failed = [child_record("FAILED", {"dataset": "f", "instrument": "acs_wfc"}, Error="Sandbox.Timedout",
                           Cause="Task timed out after 180.00 seconds"),
              child_record("FAILED", {"dataset": "g+1", "instrument": "acs_wfc",
                                      "items": [{"dataset": "g", "instrument": "acs_wfc"},
                                                {"dataset": "h", "instrument": "acs_wfc"}]},
                           Error="Runtime.OutOfMemory", Cause="out of memory")]
    map_output = result_writer_files(aws, "runs-bucket", "runs/map-results/uuid", succeeded, failed, per_file=2)
    event = {"plan": {"run_id": "r9", "n_items": 6, "method": "dq"}, "map": map_output}
    s = summarize_run(event, lake="s3://l/lake", runs_root=RUNS)
    assert (s["n_results"], s["n_done"], s["n_failed"], s["n_skipped"], s["n_map_failed"]) == (8, 3, 1, 1, 3)
    assert s["n_map_failures"] == 2 and s["cosmic_rays"] == 10 and s["seconds"] == 7.5
    assert s["failures"][0] == {"dataset": "b", "instrument": "acs_wfc", "error": "bad"}
    assert {f["dataset"]: f["error"] for f in s["failures"][1:]} == {
        "f": "Sandbox.Timedout: Task timed out after 180.00 seconds",
        "g": "Runtime.OutOfMemory: out of memory", "h": "Runtime.OutOfMemory: out of memory"}
    body = aws.get_object(Bucket="runs-bucket", Key="runs/r9/results.parquet")["Body"].read()
    table = pq.read_table(io.BytesIO(body))
    assert table.column("dataset").to_pylist() == list("abcdefgh")
    assert table.column("month").to_pylist()[:5] == ["2019-03"] * 5
    assert json.loads(aws.get_object(Bucket="runs-bucket", Key="runs/r9/summary.json")["Body"].read())["n_done"] == 3


def test_summarize_of_an_empty_plan_and_a_missing_result_writer(aws):
    from hstcr_common.aws import summarize_run

    s = summarize_run({"plan": {"run_id": "e", "n_items": 0}}, lake="x", runs_root=RUNS)
    assert (s["n_results"], s["n_map_failures"]) == (0, 0)
    with pytest.raises(HstcrError, match="ResultWriter"):
        summarize_run({"plan": {"run_id": "e", "n_items": 3}}, lake="x", runs_root=RUNS)


def test_summarize_100k_darks_within_the_function_limit(aws):
    """A simulated 100,000-dark run (ResultWriter files as AWS writes them) summarized well
    within summarize's 900 s timeout (and a few GETs, not 100,000)."""
    import time

    from hstcr_common.aws import summarize_run

    n = 100_000
    succeeded = [child_record("SUCCEEDED", {"dataset": f"j{i:08d}"}, {"results": [
        {"dataset": f"j{i:08d}", "instrument": "acs_wfc", "month": "2019-03", "status": "done",
         "n_cr": 40_000, "seconds": 3.5, "error": None}], "n_done": 1, "n_failed": 0, "n_skipped": 0})
                 for i in range(n)]
    map_output = result_writer_files(aws, "runs-bucket", "runs/map-results/big", succeeded[:-50],
                                     [child_record("FAILED", {"dataset": f"j{i:08d}"}, Error="States.Timeout")
                                      for i in range(n - 50, n)], per_file=50_000)
    t0 = time.perf_counter()
    s = summarize_run({"plan": {"run_id": "big", "n_items": n}, "map": map_output}, lake="x", runs_root=RUNS)
    seconds = time.perf_counter() - t0
    print(f"\nsummarize of {n:,} darks: {seconds:.1f} s")
    assert (s["n_results"], s["n_done"], s["n_map_failed"]) == (n, n - 50, 50)
    assert seconds < 300  # a third of the Lambda's 900 s on this shared 2-core machine


def test_a_stack_group_item_is_processed_as_one_group(aws, tmp_path):
    from hstcr_common.aws import group_items, process_event
    from hstcr_common.synthetic import write_sample

    darks = write_sample("stis_ccd", 2, tmp_path / "darks", seed=5)
    items = [d.manifest_item for d in darks]
    groups = group_items(items)
    assert len(groups) == 1 and groups[0]["group"] == items[0]["group"]
    out = process_event({"item": groups[0], "run_id": "s1", "method": "stack"},
                        lake=str(tmp_path / "lake"), runs_root=RUNS)
    assert out["n_done"] == 2
    assert sorted(r["dataset"] for r in out["results"]) == sorted(d.dataset for d in darks)
    import pyarrow.dataset as ds

    methods = ds.dataset(tmp_path / "lake" / "exposures", format="parquet", partitioning="hive").to_table(
        columns=["method"]).column("method").to_pylist()
    assert methods == ["stack", "stack"]


def test_auto_plan_reference_then_darks_against_it(aws, tmp_path):
    """Method auto as the two maps run it: plan -> one reference child -> one child per dark."""
    import pyarrow.dataset as ds

    from hstcr_common.aws import plan_run, process_event
    from hstcr_common.synthetic import write_sample

    darks = write_sample("stis_ccd", 3, tmp_path / "darks", seed=11)
    lake = str(tmp_path / "lake")
    out = plan_run({"items": [d.manifest_item for d in darks]}, runs_root=RUNS, lake=lake,
                   execution_name="auto-1")
    assert (out["method"], out["n_groups"], out["n_items"], out["n_darks"]) == ("auto", 1, 3, 3)

    def lines(key):
        body = aws.get_object(Bucket="runs-bucket", Key=key)["Body"].read().decode()
        return [json.loads(line) for line in body.splitlines()]

    (ref_item,) = lines(out["references_key"])
    dark_items = lines(out["key"])
    assert ref_item["kind"] == "reference" and len(ref_item["items"]) == 3
    assert {it["reference"] for it in dark_items} == {ref_item["reference"]}
    assert all(it["method_reason"] for it in dark_items)

    settings = {"run_id": out["run_id"], "method": "auto", "params": {}, "reprocess": False}
    built = process_event({"item": ref_item, **settings}, lake=lake, runs_root=RUNS)
    assert built["reference"]["status"] == "built" and built["reference"]["n_members"] == 3
    # the reference child searched its darks (each read once in the whole run)
    assert sorted(r["dataset"] for r in built["results"]) == sorted(d.dataset for d in darks)
    assert built["n_done"] == 3
    receipt = aws.get_object(Bucket="runs-bucket",
                             Key=f"runs/auto-1/references/{ref_item['group']}.json")["Body"].read()
    assert json.loads(receipt)["path"] == ref_item["reference"]
    for it in dark_items:
        # the dark's own child reports that search (even asked to reprocess: same run)
        answer = process_event({"item": it, **settings, "reprocess": True}, lake=lake, runs_root=RUNS)
        assert answer["n_done"] == 1 and answer["results"][0]["dataset"] == it["dataset"]
    rows = ds.dataset(tmp_path / "lake" / "exposures", format="parquet", partitioning="hive").to_table(
        columns=["method", "group_size", "method_reason"]).to_pylist()
    assert [(r["method"], r["group_size"]) for r in rows] == [("reference", 3)] * 3
    assert all(r["method_reason"] == dark_items[0]["method_reason"] for r in rows)


def _darks_in_stpubdata(s3, darks) -> list[dict]:
    """Manifest items of synthetic darks uploaded to (moto's) stpubdata, as MAST has them."""
    from hstcr_common.remote import S3_BUCKET, s3_key

    s3.create_bucket(Bucket=S3_BUCKET)
    items = []
    for dark in darks:
        files = {}
        for role, path in dark.paths.items():
            key = s3_key(dark.dataset, path.name.split("_", 1)[1].split(".")[0])
            s3.upload_file(str(path), S3_BUCKET, key)
            files[role] = f"s3://{S3_BUCKET}/{key}"
        items.append(dict(dark.manifest_item, files=files))
    return items


def test_reference_child_reads_each_dark_once_and_searches_it(aws, tmp_path, monkeypatch):
    """A reference child reads its darks from S3 once: the build and the searches use its
    copies (here the objects are deleted once read, so any second read would fail), and the
    rows equal what the darks' own children make of them."""
    import pyarrow.dataset as ds

    from hstcr_common.aws import plan_run, process_event
    from hstcr_common.aws import process as aws_process
    from hstcr_common.remote import S3_BUCKET
    from hstcr_common.synthetic import write_sample

    monkeypatch.setenv("HSTCR_S3_SIGNED", "1")     # as the stack sets it: moto has no public bucket
    darks = write_sample("stis_ccd", 3, tmp_path / "darks", seed=13)
    items = _darks_in_stpubdata(aws, darks)
    staging_root = tmp_path / "ephemeral"
    staging_root.mkdir()
    monkeypatch.setattr(aws_process.tempfile, "gettempdir", lambda: str(staging_root))
    stage = aws_process.stage_darks

    staged_groups = []

    def stage_then_delete(members, folder):
        staged_groups.append(len(members))
        staged = stage(members, folder)
        for obj in aws.list_objects_v2(Bucket=S3_BUCKET).get("Contents", []):
            aws.delete_object(Bucket=S3_BUCKET, Key=obj["Key"])
        return staged

    monkeypatch.setattr(aws_process, "stage_darks", stage_then_delete)

    def table(lake):
        return ds.dataset(f"{lake}/exposures", format="parquet", partitioning="hive").to_table(
            columns=["dataset", "method", "group_size", "method_reason", "n_cr"]).sort_by("dataset").to_pylist()

    lake = str(tmp_path / "lake")
    out = plan_run({"items": items}, runs_root=RUNS, lake=lake, execution_name="once")
    ref_item = json.loads(aws.get_object(Bucket="runs-bucket", Key=out["references_key"])["Body"].read())
    settings = {"run_id": "once", "method": "auto", "params": {}, "reprocess": False}
    built = process_event({"item": ref_item, **settings}, lake=lake, runs_root=RUNS)
    assert built["reference"]["status"] == "built" and built["n_done"] == 3
    assert list(staging_root.iterdir()) == []                  # its copies are gone
    # a retry finds the darks done: it reads none and searches none
    again = process_event({"item": ref_item, **settings}, lake=lake, runs_root=RUNS)
    assert again["reference"]["status"] == "all done" and again["results"] == []
    assert staged_groups == [3]
    rows = table(lake)
    assert [(r["method"], r["group_size"]) for r in rows] == [("reference", 3)] * 3

    # the same darks searched by their own children against the same reference: same rows
    local = [dict(d.manifest_item, reference=ref_item["reference"], method_reason=rows[0]["method_reason"])
             for d in darks]
    for it in local:
        assert process_event({"item": it, "run_id": "own", "method": "auto", "reprocess": True},
                             lake=str(tmp_path / "lake2"), runs_root=RUNS)["n_done"] == 1
    assert table(str(tmp_path / "lake2")) == rows


def test_reference_child_leaves_darks_to_their_children_when_time_runs_short(aws, tmp_path):
    """Searches stop while SEARCH_RESERVE_S is still left; the rest are searched by their own
    children against the reference, as when the child was retried after building it."""
    import pyarrow.dataset as ds

    from hstcr_common.aws import plan_run, process_event
    from hstcr_common.aws.process import SEARCH_RESERVE_S
    from hstcr_common.synthetic import write_sample

    darks = write_sample("stis_ccd", 3, tmp_path / "darks", seed=14)
    lake = str(tmp_path / "lake")
    out = plan_run({"items": [d.manifest_item for d in darks]}, runs_root=RUNS, lake=lake,
                   execution_name="short")
    ref_item = json.loads(aws.get_object(Bucket="runs-bucket", Key=out["references_key"])["Body"].read())
    left = iter([SEARCH_RESERVE_S + 60, SEARCH_RESERVE_S - 1])
    settings = {"run_id": "short", "method": "auto", "params": {}, "reprocess": False}
    built = process_event({"item": ref_item, **settings}, lake=lake, runs_root=RUNS,
                          remaining_s=lambda: next(left))
    assert built["n_done"] == 1
    first = built["results"][0]["dataset"]
    # a retry of the child finds the reference built and searches nothing
    again = process_event({"item": ref_item, **settings}, lake=lake, runs_root=RUNS)
    assert again["reference"]["status"] == "reused" and again["results"] == []
    body = aws.get_object(Bucket="runs-bucket", Key=out["key"])["Body"].read().decode()
    for line in body.splitlines():
        it = json.loads(line)
        answer = process_event({"item": it, **settings}, lake=lake, runs_root=RUNS)
        assert answer["n_done"] == 1
    rows = ds.dataset(f"{lake}/exposures", format="parquet", partitioning="hive").to_table(
        columns=["dataset", "method"]).to_pylist()
    assert sorted(r["dataset"] for r in rows) == sorted(d.dataset for d in darks)
    assert {r["method"] for r in rows} == {"reference"} and first in {r["dataset"] for r in rows}


def test_auto_darks_fall_back_to_threshold_when_their_reference_was_not_built(aws, tmp_path):
    import pyarrow.dataset as ds

    from hstcr_common.aws import plan_run, process_event
    from hstcr_common.synthetic import write_sample

    darks = write_sample("stis_ccd", 2, tmp_path / "darks", seed=12)
    lake = str(tmp_path / "lake")
    out = plan_run({"items": [d.manifest_item for d in darks]}, runs_root=RUNS, lake=lake,
                   execution_name="auto-2")
    body = aws.get_object(Bucket="runs-bucket", Key=out["key"])["Body"].read().decode()
    # the reference child never ran (crashed, timed out): no receipt under runs/auto-2/references/
    for line in body.splitlines():
        event = {"item": json.loads(line), "run_id": "auto-2", "method": "auto"}
        assert process_event(event, lake=lake, runs_root=RUNS)["n_done"] == 1
    rows = ds.dataset(tmp_path / "lake" / "exposures", format="parquet", partitioning="hive").to_table(
        columns=["method", "group_size", "method_reason"]).to_pylist()
    assert [r["method"] for r in rows] == ["threshold", "threshold"]
    assert all("reference not built" in r["method_reason"] and "threshold" in r["method_reason"]
               for r in rows)


def test_split_group_keeps_every_reference_within_one_child():
    from hstcr_common.aws import split_group
    from hstcr_common.aws.plan import MAX_REFERENCE_GROUP, REFERENCE_BUILD_BUDGET_S, REFERENCE_SECONDS_PER_DARK

    assert MAX_REFERENCE_GROUP == 20
    assert MAX_REFERENCE_GROUP * REFERENCE_SECONDS_PER_DARK <= REFERENCE_BUILD_BUDGET_S
    members = [{"dataset": f"d{i:02d}"} for i in range(41)]
    parts = split_group(members[:30], 20)
    assert [len(p) for p in parts] == [15, 15]
    assert [m for p in parts for m in p] == members[:30]
    assert [len(p) for p in split_group(members, 20)] == [14, 14, 13]
    assert split_group(members[:5], 20) == [members[:5]]


def test_remaining_darks_leave_out_what_reference_children_searched(aws):
    """Between the two maps: darks a succeeded reference child searched leave the manifest
    (their results come from the references map); a failed child's darks all stay; without a
    references map the plan is unchanged.  The summary counts both maps' darks once."""
    from hstcr_common.aws import remaining_darks, summarize_run

    items = [_item(f"o{k:03d}abcq", reference_group=("g1" if k < 3 else "g2")) for k in range(5)]
    aws.put_object(Bucket="runs-bucket", Key="runs/left/manifest.jsonl",
                   Body="".join(json.dumps(it) + "\n" for it in items).encode())
    plan = {"run_id": "left", "bucket": "runs-bucket", "key": "runs/left/manifest.jsonl",
            "n_items": 5, "n_items_planned": 5, "n_darks": 5, "method": "auto"}
    assert remaining_darks({"plan": plan}, runs_root=RUNS) == plan
    done = [{"dataset": it["dataset"], "instrument": "stis_ccd", "status": "done", "n_cr": 7}
            for it in items[:3]]
    g1 = {"kind": "reference", "dataset": "o000abcq+2", "items": items[:3]}
    g2 = {"kind": "reference", "dataset": "o003abcq+1", "items": items[3:]}
    references = result_writer_files(
        aws, "runs-bucket", "runs/map-results/refs",
        succeeded=[child_record("SUCCEEDED", g1, {"reference": {"status": "built"}, "results": done})],
        failed=[child_record("FAILED", g2, Error="Sandbox.Timedout")])
    left = remaining_darks({"plan": plan, "references": references}, runs_root=RUNS)
    assert (left["n_items"], left["n_items_planned"]) == (2, 5)
    assert left["key"] == "runs/left/remaining.jsonl"
    body = aws.get_object(Bucket="runs-bucket", Key=left["key"])["Body"].read().decode()
    assert [json.loads(line) for line in body.splitlines()] == items[3:]
    # the darks' map then ran the two left: the summary has all five, once each
    rest = [{"dataset": it["dataset"], "instrument": "stis_ccd", "status": "done", "n_cr": 5}
            for it in items[3:]]
    darks_map = result_writer_files(aws, "runs-bucket", "runs/map-results/darks",
                                    succeeded=[child_record("SUCCEEDED", it, {"results": [r]})
                                               for it, r in zip(items[3:], rest)], failed=[])
    s = summarize_run({"plan": left, "references": references, "map": darks_map}, lake="x",
                      runs_root=RUNS)
    assert (s["n_items"], s["n_results"], s["n_done"], s["n_searched_by_references"]) == (5, 5, 5, 3)
    assert (s["n_map_failed"], s["cosmic_rays"]) == (0, 3 * 7 + 2 * 5)
