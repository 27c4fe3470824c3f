"""CCD darks as MAST serves them: the ``flt``/``flc``/``crj`` imsets, WFPC2 ``c0m``/``c1m``, and
the ``spt``/``shm`` support file.

Same HDUs, shapes, dtypes, BUNIT and key keywords as the real files:

* ACS/WFC, ACS/HRC, WFC3/UVIS ``flt``/``flc``: empty PRIMARY + (SCI float32, ERR float32,
  DQ uint16 stored as BITPIX=16/BZERO=32768) per chip, in electrons; ACS/WFC and WFC3/UVIS
  extension 1 is chip 2 (CCDCHIP in each SCI header).
* STIS/CCD ``flt``/``crj``: same imset layout in COUNTS (DN); as in real STIS files the
  exposure keywords (DATE-OBS, TIME-OBS, EXPSTART, EXPEND, EXPTIME) are in the SCI header and
  the primary carries TDATEOBS/TTIMEOBS/TEXPSTRT/TEXPEND/TEXPTIME and the gains.
* WFPC2 ``c0m``: PRIMARY + 4 SCI image extensions (800x800 float32, DN, DETECTOR 1..4),
  ATODGAIN and an old-style ``dd/mm/yy`` DATE-OBS before 1999 (as astropy's ``test0.fits``);
  ``c1m``: PRIMARY + 4 int16 DQ image extensions, named SCI as in MAST's multi-extension
  WFPC2 files (drizzlepac reads c1m DQ from ('SCI', n)).
* Support file ``spt`` (WFPC2 ``shm``): primary header with a real HST orbital element set
  (:mod:`.support`) and one UDL extension per imset.

``facts`` is the dict of header values :func:`~hstcr_common.synthetic.dark.simulate_dark`
resolves once (times, gain, BUNIT, suffix ...); every writer here only formats it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..instruments import Detector
from .chip import ChipTruth
from .support import add_orbital_elements

#: CCDAMP of a full-frame dark (STIS darks are read through amplifier D)
CCDAMP = {"acs_wfc": "ABCD", "acs_hrc": "C", "wfc3_uvis": "ABCD", "stis_ccd": "D"}


def write_products(det: Detector, dataset: str, chips: list[ChipTruth], facts: dict,
                   elements: dict, out_dir) -> dict[str, Path]:
    """Write one dark's FITS files into ``out_dir`` (created); returns role -> path.

    Roles: ``science``, ``support`` and (WFPC2) ``dq``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"science": out_dir / f"{dataset}_{facts['science_suffix']}.fits",
             "support": out_dir / f"{dataset}_{det.support_suffix}.fits"}
    if det.layout == "wfpc2":
        paths["dq"] = out_dir / f"{dataset}_{det.dq_suffix}.fits"
        _write_wfpc2(det, dataset, chips, facts, facts["bunit"], paths)
    else:
        _write_imsets(det, dataset, chips, facts, facts["bunit"], paths["science"])
    support_hdus(det, dataset, facts, elements).writeto(paths["support"], overwrite=True)
    return paths


def _write_imsets(det: Detector, dataset: str, chips: list[ChipTruth], facts: dict,
                  bunit: str, path: Path) -> None:
    """ACS / WFC3 / STIS layout: PRIMARY + (SCI, ERR, DQ) per chip."""
    hdus = [fits.PrimaryHDU(header=_primary_header(det, dataset, path.name, facts,
                                                   nextend=3 * len(chips)))]
    for layout, chip in zip(det.chips, chips):
        sci_header = _sci_header(det, dataset, layout, facts, bunit)
        hdus.append(fits.ImageHDU(_to_bunit(chip.science_e, bunit, facts["gain"]),
                                  header=sci_header, name="SCI"))
        err_header = _sci_header(det, dataset, layout, facts, bunit, extname="ERR")
        hdus.append(fits.ImageHDU(_error(chip.science_e, chip.read_noise_e, bunit,
                                         facts["gain"]), header=err_header, name="ERR"))
        dq_header = _sci_header(det, dataset, layout, facts, "UNITLESS", extname="DQ")
        # uint16 is written as BITPIX=16 with BZERO=32768, as MAST's DQ arrays
        hdus.append(fits.ImageHDU(chip.dq.astype(np.uint16), header=dq_header, name="DQ"))
    fits.HDUList(hdus).writeto(path, overwrite=True)


