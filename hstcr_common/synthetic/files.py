"""Write synthetic darks shaped like MAST's products, plus a Parquet truth table.

Products (same HDUs, shapes, dtypes, BUNIT and key keywords as the real files):

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
* Support file ``spt`` (WFPC2 ``shm``): primary header with a real HST orbital element set,
  re-epoched to the day of the dark (see :data:`ORBITAL_ELEMENT_SETS`).

The truth table has one row per injected cosmic ray (dataset, chip, cr_id, energy_e,
n_pixels, track end points, pixels) and carries the exposure-level truth as JSON in its
schema metadata (``hstcr.truth.exposures``); :func:`write_sample` also writes it as
``truth_exposures.parquet`` and a ``manifest.jsonl`` of the darks.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.io import fits

from ..model import Chip, Dark
from ..model import HstcrError
from ..instruments import Detector, get_detector
from ..lake import PIXEL
from ..ephemeris import integration_time as pipeline_integration_time
from .chip import ChipTruth, simulate_chip

#: MJD of 1985-01-01, the zero of EPCHTIME
MJD_1985 = 46066.0
#: MJD of 1970-01-01
MJD_UNIX = 40587.0
#: HST idle time added to DARKTIME after EXPTIME + FLASHDUR (s) for detectors whose headers
#: carry DARKTIME (post-SM4 full-frame ACS/WFC and WFC3/UVIS include the time since the last
#: flush; ~3 s is typical).  Detectors not listed get no DARKTIME keyword, so the pipeline's
#: EXPTIME + FLASHDUR + readout rule applies to them.
DARKTIME_OVERHEAD_S = {"acs_wfc": 3.0, "wfc3_uvis": 3.0}

#: Real HST osculating element sets copied from SPT primary headers in
#: ``shared/fixtures/hst/stis_ccd`` (keyed by the source dataset).  The synthetic SPT/SHM
#: header takes the set nearest in time, moves its epoch to the day of the dark (EPCHTIME less
#: than one day before EXPSTART, as the orbit model requires), draws MEANANOM from the seed and
#: carries the perigee and node forward with their own rates.
ORBITAL_ELEMENT_SETS = {
    # o4er06llq_spt.fits (STIS/CCD, EXPSTART 50875.196 = 1998-03-03), HST at ~606 km
    "o4er06llq": {
        "EPCHTIME": 415497600.0, "MEANANOM": 1.704504435498, "FDMEANAN": 0.0001721379765449,
        "SDMEANAN": 1.243713242225e-15, "ECCENTRY": 0.001820544237486,
        "ECCENTX2": 0.003641088474972, "ECBDX3": 1.810193344238e-08,
        "ECBDX4D3": 8.045303752171e-09, "ESQDX5D2": 8.285953301608e-06,
        "SEMILREC": 6984629.700819, "ARGPERIG": 0.06644081328846,
        "RCARGPER": 2.593128829936e-07, "RASCASCN": 0.5164961100092,
        "RCASCNRV": -2.052702168831e-07, "COSINCLI": 0.8792587462691,
        "SINEINCL": 0.4763444731591, "HSTHORB": 2904.646667956,
    },
    # oc7w11viq_spt.fits (STIS/CCD, EXPSTART 56862.920 = 2014-07-24), HST at ~550 km
    "oc7w11viq": {
        "EPCHTIME": 932601600.0, "MEANANOM": 0.8672215377421, "FDMEANAN": 0.0001745864255528,
        "SDMEANAN": 1.200436949899e-15, "ECCENTRY": 0.0004938209304037,
        "ECCENTX2": 0.0009876418608075, "ECBDX3": 3.612681996959e-10,
        "ECBDX4D3": 1.605636443093e-10, "ESQDX5D2": 6.096477782621e-07,
        "SEMILREC": 6925811.822379, "ARGPERIG": 0.1603241922496,
        "RCARGPER": 1.086896734316e-08, "RASCASCN": 0.4664648901807,
        "RCASCNRV": -2.110848539056e-07, "COSINCLI": 0.8788431564625,
        "SINEINCL": 0.477110790424, "HSTHORB": 2863.911088257,
    },
    # ocmv0lw6q_spt.fits (STIS/CCD, EXPSTART 57660.989 = 2016-09-29)
    "ocmv0lw6q": {
        "EPCHTIME": 1001548800.0, "MEANANOM": 6.158698567423, "FDMEANAN": 0.0001752153088663,
        "SDMEANAN": 1.784068052004e-15, "ECCENTRY": 0.0003227105171117,
        "ECCENTX2": 0.0006454210342234, "ECBDX3": 1.008232313925e-10,
        "ECBDX4D3": 4.481032506335e-11, "ESQDX5D2": 2.603551946362e-07,
        "SEMILREC": 6916544.091177, "ARGPERIG": 0.3526221538671, "RCARGPER": -2.726006377587e-07,
        "RASCASCN": 0.8505563882624, "RCASCNRV": -2.129710604722e-07, "COSINCLI": 0.879924802044,
        "SINEINCL": 0.47511297893, "HSTHORB": 2853.631929968,
    },
}

#: the orbital-element keywords of an SPT/SHM header, in header order
ORBIT_KEYWORDS = tuple(ORBITAL_ELEMENT_SETS["oc7w11viq"])

#: CCDAMP of a full-frame dark (STIS darks are read through amplifier D)
_CCDAMP = {"acs_wfc": "ABCD", "acs_hrc": "C", "wfc3_uvis": "ABCD", "stis_ccd": "D"}
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass
class SyntheticDark:
    """One written synthetic dark.

    Attributes
    ----------
    dataset : str
        9-character rootname.
    detector : Detector
    paths : dict
        File role -> path: ``science``, ``support`` and (WFPC2) ``dq``.
    truth : pyarrow.Table
        One row per injected cosmic ray (see :func:`truth_table`).
    chips : list of ChipTruth
        In file order.
    exposure : dict
        Exposure-level truth (JSON-serialisable): times, rates, counts per chip.
    facts : dict
        Header values the files are written with (internal).
    """

    dataset: str
    detector: Detector
    paths: dict[str, Path]
    truth: pa.Table
    chips: list[ChipTruth]
    exposure: dict = field(default_factory=dict)
    facts: dict = field(default_factory=dict, repr=False)

    @property
    def dark(self) -> Dark:
        """The dark as :func:`hstcr_common.load.ccd.load_dark` would return it (no files).

        Science arrays are the simulated electrons (shared, not copied); the support header
        is the primary header of the SPT/SHM file as a plain dict.
        """
        det, exp = self.detector, self.exposure
        gains = {key: exp["gain"] for key in det.gain_keywords}
        chips = [Chip(name=layout.name, ccdchip=layout.ccdchip, science=chip.science_e,
                      dq=chip.dq, gain=exp["gain"], read_noise_e=chip.read_noise_e)
                 for layout, chip in zip(det.chips, self.chips)]
        support = _support_hdus(det, self.dataset, self.facts, exp["orbital_elements"])[0]
        return Dark(
            dataset=self.dataset, detector=det, chips=chips,
            date_obs=dt.datetime.fromisoformat(exp["date_obs"]),
            expstart_mjd=exp["expstart_mjd"], expend_mjd=exp["expend_mjd"],
            exptime_s=exp["exptime_s"], darktime_s=exp["darktime_s"],
            flashdur_s=exp["flashdur_s"], ccdamp=_CCDAMP.get(det.id, ""),
            ccdgain=exp["gain"], gains=gains, bunit=exp["bunit"], subarray=False,
            source=str(self.paths.get("science", f"synthetic:{self.dataset}")),
            science_suffix=exp["science_suffix"],
            support_header={k: v for k, v in support.header.items()
                            if k and k not in ("COMMENT", "HISTORY")},
            header={"ROOTNAME": self.dataset, "TARGNAME": "DARK", "IMAGETYP": "DARK",
                    "synthetic": True},
        )

    @property
    def manifest_item(self) -> dict:
        """The dark as a manifest work item (see DESIGN.md)."""
        return manifest_item(self)


def manifest_item(synthetic) -> dict:
    """A synthetic dark (CCD or IR: ``dataset``, ``detector``, ``exposure``, ``paths``) as a
    manifest work item (see DESIGN.md)."""
    return {"dataset": synthetic.dataset, "instrument": synthetic.detector.id,
            "month": synthetic.exposure["date_obs"][:7],
            "files": {role: str(path) for role, path in synthetic.paths.items()},
            "group": synthetic.exposure["group"]}


# ----------------------------------------------------------------------------------------------
# small pure helpers
# ----------------------------------------------------------------------------------------------

def mjd_from_datetime(when: dt.datetime) -> float:
    """MJD (UTC) of a timezone-aware datetime."""
    return MJD_UNIX + when.timestamp() / 86400.0


def dataset_name(prefix: str, seed) -> str:
    """A MAST-like rootname: ``<prefix><program:3><obset:2><obs:2>q``, lower case, 9 chars.

    Deterministic from ``seed`` (int or sequence of ints).
    """
    rng = np.random.default_rng(seed)
    chars = rng.integers(0, len(_ALPHABET), 7)
    body = "".join(_ALPHABET[i] for i in chars)
    return f"{prefix}{body}q".lower()


def _as_utc(when) -> dt.datetime:
    if isinstance(when, dt.datetime):
        return when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when.astimezone(
            dt.timezone.utc)
    if isinstance(when, dt.date):
        return dt.datetime(when.year, when.month, when.day, tzinfo=dt.timezone.utc)
    if isinstance(when, str):
        try:
            return _as_utc(dt.datetime.fromisoformat(when))
        except ValueError:
            raise HstcrError(f"bad date {when!r}: expected YYYY-MM-DD[THH:MM:SS]") from None
    raise HstcrError(f"bad date {when!r}")


def default_date(detector: Detector, seed: int) -> dt.datetime:
    """A deterministic observation time inside the detector's last active period."""
    start, end = detector.active[-1]
    end = end or dt.date(2024, 12, 31)
    rng = np.random.default_rng([int(seed), 0xDA7E])
    day = start + dt.timedelta(days=int(rng.integers(0, (end - start).days + 1)))
    seconds = int(rng.integers(0, 86400))
    return _as_utc(day) + dt.timedelta(seconds=seconds)


