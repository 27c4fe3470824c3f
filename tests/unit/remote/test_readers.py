"""Reading darks from a local path, S3 (moto) and HTTPS (responses), whole and partial."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from astropy.io import fits

from hstcr_common.fits import read_fits_hdus
from hstcr_common.model import HstcrError
from hstcr_common.remote import (DEFAULT_RETRIES, SCIENCE_EXTNAMES, clients, fetch_dark_files, read_location,
                                 reader_for, readers, retry, s3_key)

import boto3
import moto
import responses

BUCKET = "stpubdata"


# --------------------------------------------------------------------------- synthetic files

def make_flt(shape=(40, 64), n_chips=2, seed=0, extra_table=True) -> bytes:
    """An ACS/WFC-shaped flt: primary + (SCI, ERR, DQ) per chip (+ a WCSCORR table)."""
    rng = np.random.default_rng(seed)
    primary = fits.PrimaryHDU()
    primary.header["INSTRUME"] = "ACS"
    primary.header["DETECTOR"] = "WFC"
    primary.header["NEXTEND"] = 3 * n_chips + int(extra_table)
    for i in range(400):  # a long primary header, as in real products (several blocks)
        primary.header[f"HIERARCH HSTCR PAD{i}"] = i
    hdus = [primary]
    for ver in range(1, n_chips + 1):
        hdus += [
            fits.ImageHDU(rng.normal(10, 3, shape).astype(">f4"), name="SCI", ver=ver),
            fits.ImageHDU(rng.normal(1, 0.1, shape).astype(">f4"), name="ERR", ver=ver),
            fits.ImageHDU(rng.integers(0, 2**14, shape).astype(">i2"), name="DQ", ver=ver),
        ]
    if extra_table:
        hdus.append(fits.BinTableHDU.from_columns(
            [fits.Column(name="WCS_ID", format="24A", array=["OPUS", "IDC"]),
             fits.Column(name="VAR", format="PJ()", array=[[1, 2, 3], [4]])], name="WCSCORR"))
    buf = io.BytesIO()
    fits.HDUList(hdus).writeto(buf)
    return buf.getvalue()


def make_spt(seed=0) -> bytes:
    """SPT-like: a primary header with orbital elements plus a UDL image extension."""
    primary = fits.PrimaryHDU()
    primary.header["ROOTNAME"] = "jdr101abq"
    primary.header["SEMILREC"] = 6917000.0 + seed
    primary.header["NEXTEND"] = 1
    buf = io.BytesIO()
    fits.HDUList([primary, fits.ImageHDU(np.zeros((10, 100), ">i2"), name="UDL")]).writeto(buf)
    return buf.getvalue()


def make_ima(nreads=3, shape=(20, 20)) -> bytes:
    rng = np.random.default_rng(1)
    hdus = [fits.PrimaryHDU()]
    for ver in range(1, nreads + 1):
        hdus += [fits.ImageHDU(rng.normal(size=shape).astype(">f4"), name="SCI", ver=ver),
                 fits.ImageHDU(np.ones(shape, ">f4"), name="ERR", ver=ver),
                 fits.ImageHDU(np.zeros(shape, ">i2"), name="DQ", ver=ver),
                 fits.ImageHDU(np.full(shape, nreads - ver, ">i2"), name="SAMP", ver=ver)]
        time = fits.ImageHDU(name="TIME", ver=ver)  # constant-valued: header only, no data
        time.header["PIXVALUE"] = 100.0 * (nreads - ver)
        hdus.append(time)
    buf = io.BytesIO()
    fits.HDUList(hdus).writeto(buf)
    return buf.getvalue()


def partial(location, *args, retries=DEFAULT_RETRIES, **kwargs) -> bytes:
    """:func:`read_fits_hdus` of a location, through its reader."""
    with reader_for(location, retries=retries) as reader:
        return read_fits_hdus(reader, *args, **kwargs)


def item_for(dataset="jdr101abq", instrument="acs_wfc", roles=(("science", "flt"), ("support", "spt")),
             bucket=BUCKET):
    return {"dataset": dataset, "instrument": instrument, "month": "2019-01",
            "files": {role: f"s3://{bucket}/{s3_key(dataset, suffix)}" for role, suffix in roles}}


@pytest.fixture(autouse=True)
def instant_retries(monkeypatch):
    slept = []
    monkeypatch.setattr(retry, "_sleep", slept.append)
    return slept


@pytest.fixture
def sdk_delays(monkeypatch):
    """The backoffs botocore's standard mode computes (recorded; the retries wait 0 s)."""
    from botocore.retries import standard

    delays = []
    real = standard.ExponentialBackoff.delay_amount

    def record(self, context):
        delays.append(real(self, context))
        return 0.0

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", record)
    return delays


