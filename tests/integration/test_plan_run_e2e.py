"""End to end: ``hstcr run --instrument X --start/--end`` plans from (replayed) MAST, reads the
planned darks from an S3 server (moto) and writes a lake row for every planned dark.

* MAST's Portal API is replayed at the HTTP layer with ``responses`` (tests/data/mast,
  ``build_fixtures_stis.py``): STIS/CCD 2019-06, three full-frame darks and one subarray.
* The darks are synthetic STIS/CCD files written with the planned rootnames and start times
  and uploaded to a public ``stpubdata`` bucket at the archive's key layout
  (``hst/public/<first 4>/<dataset>/<dataset>_<suffix>.fits``) on a ``ThreadedMotoServer``;
  hstcr's anonymous S3 reader finds it through ``AWS_ENDPOINT_URL_S3`` (boto3 talks to it
  over real HTTP, so ``responses`` does not see those requests, and spawned workers inherit
  the endpoint).
* The lake is read back with SQL (``hstcr_common.lake.query.run_sql``).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs

import pytest

pytest.importorskip("astroquery")
boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto")
responses = pytest.importorskip("responses")

from click.testing import CliRunner

from hstcr_common.remote import clients, mast, retry, s3_key
from hstcr_common.cli import main
from hstcr_common.cli.run import EXIT_SOME_FAILED
from hstcr_common.instruments import get_detector
from hstcr_common.lake import run_sql
from hstcr_common.synthetic import write_dark

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "mast"
INVOKE = "https://mast.stsci.edu/api/v0/invoke"
COLUMNS = "https://mast.stsci.edu/portal/Mashup/Mashup.asmx/columnsconfig"
DOWNLOAD = "https://mast.stsci.edu/api/v0.1/Download/file"
BUCKET = "stpubdata"
MONTH = "2019-06"
#: what the replayed month must plan, in start-time order: the three full frames and the
#: 1024x512 subarray oe3a02x1q (recognised by the size rule, kept and marked: issue 13)
PLANNED = ["oe3a01abq", "oe3a01acq", "oe3a02x1q", "oe3a03d4q"]
SUBARRAY = "oe3a02x1q"
MJD_UNIX = 40587.0


class StisMastReplay:
    """MAST for STIS/CCD 2019-06: observation query, product list, and 404 for downloads."""

    def __init__(self, rsps):
        self.services: list[str] = []
        self.downloads: list[str] = []
        rsps.add_callback(responses.POST, INVOKE, callback=self.invoke)
        rsps.add_callback(responses.POST, COLUMNS, callback=self.columns)
        rsps.add_callback(responses.GET, DOWNLOAD, callback=self.download)

    def columns(self, request):
        name = parse_qs(_body(request))["colConfigId"][0]
        fname = "columnsconfig_products.json" if name == "Mast.Caom.Products" else "columnsconfig_caom.json"
        return 200, {}, (DATA / fname).read_text()

    def invoke(self, request):
        req = json.loads(parse_qs(_body(request))["request"][0])
        self.services.append(req["service"])
        if req["service"] == "Mast.Caom.Filtered":
            filters = {f["paramName"]: f for f in req["params"]["filters"]}
            assert filters["instrument_name"]["values"] == ["STIS/CCD"]
            assert filters["t_min"]["values"] == [{"min": 58635.0, "max": 58665.0}]  # June 2019
            return 200, {}, (DATA / f"filtered_stis_ccd_{MONTH}_p{req['page']}.json").read_text()
        if req["service"] == "Mast.Caom.Products":
            wanted = set(req["params"]["obsid"].split(","))
            recorded = json.loads((DATA / f"products_stis_ccd_{MONTH}.json").read_text())
            rows = [row for row in recorded["data"] if row["obsID"] in wanted]
            recorded["data"] = rows
            recorded["paging"].update(rows=len(rows), rowsFiltered=len(rows), rowsTotal=len(rows))
            return 200, {}, json.dumps(recorded)
        raise AssertionError(f"unexpected MAST service {req['service']}")

    def download(self, request):
        # the HTTPS fallback of an object missing from the bucket: MAST does not have it either
        self.downloads.append(request.url)
        return 404, {}, "Not Found"


def _body(request) -> str:
    return request.body.decode() if isinstance(request.body, bytes) else request.body


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(moto_endpoint, monkeypatch):
    """An empty public ``stpubdata`` on the moto server; hstcr reads it anonymously."""
    def reset():  # moto's backends are process-global (urllib: responses does not intercept it)
        urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()

    reset()
    for name in ("AWS_ENDPOINT_URL", "HSTCR_S3_SIGNED", "AWS_PROFILE", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    admin = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_endpoint,
                         aws_access_key_id="testing", aws_secret_access_key="testing")
    admin.create_bucket(Bucket=BUCKET)
    admin.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"},
    ]}))
    clients._cache.clear()
    yield admin
    clients._cache.clear()
    reset()  # leave no bucket behind for later tests in this process


@pytest.fixture
def replay(monkeypatch):
    monkeypatch.setattr(retry, "_sleep", lambda s: None)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield StisMastReplay(rsps)


def _plan() -> list[dict]:
    """The month's plan, from the same replayed MAST the CLI will query."""
    return list(mast.plan_darks("stis_ccd", MONTH, MONTH))


