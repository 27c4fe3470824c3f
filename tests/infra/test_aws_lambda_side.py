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

    out = plan_run({"items": [_item("o6bg01aaq"), _item("o6bg01abq")]}, runs_root=RUNS, lake="x")
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


def test_summarize_counts_results_and_map_failures(aws):
    import pyarrow.parquet as pq
    import io

    from hstcr_common.aws import summarize_run

    for name, status, n in (("a", "done", 5), ("b", "failed", 0), ("c", "skipped", 0)):
        aws.put_object(Bucket="runs-bucket", Key=f"runs/r9/results/{name}.json",
                       Body=json.dumps({"dataset": name, "instrument": "acs_wfc", "status": status, "n_cr": n,
                                        "seconds": 1.5, "error": "bad" if status == "failed" else None}))
    # a ResultWriter manifest with one FAILED file holding two items (Lambda errors)
    aws.put_object(Bucket="runs-bucket", Key="runs/map-results/x/FAILED_0.json", Body=json.dumps([{}, {}]))
    aws.put_object(Bucket="runs-bucket", Key="runs/map-results/x/manifest.json", Body=json.dumps(
        {"DestinationBucket": "runs-bucket",
         "ResultFiles": {"FAILED": [{"Key": "runs/map-results/x/FAILED_0.json", "Size": 10}], "SUCCEEDED": []}}))
    event = {"plan": {"run_id": "r9", "n_items": 5, "method": "dq"},
             "map": {"ResultWriterDetails": {"Bucket": "runs-bucket", "Key": "runs/map-results/x/manifest.json"}}}
    s = summarize_run(event, lake="s3://l/lake", runs_root=RUNS)
    assert (s["n_results"], s["n_done"], s["n_failed"], s["n_skipped"]) == (3, 1, 1, 1)
    assert s["n_map_failures"] == 2 and s["cosmic_rays"] == 5 and s["seconds"] == 4.5
    assert s["failures"] == [{"dataset": "b", "instrument": "acs_wfc", "error": "bad"}]
    body = aws.get_object(Bucket="runs-bucket", Key="runs/r9/results.parquet")["Body"].read()
    table = pq.read_table(io.BytesIO(body))
    assert table.column("dataset").to_pylist() == ["a", "b", "c"]
    assert json.loads(aws.get_object(Bucket="runs-bucket", Key="runs/r9/summary.json")["Body"].read())["n_done"] == 1


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
