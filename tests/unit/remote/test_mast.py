"""Planning against MAST responses replayed at the HTTP layer (``responses``; no network).

The replayed JSON lives in tests/data/mast (see build_fixtures.py there for the scenarios).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest

import responses

from click.testing import CliRunner  # noqa: E402

from hstcr_common.remote import mast, retry
from hstcr_common.model import HstcrError  # noqa: E402
from hstcr_common.instruments import get_detector  # noqa: E402
from hstcr_common.pipeline import read_manifest  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "mast"
INVOKE = "https://mast.stsci.edu/api/v0/invoke"
COLUMNS = "https://mast.stsci.edu/portal/Mashup/Mashup.asmx/columnsconfig"
BY_MAST_NAME = {"ACS/WFC": "acs_wfc", "WFPC2": "wfpc2", "WFC3/IR": "wfc3_ir"}


def _mjd_to_month(mjd: float) -> str:
    day = dt.date(1970, 1, 1) + dt.timedelta(days=mjd - 40587.0)
    return f"{day:%Y-%m}"


class MastReplay:
    """Answers the Portal API like MAST: picks the recorded page for the query's instrument,
    month and page; product lists are filtered to the requested obsids."""

    def __init__(self, rsps):
        self.requests: list[dict] = []
        self.fail_next: list[int] = []
        rsps.add_callback(responses.POST, INVOKE, callback=self.invoke)
        rsps.add_callback(responses.POST, COLUMNS, callback=self.columns)

    def columns(self, request):
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        name = parse_qs(body)["colConfigId"][0]
        fname = "columnsconfig_products.json" if name == "Mast.Caom.Products" else "columnsconfig_caom.json"
        return 200, {}, (DATA / fname).read_text()

    def invoke(self, request):
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        req = json.loads(parse_qs(body)["request"][0])
        self.requests.append(req)
        if self.fail_next:
            return self.fail_next.pop(0), {}, "Service Unavailable"
        if req["service"] == "Mast.Caom.Filtered":
            filters = {f["paramName"]: f for f in req["params"]["filters"]}
            inst = BY_MAST_NAME[filters["instrument_name"]["values"][0]]
            month = _mjd_to_month(filters["t_min"]["values"][0]["min"])
            path = DATA / f"filtered_{inst}_{month}_p{req['page']}.json"
            assert path.exists(), f"no recorded response {path.name}"
            return 200, {}, path.read_text()
        if req["service"] == "Mast.Caom.Products":
            wanted = set(req["params"]["obsid"].split(","))
            rows, fields = [], None
            for path in sorted(DATA.glob("products_*.json")):
                recorded = json.loads(path.read_text())
                fields = recorded["fields"]
                rows += [row for row in recorded["data"] if row["obsID"] in wanted]
            n = len(rows)
            return 200, {}, json.dumps({
                "status": "COMPLETE", "msg": "", "fields": fields, "data": rows,
                "paging": {"page": 1, "pageSize": n, "pagesFiltered": 1, "rows": n, "rowsFiltered": n, "rowsTotal": n}})
        raise AssertionError(f"unexpected MAST service {req['service']}")


@pytest.fixture
def replay(monkeypatch):
    monkeypatch.setattr(retry, "_sleep", lambda s: None)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield MastReplay(rsps)


def test_month_helpers():
    assert mast.month_range("2018-11", "2019-02") == ["2018-11", "2018-12", "2019-01", "2019-02"]
    assert mast.month_window("2019-01") == (58484.0, 58515.0)  # 2019-01-01 is MJD 58484
    assert mast.month_window("2020-02") == (58880.0, 58909.0)  # leap year: 29 days
    with pytest.raises(HstcrError, match="not YYYY-MM"):
        mast.month_range("2019-13", "2019-12")
    with pytest.raises(HstcrError, match="before start"):
        mast.month_range("2019-05", "2019-04")
    acs = get_detector("acs_wfc")
    assert not mast.month_is_active(acs, "2008-06")  # ACS/WFC failed 2007-01, repaired 2009-05
    assert mast.month_is_active(acs, "2009-05")
    assert mast.mast_instrument_names(get_detector("wfpc2")) == ("WFPC2", "WFPC2/PC", "WFPC2/WFC")


def test_criteria_follow_the_study():
    crit = mast.dark_criteria(get_detector("acs_wfc"), "2019-03", min_exptime=0.5, max_exptime=10000)
    assert crit["intentType"] == "calibration" and crit["target_name"] == "DARK*"
    assert crit["obs_collection"] == crit["project"] == "HST"
    assert crit["instrument_name"] == ["ACS/WFC"]
    assert crit["t_exptime"] == [0.5, 10000.0]
    assert crit["dataproduct_type"] == ["image", "spectrum"]
    assert crit["t_min"] == [58543.0, 58574.0]


def test_full_frame_bounds_separate_full_frames_from_subarrays():
    acs = get_detector("acs_wfc")
    bound = mast.full_frame_min_bytes(acs, "flt")
    assert 2048 * 2046 * 10 < bound < 2 * 2048 * 4096 * 10   # 2K subarray < bound < full flt
    ir = get_detector("wfc3_ir")
    assert mast.frame_suffixes(ir) == ("flt", "cal")
    assert 512 * 512 * 16 < mast.full_frame_min_bytes(ir, "flt") < 1014 * 1014 * 10
    stis = get_detector("stis_ccd")
    assert 1024 * 512 * 10 < mast.full_frame_min_bytes(stis, "flt") < 1024 * 1024 * 10


def test_plan_acs_month_pages_and_filters(replay):
    plans = list(mast.plan_months("acs_wfc", "2019-01", "2019-01", pagesize=3))
    assert len(plans) == 1
    plan = plans[0]
    # three observation pages at pagesize 3 (7 rows), then one product-list request
    services = [(r["service"], r.get("page")) for r in replay.requests]
    assert services == [("Mast.Caom.Filtered", 1), ("Mast.Caom.Filtered", 2), ("Mast.Caom.Filtered", 3),
                        ("Mast.Caom.Products", 1)]
    assert all(r["pagesize"] == 3 for r in replay.requests[:3])
    filters = {f["paramName"]: f for f in replay.requests[0]["params"]["filters"]}
    assert filters["target_name"]["freeText"] == "DARK%"
    assert filters["intentType"]["values"] == ["calibration"]
    assert filters["t_exptime"]["values"] == [{"min": 0.5, "max": 10000.0}]
    assert filters["t_min"]["values"] == [{"min": 58484.0, "max": 58515.0}]

    datasets = [item["dataset"] for item in plan.items]
    # in start-time order; association members are separate darks; the dark starting at
    # 00:00 on 1 Feb belongs to February
    # the 2K subarray is kept and marked (issue 13: subarray darks are searched on their real array)
    assert sorted(datasets) == sorted(["jdr101abq", "jdr101acq", "jdr102x1q", "jdr105e1q", "jdr105e2q", "jdr104b2q"])
    assert [it["dataset"] for it in plan.items if it.get("subarray")] == ["jdr102x1q"]
    datasets = [d for d in datasets if d != "jdr102x1q"]
    assert datasets == ["jdr101abq", "jdr101acq", "jdr105e1q", "jdr105e2q", "jdr104b2q"]
    assert plan.subarray == 1 and plan.incomplete == 1 and plan.observations == 6 and plan.pages == 3
    item = plan.items[0]
    assert item["instrument"] == "acs_wfc" and item["month"] == "2019-01"
    assert item["files"] == {
        "science": "s3://stpubdata/hst/public/jdr1/jdr101abq/jdr101abq_flc.fits",
        "support": "s3://stpubdata/hst/public/jdr1/jdr101abq/jdr101abq_spt.fits",
    }
    assert item["urls"]["science"] == \
        "https://mast.stsci.edu/api/v0.1/Download/file?uri=mast:HST/product/jdr101abq_flc.fits"
    assert item["sizes"]["science"] > 160e6 and item["exptime_s"] == 1000.0
    assert abs(item["start_mjd"] - 58484.1234) < 1e-6
    assert plan.bytes_full == sum(sum(i["sizes"].values()) for i in plan.items)


def test_empty_month_and_error_month(replay):
    plans = mast.plan_months("acs_wfc", "2019-02", "2019-03", pagesize=3)
    feb = next(plans)
    assert feb.month == "2019-02" and feb.darks == 0 and feb.observations == 0
    assert not any(r["service"] == "Mast.Caom.Products" for r in replay.requests)  # nothing to list
    with pytest.raises(HstcrError, match=r"MAST refused the query for acs_wfc darks in 2019-03.*timed out"):
        next(plans)


def test_throttled_mast_is_retried_then_reported(replay):
    replay.fail_next = [503, 429]
    items = list(mast.plan_darks("wfpc2", "2005-06", "2005-06"))
    assert [i["dataset"] for i in items] == ["u9ka0101m", "u9ka0102m"]
    replay.fail_next = [503] * 10
    with pytest.raises(HstcrError, match="HTTP 503"):
        list(mast.plan_darks("wfpc2", "2005-06", "2005-06"))


def test_wfpc2_items_carry_c0m_c1m_shm(replay):
    items = list(mast.plan_darks("wfpc2", "2005-06", "2005-06"))
    filters = {f["paramName"]: f for f in replay.requests[0]["params"]["filters"]}
    assert filters["instrument_name"]["values"] == ["WFPC2", "WFPC2/PC", "WFPC2/WFC"]
    assert items[1]["files"] == {
        "science": "s3://stpubdata/hst/public/u9ka/u9ka0102m/u9ka0102m_c0m.fits",
        "support": "s3://stpubdata/hst/public/u9ka/u9ka0102m/u9ka0102m_shm.fits",
        "dq": "s3://stpubdata/hst/public/u9ka/u9ka0102m/u9ka0102m_c1m.fits",
    }
    assert set(items[1]["urls"]) == {"science", "support", "dq"}


def test_ir_subarray_ramp_recognised_by_its_flt_and_kept(replay):
    plan = next(mast.plan_months("wfc3_ir", "2019-01", "2019-01"))
    assert [i["dataset"] for i in plan.items] == ["idr701a1q", "idr702b3q"]
    assert plan.subarray == 1 and [bool(i.get("subarray")) for i in plan.items] == [False, True]
    assert plan.items[0]["files"]["science"].endswith("idr701a1q_ima.fits")
    assert "flt" not in json.dumps(plan.items[0]["files"])  # the flt only served the size check


def test_inactive_months_are_not_queried(replay):
    plans = list(mast.plan_months("acs_wfc", "2008-01", "2008-02"))
    assert [p.active for p in plans] == [False, False] and replay.requests == []


def test_cli_plan_writes_manifest_and_summary(replay, tmp_path):
    from hstcr_common.cli import main

    out = tmp_path / "acs.jsonl"
    result = CliRunner().invoke(main, ["plan", "--instrument", "acs_wfc", "--start", "2019-01",
                                       "--end", "2019-02", "--out", str(out), "--pagesize", "3"])
    assert result.exit_code == 0, result.output
    items = read_manifest(out)
    assert len(items) == 6 and {i["month"] for i in items} == {"2019-01"}  # 5 + the subarray
    summary = json.loads((tmp_path / "acs.summary.json").read_text())
    assert summary["months"]["2019-01"]["darks"] == 6
    assert summary["months"]["2019-01"]["subarray"] == 1
    assert summary["months"]["2019-02"]["darks"] == 0
    assert summary["total_darks"] == 6
    assert "2019-01      6 darks" in result.output and "of which 1 subarray" in result.output


def test_cli_plan_error_is_clean(replay, tmp_path):
    from hstcr_common.cli import main

    out = tmp_path / "m.jsonl"
    result = CliRunner().invoke(main, ["plan", "--instrument", "acs_wfc", "--start", "2019-03",
                                       "--end", "2019-03", "--out", str(out)])
    assert result.exit_code != 0 and "MAST refused" in result.output
    assert not out.exists() and not list(tmp_path.iterdir())  # no half-written manifest
    result = CliRunner().invoke(main, ["plan", "--instrument", "nope", "--start", "2019-03", "--end", "2019-03"])
    assert result.exit_code != 0 and "unknown instrument" in result.output


def test_end_to_end_plan_fetch_load(replay, monkeypatch, tmp_path):
    """plan (replayed MAST) -> realistic synthetic files at the bucket's keys in moto S3 ->
    partial reads -> astropy and the loader open the bytes."""
    import boto3
    import moto
    from astropy.io import fits

    from hstcr_common.remote import clients, fetch_dark_files
    from hstcr_common.load import load_dark
    from hstcr_common.synthetic import write_dark

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "HSTCR_S3_SIGNED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    clients._cache.clear()
    items = list(mast.plan_darks("wfpc2", "2005-06", "2005-06"))
    assert len(items) == 2
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="stpubdata")
        s3.put_bucket_policy(Bucket="stpubdata", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
             "Resource": ["arn:aws:s3:::stpubdata", "arn:aws:s3:::stpubdata/*"]}]}))
        for seed, item in enumerate(items):
            dark = write_dark("wfpc2", tmp_path / item["dataset"], seed=seed, dataset=item["dataset"],
                              date="2005-06-10T03:00:00")
            for role, location in item["files"].items():
                bucket, key = location[5:].split("/", 1)
                s3.upload_file(str(dark.paths[role]), bucket, key)
        for item in items:
            files = fetch_dark_files(item)
            assert set(files) == {"science", "support", "dq"}
            assert files.bytes_read <= files.bytes_total
            with fits.open(io.BytesIO(files["science"])) as hdul:
                assert hdul[0].header["ROOTNAME"].lower() == item["dataset"]
            loaded = load_dark(files["science"], dq=files["dq"], support=files["support"],
                               source=item["files"]["science"])
            assert loaded.dataset == item["dataset"]
            assert [c.shape for c in loaded.chips] == [(800, 800)] * 4
            assert loaded.support_header is not None
    clients._cache.clear()


def test_plan_darks_is_lazy_month_by_month(replay):
    gen = mast.plan_darks("acs_wfc", "2019-01", "2019-03", pagesize=3)
    first = next(gen)
    assert first["month"] == "2019-01"
    months_asked = {_mjd_to_month(f["values"][0]["min"]) for r in replay.requests
                    if r["service"] == "Mast.Caom.Filtered"
                    for f in r["params"]["filters"] if f["paramName"] == "t_min"}
    assert months_asked == {"2019-01"}  # February not queried before January's items are used
    rest = []
    with pytest.raises(HstcrError):  # March is the recorded error month
        for item in gen:
            rest.append(item)
    assert len(rest) == 5  # January's other 4 darks and its subarray


def test_product_lists_are_batched(replay, monkeypatch):
    monkeypatch.setattr(mast, "PRODUCT_BATCH", 3)
    plan = next(mast.plan_months("acs_wfc", "2019-01", "2019-01", pagesize=3))
    product_requests = [r for r in replay.requests if r["service"] == "Mast.Caom.Products"]
    assert [len(r["params"]["obsid"].split(",")) for r in product_requests] == [3, 3]
    assert plan.darks == 6


def test_build_items_pure():
    det = get_detector("stis_ccd")
    observations = [{"obsid": "100", "obs_id": "O8XX01010", "t_min": 58000.5, "t_exptime": 1100.0}]
    full = 2 * 1024 * 1024 * 10 + 30 * 2880
    products = [
        # an association's products may name the member's obsID and the parent's parent_obsid
        {"obsID": "101", "parent_obsid": "100", "productFilename": "o8xx01010_flt.fits",
         "productSubGroupDescription": "FLT", "size": full},
        {"obsID": "101", "parent_obsid": "100", "productFilename": "o8xx01010_crj.fits",
         "productSubGroupDescription": "CRJ", "size": full // 2},
        {"obsID": "100", "parent_obsid": "100", "productFilename": "o8xx01010_spt.fits",
         "productSubGroupDescription": "SPT", "size": 40320},
        {"obsID": "100", "parent_obsid": "100", "productFilename": "o8xx01010_x1d.fits",
         "productSubGroupDescription": "X1D", "size": 40320},
        {"obsID": "100", "parent_obsid": "100", "productFilename": "o8xx01010_flt.fits",
         "productSubGroupDescription": "SPT", "size": 1},   # subgroup disagrees with the name
        {"obsID": "555", "parent_obsid": "555", "productFilename": "o8xx99abq_flt.fits",
         "productSubGroupDescription": "FLT", "size": full},  # not one of our observations
    ]
    plan = mast.build_items(det, "2017-09", observations, products)
    assert plan.darks == 1 and plan.incomplete == 0 and plan.subarray == 0
    item = plan.items[0]
    assert item["files"]["science"].endswith("o8xx01010_flt.fits") and item["sizes"]["science"] == full
    assert item["obs_id"] == "o8xx01010" and item["exptime_s"] == 1100.0
    # the same dark as a 1024x512 subarray is dropped
    small = [dict(p, size=1024 * 512 * 10) if p["productFilename"].endswith("_flt.fits") else p for p in products]
    assert mast.build_items(det, "2017-09", observations, small).subarray == 1


def test_mast_calls_fail_fast():
    """astroquery's 600 s budget and its requests without a timeout are replaced: a dead
    network fails the plan in seconds."""
    from hstcr_common.remote import clients

    client = mast._observations_client()
    assert client._portal_api_connection.TIMEOUT == mast.MAST_TIMEOUT_S < 600
    adapter = client._session.get_adapter("https://mast.stsci.edu/api/v0/invoke")
    assert adapter.default_timeouts == (clients.CONNECT_TIMEOUT_S, mast.MAST_TIMEOUT_S)
    assert mast._observations_client()._session.get_adapter("https://mast.stsci.edu") is adapter
