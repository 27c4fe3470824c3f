"""Loading infrared ramps (WFC3/IR and NICMOS ``ima`` files) as a :class:`Dark`.

:func:`~hstcr_common.load.load_dark` recognises IR instruments and calls
:func:`load_ir_dark` with the open file.  An ``ima`` file holds one imset per
non-destructive read: ``SCI``, ``ERR``, ``DQ``, ``SAMP``, ``TIME``, all with the same EXTVER.

Rules (decided here, relied on by :mod:`hstcr_common.detect.ramp`):

* **Read order.** The archive stores the *last* read first: EXTVER 1 is the final read and
  EXTVER NSAMP the zeroth read.  :attr:`Chip.reads` is re-ordered zeroth read first.  The
  EXTVERs must be exactly 1..NSAMP (NSAMP from the primary header when present): a missing
  read is refused.
* **Read times.** Each read's time since the exposure start comes from its TIME extension
  (PIXVALUE of the constant form, or the median of a full array), else SAMPTIME of its SCI
  header; they must increase strictly from the zeroth read on.
* **Units** (BUNIT of each SCI header, else the primary, else the instrument table):
  ``ELECTRONS`` as is; ``COUNTS`` (or ``DN``) times the gain; a rate unit (``.../S``) is
  first multiplied by the read's time (the per-pixel TIME array when the file has one).  A
  read whose time is 0 (the zeroth read) cannot hold a rate: calwf3/calnica leave it as
  accumulated signal, so it is taken as is (then times the gain for counts).  The result is
  the cumulative signal of every read in electrons.
* **Gain** is the mean of the detector's gain keywords (WFC3/IR ATODGNA-D, NICMOS ADCGAIN),
  needed only for counts; when absent the table's typical gain is used and
  ``header['gain_note']`` says so.  Read noise per read: mean of READNSEA-D where present
  (WFC3), else the table value.
* **Reference pixels** (WFC3/IR: a 5-pixel border of the 1024x1024 reads) are cut off:
  reads, DQ and science are the 1014x1014 light-sensitive pixels.
* **Subarrays** (SUBARRAY = T, or reads smaller than the full frame; WFC3/IR's SQ64SUB ..
  SQ512SUB, e.g. SQ256SUB: 266x266 reads = 256x256 pixels + the same 5-pixel border) are
  loaded as read, border removed: the chip is the subarray, and
  :attr:`Dark.subarray_origin` = (5 - LTV1, 5 - LTV2) places it in the 1014x1014 frame
  (379, 379 for a centred SQ256SUB).  Every read must have the shape of the first, no
  larger than the full frame.
* :attr:`Chip.science` is the last read minus the zeroth read (e-), :attr:`Chip.dq` the DQ of
  the final read, :attr:`Chip.read_dq` the DQ of every read (zeroth first).
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from ..instruments import Detector
from ..model import Chip, Dark, HstcrError
from .header import dataset_name, header_facts, header_times
from .keywords import header_value
from .subarray import cte_corrected, subarray_facts

_RATE_UNITS = {"ELECTRONS/S": ("ELECTRONS", True), "COUNTS/S": ("COUNTS", True),
               "DN/S": ("COUNTS", True), "ELECTRONS": ("ELECTRONS", False),
               "COUNTS": ("COUNTS", False), "DN": ("COUNTS", False)}


def _extname(hdu) -> str:
    return str(hdu.header.get("EXTNAME", "")).strip().upper()


def _imsets(hdul: fits.HDUList, source: str) -> dict[str, dict[int, object]]:
    """``{EXTNAME: {EXTVER: hdu}}`` for the imset extensions of an ima file."""
    out: dict[str, dict[int, object]] = {"SCI": {}, "ERR": {}, "DQ": {}, "SAMP": {}, "TIME": {}}
    for i, hdu in enumerate(hdul):
        if i == 0:
            continue
        name = _extname(hdu)
        if name in out:
            try:
                extver = int(hdu.header.get("EXTVER", 1))
            except (TypeError, ValueError):
                raise HstcrError(f"extension {name} #{i} has a non-integer EXTVER", source,
                                 "load") from None
            if extver in out[name]:
                raise HstcrError(f"two {name} extensions with EXTVER {extver}", source, "load")
            out[name][extver] = hdu
    return out


def _constant_or_array(hdu, shape: tuple[int, int], what: str, source: str):
    """Data of an imset extension: an array of ``shape``, or a scalar for HST's constant form
    (no data, NPIX1/NPIX2/PIXVALUE)."""
    try:
        data = hdu.data
    except Exception as exc:  # truncated or corrupt data
        raise HstcrError(f"cannot read {what}: {type(exc).__name__}: {exc}", source,
                         "load") from None
    if data is None:
        if "PIXVALUE" in hdu.header:
            return hdu.header["PIXVALUE"]
        return None
    data = np.asarray(data)
    if data.shape != shape:
        raise HstcrError(f"{what} has shape {data.shape}, expected {shape}", source, "load")
    return data


def _read_shape(hdu, detector: Detector, source: str) -> tuple[int, int]:
    """(rows, cols) of a read from its header: the full frame (chip shape + 2 x border) or a
    subarray no larger than it and larger than the border."""
    border = int(detector.reference_border_px)
    full = (detector.chip_shape[0] + 2 * border, detector.chip_shape[1] + 2 * border)
    header = hdu.header
    try:
        naxis = int(header.get("NAXIS", 0))
        shape = (tuple(int(header[f"NAXIS{k}"]) for k in range(naxis, 0, -1)) if naxis else
                 (int(header.get("NPIX2", 0)), int(header.get("NPIX1", 0))))
    except (KeyError, TypeError, ValueError):
        raise HstcrError("SCI,1 has unreadable NAXIS keywords", source, "load") from None
    if (len(shape) != 2 or shape[0] > full[0] or shape[1] > full[1]
            or min(shape) <= 2 * border):
        raise HstcrError(f"SCI,1 has shape {shape}: expected the {full[0]}x{full[1]} frame or "
                         f"a subarray of it (with its {border}-pixel reference border)",
                         source, "load")
    return shape


def _mean_keywords(keys, header, source: str) -> tuple[float | None, dict[str, float]]:
    """Mean of the positive numeric values of ``keys`` in ``header`` and the values read."""
    found = {}
    for key in keys:
        val = header_value(key, header)
        if val is None:
            continue
        try:
            val = float(val)
        except (TypeError, ValueError):
            raise HstcrError(f"keyword {key} is not a number: {val!r}", source, "load") from None
        if np.isfinite(val) and val > 0:
            found[key] = val
    return (float(np.mean(list(found.values()))) if found else None), found


def load_ir_dark(hdul: fits.HDUList, *, detector: Detector, source: str,
                 support_header: dict | None = None, support_note: str = "",
                 science_suffix: str = "ima") -> Dark:
    """Load an IR ramp (``ima``) as a :class:`Dark` with every read in electrons.

    Parameters
    ----------
    hdul : astropy HDUList
        The open ``ima`` file.
    detector : Detector
        The IR detector row (``wfc3_ir``, ``nicmos_nic1..3``); :func:`load_dark` checked it.
    source : str
        Display name of the file (for messages and :attr:`Dark.source`).
    support_header : dict or None
        The spt primary header (orbital elements), as read by the caller.
    support_note : str
        Why ``support_header`` is None.
    science_suffix : str
        Product suffix (``ima``).

    Returns
    -------
    Dark
        One chip with ``reads`` (nreads, ny, nx) float32 e- (cumulative, zeroth read first,
        reference pixels removed), ``read_times_s`` (nreads,) s, ``read_dq`` (nreads, ny, nx),
        ``science`` = last read - zeroth read (e-) and ``dq`` = DQ of the final read.

    Raises
    ------
    HstcrError
        Missing or duplicated reads, wrong or unequal array shapes, unknown BUNIT, read
        times missing or not increasing, bad exposure keywords.
    """
    primary = hdul[0].header
    ext = _imsets(hdul, source)
    sci = ext["SCI"]
    if not sci:
        raise HstcrError("no SCI extensions: not an ima (MULTIACCUM ramp) file", source, "load")
    extvers = sorted(sci)
    nsamp = header_value("NSAMP", primary)
    n_reads = len(extvers)
    if nsamp is not None:
        try:
            nsamp = int(nsamp)
        except (TypeError, ValueError):
            raise HstcrError(f"NSAMP is not an integer: {nsamp!r}", source, "load") from None
        if nsamp != n_reads:
            raise HstcrError(f"ima has {n_reads} SCI reads but NSAMP = {nsamp}: "
                             f"missing or extra reads", source, "load")
    if extvers != list(range(1, n_reads + 1)):
        missing = sorted(set(range(1, max(extvers) + 1)) - set(extvers))
        raise HstcrError(f"SCI EXTVERs are not 1..{n_reads} (missing read(s) with EXTVER "
                         f"{missing})", source, "load")
    if n_reads < 2:
        raise HstcrError(f"ima has {n_reads} read: a ramp needs at least 2", source, "load")
    border = int(detector.reference_border_px)
    full = _read_shape(sci[extvers[0]], detector, source)
    ny, nx = full[0] - 2 * border, full[1] - 2 * border
    inner = (slice(border, border + ny), slice(border, border + nx))
    where = subarray_facts(detector, primary, sci[extvers[0]].header, (ny, nx),
                           cut=(border, border))

    gain, gain_values = _mean_keywords(detector.gain_keywords, primary, source)
    notes: dict = {}
    if gain is None:
        notes["gain_note"] = (f"no gain keyword ({', '.join(detector.gain_keywords)}); "
                              f"used the table's typical gain {detector.typical_gain} e-/DN")
    read_noise, _ = _mean_keywords(("READNSEA", "READNSEB", "READNSEC", "READNSED"),
                                   primary, source)
    if read_noise is None:
        read_noise = float(detector.read_noise_e)

    reads = np.empty((n_reads, ny, nx), dtype=np.float32)
    read_dq = np.zeros((n_reads, ny, nx), dtype=np.uint16)   # every HST DQ bit fits
    read_times = np.empty(n_reads, dtype=np.float64)
    bunits = set()
    used_gain = False
    for extver in extvers:
        k = n_reads - extver                                  # zeroth read first
        hdu = sci[extver]
        what = f"SCI,{extver}"
        data = _constant_or_array(hdu, full, what, source)
        if data is None or np.ndim(data) == 0:
            raise HstcrError(f"{what} holds no pixel data", source, "load")
        # read time: TIME extension, else SAMPTIME
        time_value = None
        time_hdu = ext["TIME"].get(extver)
        if time_hdu is not None:
            time_value = _constant_or_array(time_hdu, full, f"TIME,{extver}", source)
        if time_value is None:
            time_value = header_value("SAMPTIME", hdu.header)
        if time_value is None:
            raise HstcrError(f"read {what} has no TIME extension and no SAMPTIME", source,
                             "load")
        time_arr = np.asarray(time_value, dtype=np.float64)
        read_times[k] = float(np.median(time_arr)) if time_arr.ndim else float(time_arr)
        time_arr = time_arr[inner] if time_arr.ndim else time_arr

        unit = str(header_value("BUNIT", hdu.header, primary) or detector.bunit).upper()
        unit = unit.replace(" ", "")
        if unit not in _RATE_UNITS:
            raise HstcrError(f"{what} has BUNIT {unit!r}; expected one of "
                             f"{', '.join(_RATE_UNITS)}", source, "load")
        bunits.add(unit)
        base, is_rate = _RATE_UNITS[unit]
        # written straight into the ramp (float32 arithmetic, as a float32 copy would give):
        # no read-sized temporaries
        out = reads[k]
        values = np.asarray(data)[inner]
        if is_rate:
            # rate x time = accumulated signal; a zero-time read already is accumulated signal
            factor = np.where(time_arr > 0, time_arr, 1.0).astype(np.float32)
            np.multiply(values, factor, out=out, dtype=np.float32)
        else:
            out[...] = values
        if base == "COUNTS":
            out *= np.float32(gain if gain is not None else detector.typical_gain)
            used_gain = True
        dq_hdu = ext["DQ"].get(extver)
        if dq_hdu is not None:
            dq = _constant_or_array(dq_hdu, full, f"DQ,{extver}", source)
            if dq is not None:
                read_dq[k] = np.asarray(dq)[inner] if np.ndim(dq) else int(dq)

    if np.any(np.diff(read_times) <= 0):
        raise HstcrError(f"read times are not increasing from the zeroth read on: "
                         f"{np.round(read_times, 3).tolist()} s", source, "load")
    bad = ~np.isfinite(reads)
    if bad.any():
        # NaN/Inf: unusable reads, flagged as a bad detector pixel (bit 4, in every table)
        reads[bad] = 0.0
        read_dq[bad] |= 4
        notes["n_nonfinite"] = int(bad.sum())

    first_sci = sci[extvers[0]].header
    times = header_times(primary, first_sci, source)
    chip_layout = detector.chips[0]
    chip = Chip(
        name=chip_layout.name,
        ccdchip=chip_layout.ccdchip,
        science=(reads[-1] - reads[0]).astype(np.float32),
        dq=read_dq[-1].copy(),
        gain=float(gain if gain is not None else detector.typical_gain),
        read_noise_e=float(read_noise),
        reads=reads,
        read_times_s=read_times,
        read_dq=read_dq,
    )
    header = header_facts(primary, first_sci)
    header.update(notes)
    header["nsamp"] = n_reads
    samp_seq = header_value("SAMP_SEQ", primary)
    if samp_seq is not None:
        header["SAMP_SEQ"] = str(samp_seq)
    if times["derived"]:
        header["derived"] = times["derived"]
    if not used_gain:
        header.pop("gain_note", None)          # electrons: the gain was not needed
    ccdgain = header_value("CCDGAIN", primary)
    return Dark(
        dataset=dataset_name(primary, source),
        detector=detector,
        chips=[chip],
        date_obs=times["date_obs"],
        expstart_mjd=times["expstart_mjd"],
        expend_mjd=times["expend_mjd"],
        exptime_s=times["exptime_s"],
        darktime_s=times["darktime_s"],
        flashdur_s=0.0,
        ccdamp=str(header_value("CCDAMP", primary) or ""),
        ccdgain=None if ccdgain is None else float(ccdgain),
        gains=gain_values,
        bunit="/".join(sorted(bunits)) if len(bunits) > 1 else next(iter(bunits)),
        subarray=where["subarray"],
        subarray_name=where["subarray_name"],
        subarray_origin=where["subarray_origin"],
        aperture=where["aperture"],
        cte_corrected=cte_corrected(detector, science_suffix, primary),
        source=source,
        science_suffix=science_suffix,
        support_header=support_header,
        support_note=support_note,
        header=header,
    )