def orbital_elements(expstart_mjd: float, rng: np.random.Generator) -> dict[str, float]:
    """An HST element set valid at ``expstart_mjd``: real elements, epoch moved to that day.

    The set nearest in time from :data:`ORBITAL_ELEMENT_SETS` is used; EPCHTIME becomes
    00:00 UTC of the day of EXPSTART (so 0 <= EXPSTART - epoch < 1 day), MEANANOM is drawn
    uniformly in [0, 2 pi), ARGPERIG and RASCASCN (revolutions) are carried to the new epoch
    with their rates RCARGPER and RCASCNRV (revolutions per second).
    """
    def epoch_mjd(elements):
        return MJD_1985 + elements["EPCHTIME"] / 86400.0

    source = min(ORBITAL_ELEMENT_SETS.values(), key=lambda e: abs(epoch_mjd(e) - expstart_mjd))
    out = dict(source)
    new_epoch_mjd = math.floor(expstart_mjd)
    out["EPCHTIME"] = float((new_epoch_mjd - MJD_1985) * 86400.0)
    dt_s = out["EPCHTIME"] - source["EPCHTIME"]
    out["ARGPERIG"] = float((source["ARGPERIG"] + source["RCARGPER"] * dt_s) % 1.0)
    out["RASCASCN"] = float((source["RASCASCN"] + source["RCASCNRV"] * dt_s) % 1.0)
    out["MEANANOM"] = float(rng.uniform(0.0, 2.0 * math.pi))
    return out