def _upload_planned(admin, items: list[dict], out_dir: Path) -> dict[str, int]:
    """Write a synthetic dark per planned item (its rootname, start time and exposure time)
    and upload its files to the item's S3 locations; returns the true cosmic-ray counts."""
    n_true = {}
    for seed, item in enumerate(items):
        start = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            days=item["start_mjd"] - MJD_UNIX)
        shape = {"shape": (512, 1024)} if item.get("subarray") else {}
        dark = write_dark("stis_ccd", out_dir / item["dataset"], seed=seed, dataset=item["dataset"],
                          date=start.replace(microsecond=0), exptime_s=item["exptime_s"], **shape)
        for role, location in item["files"].items():
            path = Path(dark.paths[role])
            assert path.name == location.rsplit("/", 1)[1]
            bucket, key = location.removeprefix("s3://").split("/", 1)
            assert (bucket, key) == (BUCKET, f"hst/public/{item['dataset'][:4]}/{item['dataset']}/{path.name}")
            admin.upload_file(str(path), bucket, key)
        n_true[item["dataset"]] = dark.exposure["n_cr"]
    return n_true


def _run_cli(lake: Path, workers: int = 1):
    return CliRunner().invoke(main, ["run", "--instrument", "stis_ccd", "--start", MONTH, "--end", MONTH,
                                     "--lake", str(lake), "--workers", str(workers), "--json"])


def _results(result) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_plan_is_the_full_frames_at_the_archive_keys(replay, bucket, tmp_path):
    items = _plan()
    assert [i["dataset"] for i in items] == PLANNED
    assert [i["dataset"] for i in items if i.get("subarray")] == [SUBARRAY]
    assert {i["month"] for i in items} == {MONTH} and {i["instrument"] for i in items} == {"stis_ccd"}
    assert replay.services == ["Mast.Caom.Filtered", "Mast.Caom.Products"]
    floor = mast.full_frame_min_bytes(get_detector("stis_ccd"), "flt")
    _upload_planned(bucket, items[:1], tmp_path)
    item = items[0]
    assert item["files"] == {
        "science": "s3://stpubdata/hst/public/oe3a/oe3a01abq/oe3a01abq_flt.fits",
        "support": "s3://stpubdata/hst/public/oe3a/oe3a01abq/oe3a01abq_spt.fits",
    }
    # the product list carries the synthetic files' real sizes: what is uploaded is what the
    # planner judged a full frame (a header card more or less must not flip that)
    uploaded = {role: bucket.head_object(Bucket=BUCKET, Key=s3_key(item["dataset"], suffix))["ContentLength"]
                for role, suffix in (("science", "flt"), ("support", "spt"))}
    for role, size in uploaded.items():
        assert abs(size - item["sizes"][role]) <= 4 * 2880, role
    assert uploaded["science"] > floor and item["sizes"]["science"] > floor