def _write_wfpc2(det: Detector, dataset: str, chips: list[ChipTruth], facts: dict, bunit: str,
                 paths: dict[str, Path]) -> None:
    """WFPC2 multi-extension c0m (4 SCI, DN) and c1m (4 DQ extensions named SCI)."""
    sci_path, dq_path = paths["science"], paths["dq"]
    sci = [fits.PrimaryHDU(header=_primary_header(det, dataset, sci_path.name, facts,
                                                  nextend=len(chips)))]
    dq = [fits.PrimaryHDU(header=_primary_header(det, dataset, dq_path.name, facts,
                                                 nextend=len(chips), filetype="SDQ"))]
    for layout, chip in zip(det.chips, chips):
        sci.append(fits.ImageHDU(_to_bunit(chip.science_e, bunit, facts["gain"]),
                                 header=_sci_header(det, dataset, layout, facts, bunit),
                                 name="SCI"))
        dq_header = _sci_header(det, dataset, layout, facts, "UNITLESS")
        dq.append(fits.ImageHDU(chip.dq.astype(np.int16), header=dq_header, name="SCI"))
    fits.HDUList(sci).writeto(sci_path, overwrite=True)
    fits.HDUList(dq).writeto(dq_path, overwrite=True)


def _to_bunit(science_e: np.ndarray, bunit: str, gain: float) -> np.ndarray:
    """Electrons -> the product's unit (float32)."""
    if bunit == "ELECTRONS":
        return science_e.astype(np.float32)
    return (science_e / np.float32(gain)).astype(np.float32)


def _error(science_e: np.ndarray, read_noise_e: float, bunit: str, gain: float) -> np.ndarray:
    err_e = np.sqrt(np.maximum(science_e, 0.0) + np.float32(read_noise_e) ** 2)
    return _to_bunit(err_e.astype(np.float32), bunit, gain)


# ----------------------------------------------------------------------------------------------
# FITS headers
# ----------------------------------------------------------------------------------------------

def date_obs_text(detector: Detector, when: dt.datetime) -> str:
    # WFPC2 headers written before 1999 use dd/mm/yy (as astropy's test0.fits)
    if detector.id == "wfpc2" and when.year < 1999:
        return when.strftime("%d/%m/%y")
    return when.strftime("%Y-%m-%d")


def _gain_cards(detector: Detector, gain: float) -> list[tuple]:
    if detector.id == "stis_ccd":
        return [("CCDGAIN", int(round(gain)), "commanded gain of CCD"),
                ("ATODGAIN", float(gain), "calibrated CCD amplifier gain value"),
                ("READNSE", float(detector.read_noise_e), "calibrated CCD read noise value")]
    if detector.id == "wfpc2":
        return [("ATODGAIN", float(gain), "Analog to Digital Gain (Electrons/DN)")]
    cards = [("CCDGAIN", float(gain), "commanded gain of CCD")]
    for amp in "ABCD":
        cards.append((f"ATODGN{amp}", float(gain), f"calibrated gain for amplifier {amp}"))
    for amp in "ABCD":
        cards.append((f"READNSE{amp}", float(detector.read_noise_e),
                      f"calibrated read noise for amplifier {amp}"))
    return cards


