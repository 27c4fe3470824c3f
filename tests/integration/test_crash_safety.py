"""Nothing lost, nothing doubled: ``hstcr run`` killed with SIGKILL and restarted, two runs at
once on one lake, and a Lambda retry of the same dark against S3.

The local runs are the real CLI in a subprocess (``--workers 2``: a parent and spawned
workers); a kill takes the whole process group, as the OOM killer or a lost terminal would.
Every interrupted lake, finished by a restart, must equal the lake of one uninterrupted run:
the same files, the same rows per table and the same data (checksum over every column but
the processing timestamps), no duplicate rows and no temporary file left anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from hstcr_common.lake import Lake
from hstcr_common.synthetic import write_sample

#: about a dozen small full-frame darks over three detector layouts, plus one corrupt file
#: (a failures row must survive kills and restarts just as the rows of the good darks)
SAMPLE = {"stis_ccd": 5, "acs_hrc": 4, "wfpc2": 3}
CORRUPT = "obadcrash_flt.fits"
#: columns that record *when* something was written, not *what*: excluded from the checksum
TIMESTAMPS = {"exposures": ["processed_at"], "failures": ["failed_at"], "cosmic_rays": []}
SORT_KEYS = {"cosmic_rays": ["dataset", "chip", "cr_id"], "exposures": ["dataset"], "failures": ["dataset"]}


# --------------------------------------------------------------------------- helpers

def hstcr(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    """``hstcr <args>`` in its own process group (so a kill takes the workers too)."""
    return subprocess.Popen([sys.executable, "-c", "from hstcr_common.cli import main; main()", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, **(env or {})}, **kwargs)


def run_to_end(folder: Path, lake: Path, *extra: str, env: dict | None = None,
               timeout: float = 180) -> dict:
    proc = hstcr("run", str(folder), "--lake", str(lake), "--workers", "2", "--json", "--quiet",
                 *extra, env=env)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode in (0, 3), err[-3000:]  # 3: the corrupt file failed, as it should
    return json.loads(out)


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # it finished first
        pass
    proc.communicate(timeout=30)


def temporary_files(lake: Path) -> list[Path]:
    return [p for p in lake.rglob("*") if p.name.endswith(".tmp")]


def fingerprint(lake: Path) -> dict:
    """What a lake holds, independent of when it was written.

    ``files``: every visible file per table (relative paths); ``rows``: rows per table;
    ``sha256``: hash of each table's rows sorted by their key, timestamps dropped.
    Also checks that no row appears twice.
    """
    lk = Lake(lake)
    out = {"files": {}, "rows": {}, "sha256": {}}
    for table in ("cosmic_rays", "exposures", "failures"):
        files = lk.files(table)
        out["files"][table] = sorted(os.path.relpath(f, lk.base) for f in files)
        t = lk.read_table(table)
        out["rows"][table] = t.num_rows
        keys = t.select(SORT_KEYS[table]).to_pylist()
        assert len({tuple(k.values()) for k in keys}) == t.num_rows, f"duplicate rows in {table}"
        t = t.drop_columns(TIMESTAMPS[table]).sort_by([(k, "ascending") for k in SORT_KEYS[table]])
        # per dataset, so a difference names the dark and the columns
        for dataset in sorted(set(t["dataset"].to_pylist())):
            part = t.filter(pc.equal(t["dataset"], dataset))
            out["sha256"][f"{table}/{dataset}"] = {c: _column_hash(part[c]) for c in part.column_names}
    return out


def _column_hash(column: pa.ChunkedArray) -> str:
    """sha256 of a column's values (Arrow IPC of one contiguous chunk)."""
    array = column.combine_chunks()
    sink = pa.BufferOutputStream()
    batch = pa.record_batch([array], names=["c"])
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def assert_same_lake(lake: Path, reference: dict) -> None:
    got = fingerprint(lake)
    assert got["files"] == reference["files"]
    assert got["rows"] == reference["rows"]
    assert got["sha256"].keys() == reference["sha256"].keys()
    differ = {k: [c for c in v if v[c] != reference["sha256"][k][c]] for k, v in got["sha256"].items()}
    assert not {k: v for k, v in differ.items() if v}, "rows differ from the uninterrupted run"
    assert temporary_files(lake) == []
    for table in reference["files"]:  # every file readable as Parquet
        for rel in got["files"][table]:
            pq.ParquetFile(lake / rel).metadata


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def darks(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crash-darks")
    for k, (det, n) in enumerate(SAMPLE.items()):
        write_sample(det, n, root / det, seed=70 + k)
    (root / "stis_ccd" / CORRUPT).write_bytes(b"SIMPLE  =                    T" + b"\0" * 200)
    return root


@pytest.fixture(scope="module")
def reference(darks, tmp_path_factory) -> dict:
    """The lake of one uninterrupted run, and how long that run took."""
    lake = tmp_path_factory.mktemp("reference") / "lake"
    t0 = time.monotonic()
    summary = run_to_end(darks, lake)
    seconds = time.monotonic() - t0
    n_darks = sum(SAMPLE.values())
    assert (summary["done"], summary["failed"]) == (n_darks, 1), summary
    fp = fingerprint(lake)
    assert fp["rows"]["exposures"] == n_darks and fp["rows"]["failures"] == 1
    assert fp["rows"]["cosmic_rays"] == summary["n_cr"] > 0
    return {"fingerprint": fp, "seconds": seconds, "lake": lake}


# --------------------------------------------------------------------------- kills

@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killed_at_random_moments_then_restarted_gives_the_same_lake(darks, reference, tmp_path, seed):
    """Two SIGKILLs of the whole process group at seeded random moments, then a restart."""
    rng = random.Random(seed)
    lake = tmp_path / "lake"
    for _ in range(2):
        # between interpreter start-up and the end of an uninterrupted run
        delay = rng.uniform(0.1, 1.0) * reference["seconds"]
        proc = hstcr("run", str(darks), "--lake", str(lake), "--workers", "2", "--quiet")
        time.sleep(delay)
        kill_group(proc)
        # a killed run never leaves a half-written file where a reader looks
        for table in ("cosmic_rays", "exposures", "failures"):
            for path in Lake(lake).files(table):
                pq.ParquetFile(path).metadata
    summary = run_to_end(darks, lake)
    assert summary["done"] + summary["skipped"] == sum(SAMPLE.values())
    assert_same_lake(lake, reference["fingerprint"])


#: installed through PYTHONPATH into the CLI process and its spawned workers: the K-th rename
#: of a lake file in each process announces itself and then hangs, so the kill lands between
#: the temporary file's write and its rename - the one moment a non-atomic writer would
#: leave a torn file behind.
_PAUSE_BEFORE_RENAME = textwrap.dedent("""
    import os, time
    _replace = os.replace
    _lake = os.environ["HSTCR_TEST_LAKE"]
    _nth = int(os.environ["HSTCR_TEST_PAUSE_AT"])
    _count = [0]

    def replace(src, dst, *args, **kwargs):
        if str(dst).startswith(_lake) and str(dst).endswith(".parquet"):
            _count[0] += 1
            if _count[0] == _nth:
                with open(os.path.join(os.environ["HSTCR_TEST_MARKS"], str(os.getpid())), "w") as fh:
                    fh.write(f"{src}\\n{dst}\\n")
                time.sleep(600)
        return _replace(src, dst, *args, **kwargs)

    os.replace = replace
""")


@pytest.mark.slow
@pytest.mark.parametrize("nth", [1, 4])
def test_killed_between_temporary_write_and_rename(darks, reference, tmp_path, nth):
    lake = tmp_path / "lake"
    hooks, marks = tmp_path / "hooks", tmp_path / "marks"
    hooks.mkdir(), marks.mkdir()
    (hooks / "sitecustomize.py").write_text(_PAUSE_BEFORE_RENAME)
    env = {"PYTHONPATH": os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]),
           "HSTCR_TEST_LAKE": str(lake), "HSTCR_TEST_PAUSE_AT": str(nth), "HSTCR_TEST_MARKS": str(marks)}
    proc = hstcr("run", str(darks), "--lake", str(lake), "--workers", "2", "--quiet", env=env)
    deadline = time.monotonic() + 120
    while not any(marks.iterdir()):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no write reached its rename"
        time.sleep(0.02)
    time.sleep(0.2)  # let the other worker reach its own rename (or not): both are fine
    kill_group(proc)
    stuck = [Path(m.read_text().split("\n")[0]) for m in marks.iterdir()]
    targets = [Path(m.read_text().split("\n")[1]) for m in marks.iterdir()]
    # the temporary file was complete and is left behind, hidden; its target never appeared
    assert stuck and all(p.exists() and p.name.startswith(".") for p in stuck)
    assert not any(t.exists() for t in targets)
    visible = {t: Lake(lake).files(t) for t in ("cosmic_rays", "exposures", "failures")}
    assert not any(str(p).endswith(".tmp") for files in visible.values() for p in files)
    summary = run_to_end(darks, lake)  # no hook: a normal restart
    assert summary["done"] + summary["skipped"] == sum(SAMPLE.values())
    assert_same_lake(lake, reference["fingerprint"])  # the leftovers were swept