@pytest.mark.parametrize("workers", [1, 2])
def test_run_plans_and_fills_the_lake(replay, bucket, tmp_path, workers):
    """workers=2: spawned processes read the bucket too (they inherit AWS_ENDPOINT_URL_S3;
    planning, and so the replayed MAST, stays in this process)."""
    items = _plan()
    n_true = _upload_planned(bucket, items, tmp_path / "darks")
    replay.services.clear()
    lake = tmp_path / "lake"

    result = _run_cli(lake, workers=workers)
    assert result.exit_code == 0, result.output
    # the CLI planned the month itself from MAST
    assert replay.services == ["Mast.Caom.Filtered", "Mast.Caom.Products"]
    assert replay.downloads == []  # no HTTPS fallback (seen here with workers=1)
    summary = _results(result)
    assert summary["done"] == len(PLANNED) and summary["failed"] == 0
    by_dataset = {r["dataset"]: r for r in summary["results"]}
    assert sorted(by_dataset) == sorted(PLANNED)

    exposures = {r["dataset"]: r for r in run_sql(
        "SELECT dataset, instrument, year, month, n_cr, expstart_mjd, exptime_s, source FROM exposures",
        str(lake)).to_pylist()}
    assert sorted(exposures) == sorted(PLANNED)
    n_rows = {r["dataset"]: r["n"] for r in run_sql(
        "SELECT dataset, count(*) AS n FROM cosmic_rays GROUP BY dataset", str(lake)).to_pylist()}
    for item in items:
        row = exposures[item["dataset"]]
        assert (row["instrument"], row["year"], row["month"]) == ("stis_ccd", 2019, 6)
        assert row["source"] == item["files"]["science"]
        assert abs(row["expstart_mjd"] - item["start_mjd"]) < 2 / 86400  # the planned dark's own start
        assert row["exptime_s"] == item["exptime_s"]
        assert row["n_cr"] == n_rows[item["dataset"]] == by_dataset[item["dataset"]]["n_cr"]
        # a real detection, not an empty catalogue: within 25% of the injected cosmic rays
        assert 0.75 * n_true[item["dataset"]] < row["n_cr"] < 1.25 * n_true[item["dataset"]]
    assert run_sql("SELECT count(*) AS n FROM failures", str(lake))["n"][0].as_py() == 0


def test_run_with_a_missing_object_records_one_failure(replay, bucket, tmp_path):
    items = _plan()
    _upload_planned(bucket, items, tmp_path / "darks")
    gone = items[1]
    bucket.delete_object(Bucket=BUCKET, Key=s3_key(gone["dataset"], "flt"))
    lake = tmp_path / "lake"

    result = _run_cli(lake)
    assert result.exit_code == EXIT_SOME_FAILED == 3, result.output
    summary = _results(result)
    assert summary["done"] == len(PLANNED) - 1 and summary["failed"] == 1
    # the https fallback was tried (and MAST answered 404) for the missing file only
    assert replay.downloads == [gone["urls"]["science"]]

    failures = run_sql("SELECT dataset, stage, message, source FROM failures", str(lake)).to_pylist()
    assert len(failures) == 1
    failure = failures[0]
    assert failure["dataset"] == gone["dataset"] and failure["stage"] == "fetch"
    assert f"{gone['files']['science']}: not found" in failure["message"]
    assert failure["source"] == gone["files"]["science"]
    exposures = run_sql("SELECT dataset, n_cr FROM exposures ORDER BY dataset", str(lake)).to_pylist()
    assert [r["dataset"] for r in exposures] == [d for d in PLANNED if d != gone["dataset"]]
    n_rows = {r["dataset"]: r["n"] for r in run_sql(
        "SELECT dataset, count(*) AS n FROM cosmic_rays GROUP BY dataset", str(lake)).to_pylist()}
    assert {r["dataset"]: r["n_cr"] for r in exposures} == n_rows and all(n_rows.values())
