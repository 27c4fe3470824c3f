"""Our S3 requests per dark, counted on a moto server for the real ``process_dark`` handler.

They are what the cost model prices (``benchmarks/cost_model.py``: S3_*_PER_DARK,
S3_*_PER_GROUP): this test fails when either changes without the other.  PUT, POST, LIST
are billed at $0.005 per 1,000, GET and HEAD at $0.0004.
"""

from __future__ import annotations

import collections
import json
import urllib.request
from urllib.parse import urlsplit

import pytest

from hstcr_common.synthetic import write_sample

#: a bucket of this module's own: moto's objects live in the process, across servers, and
#: other modules list ``moto_s3``'s ``lake-bucket`` whole
LAKE_BUCKET = "requests-lake"


@pytest.fixture(scope="module")
def stis_darks(tmp_path_factory):
    root = tmp_path_factory.mktemp("s3-requests")
    write_sample("stis_ccd", 3, root, seed=41)
    return [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]


@pytest.fixture()
def counted(moto_s3, monkeypatch, tmp_path):
    """The handler's environment pointing at the moto server (``moto_s3``), and
    ``count(call)``: the requests ``call()`` made, by (class, what)."""
    from moto.moto_api import recorder

    endpoint = moto_s3
    for key, value in {"AWS_ENDPOINT_URL": endpoint, "HSTCR_LAKE": f"s3://{LAKE_BUCKET}/lake",
                       "HSTCR_RUNS": f"s3://{LAKE_BUCKET}/runs"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # the recorder keeps its file where MOTO_RECORDER_FILEPATH said when moto was imported
    # (default: ./moto_recording, i.e. the checkout): here, this test's own folder
    monkeypatch.setattr(recorder, "_location", str(tmp_path / "moto_recording"))
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=LAKE_BUCKET)

    def api(action: str) -> bytes:
        method = "GET" if action == "download-recording" else "POST"
        req = urllib.request.Request(f"{endpoint}/moto-api/recorder/{action}", method=method)
        with urllib.request.urlopen(req) as resp:
            return resp.read()

    def count(call) -> collections.Counter:
        api("reset-recording")
        api("start-recording")
        call()
        api("stop-recording")
        out = collections.Counter()
        for line in api("download-recording").decode().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            url = urlsplit(entry["url"])
            parts = url.path.strip("/").split("/")
            if parts[0] != LAKE_BUCKET:
                continue
            query = url.query.split("=")[0]
            if entry["method"] == "GET" and len(parts) == 1:
                out["LIST"] += 1
            elif entry["method"] in ("PUT", "POST"):
                out["PUT" if not query else f"multipart {query}"] += 1
            else:
                out["GET"] += 1
        return out

    yield count
    from hstcr_common.remote import clients
    clients._cache.clear()                   # clients made for this endpoint and environment
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=LAKE_BUCKET):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=LAKE_BUCKET, Key=obj["Key"])
    s3.delete_bucket(Bucket=LAKE_BUCKET)


def test_a_darks_own_child_makes_three_puts_and_two_heads(stis_darks, counted):
    from benchmarks.cost_model import S3_GETS_PER_DARK, S3_LISTS_PER_DARK, S3_PUTS_PER_DARK
    from functions import process_dark

    results = []
    made = counted(lambda: results.append(process_dark.handler(
        {"item": stis_darks[0], "run_id": "one", "method": "threshold", "reprocess": False})))
    assert results[0]["n_done"] == 1
    # each Parquet file is one PutObject, never a multipart upload's three requests
    assert made == {"PUT": S3_PUTS_PER_DARK, "GET": S3_GETS_PER_DARK} and S3_LISTS_PER_DARK == 0


def test_a_reference_childs_requests_per_dark_and_per_group(stis_darks, counted, monkeypatch):
    import boto3

    from benchmarks.cost_model import (S3_GETS_PER_GROUP, S3_GETS_PER_GROUPED_DARK,
                                       S3_LISTS_PER_GROUP, S3_PUTS_PER_DARK, S3_PUTS_PER_GROUP,
                                       put_requests)
    from functions import process_dark
    from hstcr_common.aws.plan import auto_items

    made = {}
    for n in (2, 3):                              # each group in a lake of its own
        monkeypatch.setenv("HSTCR_LAKE", f"s3://{LAKE_BUCKET}/lake{n}")
        references, _ = auto_items(stis_darks[:n], None, f"s3://{LAKE_BUCKET}/lake{n}")
        results = []
        made[n] = counted(lambda: results.append(process_dark.handler(
            {"item": references[0], "run_id": f"group{n}", "method": "auto", "reprocess": False})))
        assert results[0]["n_done"] == n
        reference = references[0]["reference"].removeprefix(f"{LAKE_BUCKET}/")
        size = boto3.client("s3", region_name="us-east-1").head_object(
            Bucket=LAKE_BUCKET, Key=reference)["ContentLength"]
        assert put_requests(size) == 1                # a STIS/CCD reference: one PutObject
    per_dark = made[3] - made[2]
    per_group = {k: made[2][k] - 2 * per_dark[k] for k in made[2]}
    assert dict(per_dark) == {"PUT": S3_PUTS_PER_DARK, "GET": S3_GETS_PER_GROUPED_DARK}
    assert per_group == {"PUT": S3_PUTS_PER_GROUP + 1, "LIST": S3_LISTS_PER_GROUP,
                         "GET": S3_GETS_PER_GROUP}