def integration_time(detector: Detector, exptime_s: float, flashdur_s: float) -> tuple[
        float, float | None, str]:
    """(integration time, DARKTIME to write or None, rule) for a synthetic dark.

    The DARKTIME keyword is written for the detectors of :data:`DARKTIME_OVERHEAD_S`
    (EXPTIME + FLASHDUR + the idle overhead).  The integration time the cosmic rays are
    injected over is then computed by the pipeline's own rule,
    :func:`hstcr_common.ephemeris.timing.integration_time`, from exactly the keywords written, so the
    truth's rate and the measured rate share one denominator and one ``integration_rule``
    string (e.g. ``"DARKTIME"``, ``"EXPTIME+READOUT(60s)"``).
    """
    darktime = None
    if detector.id in DARKTIME_OVERHEAD_S:
        darktime = exptime_s + flashdur_s + DARKTIME_OVERHEAD_S[detector.id]
    total, rule = pipeline_integration_time(detector, exptime_s, darktime_s=darktime,
                                            flashdur_s=flashdur_s)
    return total, darktime, rule


# ----------------------------------------------------------------------------------------------
# truth table
# ----------------------------------------------------------------------------------------------

TRUTH_SCHEMA = pa.schema([
    pa.field("dataset", pa.string(), nullable=False),
    pa.field("instrument", pa.string(), nullable=False),
    pa.field("chip", pa.string(), nullable=False),
    pa.field("chip_index", pa.int16(), nullable=False),
    pa.field("cr_id", pa.int32(), nullable=False),          # 1..n within the chip
    pa.field("energy_e", pa.float32(), nullable=False),     # sum of the pixels' e
    pa.field("n_pixels", pa.int32(), nullable=False),
    pa.field("x0", pa.float32(), nullable=False),
    pa.field("y0", pa.float32(), nullable=False),
    pa.field("x1", pa.float32(), nullable=False),
    pa.field("y1", pa.float32(), nullable=False),
    pa.field("pixels", pa.list_(PIXEL), nullable=False),
])

