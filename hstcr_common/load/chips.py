"""Finding the chips of a multi-extension CCD product: which SCI and DQ extension is which chip.

ACS/WFC and WFC3/UVIS keep two chips as SCI,1/DQ,1 and SCI,2/DQ,2, the chip named by
CCDCHIP (extension 1 is chip 2); WFPC2 image extensions name it by DETECTOR.  ACS/HRC and
STIS/CCD have one chip; STIS may hold several imsets (a CR-split ``raw``), of which the first
is the one loaded.  A subarray product may hold fewer chips than the detector (an ACS/WFC
or WFC3/UVIS subarray reads one chip): every chip present is loaded.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from ..fits import read_array
from ..instruments import ChipLayout, Detector
from ..model import HstcrError
from .header import extensions, hdu_summary


class RawChip:
    """One chip as found in the file, before unit conversion."""

    __slots__ = ("layout", "header", "science", "dq")

    def __init__(self, layout: ChipLayout, header: fits.Header, science, dq):
        self.layout, self.header, self.science, self.dq = layout, header, science, dq


def chip_by_ccdchip(det: Detector, ccdchip: int | None, extver: int) -> ChipLayout | None:
    """The table's chip with this CCDCHIP (DETECTOR for WFPC2); by EXTVER when it is unknown."""
    for chip in det.chips:
        if ccdchip is not None and chip.ccdchip == ccdchip:
            return chip
    for chip in det.chips:
        if ccdchip is None and chip.extver == extver:
            return chip
    return None


def scan_image_extensions(hdul, det: Detector, source: str, *, subarray: bool = False
                          ) -> tuple[list, int]:
    """(list of (layout, SCI index, DQ index or None), number of imsets) for MEF products.

    A full frame needs one SCI extension per chip; a subarray (``subarray=True``) at least
    one, each a distinct chip.
    """
    sci = extensions(hdul, "SCI")
    if not sci:
        raise HstcrError(f"no SCI extension (HDUs: {hdu_summary(hdul)})", source, "load")
    dq = dict((ver, i) for i, ver in reversed(extensions(hdul, "DQ")))
    n_imsets = len(sci) if det.id == "stis_ccd" else 1
    if det.id == "stis_ccd":
        sci = sci[:1]  # the first imset: its SCI header holds the times of its pixels
    out = []
    seen = set()
    for index, extver in sci:
        header = hdul[index].header
        key = "DETECTOR" if det.id == "wfpc2" else "CCDCHIP"
        raw = header.get(key)
        try:
            ccdchip = int(raw) if raw is not None and det.n_chips > 1 else None
        except (TypeError, ValueError):
            ccdchip = None
        layout = det.chips[0] if det.n_chips == 1 else chip_by_ccdchip(det, ccdchip, extver)
        if layout is None:
            raise HstcrError(f"SCI extension {extver} has {key}={raw!r}, which is not a chip of "
                             f"{det.name}", source, "load")
        if layout.name in seen:
            raise HstcrError(f"chip {layout.name} appears twice", source, "load")
        seen.add(layout.name)
        out.append((layout, index, dq.get(extver)))
    if len(out) != det.n_chips and not (subarray and 1 <= len(out) <= det.n_chips):
        raise HstcrError(f"{det.name} needs {det.n_chips} SCI extensions (one per chip), found "
                         f"{len(out)}", source, "load")
    return out, n_imsets


def read_image_chips(hdul, det: Detector, source: str, *, subarray: bool = False
                     ) -> tuple[list[RawChip], int]:
    """Every chip's SCI header, science and DQ array from image extensions; and the imsets.

    A DQ extension without data (and no constant-array keywords) means no flags.  With
    ``subarray=True`` a product may hold fewer chips than the detector.
    """
    found, n_imsets = scan_image_extensions(hdul, det, source, subarray=subarray)
    raw_chips = []
    for layout, i, j in found:
        if j is None:
            raise HstcrError(f"missing DQ extension for SCI {hdul[i].header.get('EXTVER', 1)} "
                             f"(HDUs: {hdu_summary(hdul)})", source, "load")
        science = read_array(hdul[i], f"SCI {layout.extver}", source)
        if science is None:
            raise HstcrError(f"SCI extension {layout.extver} has no data", source, "load")
        dq = read_array(hdul[j], f"DQ {layout.extver}", source)
        if dq is None:
            dq = np.zeros(science.shape, np.uint16)  # an empty DQ means no flags
        raw_chips.append(RawChip(layout, hdul[i].header, science, dq))
    return raw_chips, n_imsets
