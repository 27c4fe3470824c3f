"""The synthesized state machine over 200 darks in moto, with S3 throttling injected.

200 distinct darks (byte copies of four synthetic STIS/CCD full frames, ROOTNAME patched per
copy) sit at MAST's key layout in a moto ``stpubdata`` bucket.  The moto server answers a
share of the reads of those darks and of the lake's Parquet uploads with ``503 SlowDown``
(in the server, so the real boto3 and pyarrow clients see real throttling, and retry it with
their standard strategies).  Every dark must still end with its rows, with no failures row,
and every throttled request must have been retried until it was served.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from test_workflow_moto import LAKE_BUCKET, ROUTES, _deploy_in_moto, _wait

pytestmark = pytest.mark.slow

N_ITEMS = 200
N_TEMPLATES = 4
BLOCK, CARD = 2880, 80

SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message><RequestId>moto-fault</RequestId></Error>")


def _with_rootname(data: bytes, rootname: str) -> bytes:
    """FITS bytes with the primary header's ROOTNAME card replaced (same 80 bytes)."""
    header_end = 0
    while True:
        block = data[header_end:header_end + BLOCK]
        header_end += BLOCK
        if any(block[i:i + 8] == b"END     " for i in range(0, BLOCK, CARD)):
            break
    header = bytearray(data[:header_end])
    for i in range(0, len(header), CARD):
        if header[i:i + 8] == b"ROOTNAME":
            header[i:i + CARD] = f"ROOTNAME= '{rootname:<8}'".ljust(CARD).encode("ascii")
            return bytes(header) + data[header_end:]
    raise AssertionError("no ROOTNAME")


class Throttle:
    """Answers some S3 requests in the moto server with 503 SlowDown.

    * every ``get_every``-th GET of an object in ``read_bucket`` (botocore retries it), never
      more than twice in a row for one key;
    * the first ``put_streak`` attempts of each of the first ``put_files`` uploads of lake
      Parquet files (a PutObject each, or a part of a multipart upload): a throttling streak
      the AWS SDK inside pyarrow must ride out.

    ``recovered`` counts the injected failures whose request (same method, same key) was
    later served: a retry that landed.
    """

    def __init__(self, read_bucket: str, lake_prefix: str, get_every: int = 5, put_files: int = 6,
                 put_streak: int = 3):
        self.read_bucket, self.lake_prefix = read_bucket, lake_prefix
        self.get_every, self.put_files, self.put_streak = get_every, put_files, put_streak
        self.max_streak = 2
        self.gets = 0
        self.injected = {"get": 0, "put": 0}
        self.recovered = {"get": 0, "put": 0}
        self.put_failures: dict[str, int] = {}
        self._pending: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()

    def should_fail(self, method: str, full_url: str) -> bool:
        path = full_url.split("://", 1)[-1].split("/", 1)[-1]
        with self.lock:
            fail = self._should_fail(method, path)
            kind, key = method.lower(), path.split("?")[0]
            if fail:
                self._pending[kind, key] = self._pending.get((kind, key), 0) + 1
            elif kind in self.recovered:
                self.recovered[kind] += self._pending.pop((kind, key), 0)
            return fail

    def _should_fail(self, method: str, path: str) -> bool:
        if method == "GET" and path.startswith(self.read_bucket + "/") and "?" not in path:
            self.gets += 1
            # S3 throttles a request rate: a request retried after its backoff meets a lower
            # one.  A plain every-n-th counter can starve one request in lockstep with n - 1
            # others (seen once: 6 refusals in a row, botocore's whole budget), so a key
            # refused twice in a row is served on its next try.
            if self._pending.get(("get", path), 0) >= self.max_streak:
                return False
            if self.gets % self.get_every == 0:
                self.injected["get"] += 1
                return True
        if method == "PUT" and path.startswith(self.lake_prefix) \
                and path.split("?")[0].endswith(".parquet"):
            key = path.split("?")[0]
            n = self.put_failures.get(key)
            if n is None and len(self.put_failures) < self.put_files:
                n = self.put_failures[key] = 0
            if n is not None and n < self.put_streak:
                self.put_failures[key] = n + 1
                self.injected["put"] += 1
                return True
        return False

    def install(self, monkeypatch):
        from moto.s3.responses import S3Response

        original = S3Response.key_response
        throttle = self

        def key_response(self, request, full_url, headers):
            if throttle.should_fail(request.method, full_url):
                return 503, {"Content-Type": "application/xml"}, SLOW_DOWN
            return original(self, request, full_url, headers)

        monkeypatch.setattr(S3Response, "key_response", key_response)