TRUTH_EXPOSURES_SCHEMA = pa.schema([
    pa.field("dataset", pa.string(), nullable=False),
    pa.field("instrument", pa.string(), nullable=False),
    pa.field("chip", pa.string(), nullable=False),
    pa.field("chip_index", pa.int16(), nullable=False),
    pa.field("group", pa.string(), nullable=False),
    pa.field("seed", pa.int64(), nullable=False),
    pa.field("date_obs", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("exptime_s", pa.float64(), nullable=False),
    pa.field("integration_time_s", pa.float64(), nullable=False),
    pa.field("cr_rate_per_s_cm2", pa.float64(), nullable=False),
    pa.field("area_cm2", pa.float64(), nullable=False),
    pa.field("n_cr", pa.int32(), nullable=False),
    pa.field("n_hot", pa.int32(), nullable=False),
    pa.field("n_unflagged_hot", pa.int32(), nullable=False),
    pa.field("background_e", pa.float64(), nullable=False),
    pa.field("read_noise_e", pa.float64(), nullable=False),
    pa.field("gain", pa.float64(), nullable=False),
    pa.field("bunit", pa.string(), nullable=False),
])


def truth_table(dataset: str, detector: Detector, chips: list[ChipTruth]) -> pa.Table:
    """One row per injected cosmic ray of every chip (built without a loop over cosmic rays)."""
    cols = {name: [] for name in TRUTH_SCHEMA.names if name != "pixels"}
    offsets, xs, ys, es = [np.zeros(1, np.int64)], [], [], []
    shift = 0
    for index, (layout, chip) in enumerate(zip(detector.chips, chips)):
        cr = chip.cosmic_rays
        n = len(cr)
        cols["dataset"].append(np.full(n, dataset, dtype=object))
        cols["instrument"].append(np.full(n, detector.id, dtype=object))
        cols["chip"].append(np.full(n, layout.name, dtype=object))
        cols["chip_index"].append(np.full(n, index, dtype=np.int16))
        for name in ("cr_id", "energy_e", "n_pixels", "x0", "y0", "x1", "y1"):
            cols[name].append(getattr(cr, name))
        offsets.append(cr.pixel_offsets[1:] + shift)
        shift += int(cr.pixel_offsets[-1])
        xs.append(cr.pixel_x)
        ys.append(cr.pixel_y)
        es.append(cr.pixel_e)
    pixels = pa.StructArray.from_arrays(
        [pa.array(np.concatenate(xs or [np.zeros(0, np.int16)]), pa.int16()),
         pa.array(np.concatenate(ys or [np.zeros(0, np.int16)]), pa.int16()),
         pa.array(np.concatenate(es or [np.zeros(0, np.float32)]), pa.float32())],
        fields=list(PIXEL))
    pixel_lists = pa.ListArray.from_arrays(
        pa.array(np.concatenate(offsets).astype(np.int32), pa.int32()), pixels)
    arrays = []
    for f in TRUTH_SCHEMA:
        if f.name == "pixels":
            arrays.append(pixel_lists.cast(f.type))
        else:
            values = np.concatenate(cols[f.name]) if cols[f.name] else np.zeros(0)
            arrays.append(pa.array(values, f.type))
    return pa.Table.from_arrays(arrays, schema=TRUTH_SCHEMA)


def exposures_table(exposures: list[dict]) -> pa.Table:
    """Exposure-level truth, one row per chip of every dark."""
    rows = []
    for exp in exposures:
        for chip in exp["chips"]:
            rows.append({
                "dataset": exp["dataset"], "instrument": exp["instrument"],
                "chip": chip["chip"], "chip_index": chip["chip_index"], "group": exp["group"],
                "seed": exp["seed"],
                "date_obs": dt.datetime.fromisoformat(exp["date_obs"]),
                "exptime_s": exp["exptime_s"], "integration_time_s": exp["integration_time_s"],
                "cr_rate_per_s_cm2": exp["cr_rate_per_s_cm2"], "area_cm2": chip["area_cm2"],
                "n_cr": chip["n_cr"], "n_hot": chip["n_hot"],
                "n_unflagged_hot": chip["n_unflagged_hot"],
                "background_e": chip["background_e"], "read_noise_e": chip["read_noise_e"],
                "gain": exp["gain"], "bunit": exp["bunit"],
            })
    return pa.Table.from_pylist(rows, schema=TRUTH_EXPOSURES_SCHEMA)


def write_truth(path: Path, table: pa.Table, exposures: list[dict]) -> Path:
    """Write the cosmic-ray truth as Parquet with the exposure truth in the schema metadata."""
    meta = dict(table.schema.metadata or {})
    meta[b"hstcr.truth.exposures"] = json.dumps(exposures).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)
    return Path(path)


