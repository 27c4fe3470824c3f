"""Nothing logs, prints, stores or returns credentials or presigned URLs.

* statically: no print/echo/log/warn call in ``hstcr_common/`` or ``functions/`` mentions a
  credential (AST scan of every call's arguments);
* at run time: the Lambda handler (``functions.process_dark``) and the CLI process darks from
  S3 (moto, requests signed with fake credentials) and from presigned HTTPS URLs (served by
  ``responses``: 403, 404, a dropped connection), with fake credentials in the environment.
  Neither the secret key, the session token nor any signature appears in the logs, stdout,
  stderr, the handler's result, the run's result files or the lake's rows;
* :func:`hstcr_common.model.errors.redact` strips query strings (keeping MAST's ``uri=``).
"""

from __future__ import annotations

import ast
import json
import logging
import re
from pathlib import Path

import pytest

from hstcr_common.model import HstcrError, redact

import responses

REPO = Path(__file__).resolve().parents[2]
SECRET = "hstcrTESTsecretKEYdoNotLog/0123456789+abcdefGHIJ"
TOKEN = "hstcrTESTsessionTOKENdoNotLog0123456789"
KEY_ID = "AKIAHSTCRTESTKEYID01"
SIGNATURE = "a" * 16 + "5ec7e7516a7u7e" + "b" * 34
PRESIGNED_QUERY = ("X-Amz-Algorithm=AWS4-HMAC-SHA256"
                   f"&X-Amz-Credential={KEY_ID}%2F20250101%2Fus-east-1%2Fs3%2Faws4_request"
                   "&X-Amz-Date=20250101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
                   f"&X-Amz-Security-Token={TOKEN}&X-Amz-Signature={SIGNATURE}")

# ---------------------------------------------------------------------------------------------
# static: what the code logs
# ---------------------------------------------------------------------------------------------

_OUTPUT_CALLS = {"print", "echo", "secho", "warn", "log", "debug", "info", "warning", "error",
                 "exception", "critical", "write"}
_CREDENTIAL = re.compile(r"(?i)secret|password|passwd|credential|session_?token|access_?key|"
                         r"presign|signature|authorization|x-amz-security")


def _output_calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else (
                func.attr if isinstance(func, ast.Attribute) else "")
            if name in _OUTPUT_CALLS:
                yield node


def _mentions(node: ast.Call) -> list[str]:
    found = []
    for arg in list(node.args) + [k.value for k in node.keywords]:
        for sub in ast.walk(arg):
            text = (sub.id if isinstance(sub, ast.Name) else sub.attr if isinstance(sub, ast.Attribute)
                    else sub.value if isinstance(sub, ast.Constant) and isinstance(sub.value, str)
                    else "")
            if text and _CREDENTIAL.search(text):
                found.append(text)
    return found


def test_no_output_call_mentions_credentials():
    files = sorted((REPO / "hstcr_common").rglob("*.py")) + sorted((REPO / "functions").rglob("*.py"))
    assert len(files) > 20
    n_calls, offenders = 0, []
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for call in _output_calls(tree):
            n_calls += 1
            for text in _mentions(call):
                offenders.append(f"{path.relative_to(REPO)}:{call.lineno}: {text!r}")
    assert n_calls > 20  # the scan sees the code's print/echo/log calls
    assert not offenders, "\n".join(offenders)


def test_the_scan_catches_a_leak():
    bad = ast.parse("logger.info('key %s', os.environ['AWS_SECRET_ACCESS_KEY'])\n"
                    "click.echo(f'url {presigned_url}')\nprint(creds.secret_key)\n")
    assert [bool(_mentions(c)) for c in _output_calls(bad)] == [True, True, True]


def test_code_never_reads_the_secret_or_presigns():
    """boto3 reads credentials itself; our code never touches them nor makes presigned URLs."""
    for path in list((REPO / "hstcr_common").rglob("*.py")) + list((REPO / "functions").rglob("*.py")):
        text = path.read_text()
        for needle in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "generate_presigned",
                       "get_credentials"):
            assert needle not in text, (path, needle)