def _primary_header(detector: Detector, dataset: str, filename: str, facts: dict,
                    nextend: int, filetype: str = "SCI") -> fits.Header:
    h = fits.Header()
    h["NEXTEND"] = (nextend, "Number of standard extensions")
    h["DATE"] = (facts["written"], "date this file was written (yyyy-mm-dd)")
    h["FILENAME"] = (filename, "name of file")
    h["FILETYPE"] = (filetype, "type of data found in data file")
    h["TELESCOP"] = ("HST", "telescope used to acquire data")
    h["INSTRUME"] = (detector.instrume, "identifier for instrument used to acquire data")
    h["EQUINOX"] = (2000.0, "equinox of celestial coord. system")
    h["ROOTNAME"] = (dataset, "rootname of the observation set")
    if detector.id == "wfpc2":
        h["IMAGETYP"] = ("DARK", "type of exposure identifier")
        h["CDBSFILE"] = ("NO", "GENERIC/BIAS/DARK/PREF/FLAT/MASK/ATOD/NO")
        h["MODE"] = ("FULL", "instr. mode: FULL (full res.), AREA (area int.)")
        h["SERIALS"] = ("OFF", "serial clocks: ON, OFF")
        h["FILTNAM1"] = ("", "first filter name")
        h["SHUTTER"] = ("A", "Shutter in place at beginning of the exposure")
        for card in _gain_cards(detector, facts["gain"]):
            h[card[0]] = card[1:]
        h["TARGNAME"] = ("DARK", "proposer's target name")
        h["DATE-OBS"] = (facts["date_obs_text"], "UT date of start of observation")
        h["TIME-OBS"] = (facts["time_obs"], "UT time of start of observation (hh:mm:ss)")
        h["EXPSTART"] = (facts["expstart"], "exposure start time (Modified Julian Date)")
        h["EXPEND"] = (facts["expend"], "exposure end time (Modified Julian Date)")
        h["EXPTIME"] = (facts["exptime"], "exposure duration (seconds)--calculated")
        h["EXPFLAG"] = ("NORMAL", "Exposure interruption indicator")
        return h
    h["TARGNAME"] = ("DARK", "proposer's target name")
    if detector.id == "stis_ccd":
        h["TDATEOBS"] = (facts["date_obs_text"], "UT date of start of first exposure in file")
        h["TTIMEOBS"] = (facts["time_obs"], "UT start time of first exposure in file")
        h["TEXPSTRT"] = (facts["expstart"], "start time (MJD) of 1st exposure in file")
        h["TEXPEND"] = (facts["expend"], "end time (MJD) of last exposure in the file")
        h["TEXPTIME"] = (facts["exptime"], "total exposure time (seconds)")
        h["OBSTYPE"] = ("IMAGING", "observation type - imaging or spectroscopic")
        h["OBSMODE"] = ("ACCUM", "operating mode")
        h["NRPTEXP"] = (1, "number of repeat exposures in set: default 1")
        h["SUBARRAY"] = (facts["subarray"], "data from a subarray (T) or full frame (F)")
        h["DETECTOR"] = (detector.detector, "detector in use: NUV-MAMA, FUV-MAMA, or CCD")
        h["CRSPLIT"] = (1, "number of cosmic ray split exposures")
        h["CCDAMP"] = (CCDAMP[detector.id], "CCD amplifier read out (A,B,C,D)")
        for card in _gain_cards(detector, facts["gain"]):
            h[card[0]] = card[1:]
        return h
    # ACS and WFC3: the exposure keywords live in the primary header
    h["DETECTOR"] = (detector.detector, "detector in use")
    h["IMAGETYP"] = ("DARK", "type of exposure identifier")
    h["OBSTYPE"] = ("IMAGING", "observation type - imaging or spectroscopic")
    h["OBSMODE"] = ("ACCUM", "operating mode")
    h["SUBARRAY"] = (facts["subarray"], "data from a subarray (T) or full frame (F)")
    h["DATE-OBS"] = (facts["date_obs_text"], "UT date of start of observation (yyyy-mm-dd)")
    h["TIME-OBS"] = (facts["time_obs"], "UT time of start of observation (hh:mm:ss)")
    h["EXPSTART"] = (facts["expstart"], "exposure start time (Modified Julian Date)")
    h["EXPEND"] = (facts["expend"], "exposure end time (Modified Julian Date)")
    h["EXPTIME"] = (facts["exptime"], "exposure duration (seconds)--calculated")
    if facts["darktime"] is not None:
        h["DARKTIME"] = (facts["darktime"], "dark time (seconds)")
    h["EXPFLAG"] = ("NORMAL", "Exposure interruption indicator")
    if detector.flashdur_applies or detector.instrume == "ACS":
        h["FLASHDUR"] = (facts["flashdur"], "Exposure time in seconds: 0.1 to 409.5")
        h["FLASHCUR"] = ("MED" if facts["flashdur"] > 0 else "OFF",
                         "Post flash current (zero, low, medium, high)")
        h["FLASHSTA"] = ("SUCCESSFUL" if facts["flashdur"] > 0 else "NOT PERFORMED",
                         "Status: SUCCESSFUL, ABORTED, NOT PERFORMED")
    h["CCDAMP"] = (CCDAMP[detector.id], "CCD amplifier read out configuration")
    for card in _gain_cards(detector, facts["gain"]):
        h[card[0]] = card[1:]
    return h