def read_truth_exposures(path) -> list[dict]:
    """The exposure-level truth stored in a truth Parquet file's metadata."""
    meta = pq.read_schema(path).metadata or {}
    if b"hstcr.truth.exposures" not in meta:
        raise HstcrError("no hstcr.truth.exposures metadata: not a synthetic truth file",
                         source=str(path))
    return json.loads(meta[b"hstcr.truth.exposures"])


# ----------------------------------------------------------------------------------------------
# FITS headers
# ----------------------------------------------------------------------------------------------

def _date_obs(detector: Detector, when: dt.datetime) -> str:
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
        h["CCDAMP"] = (_CCDAMP[detector.id], "CCD amplifier read out (A,B,C,D)")
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
    h["CCDAMP"] = (_CCDAMP[detector.id], "CCD amplifier read out configuration")
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
    return h


def _support_hdus(detector: Detector, dataset: str, facts: dict, elements: dict) -> fits.HDUList:
    suffix = detector.support_suffix
    filename = f"{dataset}_{suffix}.fits"
    primary = fits.PrimaryHDU(header=_primary_header(
        detector, dataset, filename, facts, nextend=len(detector.chips),
        filetype="SHP" if suffix == "shm" else "SPT"))
    for key in ORBIT_KEYWORDS:
        primary.header[key] = (elements[key], _ORBIT_COMMENTS[key])
    hdus = [primary]
    for layout in detector.chips:
        # one unique data log (UDL) per imset, as in the real SPT files (int16 words)
        udl = fits.ImageHDU(np.zeros(965, dtype=np.int16), name="UDL")
        udl.header["EXTVER"] = layout.extver
        udl.header["ROOTNAME"] = dataset
        hdus.append(udl)
    return fits.HDUList(hdus)


_ORBIT_COMMENTS = {
    "EPCHTIME": "epoch of elements (secs since 1/1/85)",
    "MEANANOM": "mean anomaly (radians)",
    "FDMEANAN": "1st derivative of mean anomaly (revs/sec)",
    "SDMEANAN": "2nd derivative of mean anomaly (revs/s/s)",
    "ECCENTRY": "eccentricity",
    "ECCENTX2": "eccentricity times 2",
    "ECBDX3": "eccentricity cubed / 3",
    "ECBDX4D3": "eccentricity**4 / 3",
    "ESQDX5D2": "eccentricity squared times 5 / 2",
    "SEMILREC": "semi-latus rectum (meters)",
    "ARGPERIG": "argument of perigee (revolutions)",
    "RCARGPER": "rate of change of arg. of perigee (revs/sec)",
    "RASCASCN": "RA of ascending node (revolutions)",
    "RCASCNRV": "rate of change of asc. node (revs/sec)",
    "COSINCLI": "cosine of inclination",
    "SINEINCL": "sine of inclination",
    "HSTHORB": "half the HST orbital period (seconds)",
}


# ----------------------------------------------------------------------------------------------
# writers
# ----------------------------------------------------------------------------------------------

def _to_bunit(science_e: np.ndarray, bunit: str, gain: float) -> np.ndarray:
    """Electrons -> the product's unit (float32)."""
    if bunit == "ELECTRONS":
        return science_e.astype(np.float32)
    return (science_e / np.float32(gain)).astype(np.float32)


def _error(science_e: np.ndarray, read_noise_e: float, bunit: str, gain: float) -> np.ndarray:
    err_e = np.sqrt(np.maximum(science_e, 0.0) + np.float32(read_noise_e) ** 2)
    return _to_bunit(err_e.astype(np.float32), bunit, gain)