# ---------------------------------------------------------------------------------------------
# redaction
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    (f"https://b.s3.amazonaws.com/o/x_flt.fits?{PRESIGNED_QUERY}", "https://b.s3.amazonaws.com/o/x_flt.fits"),
    ("https://mast.stsci.edu/api/v0.1/Download/file?uri=mast:HST/product/x_flt.fits",
     "https://mast.stsci.edu/api/v0.1/Download/file?uri=mast:HST/product/x_flt.fits"),
    ("https://mast.stsci.edu/f?uri=mast:HST/product/x_flt.fits&token=abc",
     "https://mast.stsci.edu/f?uri=mast:HST/product/x_flt.fits"),
    (f"Max retries exceeded with url: /x_flt.fits?X-Amz-Signature={SIGNATURE} (Caused by)",
     "Max retries exceeded with url: /x_flt.fits?X-Amz-Signature=<redacted> (Caused by)"),
    ("s3://stpubdata/hst/public/o6bg/o6bg01aaq/o6bg01aaq_flt.fits",
     "s3://stpubdata/hst/public/o6bg/o6bg01aaq/o6bg01aaq_flt.fits"),
    ("/data/darks/o6bg01aaq_flt.fits: truncated FITS file", "/data/darks/o6bg01aaq_flt.fits: truncated FITS file"),
])
def test_redact(text, expected):
    assert redact(text) == expected


def test_hstcr_error_never_carries_a_query_string():
    err = HstcrError(f"read refused: 403 for url https://h/x.fits?{PRESIGNED_QUERY}",
                     source=f"https://h/x.fits?{PRESIGNED_QUERY}", stage="fetch")
    for text in (str(err), err.source, err.problem):
        assert SIGNATURE not in text and TOKEN not in text and KEY_ID not in text
    assert str(err) == "https://h/x.fits: read refused: 403 for url https://h/x.fits"


# ---------------------------------------------------------------------------------------------
# run time: the Lambda handler and the CLI with fake credentials
# ---------------------------------------------------------------------------------------------

def _leaks(text: str) -> list[str]:
    found = [s for s in (SECRET, TOKEN, SIGNATURE) if s in text]
    found += re.findall(r"(?i)(?:X-Amz-)?Signature=(?!<redacted>)[^&\s'\"]{4,}", text)
    found += re.findall(r"(?i)X-Amz-Credential=(?!<redacted>)[^&\s'\"]+", text)
    return found


@pytest.fixture
def fake_credentials(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
                       "AWS_SESSION_TOKEN": TOKEN, "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_REGION": "us-east-1", "HSTCR_S3_SIGNED": "1"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    from hstcr_common.remote import clients, retry
    monkeypatch.setattr(retry, "_sleep", lambda s: None)  # retries without waiting
    monkeypatch.setattr(clients, "_cache", {})            # clients made with these creds


@pytest.fixture
def dark_in_s3(fake_credentials, tmp_path):
    """A STIS dark (small synthetic frame) in a moto 'stpubdata' bucket; a runs bucket."""
    from moto import mock_aws

    from hstcr_common.synthetic import write_dark

    made = write_dark("stis_ccd", tmp_path / "darks", seed=7, exptime_s=60.0)
    ds = made.paths["science"].name.split("_")[0]
    with mock_aws():
        import boto3
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="stpubdata")
        s3.create_bucket(Bucket="runs-bucket")
        files = {}
        for role, path in made.paths.items():
            key = f"hst/public/{ds[:4]}/{ds}/{path.name}"
            s3.upload_file(str(path), "stpubdata", key)
            files[role] = f"s3://stpubdata/{key}"
        yield {"dataset": ds, "files": files, "s3": s3}


def _presigned(s3, bucket: str, key: str) -> str:
    """A real presigned URL, signed with the fake secret by boto3."""
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                    ExpiresIn=600)
    assert "Signature=" in url
    return url


def _items(dark_in_s3):
    s3, ds = dark_in_s3["s3"], dark_in_s3["dataset"]
    good = {"dataset": ds, "instrument": "stis_ccd", "month": None, "files": dark_in_s3["files"]}
    missing = {"dataset": "obadmiss1", "instrument": "stis_ccd", "month": "2019-03",
               "files": {"science": "s3://stpubdata/hst/public/obad/obadmiss1/obadmiss1_flt.fits"}}
    urls = {name: _presigned(s3, "private-bucket", f"hst/{name}_flt.fits")
            for name in ("obadhttp1", "obadhttp2", "obadhttp3")}
    https = [{"dataset": name, "instrument": "stis_ccd", "month": "2019-03",
              "files": {"science": url}} for name, url in urls.items()]
    return [good, missing, *https], urls


def _serve_presigned(rsps, urls: dict):
    """403 for one URL, 404 for the next, a dropped connection (with the URL in the
    exception text, as requests writes it) for the third."""
    import requests

    (u403, u404, udrop) = urls.values()
    rsps.add(responses.GET, u403, status=403, body="<Error><Code>AccessDenied</Code></Error>")
    rsps.add(responses.GET, u404, status=404)
    rsps.add(responses.GET, udrop, body=requests.ConnectionError(
        f"HTTPSConnectionPool(host='private-bucket.s3.amazonaws.com', port=443): Max retries "
        f"exceeded with url: {udrop.split('.com', 1)[1]} (Caused by reset)"))