@pytest.fixture
def aws_env(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "HSTCR_S3_SIGNED", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients._cache.clear()
    yield
    clients._cache.clear()


def make_public(client, bucket=BUCKET):
    """The bucket as MAST runs stpubdata: anyone may list it and read objects."""
    client.create_bucket(Bucket=bucket)
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
            {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
        ]}))


@pytest.fixture
def s3(aws_env):
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        make_public(client)
        yield client


# --------------------------------------------------------------------------- FITS structure

def test_partial_read_keeps_primary_sci_dq_only(tmp_path):
    raw = make_flt()
    path = tmp_path / "jdr101abq_flt.fits"
    path.write_bytes(raw)
    out = partial(str(path))
    assert len(out) % 2880 == 0 and len(out) < len(raw)
    with fits.open(io.BytesIO(out)) as part, fits.open(io.BytesIO(raw)) as full:
        assert [(h.name, h.ver) for h in part] == [("PRIMARY", 1), ("SCI", 1), ("DQ", 1), ("SCI", 2), ("DQ", 2)]
        assert part[0].header["NEXTEND"] == 4 and part[0].header["HSTCR PAD399"] == 399
        for name in ("SCI", "DQ"):
            for ver in (1, 2):
                np.testing.assert_array_equal(part[name, ver].data, full[name, ver].data)
                assert part[name, ver].header == full[name, ver].header
        part.verify("exception")


def test_primary_only_and_keep_all(tmp_path):
    path = tmp_path / "x_spt.fits"
    raw = make_spt()
    path.write_bytes(raw)
    head = partial(str(path), primary_only=True)
    with fits.open(io.BytesIO(head)) as hdul:
        assert len(hdul) == 1 and hdul[0].header["SEMILREC"] == 6917000.0 and hdul[0].header["NEXTEND"] == 0
    assert partial(str(path), None) == raw  # keeping everything reproduces the file


def test_ramp_keeps_samp_and_time_and_header_only_hdus(tmp_path):
    path = tmp_path / "i_ima.fits"
    path.write_bytes(make_ima())
    out = partial(str(path), SCIENCE_EXTNAMES["ramp"])
    with fits.open(io.BytesIO(out)) as hdul:
        names = [h.name for h in hdul[1:]]
        assert names == ["SCI", "DQ", "SAMP", "TIME"] * 3
        assert hdul["TIME", 1].header["PIXVALUE"] == 200.0 and hdul["TIME", 1].data is None


def test_malformed_files_raise_clear_errors(tmp_path):
    raw = make_flt()
    truncated = tmp_path / "cut_flt.fits"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(HstcrError, match=r"cut_flt.fits: HDU \d \(\w+\) runs past the end"):
        partial(str(truncated))
    notfits = tmp_path / "notes_flt.fits"
    notfits.write_bytes(b"hello world" * 400)
    with pytest.raises(HstcrError, match="notes_flt.fits: not a FITS file"):
        partial(str(notfits))
    noend = tmp_path / "noend_flt.fits"
    noend.write_bytes(b"SIMPLE  =                    T".ljust(80) + b" " * (2880 * 3 - 80))
    with pytest.raises(HstcrError, match="no END card"):
        partial(str(noend))
    with pytest.raises(HstcrError, match=r"missing_flt.fits: not found"):
        partial(str(tmp_path / "missing_flt.fits"))
    with pytest.raises(HstcrError, match="unsupported location scheme"):
        partial("ftp://host/x.fits")


