"""Subarrays and CTE: what the headers say about where an array sits and how it was corrected.

Headers only, no pixels.  A subarray is loaded as it is read: its chip keeps the subarray's
shape and every coordinate downstream (pixels, centroids, bounding boxes) is in that frame,
the *chip frame*.  Where the header says where the subarray sits, its origin in the full
chip is recorded (:attr:`~hstcr_common.model.Dark.subarray_origin`), so a position in the full
chip is ``x + x0, y + y0``.

* **Origin.** LTVn is "image pixel minus physical pixel" (FITS WCS for HST: ACS, WFC3, STIS;
  the physical frame is the full chip's science region, overscan and reference pixels
  excluded).  The array's pixel 0 is physical pixel ``-LTVn``; after the loader cuts ``cut``
  leading pixels (the 5 reference pixels of a WFC3/IR ramp), the origin is ``cut - LTVn``.
  Check on the real files: a WFC3/IR SQ256SUB ``ima`` has LTV1 = -374 and origin 379
  (= (1014 - 256) / 2, a centred subarray); a STIS 32x32 acquisition has LTV1 = -501.
  Without LTV, STIS's CENTERAn/SIZAXISn (1-based, in the raw frame whose first
  :data:`STIS_LEADING_OVERSCAN` columns are serial overscan) give the same numbers.
* **Name.** SUBTYPE (WFC3/IR: ``SQ256SUB``), else APERTURE for ACS and WFC3 (which name
  their subarray apertures, ``WFC1A-512``, ``UVIS2-C512C-SUB``), else ``<rows>x<cols>`` (STIS's
  APERTURE is the slit, not the readout).
* **CTE.** An ``flc`` (pixel-based CTE correction of ACS/WFC and WFC3/UVIS), or a header with
  PCTECORR = 'COMPLETE', is CTE-corrected; IR arrays have no charge transfer (None).
"""

from __future__ import annotations

from .keywords import header_true, header_value

#: STIS/CCD raw frames begin with 19 columns of serial overscan (LTV1 = 19 in a full raw,
#: [STIS-DHB 2.3]); CENTERA1 counts them.
STIS_LEADING_OVERSCAN = 19

#: Instruments whose APERTURE keyword names the subarray readout.
_APERTURE_NAMES_SUBARRAY = ("ACS", "WFC3")


def _int_or_none(value) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(round(number)) if number == number else None


def subarray_origin(det, headers, cut: tuple[int, int] = (0, 0)) -> tuple[int, int] | None:
    """(x0, y0) of the array's first kept pixel in the full chip's science frame, or None.

    Parameters
    ----------
    det : Detector
    headers : sequence of astropy Header or None
        Searched in order (SCI header first: LTV lives there).
    cut : (int, int)
        Leading (columns, rows) the loader removed before the kept array (reference pixels).

    Returns
    -------
    (int, int) or None
        ``(cut_x - LTV1, cut_y - LTV2)``; for STIS without LTV, from CENTERA/SIZAXIS; None
        when the header gives neither.
    """
    ltv1 = _int_or_none(header_value("LTV1", *headers))
    ltv2 = _int_or_none(header_value("LTV2", *headers))
    if ltv1 is not None and ltv2 is not None:
        return cut[0] - ltv1, cut[1] - ltv2
    if det.id == "stis_ccd":
        keys = [_int_or_none(header_value(k, *headers))
                for k in ("CENTERA1", "CENTERA2", "SIZAXIS1", "SIZAXIS2")]
        if None not in keys:
            c1, c2, s1, s2 = keys
            # CENTERAn is the 1-based centre pixel of the raw frame (overscan included)
            return c1 - s1 // 2 - 1 - STIS_LEADING_OVERSCAN, c2 - s2 // 2 - 1
    return None


def subarray_facts(det, primary, sci_header, shape: tuple[int, int], *,
                   cut: tuple[int, int] = (0, 0)) -> dict:
    """Whether an array is a subarray, its name, origin and the APERTURE keyword.

    Parameters
    ----------
    det : Detector
    primary, sci_header : astropy Header (``sci_header`` may be None)
    shape : (int, int)
        Shape of the kept array (reference pixels removed), rows x columns.
    cut : (int, int)
        Leading (columns, rows) removed before it (see :func:`subarray_origin`).

    Returns
    -------
    dict
        ``subarray`` (bool: SUBARRAY=T or smaller than the table's chip shape),
        ``subarray_name`` (str, '' for a full frame), ``subarray_origin`` ((x0, y0) or None;
        None for a full frame), ``aperture`` (str).
    """
    headers = (sci_header, primary)
    want = tuple(det.chip_shape)
    smaller = shape[0] < want[0] or shape[1] < want[1]
    is_sub = bool(header_true(header_value("SUBARRAY", primary, sci_header)) or smaller)
    aperture = str(header_value("APERTURE", primary, sci_header, default="") or "")
    if not is_sub:
        return {"subarray": False, "subarray_name": "", "subarray_origin": None,
                "aperture": aperture}
    name = str(header_value("SUBTYPE", primary, sci_header, default="") or "")
    if not name and det.instrume in _APERTURE_NAMES_SUBARRAY:
        name = aperture
    return {"subarray": True, "subarray_name": name or f"{shape[0]}x{shape[1]}",
            "subarray_origin": subarray_origin(det, headers, cut), "aperture": aperture}


def cte_corrected(det, suffix: str | None, primary, sci_header=None) -> bool | None:
    """Whether the product was corrected for charge-transfer inefficiency.

    True for an ``flc`` or a header with PCTECORR = 'COMPLETE'; False for the other CCD
    products; None for IR arrays (no charge transfer, :attr:`Detector.cte_applies`).
    """
    if not det.cte_applies:
        return None
    flag = str(header_value("PCTECORR", primary, sci_header, default="")).strip().upper()
    return suffix == "flc" or flag == "COMPLETE"