def test_two_hundred_darks_through_the_map_under_throttling(synth, moto_server, monkeypatch, tmp_path):
    import boto3

    from botocore.retries import standard

    from hstcr_common.remote import S3_BUCKET, s3_key
    from hstcr_common.aws import execution_status, submit
    from hstcr_common.lake import Lake
    from hstcr_common.synthetic import write_sample

    # big objects spill to disk in moto instead of holding 2 GB in memory
    monkeypatch.setenv("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(1 << 16))
    machine = _deploy_in_moto(synth, moto_server, monkeypatch, routes=ROUTES)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=S3_BUCKET)

    templates = write_sample("stis_ccd", N_TEMPLATES, tmp_path / "t", seed=321)
    raw = [{role: p.read_bytes() for role, p in d.paths.items()} for d in templates]
    items = []
    for i in range(N_ITEMS):
        k = i % N_TEMPLATES
        name = f"o{i:07d}q"
        files = {}
        for role, data in raw[k].items():
            suffix = templates[k].paths[role].name.split("_", 1)[1].split(".")[0]
            key = s3_key(name, suffix)
            s3.put_object(Bucket=S3_BUCKET, Key=key, Body=_with_rootname(data, name))
            files[role] = f"s3://{S3_BUCKET}/{key}"
        items.append({"dataset": name, "instrument": "stis_ccd", "files": files})
    del raw

    # count botocore's backoffs (the dark reader's retries) and keep them short; the lake's
    # retries happen in the AWS SDK inside pyarrow, counted by the server as ``recovered``
    sleeps = {"botocore": 0}
    backoff = standard.ExponentialBackoff.delay_amount

    def counting(self, context):
        sleeps["botocore"] += 1
        return min(backoff(self, context), 0.05)

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", counting)
    throttle = Throttle(S3_BUCKET, f"{LAKE_BUCKET}/lake/")
    throttle.install(monkeypatch)

    s3.put_object(Bucket=LAKE_BUCKET, Key="runs/in/scale.jsonl",
                  Body="".join(json.dumps(it) + "\n" for it in items).encode())
    t0 = time.monotonic()
    started = submit(machine, manifest=f"s3://{LAKE_BUCKET}/runs/in/scale.jsonl", name="scale")
    ex = _wait(boto3.client("stepfunctions"), started["executionArn"], timeout_s=600.0)
    seconds = time.monotonic() - t0
    assert ex["status"] == "SUCCEEDED", ex.get("cause") or ex
    print(f"\n{N_ITEMS} darks through moto's Distributed Map in {seconds:.0f} s; "
          f"injected {throttle.injected}, recovered {throttle.recovered}, backoff sleeps {sleeps}")

    summary = json.loads(ex["output"])["summary"]["summary"]
    assert summary["n_items"] == N_ITEMS
    assert (summary["n_done"], summary["n_failed"], summary["n_map_failures"]) == (N_ITEMS, 0, 0), \
        summary["failures"]
    status = execution_status(started["executionArn"])
    # method auto: a first Map builds one reference per group and searches its darks; the
    # second runs only the darks left (one whose read was throttled past its retries while
    # staging is read by the build again and searched by its own child)
    n_groups = json.loads(ex["output"])["plan"]["n_groups"]
    searched = summary["n_searched_by_references"]
    assert 0 < n_groups < N_ITEMS and 0 < searched <= N_ITEMS
    runs = status["map_runs"]
    assert all(run["items"]["total"] == run["items"]["succeeded"] for run in runs)
    assert sorted(run["items"]["total"] for run in runs) == sorted(
        [n_groups] + ([N_ITEMS - searched] if searched < N_ITEMS else []))

    # throttling happened, on both paths, and was retried (not skipped, not failed)
    # every throttled GET was served later (counted by the server); botocore's backoff hook
    # sees nearly all of those retries (the counter is per process and a retry can land in a
    # client created before the hook: 2,360 of 2,361 seen once), so the proxy gets 1 % slack
    assert throttle.recovered["get"] == throttle.injected["get"] > 0
    assert sleeps["botocore"] >= 0.99 * throttle.injected["get"]
    assert throttle.injected["put"] == 6 * 3 and throttle.recovered["put"] == 6 * 3
    # nothing lost, nothing doubled: one exposures and one cosmic_rays file per dark
    lake = Lake(f"s3://{LAKE_BUCKET}/lake")
    names = {it["dataset"] for it in items}
    for table in ("exposures", "cosmic_rays"):
        index = lake.index(table)
        assert set(index) == names and all(len(v) == 1 for v in index.values())
    assert lake.files("failures") == []
    exposures = lake.read_table("exposures", ["dataset", "n_cr"])
    assert exposures.num_rows == N_ITEMS and min(exposures["n_cr"].to_pylist()) > 0
    assert sum(lake.num_rows(p) for p in lake.files("cosmic_rays")) == sum(exposures["n_cr"].to_pylist())