# --------------------------------------------------------------------------- S3 (moto)

def test_fetch_from_s3_partial_and_whole(s3):
    flt, spt = make_flt(shape=(256, 512)), make_spt()
    s3.put_object(Bucket=BUCKET, Key=s3_key("jdr101abq", "flt"), Body=flt)
    s3.put_object(Bucket=BUCKET, Key=s3_key("jdr101abq", "spt"), Body=spt)
    item = item_for()
    part = fetch_dark_files(item)
    whole = fetch_dark_files(item, partial=False)
    assert set(part) == {"science", "support"} and dict(whole) == {"science": flt, "support": spt}
    assert whole.bytes_read == whole.bytes_total == len(flt) + len(spt)
    assert part.bytes_total == whole.bytes_total and part.bytes_read < 0.75 * part.bytes_total
    assert part.locations == item["files"] and part.seconds > 0 and part.requests >= 4
    with fits.open(io.BytesIO(part["science"])) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "DQ", "SCI", "DQ"]
        with fits.open(io.BytesIO(flt)) as full:
            np.testing.assert_array_equal(hdul["SCI", 2].data, full["SCI", 2].data)
    with fits.open(io.BytesIO(part["support"])) as hdul:
        assert len(hdul) == 1 and hdul[0].header["ROOTNAME"] == "jdr101abq"


def test_s3_missing_object_names_the_location(s3):
    item = item_for(dataset="jdr199zzq")
    with pytest.raises(HstcrError, match=r"s3://stpubdata/hst/public/jdr1/jdr199zzq/jdr199zzq_flt.fits: not found"):
        fetch_dark_files(item)
    with pytest.raises(HstcrError, match="not found"):
        fetch_dark_files(item_for(bucket="no-such-bucket"))


class _Body:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **kwargs):
        yield self.body


def throttle_gets(monkeypatch, failures):
    """Answer the reader's GetObject calls with the ``(code, status)`` errors in ``failures``
    before they reach moto, at the HTTP layer, so botocore sees real throttling answers."""
    from botocore.awsrequest import AWSResponse

    real = readers.mast_s3_client
    hooked = set()

    def answer(request, **kwargs):
        code = next(failures, None)
        if code is None:
            return None
        body = (f"<Error><Code>{code[0]}</Code><Message>Please reduce your request rate.</Message>"
                f"</Error>").encode()
        return AWSResponse(request.url, code[1], {"Content-Type": "application/xml"}, _Body(body))

    def client(*args, **kwargs):
        made = real(*args, **kwargs)
        if id(made) not in hooked:
            made.meta.events.register_first("before-send.s3.GetObject", answer)
            hooked.add(id(made))
        return made

    monkeypatch.setattr(readers, "mast_s3_client", client)


def test_s3_throttling_is_retried_with_backoff(s3, monkeypatch, instant_retries, sdk_delays):
    raw = make_spt()
    s3.put_object(Bucket=BUCKET, Key="k/x_spt.fits", Body=raw)
    throttle_gets(monkeypatch, iter([("SlowDown", 503), ("InternalError", 500)]))
    with reader_for(f"s3://{BUCKET}/k/x_spt.fits") as reader:
        assert read_fits_hdus(reader, None) == raw
        assert reader.requests >= 3  # the two refused attempts are counted
    # botocore retried (once for each error), and nothing retried on top of it
    assert len(sdk_delays) == 2 and instant_retries == []
    # full jitter within the exponential caps (botocore: 1 s base for throttling)
    assert 0 <= sdk_delays[0] <= 1.0
    assert 0 <= sdk_delays[1] <= 2.0

    throttle_gets(monkeypatch, iter([("SlowDown", 503)] * 10))
    with pytest.raises(HstcrError, match=r"x_spt.fits: gave up after 3 attempts"):
        partial(f"s3://{BUCKET}/k/x_spt.fits", None, retries=2)