def simulate_dark(
    detector_id,
    *,
    seed: int,
    dataset: str | None = None,
    exptime_s: float | None = None,
    date=None,
    cr_rate_per_s_cm2: float = 1.2,
    hot_pixel_fraction: float = 0.005,
    unflagged_hot_fraction: float = 0.1,
    flag_cosmic_rays: bool = False,
    fixed_pattern_seed: int | None = None,
    flashdur_s: float | None = None,
    science_suffix: str | None = None,
    bunit: str | None = None,
    shape: tuple[int, int] | None = None,
    n_bad_columns: int = 2,
    group: str | None = None,
) -> SyntheticDark:
    """Simulate one whole dark (every chip, header facts, orbit, truth) without writing files.

    Same parameters as :func:`write_dark` (which calls this, then writes).  The result's
    ``paths`` is empty; :attr:`SyntheticDark.dark` gives the :class:`~hstcr_common.model.dark.Dark`
    the pipeline would load from the files.
    """
    det = detector_id if isinstance(detector_id, Detector) else get_detector(str(detector_id))
    if det.kind != "ccd":
        raise HstcrError(f"{det.name}: synthetic darks here are CCD only (IR ramps are "
                         "simulated elsewhere)")
    seed = int(seed)
    suffix = (science_suffix or det.science_suffixes[0]).lower()
    allowed = {"acs_wfc": ("flt", "flc"), "wfc3_uvis": ("flt", "flc"), "acs_hrc": ("flt",),
               "stis_ccd": ("flt", "crj"), "wfpc2": ("c0m",)}[det.id]
    if suffix not in allowed:
        raise HstcrError(f"{det.name}: cannot write a synthetic {suffix!r} product; "
                         f"choose one of {', '.join(allowed)}")
    bunit = (bunit or det.bunit).upper()
    if bunit not in ("ELECTRONS", "COUNTS"):
        raise HstcrError(f"{det.name}: BUNIT {bunit!r} not supported (ELECTRONS or COUNTS)")
    exptime = float(det.typical_exptime_s if exptime_s is None else exptime_s)
    if exptime <= 0:
        raise HstcrError(f"{det.name}: exposure time must be > 0, got {exptime}")
    flashdur = float(flashdur_s or 0.0)
    if flashdur and not det.flashdur_applies:
        raise HstcrError(f"{det.name}: FLASHDUR does not apply to this detector")
    when = _as_utc(date) if date is not None else default_date(det, seed)
    dataset = (dataset or dataset_name(det.dataset_prefix, [seed, 0x5EED])).lower()
    if len(dataset) != 9:
        raise HstcrError(f"dataset name {dataset!r} must have 9 characters")
    fixed_seed = seed if fixed_pattern_seed is None else int(fixed_pattern_seed)
    gain = float(det.typical_gain)
    integration_s, darktime, rule = integration_time(det, exptime, flashdur)
    expstart = mjd_from_datetime(when)
    expend = expstart + (exptime + flashdur) / 86400.0
    group = group or f"{det.id}:{_CCDAMP.get(det.id, '')}:{exptime:g}:{fixed_seed}"

    rng = np.random.default_rng([seed, 0xC41])
    chips = [
        simulate_chip(det, shape=shape, exposure_s=integration_s, rng=rng,
                      cr_rate_per_s_cm2=cr_rate_per_s_cm2, hot_pixel_fraction=hot_pixel_fraction,
                      unflagged_hot_fraction=unflagged_hot_fraction, n_bad_columns=n_bad_columns,
                      flag_cosmic_rays=flag_cosmic_rays,
                      fixed_pattern_seed=[fixed_seed, index, 0xF1C5],
                      flash_e=flashdur * FLASH_E_PER_S)
        for index in range(det.n_chips)
    ]
    facts = {
        # processing date a day after the observation keeps the files deterministic
        "written": (when + dt.timedelta(days=1)).date().isoformat(), "gain": gain,
        "exptime": exptime, "darktime": darktime, "flashdur": flashdur,
        "expstart": expstart, "expend": expend,
        "date_obs_text": _date_obs(det, when), "time_obs": when.strftime("%H:%M:%S"),
        # a smaller test frame is honestly labelled a subarray (the loader refuses those)
        "subarray": tuple(chips[0].shape) != tuple(det.chip_shape),
        "science_suffix": suffix, "bunit": bunit,
    }
    elements = orbital_elements(expstart, np.random.default_rng([seed, 0x0B17]))
    exposure = {
        "dataset": dataset, "instrument": det.id, "seed": seed,
        "fixed_pattern_seed": fixed_seed, "group": group,
        "date_obs": when.isoformat(), "expstart_mjd": expstart, "expend_mjd": expend,
        "exptime_s": exptime, "darktime_s": darktime, "flashdur_s": flashdur,
        "integration_time_s": integration_s, "integration_rule": rule,
        "cr_rate_per_s_cm2": float(cr_rate_per_s_cm2), "gain": gain, "bunit": bunit,
        "science_suffix": suffix, "flag_cosmic_rays": bool(flag_cosmic_rays),
        "area_cm2": float(sum(c.area_cm2 for c in chips)),
        "n_cr": int(sum(len(c.cosmic_rays) for c in chips)),
        "chips": [
            {"chip": layout.name, "chip_index": i, "ccdchip": layout.ccdchip,
             "n_cr": len(c.cosmic_rays), "area_cm2": c.area_cm2,
             "n_hot": int(c.hot_pixels.sum()), "n_unflagged_hot": int(
                 c.unflagged_hot_pixels.sum()),
             "bad_columns": [int(x) for x in c.bad_columns],
             "background_e": c.background_e, "read_noise_e": c.read_noise_e}
            for i, (layout, c) in enumerate(zip(det.chips, chips))
        ],
        "orbital_elements": elements,
    }
    return SyntheticDark(dataset=dataset, detector=det, paths={},
                         truth=truth_table(dataset, det, chips), chips=chips, exposure=exposure,
                         facts=facts)


