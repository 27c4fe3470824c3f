"""Time the ``summarize`` Lambda's work for a 100,000-dark run, against the old design.

New design (hstcr_common.aws.summarize): read the Distributed Map's ResultWriter output,
one ``manifest.json`` plus a few ``SUCCEEDED_<n>.json`` files (each a JSON array of child
records, ``Output`` a JSON string), then write ``results.parquet`` and ``summary.json``.
Old design (baseline): list ``runs/<run_id>/results/`` and GET every per-dark JSON, one
request per dark; timed on a sample and extrapolated.

Both run against moto's in-process S3 (``mock_aws``), which answers a GET in well under a
millisecond; real S3 answers in ~20-30 ms per GET, so the baseline's real cost is also
printed at 20 ms per GET.

    .venv/bin/python benchmarks/bench_summarize.py [--darks 100000] [--sample 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

BUCKET = "bench-runs"
RUNS = f"s3://{BUCKET}/runs"
#: ResultWriter files hold up to 5 GB each; this many records per file keeps several files.
PER_FILE = 25_000
#: A real S3 GET from Lambda in the same region (the issue's measurement: 20-30 ms).
S3_GET_S = 0.020


def _result(i: int) -> dict:
    return {"dataset": f"j{i:08d}q", "instrument": "acs_wfc", "month": "2019-03", "status": "done",
            "n_cr": 40_000 + i % 1000, "seconds": 3.5, "error": None}


def _write_result_writer(s3, n: int) -> dict:
    files = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
    for start in range(0, n, PER_FILE):
        records = [{"ExecutionArn": f"arn:aws:states:us-east-1:1:execution:hstcr-darks/m:{i}", "Name": str(i),
                    "Status": "SUCCEEDED", "Input": json.dumps({"item": {"dataset": f"j{i:08d}q"}}),
                    "Output": json.dumps({"results": [_result(i)], "n_done": 1, "n_failed": 0, "n_skipped": 0}),
                    "RedriveCount": 0, "StartDate": "2026-01-01T00:00:00Z", "StopDate": "2026-01-01T00:00:04Z"}
                   for i in range(start, min(n, start + PER_FILE))]
        key = f"runs/map-results/bench/SUCCEEDED_{start // PER_FILE}.json"
        body = json.dumps(records).encode()
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        files["SUCCEEDED"].append({"Key": key, "Size": len(body)})
    s3.put_object(Bucket=BUCKET, Key="runs/map-results/bench/manifest.json",
                  Body=json.dumps({"DestinationBucket": BUCKET, "ResultFiles": files}).encode())
    return {"ResultWriterDetails": {"Bucket": BUCKET, "Key": "runs/map-results/bench/manifest.json"}}


def _old_design(s3, sample: int) -> float:
    """The per-object summary: list the results folder, GET each per-dark JSON."""
    from hstcr_common.aws.s3io import list_uris, read_json

    for i in range(sample):
        s3.put_object(Bucket=BUCKET, Key=f"runs/old/results/j{i:08d}q.json", Body=json.dumps(_result(i)).encode())
    t0 = time.perf_counter()
    results = [read_json(uri) for uri in list_uris(f"{RUNS}/old/results")]
    seconds = time.perf_counter() - t0
    assert len(results) == sample
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--darks", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2_000, help="darks for the old design's timing")
    args = parser.parse_args(argv)
    for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
        os.environ[key] = value
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        os.environ.pop(key, None)
    from moto import mock_aws

    with mock_aws():
        import boto3

        from hstcr_common.aws import summarize_run

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        map_output = _write_result_writer(s3, args.darks)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        summary = summarize_run({"plan": {"run_id": "bench", "n_items": args.darks}, "map": map_output},
                                lake="s3://x/lake", runs_root=RUNS)
        new_s = time.perf_counter() - t0
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert summary["n_done"] == args.darks, summary
        old_sample_s = _old_design(s3, args.sample)
    per_dark = old_sample_s / args.sample
    print(f"summarize, ResultWriter design: {args.darks:,} darks in {new_s:.1f} s "
          f"({-(-args.darks // PER_FILE)} result files; peak RSS {max(rss0, rss1) / 1024:.0f} MB) "
          f"-- limit 900 s")
    print(f"old per-object design: {args.sample:,} darks in {old_sample_s:.2f} s in moto "
          f"({per_dark * 1e3:.2f} ms/dark) -> {args.darks:,} darks: {per_dark * args.darks:.0f} s in moto, "
          f"{(per_dark + S3_GET_S) * args.darks:.0f} s at {S3_GET_S * 1e3:.0f} ms per real S3 GET -- limit 900 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
