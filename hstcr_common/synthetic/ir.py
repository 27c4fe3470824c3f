"""Synthetic infrared darks (WFC3/IR, NICMOS) written as MAST's ``ima`` + ``spt`` files.

:func:`write_ir_dark` simulates one MULTIACCUM ramp (:mod:`.ramp`) and writes it the way
the archive serves it:

* one imset (SCI, ERR, DQ, SAMP, TIME) per read, **last read first** (EXTVER 1 = the final
  read, EXTVER NSAMP = the zeroth read);
* WFC3/IR: 1024x1024 arrays whose outer 5 pixels are reference pixels (no dark current, no
  cosmic rays), SCI in ELECTRONS/S (gain applied, as after calwf3's FLATCORR/UNITCORR);
  NICMOS: 256x256, SCI in COUNTS/S (ADU, gain ADCGAIN not applied);
* a rate unit is the read's accumulated signal divided by its SAMPTIME; the zeroth read
  (SAMPTIME 0) holds the accumulated signal itself (no division by zero);
* TIME and SAMP are constant-valued extensions (NPIX1/NPIX2/PIXVALUE, no data array), as
  calwf3 writes them; DQ and ERR are full arrays;
* an ``spt`` support file with a realistic orbital element set (:mod:`.support`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from astropy.io import fits

from ..model import MJD_EPOCH, REFERENCE_CR_RATE_S_CM2, SECONDS_PER_DAY, HstcrError
from ..instruments import Detector, get_detector
from .exposure import drawn_dataset_name, manifest_item
from .overrides import with_overrides
from .ramp import RampSimulation, default_read_times, simulate_detector_ramp
from .support import add_orbital_elements, orbital_elements
from .truth import ramp_truth_table

#: SCI units an ima can be written in
_UNITS = ("ELECTRONS/S", "ELECTRONS", "COUNTS/S", "COUNTS")


@dataclass(frozen=True)
class IrDarkSpec:
    """A synthetic IR dark to make: its MULTIACCUM set-up and sky (seeds and names apart).

    Attributes
    ----------
    n_reads : int
        Reads including the zeroth (NSAMP).
    read_times_s : array, optional
        Read times (s); None: :func:`~.ramp.default_read_times`.
    exptime_s : float, optional
        Stretch the default read times so the last read is at this time (EXPTIME).
    date : datetime, date or ISO string, optional
        Exposure start (UTC, whole seconds); None: 2015-06-15 03:20:11.
    cr_rate_per_s_cm2 : float
        Injected cosmic-ray flux (CR/s/cm2); default
        :data:`~hstcr_common.model.constants.REFERENCE_CR_RATE_S_CM2`.
    bunit : str, optional
        SCI unit: ``ELECTRONS/S``, ``ELECTRONS``, ``COUNTS/S`` or ``COUNTS`` (None:
        ELECTRONS/S for WFC3/IR, COUNTS/S for NICMOS).
    gain : float, optional
        e-/ADU written to the gain keywords (None: the table's typical gain).
    flag_cosmic_rays : bool
        Set the detector's CR bit in the read DQs from each cosmic ray's read on.
    flashdur_s : float, optional
        Accepted for the CCD generator's interface; IR darks have no post-flash (must be
        None or 0).
    """

    n_reads: int = 16
    read_times_s: np.ndarray | None = None
    exptime_s: float | None = None
    date: dt.datetime | dt.date | str | None = None
    cr_rate_per_s_cm2: float = REFERENCE_CR_RATE_S_CM2
    bunit: str | None = None
    gain: float | None = None
    flag_cosmic_rays: bool = False
    flashdur_s: float | None = None


@dataclass
class IrDarkFiles:
    """What :func:`write_ir_dark` wrote (the same interface as the CCD ``SyntheticDark``).

    Attributes
    ----------
    dataset : str
    detector : Detector
    paths : dict
        Role -> path: ``science`` (the ima), ``support`` (the spt).
    truth : pyarrow.Table
        One row per injected cosmic ray (:func:`~.truth.ramp_truth_table`): the CCD truth
        columns (dataset, instrument, chip, chip_index, cr_id, energy_e, n_pixels, x0, y0, x1,
        y1, pixels) plus ``read_index`` and ``arrival_time_s``.  Pixels are in the chip frame
        (reference pixels excluded).
    exposure : dict
        Exposure-level truth (JSON-serialisable), with the keys of the CCD generator's.
    simulation : RampSimulation
        The arrays behind the files.
    """

    dataset: str
    detector: Detector
    paths: dict
    truth: pa.Table
    exposure: dict
    simulation: RampSimulation

    @property
    def manifest_item(self) -> dict:
        """The dark as a manifest work item (see DESIGN.md)."""
        return manifest_item(self)


def _as_datetime(date) -> dt.datetime:
    if date is None:
        return dt.datetime(2015, 6, 15, 3, 20, 11, tzinfo=dt.timezone.utc)
    if isinstance(date, str):
        date = dt.datetime.fromisoformat(date)
    if isinstance(date, dt.datetime):
        when = date if date.tzinfo else date.replace(tzinfo=dt.timezone.utc)
        return when.replace(microsecond=0)          # DATE-OBS + TIME-OBS carry whole seconds
    return dt.datetime(date.year, date.month, date.day, 3, 20, 11, tzinfo=dt.timezone.utc)


def _mjd(when: dt.datetime) -> float:
    # by timedelta from the MJD epoch, not the CCD generator's Unix-timestamp route
    # (exposure.mjd_from_datetime): the two differ in the last bit, and existing seeds must
    # keep writing the same EXPSTART.
    return (when - MJD_EPOCH).total_seconds() / SECONDS_PER_DAY


def write_ir_dark(detector_id, out_dir, spec: IrDarkSpec | None = None, *, seed: int = 0,
                  dataset: str | None = None, fixed_pattern_seed: int | None = None,
                  **overrides) -> IrDarkFiles:
    """Write a synthetic IR dark as ``<dataset>_ima.fits`` + ``<dataset>_spt.fits``.

    Parameters
    ----------
    detector_id : str or Detector
        ``wfc3_ir``, ``nicmos_nic1``, ``nicmos_nic2`` or ``nicmos_nic3``.
    out_dir : path
        Created if needed.
    spec : IrDarkSpec, optional
        What to make; default :class:`IrDarkSpec` ().
    seed : int
        Everything (pixels, cosmic rays, dataset name, orbit epoch) follows from it.
    dataset : str, optional
        Rootname (default: the detector's prefix + 8 characters drawn from ``seed``).
    fixed_pattern_seed : int, optional
        Seed of the hot/defective pixel pattern (shared by darks of one sample).
    **overrides
        Fields of :class:`IrDarkSpec` (``n_reads=``, ``date=`` ...) or, for the simulation,
        of :class:`~.ramp.RampSpec` (``hot_pixel_fraction=``, ``n_cosmic_rays=`` ...); an
        unknown name is a TypeError.

    Returns
    -------
    IrDarkFiles
    """
    own = {f.name for f in dataclasses.fields(IrDarkSpec)}
    spec = with_overrides(spec or IrDarkSpec(), {k: v for k, v in overrides.items() if k in own})
    ramp_overrides = {k: v for k, v in overrides.items() if k not in own}
    det = detector_id if isinstance(detector_id, Detector) else get_detector(str(detector_id))
    if det.kind != "ir":
        raise HstcrError(f"{det.id} is not an infrared (ramp) detector; "
                         f"IR detectors: wfc3_ir, nicmos_nic1..3")
    if spec.flashdur_s:
        raise HstcrError(f"{det.name} darks have no post-flash (FLASHDUR {spec.flashdur_s} s)")
    rng = np.random.default_rng(seed)
    dataset = (dataset or drawn_dataset_name(det.dataset_prefix,
                                             np.random.default_rng([seed, 1]))).lower()
    start = _as_datetime(spec.date)
    sim = simulate_detector_ramp(det, seed=rng, read_times_s=_read_times(det, spec),
                                 pattern_seed=fixed_pattern_seed,
                                 cr_rate_per_s_cm2=spec.cr_rate_per_s_cm2,
                                 dq_cosmic_ray=det.cr_bit if spec.flag_cosmic_rays else 0,
                                 **ramp_overrides)
    gain = float(spec.gain if spec.gain is not None else det.typical_gain)
    unit = (spec.bunit or ("ELECTRONS/S" if det.instrume == "WFC3" else "COUNTS/S")).upper()
    if unit not in _UNITS:
        raise HstcrError(f"unsupported BUNIT {unit!r} for a synthetic ima")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"science": out_dir / f"{dataset}_ima.fits",
             "support": out_dir / f"{dataset}_spt.fits"}
    times = sim.read_times_s
    exptime = float(times[-1] - times[0])
    expstart = _mjd(start)
    expend = expstart + exptime / SECONDS_PER_DAY
    samp_seq = "SPARS100" if det.instrume == "WFC3" else "SPARS64"
    primary = _primary_header(det, dataset, start, expstart, expend, exptime, times.size, gain,
                              sim.read_noise_e, paths["science"].name, samp_seq)
    _write_ima(paths["science"], primary, det, sim, unit, gain, expstart,
               np.random.default_rng([seed, 2]))
    elements = _write_spt(paths["support"], det, dataset, expstart, exptime, rng)
    exposure = _exposure_truth(det, spec, sim, dataset=dataset, seed=seed,
                               fixed_pattern_seed=fixed_pattern_seed, samp_seq=samp_seq,
                               start=start, expstart=expstart, expend=expend, gain=gain,
                               unit=unit, elements=elements)
    return IrDarkFiles(dataset=dataset, detector=det, paths=paths,
                       truth=ramp_truth_table(dataset, det, sim.truth), exposure=exposure,
                       simulation=sim)


def _read_times(det: Detector, spec: IrDarkSpec) -> np.ndarray:
    """The spec's read times, or the detector's default stretched to ``exptime_s``."""
    if spec.read_times_s is not None:
        return np.asarray(spec.read_times_s, float)
    times = default_read_times(det, spec.n_reads)
    if spec.exptime_s is not None:
        if spec.exptime_s <= 0:
            raise HstcrError(f"EXPTIME must be positive, got {spec.exptime_s}")
        times = times * (float(spec.exptime_s) / times[-1])
    return np.asarray(times, float)


def _write_ima(path: Path, primary: fits.Header, det: Detector, sim: RampSimulation,
               unit: str, gain: float, expstart: float, ref_rng: np.random.Generator) -> None:
    """The ima: one (SCI, ERR, DQ, SAMP, TIME) imset per read, last read first."""
    times = sim.read_times_s
    n_reads = times.size
    border = det.reference_border_px
    ny, nx = det.chip_shape
    full = (ny + 2 * border, nx + 2 * border)
    inner = (slice(border, border + ny), slice(border, border + nx))
    hdus = [fits.PrimaryHDU(header=primary)]
    for extver in range(1, n_reads + 1):
        k = n_reads - extver                                   # read index, zeroth first
        t = float(times[k])
        # reference pixels: read noise only (they see neither dark current nor particles)
        electrons = ref_rng.standard_normal(full, dtype=np.float32) * np.float32(sim.read_noise_e)
        electrons[inner] = sim.reads[k]
        err = np.sqrt(np.float32(sim.read_noise_e ** 2) + np.maximum(electrons, 0))
        scale = 1.0
        if unit.startswith("COUNTS"):
            scale /= gain
        if unit.endswith("/S") and t > 0:
            scale /= t
        sci = (electrons * np.float32(scale)).astype(np.float32)
        err = (err * np.float32(scale)).astype(np.float32)
        dq = np.zeros(full, dtype=np.int16)
        dq[inner] = sim.read_dq[k]
        sci_hdr = fits.Header([("BUNIT", unit, "brightness units"),
                               ("SAMPNUM", k, "MULTIACCUM sample number"),
                               ("SAMPTIME", t, "total integration time (sec)"),
                               ("DELTATIM", float(t - times[k - 1]) if k else 0.0,
                                "sample integration time (sec)"),
                               ("ROUTTIME", expstart + t / SECONDS_PER_DAY,
                                "UT time of readout (MJD)")])
        hdus.append(fits.ImageHDU(sci, header=sci_hdr, name="SCI", ver=extver))
        hdus.append(fits.ImageHDU(err, header=fits.Header([("BUNIT", unit)]), name="ERR",
                                  ver=extver))
        hdus.append(fits.ImageHDU(dq, name="DQ", ver=extver))
        hdus.append(_constant_hdu("SAMP", extver, full, 1, "SAMPLES"))
        hdus.append(_constant_hdu("TIME", extver, full, t, "SECONDS"))
    fits.HDUList(hdus).writeto(path, overwrite=True)


def _exposure_truth(det: Detector, spec: IrDarkSpec, sim: RampSimulation, *, dataset: str,
                    seed: int, fixed_pattern_seed, samp_seq: str, start: dt.datetime,
                    expstart: float, expend: float, gain: float, unit: str,
                    elements: dict) -> dict:
    """The exposure-level truth, with the keys of the CCD generator's."""
    times = sim.read_times_s
    n_reads = int(times.size)
    exptime = float(times[-1] - times[0])
    n_cr = len(sim.truth)
    area = float(det.chip_area_cm2)
    n_hot = int((sim.dark_rate_e_per_s > 10 * det.dark_current_e_per_s).sum())
    return {
        "dataset": dataset, "instrument": det.id, "seed": int(seed),
        "fixed_pattern_seed": fixed_pattern_seed,
        "group": f"{det.id}:{samp_seq}:{n_reads}:{exptime:g}",
        "date_obs": start.isoformat(), "expstart_mjd": expstart, "expend_mjd": expend,
        "exptime_s": exptime, "darktime_s": None, "flashdur_s": 0.0,
        # cosmic rays are injected between the zeroth and the last read: the ramp's span
        "integration_time_s": exptime, "integration_rule": "last read - zeroth read",
        "cr_rate_per_s_cm2": float(spec.cr_rate_per_s_cm2), "gain": gain, "bunit": unit,
        "science_suffix": "ima", "flag_cosmic_rays": bool(spec.flag_cosmic_rays),
        "n_reads": n_reads, "read_times_s": [float(x) for x in times],
        "area_cm2": area, "n_cr": n_cr,
        # IR pixels have no DQ flag for hot pixels, so every hot one is "unflagged"
        "chips": [{"chip": det.chips[0].name, "chip_index": 0,
                   "ccdchip": det.chips[0].ccdchip, "n_cr": n_cr, "area_cm2": area,
                   "n_hot": n_hot, "n_unflagged_hot": n_hot,
                   "n_defective": int(sim.defective.sum()), "bad_columns": [],
                   "background_e": float(det.dark_current_e_per_s * exptime),
                   "read_noise_e": float(sim.read_noise_e)}],
        "orbital_elements": elements,
    }


def _constant_hdu(name: str, extver: int, shape, value, unit: str) -> fits.ImageHDU:
    """An extension with no data array whose every pixel is PIXVALUE (HST's compact form)."""
    hdu = fits.ImageHDU(name=name, ver=extver)
    hdu.header["BUNIT"] = unit
    hdu.header["NPIX1"] = (shape[1], "length of constant array axis 1")
    hdu.header["NPIX2"] = (shape[0], "length of constant array axis 2")
    hdu.header["PIXVALUE"] = (value, "values of pixels in constant array")
    return hdu


def _primary_header(det: Detector, dataset: str, start: dt.datetime, expstart: float,
                    expend: float, exptime: float, n_reads: int, gain: float,
                    read_noise_e: float, filename: str, samp_seq: str) -> fits.Header:
    h = fits.Header()
    h["FILENAME"] = filename
    h["FILETYPE"] = "SCI"
    h["TELESCOP"] = "HST"
    h["INSTRUME"] = det.instrume
    h["ROOTNAME"] = dataset
    h["IMAGETYP"] = "DARK"
    h["TARGNAME"] = "DARK"
    h["OBSTYPE"] = "IMAGING"
    h["OBSMODE"] = "MULTIACCUM"
    h["DATE-OBS"] = start.strftime("%Y-%m-%d")
    h["TIME-OBS"] = start.strftime("%H:%M:%S")
    h["EXPSTART"] = (expstart, "exposure start time (Modified Julian Date)")
    h["EXPEND"] = (expend, "exposure end time (Modified Julian Date)")
    h["EXPTIME"] = (exptime, "exposure duration (seconds)--calculated")
    h["NSAMP"] = (n_reads, "number of MULTIACCUM samples")
    h["SAMP_SEQ"] = (samp_seq, "MULTIACCUM exposure time sequence name")
    h["SYNTHETC"] = (True, "synthetic dark made by hstcr")
    if det.instrume == "WFC3":
        h["DETECTOR"] = "IR"
        h["APERTURE"] = "IR"
        h["SUBARRAY"] = False
        h["CCDGAIN"] = (2.5, "commanded gain of CCD")
        for amp in "ABCD":
            h[f"ATODGN{amp}"] = (gain, f"calibrated gain for amplifier {amp}")
        for amp in "ABCD":
            h[f"READNSE{amp}"] = (read_noise_e, f"calibrated read noise for amplifier {amp}")
        for step in ("ZSIGCORR", "ZOFFCORR", "UNITCORR", "FLATCORR"):
            h[step] = "COMPLETE"
    else:
        h["CAMERA"] = (int(det.detector), "NICMOS camera number")
        h["APERTURE"] = f"NIC{det.detector}"
        h["ADCGAIN"] = (gain, "A-to-D gain (e/DN)")
    return h


def _write_spt(path: Path, det: Detector, dataset: str, expstart: float, exptime: float,
               rng: np.random.Generator) -> dict:
    """Support file: a real element set whose epoch is moved within a day before EXPSTART
    (:func:`~.support.orbital_elements`).  Returns the element set written."""
    h = fits.Header()
    h["FILENAME"] = path.name
    h["FILETYPE"] = "SPT"
    h["TELESCOP"] = "HST"
    h["INSTRUME"] = det.instrume
    h["ROOTNAME"] = dataset
    h["SYNTHETC"] = (True, "synthetic support file made by hstcr")
    h["EXPSTART"] = expstart
    h["EXPTIME"] = exptime
    elements = orbital_elements(expstart, rng)
    add_orbital_elements(h, elements)
    fits.HDUList([fits.PrimaryHDU(header=h)]).writeto(path, overwrite=True)
    return elements