def write_files(synthetic: SyntheticDark, out_dir) -> dict[str, Path]:
    """Write a simulated dark's FITS files into ``out_dir``; fills and returns its ``paths``."""
    det, dataset, facts = synthetic.detector, synthetic.dataset, synthetic.facts
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"science": out_dir / f"{dataset}_{facts['science_suffix']}.fits",
             "support": out_dir / f"{dataset}_{det.support_suffix}.fits"}
    if det.layout == "wfpc2":
        paths["dq"] = out_dir / f"{dataset}_{det.dq_suffix}.fits"
        _write_wfpc2(det, dataset, synthetic.chips, facts, facts["bunit"], paths)
    else:
        _write_imsets(det, dataset, synthetic.chips, facts, facts["bunit"], paths["science"])
    _support_hdus(det, dataset, facts, synthetic.exposure["orbital_elements"]).writeto(
        paths["support"], overwrite=True)
    synthetic.paths = paths
    return paths


def write_dark(
    detector_id,
    out_dir,
    *,
    seed: int,
    dataset: str | None = None,
    exptime_s: float | None = None,
    date=None,
    cr_rate_per_s_cm2: float = 1.2,
    hot_pixel_fraction: float = 0.005,
    unflagged_hot_fraction: float = 0.1,
    flag_cosmic_rays: bool = False,
    fixed_pattern_seed: int | None = None,
    flashdur_s: float | None = None,
    science_suffix: str | None = None,
    bunit: str | None = None,
    shape: tuple[int, int] | None = None,
    n_bad_columns: int = 2,
    group: str | None = None,
) -> SyntheticDark:
    """Simulate one dark and write it as MAST-shaped FITS files in ``out_dir``.

    Parameters
    ----------
    detector_id : str or Detector
        A CCD detector (IR raises :class:`HstcrError`).
    out_dir : path
        Created if missing; files are ``<dataset>_<suffix>.fits``.
    seed : int
        Seed of everything random in this dark (dataset name, date, cosmic rays, noise).
    dataset : str, optional
        Rootname; default derived from the seed.
    exptime_s : float, optional
        EXPTIME (s); default the detector's typical dark exposure.
    date : datetime, date or ISO string, optional
        DATE-OBS/TIME-OBS (UTC); default a seed-derived time in the last active period.
    cr_rate_per_s_cm2, hot_pixel_fraction, unflagged_hot_fraction, flag_cosmic_rays :
        Passed to :func:`simulate_chip`.
    fixed_pattern_seed : int, optional
        Seed of the hot pixels/bad columns (chip ``i`` uses ``(fixed_pattern_seed, i)``);
        default ``seed`` (each dark its own pattern).
    flashdur_s : float, optional
        FLASHDUR (s) for post-flashed detectors (ACS/WFC, WFC3/UVIS); the flash adds ~1 e-
        per second of flash to every pixel.  Default 0.
    science_suffix : str, optional
        ``flt`` (default) / ``flc`` (ACS, WFC3), ``flt``/``crj`` (STIS), ``c0m`` (WFPC2).
    bunit : str, optional
        ``ELECTRONS`` or ``COUNTS``; default the detector's product unit.
    shape : (ny, nx), optional
        Chip shape (a smaller frame for quick tests; real products are full frame).
    n_bad_columns : int
        Bad columns per chip.
    group : str, optional
        Stack group label recorded in the truth/manifest; default from the set-up.

    Returns
    -------
    SyntheticDark
    """
    synthetic = simulate_dark(
        detector_id, seed=seed, dataset=dataset, exptime_s=exptime_s, date=date,
        cr_rate_per_s_cm2=cr_rate_per_s_cm2, hot_pixel_fraction=hot_pixel_fraction,
        unflagged_hot_fraction=unflagged_hot_fraction, flag_cosmic_rays=flag_cosmic_rays,
        fixed_pattern_seed=fixed_pattern_seed, flashdur_s=flashdur_s,
        science_suffix=science_suffix, bunit=bunit, shape=shape, n_bad_columns=n_bad_columns,
        group=group)
    write_files(synthetic, out_dir)
    return synthetic