# --------------------------------------------------------------------------- concurrency

@pytest.mark.slow
def test_two_concurrent_runs_on_one_lake(darks, reference, tmp_path):
    """Two ``hstcr run`` at once on the same folder and lake (one with --reprocess): each dark
    is written whole by one of them (last rename wins), never torn, never doubled."""
    lake = tmp_path / "lake"
    a = hstcr("run", str(darks), "--lake", str(lake), "--workers", "2", "--quiet", "--json")
    b = hstcr("run", str(darks), "--lake", str(lake), "--workers", "2", "--quiet", "--json", "--reprocess")
    for proc in (a, b):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, 3), err[-3000:]
        summary = json.loads(out)
        assert summary["failed"] == 1 and summary["done"] + summary["skipped"] == sum(SAMPLE.values())
    assert_same_lake(lake, reference["fingerprint"])
    # and a third run finds everything done
    again = run_to_end(darks, lake)
    assert again["skipped"] == sum(SAMPLE.values()) and again["done"] == 0
    assert_same_lake(lake, reference["fingerprint"])


def test_sweep_keeps_live_and_foreign_temporary_files(tmp_path):
    """Only temporary files of dead writers on this host are swept."""
    from hstcr_common.lake.store import _host_tag

    lake = Lake(tmp_path / "lake")
    folder = tmp_path / "lake" / "cosmic_rays" / "instrument=stis_ccd" / "year=2017" / "month=03"
    folder.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = _host_tag()
    names = {
        "dead": f".o1.parquet.{host}.{dead.pid}.abc123.tmp",
        "live": f".o2.parquet.{host}.{os.getpid()}.abc123.tmp",
        "foreign": f".o3.parquet.otherhost.{dead.pid}.abc123.tmp",
        "old_form": ".o4.parquet.abc123abc123.tmp",
    }
    for name in names.values():
        (folder / name).write_bytes(b"x")
    # a group reference killed before its rename (~100 MB for ACS/WFC) is swept the same way
    references = tmp_path / "lake" / "references"
    references.mkdir()
    ref_names = {"dead": f".acs_wfc-2019-03-j1-abc.npz.{host}.{dead.pid}.abc123.tmp",
                 "live": f".acs_wfc-2019-03-j2-abc.npz.{host}.{os.getpid()}.abc123.tmp",
                 "done": "acs_wfc-2019-03-j3-abc.npz"}
    for name in ref_names.values():
        (references / name).write_bytes(b"x")
    removed = lake.sweep_temporary()
    assert sorted(os.path.basename(p) for p in removed) == sorted([names["dead"], ref_names["dead"]])
    assert sorted(p.name for p in folder.iterdir()) == sorted(v for k, v in names.items() if k != "dead")
    assert sorted(p.name for p in references.iterdir()) == sorted([ref_names["live"], ref_names["done"]])


