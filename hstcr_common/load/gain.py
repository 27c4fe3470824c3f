"""A CCD chip to electrons: the unit its file states, the gain of each amplifier, read noise.

* **Units.** BUNIT of the SCI header (else the primary, else the instrument table) decides:
  ``ELECTRONS`` as is; ``COUNTS``/``DN`` times the gain; a ``/S`` unit is first multiplied by
  EXPTIME (by the caller).
* **Amplifiers (ACS, WFC3/UVIS).** Chip 1 (WFC1/UVIS1) is read by amplifiers A (columns
  < nx/2 of the full chip) and B (columns >= nx/2); chip 2 (WFC2/UVIS2) by C (left) and D
  (right).  A subarray whose origin column in the full chip is ``x0`` is split at
  ``nx_full/2 - x0`` (an amplifier with no column of it drops out).  For each
  chip, the amplifiers it used are those of its pair named in CCDAMP: both -> each half gets
  its own ATODGN<amp>; one (e.g. CCDAMP ``AD`` or ``BC``, one amp per chip) -> the whole chip
  gets that amp's gain; none of its pair (e.g. a single-amp ``A`` readout seen on chip 2) ->
  the whole chip gets the mean gain of every amp in CCDAMP.  An empty CCDAMP means all four.
  ACS/HRC (one chip) uses the mean gain of the amps in CCDAMP.  A missing or zero ATODGN<amp>
  falls back to CCDGAIN.  :attr:`Chip.gain` is the mean of the gains applied to that chip.
* **STIS.** Gain = ATODGAIN, or CCDGAIN where ATODGAIN is 0 (raw files).
* **WFPC2.** Gain = ATODGAIN (7 or 15).
* **Read noise.** The mean READNSE<amp> of the chip's amplifiers, else READNSE, else the
  table value.

Fallbacks taken are listed in ``notes['gain_fallback']`` (``ATODGNA->CCDGAIN`` ...).
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from ..instruments import Detector
from ..model import HstcrError
from .keywords import header_value


def chip_bunit(header: fits.Header, primary: fits.Header, det: Detector, source: str,
               notes: dict) -> tuple[str, bool, bool]:
    """(original BUNIT, is_counts, per_second) of the chip whose SCI header is ``header``."""
    found = header_value("BUNIT", header, primary)
    if found is None:
        found = det.bunit
        notes["bunit_assumed"] = True
    text = str(found).strip().upper().replace(" ", "")
    per_second = text.endswith("/S") or text.endswith("/SEC")
    base = text.split("/")[0]
    if base in ("ELECTRONS", "ELECTRON", "E-", "E"):
        return str(found).strip(), False, per_second
    if base in ("COUNTS", "COUNT", "DN", "ADU"):
        return str(found).strip(), True, per_second
    raise HstcrError(f"unsupported BUNIT {found!r} (expected ELECTRONS or COUNTS, optionally "
                     "per second)", source, "load")


def _amp_gain(amp: str, gains: dict, notes: dict) -> float | None:
    """ATODGN<amp>, else CCDGAIN (noted), else None: e-/DN."""
    val = gains.get(f"ATODGN{amp}")
    if val is not None and val > 0:
        return val
    ccdgain = gains.get("CCDGAIN")
    if ccdgain is not None and ccdgain > 0:
        notes.setdefault("gain_fallback", []).append(f"ATODGN{amp}->CCDGAIN")
        return ccdgain
    return None


def chip_gain_columns(det: Detector, ccdchip: int, ccdamp: str, nx: int, x0: int = 0
                      ) -> list[tuple[str, slice]]:
    """Amplifiers reading one chip and the columns each reads (the rule in the module doc).

    Parameters
    ----------
    det : Detector
        ACS/WFC, ACS/HRC or WFC3/UVIS.
    ccdchip : int
        CCDCHIP of the chip (1 or 2).
    ccdamp : str
        CCDAMP of the exposure ('' = all four amplifiers).
    nx : int
        Columns of the chip (of the subarray for a subarray).
    x0 : int
        Column of the array's first pixel in the full chip (0 for a full frame).

    Returns
    -------
    list of (str, slice)
        One entry per column range; an entry whose amplifier string has several letters means
        "the mean gain of these amplifiers" over that range.
    """
    named = "".join(a for a in ccdamp.upper() if a in "ABCD") or "ABCD"
    if det.n_chips == 1:
        return [(named, slice(0, nx))]
    pair = ("A", "B") if ccdchip == 1 else ("C", "D")
    used = [a for a in pair if a in named]
    if len(used) == 2:
        half = min(max(det.chip_shape[1] // 2 - int(x0), 0), nx)
        parts = [(pair[0], slice(0, half)), (pair[1], slice(half, nx))]
        return [(amp, cols) for amp, cols in parts if cols.stop > cols.start]
    if len(used) == 1:
        return [(used[0], slice(0, nx))]
    return [(named, slice(0, nx))]


def apply_gain(science: np.ndarray, det: Detector, ccdchip: int, ccdamp: str, gains: dict,
               is_counts: bool, source: str, notes: dict, x0: int = 0) -> float:
    """Multiply ``science`` (in place) by the gain; return the chip's mean gain (e-/DN).

    ``x0``: column of the array's first pixel in the full chip (subarrays).
    """
    if det.gain_keywords and det.gain_keywords[0].startswith("ATODGN"):
        applied = []
        for amps, cols in chip_gain_columns(det, ccdchip, ccdamp, science.shape[1], x0):
            values = [_amp_gain(a, gains, notes) for a in amps]
            values = [v for v in values if v is not None]
            if not values:
                if is_counts:
                    raise HstcrError(f"no usable gain for amplifier(s) {amps}: ATODGN{amps[0]} "
                                     "and CCDGAIN are missing or 0", source, "load")
                continue
            gain = float(np.mean(values))
            if is_counts:
                science[:, cols] *= np.float32(gain)
            applied.append(gain)
        return float(np.mean(applied)) if applied else det.typical_gain
    for key in det.gain_keywords:  # STIS: ATODGAIN then CCDGAIN; WFPC2: ATODGAIN
        val = gains.get(key)
        if val is not None and val > 0:
            if key != det.gain_keywords[0]:
                notes.setdefault("gain_fallback", []).append(f"{det.gain_keywords[0]}->{key}")
            if is_counts:
                science *= np.float32(val)
            return float(val)
    if is_counts:
        raise HstcrError(f"no usable gain: {', '.join(det.gain_keywords)} missing or 0",
                         source, "load")
    return det.typical_gain


def chip_amplifiers(det: Detector, ccdchip: int, ccdamp: str, nx: int, x0: int = 0) -> str:
    """Letters of the amplifiers that read one chip: by :func:`chip_gain_columns` where the
    detector has a gain per amplifier, else CCDAMP as written."""
    if det.gain_keywords[0].startswith("ATODGN"):
        return "".join(a for a, _ in chip_gain_columns(det, ccdchip, ccdamp, nx, x0))
    return ccdamp


def read_noise(primary, sci_header, det: Detector, amps: str) -> float:
    """Read noise of a chip read by ``amps`` (e- rms): mean READNSE<amp>, READNSE or table."""
    values = []
    for amp in amps:
        val = header_value(f"READNSE{amp}", primary, sci_header)
        if isinstance(val, (int, float)) and val > 0:
            values.append(float(val))
    if not values:
        val = header_value("READNSE", primary, sci_header)
        if isinstance(val, (int, float)) and val > 0:
            values.append(float(val))
    return float(np.mean(values)) if values else det.read_noise_e