#: post-flash electrons per second of FLASHDUR (the MED current gives ~tens of e- in a few s)
FLASH_E_PER_S = 1.0


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


def _month_start(when: dt.datetime) -> dt.datetime:
    return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def write_sample(detector_id, n: int, out_dir, seed: int = 0, *, start=None,
                 same_fixed_pattern: bool = True, **kwargs) -> list[SyntheticDark]:
    """Write ``n`` darks of one detector taken within one month, plus their truth.

    The darks share one set-up (exposure time, amplifiers) and, by default, one hot-pixel
    pattern (``fixed_pattern_seed = seed``), so they form one group for the ``stack`` method.

    Parameters
    ----------
    detector_id : str or Detector
    n : int
        Number of darks (>= 1).
    out_dir : path
    seed : int
        Seed of the sample; dark ``i`` uses seed ``seed * 100003 + i``.
    start : datetime, date or ISO string, optional
        First observation; default 01:00 on the 1st of a seed-derived month in the detector's
        active period.  The darks are spread over the following days up to 27 days, never past
        the end of that month.
    same_fixed_pattern : bool
        Share one hot-pixel pattern across the darks (default True).
    **kwargs
        Passed to :func:`write_dark` (exptime_s, cr_rate_per_s_cm2, flag_cosmic_rays, shape ...).

    Returns
    -------
    list of SyntheticDark
        Also written: ``truth.parquet`` (every injected cosmic ray, exposure truth in the
        metadata), ``truth_exposures.parquet`` and ``manifest.jsonl`` in ``out_dir``.
    """
    det = detector_id if isinstance(detector_id, Detector) else get_detector(str(detector_id))
    if n < 1:
        raise HstcrError(f"need at least one dark, got n={n}")
    seed = int(seed)
    first = _as_utc(start) if start is not None else default_date(det, seed)
    rng = np.random.default_rng([seed, 0x5A3])
    if start is None:
        first = _month_start(first) + dt.timedelta(hours=1)
    # spread over at most 27 days and never past the end of the first dark's month
    next_month = (_month_start(first) + dt.timedelta(days=32)).replace(day=1)
    span_s = min(27 * 86400.0, (next_month - first).total_seconds() - 3600.0)
    # whole seconds, so DATE-OBS + TIME-OBS give the observation time exactly
    offsets_s = np.sort(np.floor(rng.uniform(0.0, max(span_s, 0.0) if n > 1 else 0.0, n)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if same_fixed_pattern:
        kwargs.setdefault("fixed_pattern_seed", seed)
    given_name = kwargs.pop("dataset", None)
    if given_name is not None and n != 1:
        raise HstcrError("a dataset name can only be given for a sample of one dark")
    darks, names = [], set()
    for i in range(n):
        dark_seed = seed * 100003 + i
        name = given_name
        k = 0
        while name is None or name in names:    # keep rootnames unique within the sample
            name = dataset_name(det.dataset_prefix, [dark_seed, 0x5EED, k])
            k += 1
        names.add(name)
        when = first + dt.timedelta(seconds=float(offsets_s[i]))
        if det.kind == "ir":    # MULTIACCUM ramps: an ima + spt pair with the same interface
            from .ir import write_ir_dark
            darks.append(write_ir_dark(det, out_dir, seed=dark_seed, dataset=name, date=when,
                                       **kwargs))
        else:
            darks.append(write_dark(det, out_dir, seed=dark_seed, dataset=name, date=when,
                                    **kwargs))
    exposures = [d.exposure for d in darks]
    write_truth(out_dir / "truth.parquet", pa.concat_tables([d.truth for d in darks]), exposures)
    pq.write_table(exposures_table(exposures), out_dir / "truth_exposures.parquet")
    with open(out_dir / "manifest.jsonl", "w") as fh:
        for d in darks:
            fh.write(json.dumps(d.manifest_item) + "\n")
    return darks