def test_s3_stream_that_breaks_is_read_again(s3, monkeypatch, instant_retries):
    """A GET that succeeded but whose body stream broke is not botocore's to retry: the
    reader asks again."""
    from botocore.exceptions import IncompleteReadError
    from botocore.response import StreamingBody

    raw = make_spt()
    s3.put_object(Bucket=BUCKET, Key="k/y_spt.fits", Body=raw)
    real = StreamingBody.iter_chunks
    breaks = iter([True])

    def iter_chunks(self, chunk_size=1024):
        if next(breaks, False):
            raise IncompleteReadError(actual_bytes=0, expected_bytes=len(raw))
        yield from real(self, chunk_size)

    monkeypatch.setattr(StreamingBody, "iter_chunks", iter_chunks)
    assert read_location(f"s3://{BUCKET}/k/y_spt.fits") == raw
    assert len(instant_retries) == 1


def test_s3_endpoint_override_with_moto_server(aws_env, monkeypatch):
    """boto3's AWS_ENDPOINT_URL_S3 points the unsigned reader at a local S3 server."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        admin = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
        make_public(admin)
        flt = make_flt(shape=(256, 512))
        admin.put_object(Bucket=BUCKET, Key=s3_key("jdr101abq", "flt"), Body=flt)
        admin.put_object(Bucket=BUCKET, Key=s3_key("jdr101abq", "spt"), Body=make_spt())
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        # anonymous: no credentials at all
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
        files = fetch_dark_files(item_for())
        assert files.bytes_read < files.bytes_total
        with fits.open(io.BytesIO(files["science"])) as hdul:
            assert len(hdul) == 5
        assert read_location(f"s3://{BUCKET}/{s3_key('jdr101abq', 'flt')}") == flt
    finally:
        server.stop()


# --------------------------------------------------------------------------- HTTPS (responses)

URL = "https://mast.stsci.edu/api/v0.1/Download/file?uri=mast:HST/product/jdr101abq_flt.fits"
SPT_URL = "https://mast.stsci.edu/api/v0.1/Download/file?uri=mast:HST/product/jdr101abq_spt.fits"


def serve_ranges(rsps, url, raw, *, honour_range=True, fail_first=()):
    """Register a GET handler that answers Range requests like a static file server."""
    failures = list(fail_first)
    seen = []

    def handler(request):
        seen.append(request.headers.get("Range"))
        if failures:
            return failures.pop(0), {}, b"slow down"
        rng = request.headers.get("Range")
        if rng and honour_range:
            a, b = (int(x) for x in rng.split("=")[1].split("-"))
            body = raw[a:b + 1]
            return 206, {"Content-Range": f"bytes {a}-{a + len(body) - 1}/{len(raw)}"}, body
        return 200, {"Content-Length": str(len(raw))}, raw

    base, _, query = url.partition("?")
    rsps.add_callback(responses.GET, base, callback=handler,
                      match=[responses.matchers.query_string_matcher(query)])
    return seen


def https_item():
    return {"dataset": "jdr101abq", "instrument": "acs_wfc", "files": {"science": URL, "support": SPT_URL}}


def test_fetch_over_https_with_ranges_and_throttling(instant_retries):
    flt, spt = make_flt(shape=(256, 512)), make_spt()
    with responses.RequestsMock() as rsps:
        seen = serve_ranges(rsps, URL, flt, fail_first=[429, 503])
        serve_ranges(rsps, SPT_URL, spt)
        files = fetch_dark_files(https_item())
    assert len(instant_retries) == 2 and all(r and r.startswith("bytes=") for r in seen)
    assert files.bytes_read < files.bytes_total == len(flt) + len(spt)
    with fits.open(io.BytesIO(files["science"])) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "DQ", "SCI", "DQ"]
    with fits.open(io.BytesIO(files["support"])) as hdul:
        assert hdul[0].header["ROOTNAME"] == "jdr101abq"


def test_https_server_ignoring_range_is_read_once():
    flt = make_flt()
    with responses.RequestsMock() as rsps:
        seen = serve_ranges(rsps, URL, flt, honour_range=False)
        out = partial(URL)
    assert len(seen) == 1  # one whole download, ranges cut from the spooled copy
    with fits.open(io.BytesIO(out)) as hdul:
        assert len(hdul) == 5


def test_https_not_found_and_fallback(s3):
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, URL.partition("?")[0], status=404)
        with pytest.raises(HstcrError, match=r"uri=mast:HST/product/jdr101abq_flt.fits: not found"):
            partial(URL)
    # the s3 object is missing: the item's https URL is used instead
    flt, spt = make_flt(), make_spt()
    s3.put_object(Bucket=BUCKET, Key=s3_key("jdr101abq", "spt"), Body=spt)
    item = item_for()
    item["urls"] = {"science": URL}
    with responses.RequestsMock() as rsps:
        serve_ranges(rsps, URL, flt)
        files = fetch_dark_files(item)
    assert files.locations == {"science": URL, "support": item["files"]["support"]}
    item["urls"] = {}
    with pytest.raises(HstcrError, match="jdr101abq_flt.fits: not found"):
        fetch_dark_files(item)


def test_wfpc2_item_reads_all_three_roles(tmp_path):
    rng = np.random.default_rng(3)
    c0m = fits.HDUList([fits.PrimaryHDU()] + [fits.ImageHDU(rng.normal(size=(16, 16)).astype(">f4"), name="SCI", ver=v)
                                              for v in range(1, 5)])
    c1m = fits.HDUList([fits.PrimaryHDU()] + [fits.ImageHDU(np.zeros((16, 16), ">i2"), name="SCI", ver=v)
                                              for v in range(1, 5)])
    shm = fits.HDUList([fits.PrimaryHDU(), fits.TableHDU.from_columns([fits.Column(name="A", format="I4", array=[1])])])
    for name, hdul in (("c0m", c0m), ("c1m", c1m), ("shm", shm)):
        hdul.writeto(tmp_path / f"u9ka0101m_{name}.fits")
    item = {"dataset": "u9ka0101m", "instrument": "wfpc2", "note": "extra keys are fine",
            "files": {r: str(tmp_path / f"u9ka0101m_{s}.fits") for r, s in
                      (("science", "c0m"), ("dq", "c1m"), ("support", "shm"), ("preview", "jpg"))}}
    files = fetch_dark_files(item)
    assert set(files) == {"science", "dq", "support"}  # unknown roles ignored
    for role, n in (("science", 5), ("dq", 5), ("support", 1)):
        with fits.open(io.BytesIO(files[role])) as hdul:
            assert len(hdul) == n
    with pytest.raises(HstcrError, match="unknown instrument"):
        fetch_dark_files({**item, "instrument": "wfpc3"})


def test_local_directory_is_a_clear_error(tmp_path):
    with pytest.raises(HstcrError, match="read refused"):
        partial(str(tmp_path))


def test_partial_ramp_loads_with_the_ir_loader(tmp_path):
    """A synthetic NICMOS ramp read partially (no ERR) is still a complete ramp for the loader."""
    from hstcr_common.load import load_dark
    from hstcr_common.synthetic import write_ir_dark

    written = write_ir_dark("nicmos_nic2", tmp_path, seed=2, n_reads=6)
    item = {"dataset": "n", "instrument": "nicmos_nic2",
            "files": {role: str(path) for role, path in written.paths.items()}}
    files = fetch_dark_files(item)
    assert files.bytes_read < 0.8 * files.bytes_total
    with fits.open(io.BytesIO(files["science"])) as hdul:
        assert "ERR" not in {h.name for h in hdul}
    dark = load_dark(files["science"], support=files["support"], source=item["files"]["science"])
    whole = load_dark(str(written.paths["science"]), support=str(written.paths["support"]))
    assert dark.chips[0].reads.shape == whole.chips[0].reads.shape
    np.testing.assert_array_equal(dark.chips[0].reads, whole.chips[0].reads)
    np.testing.assert_array_equal(dark.chips[0].read_times_s, whole.chips[0].read_times_s)
