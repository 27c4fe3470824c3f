"""Shared test fixtures: where the real HST files are, and a scratch lake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# ../shared sits beside the checkout (and beside CI's clone); HSTCR_SHARED overrides.
SHARED = Path(os.environ.get("HSTCR_SHARED", REPO.parent / "shared"))
HST_FIXTURES = SHARED / "fixtures" / "hst"
STIS_FIXTURES = HST_FIXTURES / "stis_ccd"


@pytest.fixture(scope="session")
def stis_fixture_dir() -> Path:
    if not STIS_FIXTURES.is_dir():
        pytest.fail(f"real HST fixtures not found at {STIS_FIXTURES} (set HSTCR_SHARED)")
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
