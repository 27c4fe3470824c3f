"""MAST-shaped science, DQ and support files built in memory, for the loading tests.

Each builder returns the bytes of a FITS file laid out as MAST serves it (ACS/WFC, ACS/HRC,
WFC3/UVIS, STIS/CCD, WFPC2 in its three forms, an spt support file).
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits

from hstcr_common.load import ORBIT_KEYWORDS


def to_bytes(hdus: list) -> bytes:
    hdul = fits.HDUList(hdus)
    if isinstance(hdus[0], fits.GroupsHDU):
        # astropy cannot write random groups to a BytesIO (non-contiguous buffer): use a file
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "groups.fits"
            hdul.writeto(path)
            return path.read_bytes()
    buf = io.BytesIO()
    hdul.writeto(buf)
    return buf.getvalue()


def primary_hdu(cards: dict) -> fits.PrimaryHDU:
    hdu = fits.PrimaryHDU()
    for key, value in cards.items():
        hdu.header[key] = value
    return hdu


def image(name: str, extver: int, data, cards: dict | None = None) -> fits.ImageHDU:
    hdu = fits.ImageHDU(data, name=name, ver=extver)
    for key, value in (cards or {}).items():
        hdu.header[key] = value
    return hdu


def acs_primary(**over) -> dict:
    cards = {
        "INSTRUME": "ACS", "DETECTOR": "WFC", "ROOTNAME": "J8XI01ABQ",
        "FILENAME": "j8xi01abq_flt.fits", "TARGNAME": "DARK", "IMAGETYP": "DARK",
        "SUBARRAY": False, "NEXTEND": 6,
        "DATE-OBS": "2019-03-04", "TIME-OBS": "05:06:07", "EXPSTART": 58546.21258102,
        "EXPEND": 58546.22415509, "EXPTIME": 1000.0, "DARKTIME": 1001.5, "FLASHDUR": 0.3,
        "CCDAMP": "ABCD", "CCDGAIN": 2.0, "ATODGNA": 2.02, "ATODGNB": 1.886,
        "ATODGNC": 2.017, "ATODGND": 2.0109, "CCDOFSTA": 3, "CCDOFSTB": 3, "CCDOFSTC": 3,
        "CCDOFSTD": 3, "READNSEA": 4.0, "READNSEB": 4.2, "READNSEC": 4.4, "READNSED": 4.6,
    }
    cards.update(over)
    return cards


def two_chip_file(primary: dict, shape, bunit: str, values=(5.0, 7.0), dq_values=(0, 0),
                  ccdchips=(2, 1), with_dq=True, with_sci=True) -> bytes:
    """ACS/WFC or WFC3/UVIS flt: SCI/ERR/DQ per chip, extension 1 = CCDCHIP 2."""
    hdus = [primary_hdu(primary)]
    for extver, (value, flag, ccdchip) in enumerate(zip(values, dq_values, ccdchips), start=1):
        sci = np.full(shape, value, np.float32)
        if with_sci:
            hdus.append(image("SCI", extver, sci, {"BUNIT": bunit, "CCDCHIP": ccdchip}))
        hdus.append(image("ERR", extver, np.ones(shape, np.float32)))
        if with_dq:
            hdus.append(image("DQ", extver, np.full(shape, flag, np.int16)))
    return to_bytes(hdus)


def acs_wfc_flt(**kw) -> bytes:
    primary = acs_primary(**kw.pop("primary", {}))
    return two_chip_file(primary, (2048, 4096), kw.pop("bunit", "ELECTRONS"), **kw)


def single_chip_file(primary: dict, sci: np.ndarray, dq: np.ndarray | None, sci_cards: dict,
                     n_imsets: int = 1, second_value: float | None = None) -> bytes:
    hdus = [primary_hdu(primary)]
    for extver in range(1, n_imsets + 1):
        data = sci if extver == 1 else np.full(sci.shape, second_value, sci.dtype)
        hdus.append(image("SCI", extver, data, sci_cards))
        err = image("ERR", extver, None, {"NPIX1": sci.shape[1], "NPIX2": sci.shape[0],
                                          "PIXVALUE": 0.0})
        hdus.append(err)
        if dq is None:  # a constant (header-only) DQ, as STIS raw files have
            hdus.append(image("DQ", extver, None, {"NPIX1": sci.shape[1],
                                                   "NPIX2": sci.shape[0], "PIXVALUE": 0}))
        else:
            hdus.append(image("DQ", extver, dq))
    return to_bytes(hdus)


def hrc_flt(sci=None, dq=None, **over) -> bytes:
    primary = acs_primary(DETECTOR="HRC", ROOTNAME="J6ME13QHQ", FILENAME="j6me13qhq_flt.fits",
                          CCDAMP="C", NEXTEND=3, DATE="2004-01-01")
    primary.update(over)
    sci = np.full((1024, 1024), 3.0, np.float32) if sci is None else sci
    dq = np.zeros((1024, 1024), np.int16) if dq is None else dq
    return single_chip_file(primary, sci, dq, {"BUNIT": primary.pop("BUNIT", "COUNTS")})


STIS_TIMES = {"DATE-OBS": "2012-05-06", "TIME-OBS": "07:08:09", "EXPSTART": 56053.29732639,
              "EXPEND": 56053.31005787, "EXPTIME": 1100.0}


def stis_primary(rootname="obrv1234q", suffix="flt", atodgain=1.0, **over) -> dict:
    cards = {"INSTRUME": "STIS", "DETECTOR": "CCD", "ROOTNAME": rootname,
             "FILENAME": f"{rootname}_{suffix}.fits", "SUBARRAY": False, "CCDAMP": "D",
             "CCDGAIN": 4, "ATODGAIN": atodgain, "CCDOFFST": 3, "TEXPTIME": 1100.0,
             "TARGNAME": "DARK", "BINAXIS1": 1, "BINAXIS2": 1}
    cards.update(over)
    return cards


def wfpc2_primary(**over) -> dict:
    cards = {"INSTRUME": "WFPC2", "ROOTNAME": "U2EQ0201T", "FILENAME": "u2eq0201t_c0m.fits",
             "IMAGETYP": "DARK", "DATE-OBS": "19/05/94", "TIME-OBS": "15:41:16",
             "EXPSTART": 49491.65366175, "EXPEND": 49491.67449508, "EXPTIME": 1800.0,
             "DARKTIME": 1800.0, "ATODGAIN": 7.0, "MODE": "FULL"}
    cards.update(over)
    return cards


def wfpc2_mef(values=(1.0, 2.0, 3.0, 4.0), c1m=False) -> bytes:
    primary = wfpc2_primary()
    if c1m:
        primary["FILENAME"] = "u2eq0201t_c1m.fits"
    hdus = [primary_hdu(primary)]
    for i, value in enumerate(values, start=1):
        if c1m:
            data = np.zeros((800, 800), np.int16)
            data[i - 1, i - 1] = 2 ** (i - 1)  # a distinct flag per chip
        else:
            data = np.full((800, 800), value, np.float32)
        hdus.append(image("SCI", i, data, {"DETECTOR": i, "BUNIT": "COUNTS"}))
    return to_bytes(hdus)


def wfpc2_cube(c1m=False, groups=False) -> bytes:
    """The single-HDU WFPC2 forms: a (4, 800, 800) cube + group table, or random groups."""
    primary = wfpc2_primary(FILENAME="u2eq0201t_c1f.fits" if c1m else "u2eq0201t_c0f.fits")
    if c1m:
        cube = np.zeros((4, 800, 800), np.int16)
        for g in range(4):
            cube[g, g, g] = 2 ** g
    else:
        cube = np.stack([np.full((800, 800), v, np.float32) for v in (1.0, 2.0, 3.0, 4.0)])
    if groups:
        data = fits.GroupData(cube, parnames=["DETECTOR"],
                              pardata=[np.array([1, 2, 3, 4], np.float32)],
                              bitpix=16 if c1m else -32)
        hdu = fits.GroupsHDU(data)
        for key, value in primary.items():
            hdu.header[key] = value
        return to_bytes([hdu])
    hdu = primary_hdu(primary)
    hdu.data = cube
    table = fits.TableHDU.from_columns([fits.Column(name="DETECTOR", format="I3",
                                                    array=np.array([1, 2, 3, 4]))])
    return to_bytes([hdu, table])


def spt_bytes(**elements) -> bytes:
    cards = {"INSTRUME": "ACS", "ROOTNAME": "J8XI01ABQ"}
    cards.update({k: float(i + 1) for i, k in enumerate(ORBIT_KEYWORDS)})
    cards["HSTHORB"] = 2904.6
    cards.update(elements)
    return to_bytes([primary_hdu(cards)])