def _sci_header(detector: Detector, dataset: str, chip_layout, facts: dict, bunit: str,
                extname: str = "SCI") -> fits.Header:
    h = fits.Header()
    h["EXTNAME"] = (extname, "extension name")
    h["EXTVER"] = (chip_layout.extver, "extension version number")
    h["INHERIT"] = (True, "inherit the primary header")
    h["ROOTNAME"] = (dataset, "rootname of the observation set")
    h["EXPNAME"] = (dataset, "exposure identifier")
    h["BUNIT"] = (bunit, "brightness units")
    if detector.id == "wfpc2":
        h["DETECTOR"] = (chip_layout.ccdchip, "CCD detector: PC 1, WFC 2-4")
        return h
    if detector.id == "stis_ccd":
        h["DATE-OBS"] = (facts["date_obs_text"], "UT date of start of observation (yyyy-mm-dd)")
        h["TIME-OBS"] = (facts["time_obs"], "UT time of start of observation (hh:mm:ss)")
        h["EXPSTART"] = (facts["expstart"], "exposure start time (Modified Julian Date)")
        h["EXPEND"] = (facts["expend"], "exposure end time (Modified Julian Date)")
        h["EXPTIME"] = (facts["exptime"], "exposure duration (seconds)--calculated")
        h["EXPFLAG"] = ("NORMAL", "Exposure interruption indicator")
        return h
    h["CCDCHIP"] = (chip_layout.ccdchip, "CCD chip (1 or 2)")
    if facts.get("subarray"):
        h["LTV1"] = (float(-facts.get("subarray_x0", 0)), "offset in X to subsection start")
        h["LTV2"] = (0.0, "offset in Y to subsection start")
    return h


def support_hdus(detector: Detector, dataset: str, facts: dict, elements: dict) -> fits.HDUList:
    suffix = detector.support_suffix
    filename = f"{dataset}_{suffix}.fits"
    primary = fits.PrimaryHDU(header=_primary_header(
        detector, dataset, filename, facts, nextend=len(detector.chips),
        filetype="SHP" if suffix == "shm" else "SPT"))
    add_orbital_elements(primary.header, elements)
    hdus = [primary]
    for layout in detector.chips:
        # one unique data log (UDL) per imset, as in the real SPT files (int16 words)
        udl = fits.ImageHDU(np.zeros(965, dtype=np.int16), name="UDL")
        udl.header["EXTVER"] = layout.extver
        udl.header["ROOTNAME"] = dataset
        hdus.append(udl)
    return fits.HDUList(hdus)
