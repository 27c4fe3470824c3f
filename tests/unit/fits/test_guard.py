"""Guarded opening: not FITS, cut short, streams and callers' file objects (via load_dark)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from hstcr_common.load import load_dark
from hstcr_common.model import HstcrError
from unit.load.mast_files import hrc_flt, wfpc2_cube


def test_non_seekable_stream_input():
    class Stream(io.RawIOBase):
        def __init__(self, data):
            self._inner = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self._inner.readinto(b)

    dark = load_dark(Stream(hrc_flt()), source="j6me13qhq_flt.fits")
    assert dark.chips[0].shape == (1024, 1024)


def test_callers_file_object_is_left_open_and_unchanged():
    data = hrc_flt(ATODGNC=2.0)
    stream = io.BytesIO(data)
    first = load_dark(stream)
    assert not stream.closed and stream.getvalue() == data
    stream.seek(0)
    second = load_dark(stream)
    np.testing.assert_array_equal(first.chips[0].science, second.chips[0].science)
    assert first.chips[0].science[0, 0] == 6.0
    assert first.source == "<file>"


def test_not_fits_and_missing_file(tmp_path):
    with pytest.raises(HstcrError, match="notes.txt: not a readable FITS file"):
        load_dark(b"hello, this is not FITS" * 200, source="notes.txt")
    with pytest.raises(HstcrError, match="empty.fits: not a readable FITS file"):
        load_dark(b"", source="empty.fits")
    missing = tmp_path / "nope_flt.fits"
    with pytest.raises(HstcrError, match="nope_flt.fits: file not found"):
        load_dark(missing)
    with pytest.raises(HstcrError, match="cannot read a FITS file from a int"):
        load_dark(42)


@pytest.fixture(scope="module")
def hrc_bytes() -> bytes:
    return hrc_flt()


@pytest.mark.parametrize("cut, problem", [
    (100, "not a readable FITS file"),  # inside the primary header
    (2880, "truncated FITS file: NEXTEND=3"),  # right after the primary header
    (2880 + 1000, "truncated FITS file: NEXTEND=3"),  # inside the SCI header
    (2 * 2880 + 5000, "truncated FITS file: 10760 bytes"),  # inside the SCI data
    (-2880 * 200, "truncated FITS file"),  # inside the DQ data
    (-3000, "truncated FITS file"),
])
def test_truncated_files_are_refused(hrc_bytes, cut, problem):
    with pytest.raises(HstcrError) as err:
        load_dark(hrc_bytes[:cut], source="j6me13qhq_flt.fits")
    assert str(err.value).startswith(f"j6me13qhq_flt.fits: {problem}")


def test_missing_final_padding_only_is_accepted(hrc_bytes):
    # the data are complete; only the zero padding of the last 2880-byte block is missing
    dark = load_dark(hrc_bytes[:-10], source="j6me13qhq_flt.fits")
    assert dark.chips[0].shape == (1024, 1024)


def test_truncated_wfpc2_group_file_is_refused():
    data = wfpc2_cube()
    with pytest.raises(HstcrError, match="u2eq0201t_c0f.fits: truncated FITS file"):
        load_dark(data[: len(data) // 2], source="u2eq0201t_c0f.fits")
