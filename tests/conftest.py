"""Shared test fixtures: where the real HST files are, and a scratch lake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Real HST files, vendored from ../shared/fixtures/hst (7.4 MB) so a bare clone passes.
HST_FIXTURES = FIXTURES / "hst"
STIS_FIXTURES = HST_FIXTURES / "stis_ccd"
WFC3_IR_FIXTURES = HST_FIXTURES / "wfc3_ir"
MAST_FIXTURES = FIXTURES / "mast"


@pytest.fixture(scope="session")
def stis_fixture_dir() -> Path:
    if not STIS_FIXTURES.is_dir():
        pytest.fail(f"real HST fixtures not found at {STIS_FIXTURES}")
    return STIS_FIXTURES


@pytest.fixture(scope="session")
def stis_datasets(stis_fixture_dir) -> list[str]:
    return sorted(p.name.split("_")[0] for p in stis_fixture_dir.glob("*_spt.fits"))


@pytest.fixture(scope="session")
def astropy_test_file():
    """Path of one of astropy's bundled HST test files (``o4sp040b0_raw.fits``, ``test0.fits``)."""
    import astropy.io.fits.tests as fits_tests

    base = Path(fits_tests.__file__).parent / "data"

    def get(name: str) -> Path:
        path = base / name
        assert path.exists(), f"astropy test file {path} missing"
        return path

    return get


@pytest.fixture(scope="module")
def moto_s3():
    """A moto S3 server on loopback with a ``lake-bucket``; its endpoint URL (env set for boto3)."""
    from moto.server import ThreadedMotoServer
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import boto3
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="lake-bucket")
    yield f"http://127.0.0.1:{port}"
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()