def test_a_killed_reference_writer_leaves_only_a_swept_hidden_file(tmp_path):
    """write_reference's temporary file is the lake's hidden kind: a writer killed before its
    rename leaves nothing a reader or a listing of references sees, and the next run sweeps it."""
    from hstcr_common.pipeline.groups import reference_path, write_reference

    lake = Lake(tmp_path / "lake")
    code = ("import os, sys\n"
            "import hstcr_common.pipeline.groups as g\n"
            "from hstcr_common.lake import Lake\n"
            "os.replace = lambda *a: os._exit(9)   # killed between the write and the rename\n"
            "g.write_reference(Lake(sys.argv[1]), 'stis_ccd-2017-03-o1-abc', b'x' * 1000)\n")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lake")])
    assert res.returncode == 9
    left = list((tmp_path / "lake" / "references").iterdir())
    assert len(left) == 1 and left[0].name.startswith(".stis_ccd-2017-03-o1-abc.npz.")
    assert [os.path.basename(p) for p in lake.sweep_temporary()] == [left[0].name]
    assert not list((tmp_path / "lake" / "references").iterdir())
    path = write_reference(lake, "stis_ccd-2017-03-o1-abc", b"y")
    assert path == reference_path(lake, "stis_ccd-2017-03-o1-abc")
    assert [p.name for p in (tmp_path / "lake" / "references").iterdir()] == [
        "stis_ccd-2017-03-o1-abc.npz"]


# --------------------------------------------------------------------------- S3: Lambda retries

