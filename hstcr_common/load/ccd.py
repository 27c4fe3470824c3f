"""Loading a CCD dark: a MAST science product (+ WFPC2 DQ file) -> :class:`Dark` in electrons.

:func:`load_ccd_dark` turns one open CCD product into per-chip science arrays **in electrons**
(float32), the DQ array of every chip and the header facts the pipeline needs; the caller
(:func:`~hstcr_common.load.load_dark`) opens the files and reads the support file.

========================  ===============================================================
ACS/WFC, WFC3/UVIS        ``flt`` / ``flc``: SCI,1/DQ,1 and SCI,2/DQ,2 (chip from CCDCHIP)
ACS/HRC                   ``flt``: one 1024x1024 chip
STIS/CCD                  ``flt`` / ``crj`` / ``raw``: the first imset (see below)
WFPC2                     ``c0m`` + ``c1m``: 4 SCI image extensions, or the old single-HDU
                          group form (a (4, 800, 800) primary cube or FITS random groups)
========================  ===============================================================

Rules (decided here, relied on downstream):

* **Units and gains** (:mod:`~hstcr_common.load.gain`): BUNIT decides whether the gain is
  applied; a ``/S`` unit is first multiplied by EXPTIME.  The original BUNIT is kept in
  :attr:`Dark.bunit`.
* **STIS.** Several imsets (raw of a CR-split, crj has one): the **first imset** is loaded;
  its SCI header gives EXPTIME/EXPSTART/EXPEND, so times and pixels stay consistent, and
  ``header['n_imsets']`` records how many there were.  A full-frame ``raw`` (1044x1062 with
  overscan) is trimmed to the 1024x1024 science region at (LTV2, LTV1) and the bias level,
  the median of the serial overscan columns of the science rows, is subtracted
  (``header['overscan_bias_dn']``); a region that does not fit the array is refused.
* **WFPC2** (:mod:`~hstcr_common.load.wfpc2`): a ``dq=`` given for another instrument is
  ignored and recorded in ``header['dq_file_ignored']``.
* **Subarrays** (SUBARRAY=T, or chips smaller than the table's chip shape) are loaded as
  read: each chip keeps its shape, so the searched area is the real array; a subarray may
  hold fewer chips than the detector (ACS/WFC and WFC3/UVIS subarrays read one chip).
  :attr:`Dark.subarray`, ``subarray_name``, ``subarray_origin`` (from LTV, see
  :mod:`~hstcr_common.load.subarray`) and ``aperture`` record where it sits; pixel
  coordinates stay in the subarray frame.  The amplifier boundary of a two-amplifier
  subarray is placed from its origin.  A STIS ``raw`` subarray has no overscan: its bias
  level stays (``header['bias_note']``).
* **CTE.** :attr:`Dark.cte_corrected`: an ``flc`` or PCTECORR = 'COMPLETE'.
* **Refused** (:class:`HstcrError`, message naming the file): binned data, a chip larger
  than the table's in one axis and smaller in the other, other shapes, a missing SCI or DQ
  extension, EXPTIME <= 0.  Header checks come first: a refused file costs no pixel reads.
* **NaN/Inf pixels** are set to 0 and flagged with DQ bit 4 (bad detector pixel, a bad bit of
  every detector in the table); ``header['n_nonfinite']`` counts them.
* **Memory.** Only SCI and DQ data are read (never ERR); a big-endian float32 SCI array is
  byte-swapped in place rather than copied, so a full ACS/WFC dark peaks at ~120 MB.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from ..instruments import Detector
from ..model import Chip, Dark, HstcrError
from .chips import RawChip, read_image_chips
from .gain import apply_gain, chip_amplifiers, chip_bunit, read_noise
from .header import (
    dataset_name,
    extensions,
    first_sci_header,
    frame_shapes,
    hdu_summary,
    header_facts,
    header_gains,
    header_times,
    sci_shapes,
    smaller_than_chip,
)
from .keywords import header_true, header_value
from .subarray import cte_corrected, subarray_facts, subarray_origin
from .wfpc2 import read_wfpc2_chips

_NONFINITE_DQ_BIT = 4  # "bad detector pixel" in hstcal and calwp2; in every table bad_bits


# --------------------------------------------------------------------------------------------
# Shapes: subarrays, binning, STIS overscan
# --------------------------------------------------------------------------------------------


def _check_shapes(hdul, det: Detector, source: str) -> bool:
    """Check the array shapes from the headers, before any pixel is read; is it a subarray?

    Refused: SCI data that are not 2-D or empty, binned products.  A subarray (SUBARRAY=T,
    or a SCI (or WFPC2 group) shape smaller than the table's chip shape) is loaded as read.
    """
    primary = hdul[0].header
    sci_header = first_sci_header(hdul)
    shapes = frame_shapes(hdul)
    text = ", ".join("x".join(map(str, s)) for s in shapes) or "?"
    for shape in sci_shapes(hdul):
        if len(shape) != 2:
            raise HstcrError(f"SCI data have {len(shape)} axes ({text}): expected a 2-D image "
                             "per chip", source, "load")
        if 0 in shape:
            raise HstcrError(f"SCI extension has no pixels (NAXIS=0, SCI {text})", source, "load")
    binning = []
    for key in ("BINAXIS1", "BINAXIS2"):
        try:
            binning.append(int(header_value(key, sci_header, primary, default=1)))
        except (TypeError, ValueError):
            binning.append(1)
    if max(binning) > 1:
        raise HstcrError(f"binned product ({binning[0]}x{binning[1]}, SCI {text}): only unbinned "
                         "darks are supported", source, "load")
    return bool(header_true(header_value("SUBARRAY", primary, sci_header))
                or smaller_than_chip(shapes, det))


def _fit_shape(chip: RawChip, det: Detector, source: str, notes: dict,
               suffix: str | None) -> None:
    """Check (and for a STIS raw full frame, trim) one chip against the table's chip shape.

    A chip no larger than the table's in either axis is kept as read (a full frame or a
    subarray).  Only a STIS ``raw`` (or a product whose suffix is unknown) that is larger is
    trimmed to its science region: a bigger ``flt``/``crj`` is not a product MAST serves and
    is refused rather than cut.
    """
    want = tuple(det.chip_shape)
    got = tuple(chip.science.shape)
    if got[0] <= want[0] and got[1] <= want[1]:
        if chip.dq.shape != got:
            raise HstcrError(f"chip {chip.layout.name}: DQ shape {chip.dq.shape} differs from "
                             f"SCI shape {got}", source, "load")
        if got != want and det.id == "stis_ccd" and suffix in (None, "raw"):
            # a raw subarray carries no overscan: its bias level stays in the pixels (the
            # detection's local background absorbs a constant offset)
            notes["bias_note"] = "raw subarray without overscan: bias level not removed"
        return
    if got[0] < want[0] or got[1] < want[1]:
        raise HstcrError(f"chip {chip.layout.name} is {got[0]}x{got[1]}: larger than the "
                         f"{want[0]}x{want[1]} frame in one axis and smaller in the other "
                         "(a subarray with overscan) is not supported", source, "load")
    if det.id == "stis_ccd" and suffix in (None, "raw"):
        _trim_stis_overscan(chip, want, source, notes)
        return
    raise HstcrError(f"chip {chip.layout.name} is {got[0]}x{got[1]}, expected {want[0]}x"
                     f"{want[1]} (a raw product with overscan? load the {det.science_suffixes[0]})",
                     source, "load")


def _trim_stis_overscan(chip: RawChip, want, source: str, notes: dict) -> None:
    """Cut a STIS raw full frame to its science region and remove the overscan bias level."""
    ny, nx = chip.science.shape
    # LTVn = image pixel - detector pixel: the science region starts at (LTV2, LTV1) (0-based)
    x0 = int(round(float(chip.header.get("LTV1", 0.0))))
    y0 = int(round(float(chip.header.get("LTV2", 0.0))))
    if not (0 <= x0 and x0 + want[1] <= nx and 0 <= y0 and y0 + want[0] <= ny):
        raise HstcrError(f"raw frame {ny}x{nx} with LTV1={x0}, LTV2={y0} does not hold a "
                         f"{want[0]}x{want[1]} science region", source, "load")
    rows = slice(y0, y0 + want[0])
    cols = slice(x0, x0 + want[1])
    science = np.asarray(chip.science, dtype=np.float32)
    overscan = np.concatenate([science[rows, :x0].ravel(), science[rows, x0 + want[1]:].ravel()])
    bias = float(np.median(overscan)) if overscan.size else 0.0
    chip.science = science[rows, cols] - np.float32(bias)
    if chip.dq.shape == (ny, nx):
        chip.dq = chip.dq[rows, cols]
    elif chip.dq.shape != tuple(want):
        raise HstcrError(f"DQ shape {chip.dq.shape} fits neither the raw frame nor the science "
                         "region", source, "load")
    notes["overscan_bias_dn"] = bias
    notes["trimmed_from"] = [ny, nx]



# --------------------------------------------------------------------------------------------
# Arrays we may modify
# --------------------------------------------------------------------------------------------


def _float32_owned(data: np.ndarray) -> np.ndarray:
    """Native float32 array we may modify: the file's own array where possible (no copy).

    A writeable contiguous float32 array read from the file (memmap=False, so it is ours) is
    used as is, byte-swapped in place when big-endian; anything else (integers, float64,
    read-only buffers) is converted (a copy).
    """
    arr = np.asarray(data)
    if (arr.dtype.kind == "f" and arr.dtype.itemsize == 4 and arr.flags.writeable
            and arr.flags.c_contiguous):
        if not arr.dtype.isnative:
            arr = arr.byteswap(inplace=True).view(arr.dtype.newbyteorder("="))
        return arr
    return arr.astype(np.float32)


def _as_dq(dq: np.ndarray, source: str, name: str) -> np.ndarray:
    """DQ as uint16 (int32 when values do not fit)."""
    dq = np.asarray(dq)
    if dq.dtype.kind == "f":
        if not np.all(np.isfinite(dq)):
            raise HstcrError(f"chip {name}: DQ has NaN/Inf values", source, "load")
        dq = np.rint(dq).astype(np.int64)
    if dq.dtype.kind not in "iub":
        raise HstcrError(f"chip {name}: DQ has type {dq.dtype}, not integers", source, "load")
    if dq.size and (dq.min() < 0 or dq.max() > 0xFFFF):
        return dq.astype(np.int32)
    return dq.astype(np.uint16, copy=not dq.flags.writeable)


# --------------------------------------------------------------------------------------------
# One chip in electrons, and the dark
# --------------------------------------------------------------------------------------------


def _chip_in_electrons(raw: RawChip, det: Detector, primary: fits.Header, exptime_s: float,
                       ccdamp: str, gains: dict, source: str, notes: dict, x0: int = 0
                       ) -> tuple[Chip, str, int]:
    """(the chip in electrons, its BUNIT as found, number of NaN/Inf pixels flagged).

    ``x0`` is the array's first column in the full chip (a subarray's amplifier boundary).
    The file's arrays are released from ``raw`` as soon as they are converted.
    """
    bunit, is_counts, per_second = chip_bunit(raw.header, primary, det, source, notes)
    science = _float32_owned(raw.science)  # all scaling happens in place on it
    dq = _as_dq(raw.dq, source, raw.layout.name)
    raw.science = raw.dq = None
    bad = ~np.isfinite(science)
    n_nonfinite = int(np.count_nonzero(bad))
    if n_nonfinite:
        # a NaN would poison every sum downstream; flag it as a bad pixel instead
        science[bad] = 0.0
        dq[bad] |= (_NONFINITE_DQ_BIT if _NONFINITE_DQ_BIT in det.bad_bits
                    else det.bad_bits[0])
    if per_second:
        science *= np.float32(exptime_s)
    ccdchip = raw.layout.ccdchip
    gain = apply_gain(science, det, ccdchip, ccdamp, gains, is_counts, source, notes, x0)
    amps = chip_amplifiers(det, ccdchip, ccdamp, science.shape[1], x0)
    chip = Chip(
        name=raw.layout.name,
        ccdchip=ccdchip,
        science=science,
        dq=dq,
        gain=gain,
        read_noise_e=read_noise(primary, raw.header, det, amps),
    )
    return chip, bunit, n_nonfinite


def load_ccd_dark(hdul: fits.HDUList, det: Detector, source: str, dq_hdul: fits.HDUList | None,
                  dq_source: str, support_header: dict | None, support_note: str,
                  suffix: str | None) -> Dark:
    """Load an open CCD product as a :class:`Dark` with science arrays in electrons.

    Parameters
    ----------
    hdul : astropy HDUList
        The open science product (headers parsed, sizes checked).
    det : Detector
        Its CCD detector row.
    source : str
        Display name of the science file (messages, :attr:`Dark.source`).
    dq_hdul : astropy HDUList or None
        WFPC2 only: the open ``c1m`` file.
    dq_source : str
        Display name of the ``c1m`` file ('' without one).
    support_header : dict or None
        The spt/shm primary header, as read by the caller.
    support_note : str
        Why ``support_header`` is None ('' when present).
    suffix : str or None
        Product suffix (``flt`` ...); None when neither the file name nor FILENAME says.

    Returns
    -------
    Dark
        Science in electrons (float32, e-), DQ per chip, times (UTC / MJD / s), gains (e-/DN).

    Raises
    ------
    HstcrError
        For anything wrong with the product (see the module docstring).
    """
    primary = hdul[0].header
    # header checks first: a refused file costs no pixel reads
    if det.id != "wfpc2" and not extensions(hdul, "SCI"):  # before its missing keywords
        raise HstcrError(f"no SCI extension (HDUs: {hdu_summary(hdul)})", source, "load")
    subarray = _check_shapes(hdul, det, source)
    times = header_times(primary, first_sci_header(hdul), source)
    if det.id == "wfpc2":
        raw_chips, n_imsets, form = read_wfpc2_chips(hdul, det, dq_hdul, source, dq_source)
    else:
        raw_chips, n_imsets = read_image_chips(hdul, det, source, subarray=subarray)
        form = "image_extensions"
    first_header = raw_chips[0].header
    notes: dict = {}
    for raw in raw_chips:
        if raw.science is None:
            raise HstcrError(f"chip {raw.layout.name} has no science data", source, "load")
        _fit_shape(raw, det, source, notes, suffix)
    if suffix is None:
        suffix = "raw" if "trimmed_from" in notes else det.science_suffixes[0]
    gains = header_gains(primary, first_header, det, source)
    ccdamp = str(header_value("CCDAMP", primary, first_header, default="")).strip().upper()
    ccdgain = gains.get("CCDGAIN", gains.get("ATODGAIN") if det.id == "wfpc2" else None)
    shape = tuple(raw_chips[0].science.shape)
    where = subarray_facts(det, primary, first_header, shape)
    origins = [subarray_origin(det, (raw.header, primary)) if where["subarray"] else None
               for raw in raw_chips]
    if len(set(origins)) > 1:
        notes["subarray_origins"] = {raw.layout.name: origin
                                     for raw, origin in zip(raw_chips, origins)}
    chips = []
    bunit_found = None
    n_nonfinite = 0
    for raw, origin in zip(raw_chips, origins):
        chip, bunit, count = _chip_in_electrons(raw, det, primary, times["exptime_s"], ccdamp,
                                                gains, source, notes,
                                                origin[0] if origin else 0)
        chips.append(chip)
        bunit_found = bunit_found or bunit
        n_nonfinite += count
    header = header_facts(primary, first_header)
    if "gain_fallback" in notes:
        notes["gain_fallback"] = sorted(set(notes["gain_fallback"]))
    header.update(notes)
    header["n_nonfinite"] = n_nonfinite
    header["n_imsets"] = n_imsets
    header["layout"] = form
    if times["derived"]:
        header["derived_keywords"] = times["derived"]
    return Dark(
        dataset=dataset_name(primary, source),
        detector=det,
        chips=chips,
        date_obs=times["date_obs"],
        expstart_mjd=times["expstart_mjd"],
        expend_mjd=times["expend_mjd"],
        exptime_s=times["exptime_s"],
        darktime_s=times["darktime_s"],
        flashdur_s=times["flashdur_s"] if det.flashdur_applies else 0.0,
        ccdamp=ccdamp,
        ccdgain=ccdgain,
        gains=gains,
        bunit=bunit_found or "",
        subarray=where["subarray"],
        subarray_name=where["subarray_name"],
        subarray_origin=origins[0],
        aperture=where["aperture"],
        cte_corrected=cte_corrected(det, suffix, primary, first_header),
        source=source,
        science_suffix=suffix,
        support_header=support_header,
        support_note=support_note,
        header=header,
    )