def test_lambda_handler_logs_no_secret(dark_in_s3, tmp_path, monkeypatch, caplog, capsys):
    import functions.process_dark as process_dark
    from hstcr_common.lake import run_sql

    lake = tmp_path / "lake"
    monkeypatch.setenv("HSTCR_LAKE", str(lake))
    monkeypatch.setenv("HSTCR_RUNS", "s3://runs-bucket/runs")
    items, urls = _items(dark_in_s3)
    caplog.set_level(logging.INFO)  # the Lambda's LOG_LEVEL
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru("https://stpubdata")  # S3 goes through moto's patched botocore
        _serve_presigned(rsps, urls)
        out = process_dark.handler({"Items": [{"item": it} for it in items],
                                    "BatchInput": {"run_id": "run-1", "method": "threshold"}})
    assert (out["n_done"], out["n_failed"]) == (1, 4), out
    errors = {r["dataset"]: r["error"] for r in out["results"] if r["error"]}
    assert "read refused" in errors["obadhttp1"] and "not found" in errors["obadhttp2"]
    assert "gave up" in errors["obadhttp3"]
    for name in ("obadhttp1", "obadhttp2", "obadhttp3"):  # the file is still named
        assert errors[name].startswith(f"https://private-bucket.s3.amazonaws.com/hst/{name}_flt.fits: ")
    s3 = dark_in_s3["s3"]
    results = "".join(s3.get_object(Bucket="runs-bucket", Key=o["Key"])["Body"].read().decode()
                      for o in s3.list_objects_v2(Bucket="runs-bucket")["Contents"])
    rows = json.dumps([run_sql("SELECT * EXCLUDE (failed_at) FROM failures", str(lake)).to_pylist(),
                       run_sql("SELECT dataset, source, track_note FROM exposures",
                               str(lake)).to_pylist()], default=str)
    captured = capsys.readouterr()
    # Powertools' Logger: the message and its structured keys (the JSON line it prints)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records) + captured.out
    assert "dark" in logged and "obadhttp1" in logged  # the handler did log its lines
    for where, text in (("logs", logged), ("stdout", captured.out), ("stderr", captured.err),
                        ("handler result", json.dumps(out)), ("run results", results),
                        ("lake rows", rows)):
        assert not _leaks(text), (where, _leaks(text))
    assert KEY_ID not in rows + results + json.dumps(out)


def test_botocore_debug_would_leak_the_token_but_the_lambda_pins_it(dark_in_s3, tmp_path,
                                                                     monkeypatch, caplog):
    """botocore logs each signed request at DEBUG with the session token and the signature.
    The Lambda package pins the AWS libraries' loggers at INFO or above, so even with
    everything else at DEBUG (LOG_LEVEL=DEBUG) no secret reaches the logs."""
    import functions.process_dark as process_dark
    from hstcr_common.pipeline import process_item

    items, _ = _items(dark_in_s3)
    botocore_logger = logging.getLogger("botocore")
    assert botocore_logger.level >= logging.INFO  # pinned when functions/ was imported
    # the hazard is real: unpinned, botocore's DEBUG records carry the token
    pinned = botocore_logger.level
    botocore_logger.setLevel(logging.DEBUG)
    try:
        caplog.set_level(logging.DEBUG)
        assert process_item(items[0], lake=str(tmp_path / "a"))["status"] == "done"
        assert TOKEN in "\n".join(r.getMessage() for r in caplog.records)
    finally:
        botocore_logger.setLevel(pinned)
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HSTCR_LAKE", str(tmp_path / "b"))
    monkeypatch.setenv("HSTCR_RUNS", "s3://runs-bucket/runs")
    out = process_dark.handler({"item": items[0], "run_id": "run-2"})
    assert out["n_done"] == 1, out
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "dark" in logged and items[0]["dataset"] in logged  # the handler's own line, with its keys
    assert not _leaks(logged) and "Authorization" not in logged


def test_cli_run_prints_no_presigned_query(dark_in_s3, tmp_path):
    from click.testing import CliRunner

    from hstcr_common.cli import main

    items, urls = _items(dark_in_s3)
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(it) + "\n" for it in items[2:]))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _serve_presigned(rsps, urls)
        res = CliRunner().invoke(main, ["run", "--manifest", str(manifest), "--lake",
                                        str(tmp_path / "lake"), "--workers", "1"])
    assert res.exit_code == 3, res.output
    assert "private-bucket.s3.amazonaws.com/hst/obadhttp1_flt.fits" in res.output
    assert not _leaks(res.output), _leaks(res.output)
