"""The one way in: :func:`load_dark` opens a MAST product and hands it to the CCD or IR loader.

The science file is opened with the guards of :mod:`hstcr_common.fits` (not FITS, cut short,
an endless header, an HDU announcing far more data than the detector's frame: refused before
any pixel is read), its detector recognised from INSTRUME + DETECTOR, and the support file's
orbital elements read (a bad support file never fails the load).  CCD products go to
:func:`~hstcr_common.load.ccd.load_ccd_dark`, IR ramps (``ima``) to
:func:`~hstcr_common.load.ir.load_ir_dark`.
"""

from __future__ import annotations

from ..fits import FileInput, check_data_sizes, display_name, open_fits
from ..model import Dark
from .ccd import load_ccd_dark
from .header import detect_detector, first_sci_header, read_support_header, science_suffix
from .ir import load_ir_dark


def load_dark(science: FileInput, *, dq: FileInput | None = None,
              support: FileInput | None = None, source: str | None = None) -> Dark:
    """Load one calibration dark as a :class:`Dark` with science arrays in electrons.

    Parameters
    ----------
    science : path, bytes or binary file object
        The science product: ``flt``/``flc`` (ACS, WFC3/UVIS), ``flt``/``crj``/``raw``
        (STIS/CCD), ``c0m`` (WFPC2), ``ima`` (WFC3/IR, NICMOS).  A caller's file object is
        left open.
    dq : path, bytes or binary file object, optional
        WFPC2 only: the ``c1m`` data-quality file (ignored, with a note, for the others).
    support : path, bytes or binary file object, optional
        The ``spt`` (WFPC2 ``shm``) file; its primary header becomes
        :attr:`Dark.support_header`.  A missing or bad support file never fails the load:
        :attr:`Dark.support_note` says why the header is None.
    source : str, optional
        Display name for messages and :attr:`Dark.source` (default: the path, or ``<bytes>``).

    Returns
    -------
    Dark
        Science in electrons (float32, e-), DQ per chip, times (UTC / MJD / s), gains (e-/DN).

    Raises
    ------
    HstcrError
        For anything wrong with the input (see :mod:`~hstcr_common.load.ccd` and
        :mod:`~hstcr_common.load.ir`); the message names the file and the problem.
    """
    src = display_name(science, source)
    support_header, support_note = read_support_header(
        support, None if support is None else display_name(support))
    with open_fits(science, src) as hdul:
        primary = hdul[0].header
        det = detect_detector(primary, first_sci_header(hdul), src)
        check_data_sizes(hdul, det, src)
        suffix = science_suffix(primary, src)
        if det.kind == "ir":
            return load_ir_dark(hdul, detector=det, source=src, support_header=support_header,
                                support_note=support_note, science_suffix=suffix or "ima")
        if det.id == "wfpc2" and dq is not None:
            dq_src = display_name(dq)
            with open_fits(dq, dq_src) as dq_hdul:
                check_data_sizes(dq_hdul, det, dq_src)
                return load_ccd_dark(hdul, det, src, dq_hdul, dq_src, support_header,
                                     support_note, suffix)
        dark = load_ccd_dark(hdul, det, src, None, "", support_header, support_note, suffix)
        if dq is not None:
            dark.header["dq_file_ignored"] = display_name(dq)
        return dark