def test_lambda_retry_of_one_dark_leaves_one_copy(darks, tmp_path, monkeypatch):
    """The real ``process_dark`` handler invoked twice for the same item (a Lambda retry after a
    timeout, or a duplicate delivery) against moto S3: one object per table, same rows."""
    import boto3

    items = [json.loads(line) for line in (darks / "acs_hrc" / "manifest.jsonl").read_text().splitlines()]
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "HSTCR_LAKE": "s3://retry-lake/lake",
                       "HSTCR_RUNS": "s3://retry-lake/runs"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    from moto.server import ThreadedMotoServer
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="retry-lake")
        from functions import process_dark

        def lake_objects():
            out = {}
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket="retry-lake", Prefix="lake/"):
                for obj in page.get("Contents", []):
                    out[obj["Key"]] = obj
            return out

        def rows(key):
            body = s3.get_object(Bucket="retry-lake", Key=key)["Body"].read()
            return pq.read_table(pa.BufferReader(body))

        event = {"item": items[0], "run_id": "retry-run", "method": "threshold", "reprocess": False}
        first = process_dark.handler(event)
        assert first["n_done"] == 1, first
        after_first = lake_objects()
        assert sorted(k.split("/")[1] for k in after_first) == ["cosmic_rays", "exposures"]
        crs_key = next(k for k in after_first if k.startswith("lake/cosmic_rays/"))
        n_rows = rows(crs_key).num_rows
        assert n_rows == first["results"][0]["n_cr"] > 0

        # the retry: same item, same run (reprocess as well: a retry must be idempotent either way)
        result_key = f"runs/retry-run/results/{items[0]['dataset']}.json"
        # a retry in the same run reports that run's receipt ("done"), so the summary counts
        # the dark once as done, whichever delivery it reads
        for reprocess, status in ((False, "done"), (True, "done")):
            again = process_dark.handler({**event, "reprocess": reprocess})
            assert again["results"][0]["status"] == status and again["n_failed"] == 0
            assert set(lake_objects()) == set(after_first)
            crs = rows(crs_key)
            assert crs.num_rows == n_rows
            assert len(set(zip(crs["chip"].to_pylist(), crs["cr_id"].to_pylist()))) == n_rows
            # the run's result for the dark still says it was done, however often it was retried
            result = json.loads(s3.get_object(Bucket="retry-lake", Key=result_key)["Body"].read())
            assert result["status"] == "done" and result["n_cr"] == n_rows
    finally:
        from hstcr_common.remote import clients
        clients._cache.clear()
        server.stop()


# --------------------------------------------------------------------------- S3: throttled writes

def test_throttled_s3_write_is_retried_and_lands_once(tmp_path, monkeypatch):
    """The moto server answers the first three uploads of a lake file with 503 SlowDown (a
    throttling streak): the AWS SDK inside pyarrow retries them and the file lands once, whole,
    in one PutObject.  A refused upload (403 AccessDenied) is not retried and its error names
    the file.  An object above the part size (a group reference) goes up in parts, each part
    retried the same way."""
    import socket

    from moto.s3.responses import S3Response
    from moto.server import ThreadedMotoServer

    import boto3
    from factories import fake_rows
    from hstcr_common.pipeline.groups import write_reference

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    failures = {"n": 0, "puts": 0, "parts": 0, "refused": 0}
    original = S3Response.key_response

    def key_response(self, request, full_url, headers):
        if request.method == "PUT":               # PutObject, or a multipart upload's part
            failures["puts"] += 1
            failures["parts"] += "partNumber=" in full_url
            if "refused.parquet" in full_url:
                failures["refused"] += 1
                return 403, {"Content-Type": "application/xml"}, (
                    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")
            if failures["n"] < 3:
                failures["n"] += 1
                return 503, {"Content-Type": "application/xml"}, (
                    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>")
        return original(self, request, full_url, headers)

    monkeypatch.setattr(S3Response, "key_response", key_response)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="throttled")
        lake = Lake("s3://throttled/lake")
        key, crs, _, _ = fake_rows(n=9)
        path = lake.write("cosmic_rays", crs, key, "o1234567q")
        # three throttled attempts, then the PutObject that landed: the SDK retried; a small
        # file is never a multipart upload (one request instead of three)
        assert failures["n"] == 3 and failures["puts"] == 4 and failures["parts"] == 0
        assert lake.files("cosmic_rays") == [path] and lake.num_rows(path) == 9
        with pytest.raises(OSError, match="refused.parquet"):
            lake.write("cosmic_rays", crs, key, "refused")
        assert failures["refused"] == 1  # a permanent error: one attempt, no retry
        assert lake.files("cosmic_rays") == [path]
        # 25 MB: three parts (what the cost model counts), the first ones throttled and
        # retried, the object whole
        from benchmarks.cost_model import put_requests

        failures.update(n=0, puts=0, parts=0)
        data = bytes(range(256)) * (25 * 2**20 // 256)
        ref = write_reference(lake, "acs_wfc-2019-03-j1-abc", data)
        assert failures["n"] == 3 and failures["parts"] == failures["puts"] == 3 + 3
        assert put_requests(len(data)) == 2 + 3   # create, three parts, complete
        body = boto3.client("s3", region_name="us-east-1").get_object(
            Bucket="throttled", Key=ref.split("/", 1)[1])["Body"].read()
        assert body == data
    finally:
        server.stop()
