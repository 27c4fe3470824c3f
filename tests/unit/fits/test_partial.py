"""Walking a FITS file's HDU chain from its headers alone (no astropy, no I/O of its own)."""

from __future__ import annotations

import io

import numpy as np
from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st

from hstcr_common.fits import read_fits_hdus, scan_hdus


class InMemory:
    """The :class:`hstcr_common.fits.ByteRanges` shape over bytes held in memory."""

    def __init__(self, raw: bytes, location: str = "mem"):
        self.raw, self.location, self.size = raw, location, len(raw)

    def read_range(self, start, stop, *, view=False):
        out = self.raw[start:min(stop, self.size)]
        return memoryview(out) if view else out


def test_random_groups_primary_size(tmp_path):
    """WFPC2's old 'waiver' form: a random-groups primary; its data size must be exact."""
    data = np.arange(4 * 8 * 8, dtype=">f4").reshape(4, 8, 8)
    params = np.zeros((4, 2), ">f4")
    groups = fits.GroupData(data, parnames=["CRVAL1", "CRVAL2"], pardata=[params[:, 0], params[:, 1]], bitpix=-32)
    hdul = fits.HDUList([fits.GroupsHDU(groups),
                         fits.TableHDU.from_columns([fits.Column(name="A", format="I4", array=[1, 2, 3, 4])])])
    path = tmp_path / "u_c0f.fits"
    hdul.writeto(path)
    raw = path.read_bytes()
    spans = scan_hdus(InMemory(raw))
    assert spans[0].data_size == 4 * 4 * (2 + 64) and spans[-1].end == path.stat().st_size
    with fits.open(io.BytesIO(read_fits_hdus(InMemory(raw), None))) as back:
        np.testing.assert_array_equal(back[0].data.data, data)


@settings(max_examples=40, deadline=None)
@given(
    bitpix=st.sampled_from([8, 16, 32, 64, -32, -64]),
    shape=st.lists(st.integers(1, 37), min_size=1, max_size=3),
    cards=st.integers(0, 120),
)
def test_scan_matches_astropy_layout(bitpix, shape, cards):
    dtype = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}[bitpix]
    hdu = fits.ImageHDU(np.zeros(shape, dtype), name="SCI")
    for i in range(cards):
        hdu.header[f"K{i}"] = "x" * (i % 50)
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu, fits.ImageHDU(np.ones(3, ">i2"), name="DQ")]).writeto(buf)
    raw = buf.getvalue()
    spans = scan_hdus(InMemory(raw))
    with fits.open(io.BytesIO(raw)) as hdul:
        infos = hdul.fileinfo
        for span, h, i in zip(spans, hdul, range(len(hdul))):
            info = infos(i)
            assert (span.header_offset, span.data_offset) == (info["hdrLoc"], info["datLoc"])
            assert span.data_size == h.size
    assert spans[-1].end == len(raw)
