"""Synthetic infrared darks (WFC3/IR, NICMOS) with known cosmic rays, shaped like MAST's ``ima``.

:func:`simulate_ramp` is the pure simulation: the cumulative reads of one MULTIACCUM ramp in
electrons, the DQ of every read and the truth of every injected cosmic ray (the read where
it arrived and its pixels).  :func:`write_ir_dark` writes it as an ``ima`` file (plus an
``spt`` support file with a realistic orbital element set) the way the archive serves them:

* one imset (SCI, ERR, DQ, SAMP, TIME) per read, **last read first** (EXTVER 1 = the final
  read, EXTVER NSAMP = the zeroth read);
* WFC3/IR: 1024x1024 arrays whose outer 5 pixels are reference pixels (no dark current, no
  cosmic rays), SCI in ELECTRONS/S (gain applied, as after calwf3's FLATCORR/UNITCORR);
  NICMOS: 256x256, SCI in COUNTS/S (ADU, gain ADCGAIN not applied);
* a rate unit is the read's accumulated signal divided by its SAMPTIME; the zeroth read
  (SAMPTIME 0) holds the accumulated signal itself (no division by zero);
* TIME and SAMP are constant-valued extensions (NPIX1/NPIX2/PIXVALUE, no data array), as
  calwf3 writes them; DQ and ERR are full arrays.

Model of one ramp (per pixel): dark current ``rate`` e-/s accumulates as Poisson increments
between reads; hot pixels have a much higher rate (some saturate, flagged from the read where
they cross full well); a few defective pixels are flagged in every read and random-walk;
cosmic rays arrive uniformly in time between the zeroth and the last read (earlier ones
would be part of the zeroth read and invisible) and add their charge to every read from the
one after their arrival; each read adds Gaussian read noise.

Cosmic-ray morphology (HgCdTe has no thick silicon path model): a short straight track of
``L`` pixels (exponential, mean :data:`MEAN_TRACK_PX`) in a random direction, its charge
spread over :data:`TRACK_STEPS` points with Gaussian charge diffusion, binned to pixels.  The
total charge is log-normal (median :data:`ENERGY_MEDIAN_E`).  Pixels receiving less than
:data:`MIN_PIXEL_E` are dropped (and their charge with them) so the truth lists only pixels
that carry charge.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from astropy.io import fits

from ..model import HstcrError
from ..instruments import Detector, get_detector
from ..lake import PIXEL

#: median total charge of one cosmic ray (e-) and log-normal sigma (natural log)
ENERGY_MEDIAN_E = 2000.0
ENERGY_SIGMA_LN = 0.9
#: mean track length (pixels), upper cut, sub-steps along a track, diffusion sigma (pixels)
MEAN_TRACK_PX = 1.2
MAX_TRACK_PX = 8.0
TRACK_STEPS = 24
DIFFUSION_SIGMA_PX = 0.3
#: pixels with less charge than this are not part of a cosmic ray (e-)
MIN_PIXEL_E = 5.0

#: saturation level used by the simulation (e-), per instrument; WFC3/IR full well ~ 78 ke-
#: [WFC3-IHB 5.7], NICMOS ~ 200 ke- (order of magnitude)
SATURATION_E = {"WFC3": 78000.0, "NICMOS": 200000.0}
#: DQ bits written by the simulation: (defective pixel, saturated) [wf3dq.h, calnic.h]
DQ_BITS = {"WFC3": (4, 256), "NICMOS": (32, 64)}



@dataclass
class RampTruth:
    """Injected cosmic rays of one ramp, column-oriented (pixels flat with offsets)."""

    read_index: np.ndarray      # int16: first read that contains the charge (1..nreads-1)
    arrival_time_s: np.ndarray  # float64: since the zeroth read
    energy_e: np.ndarray        # float32: total charge (e-)
    n_pixels: np.ndarray        # int32
    pixel_offsets: np.ndarray   # int64, n + 1
    pixel_x: np.ndarray         # int16, chip frame (reference pixels excluded)
    pixel_y: np.ndarray         # int16
    pixel_e: np.ndarray         # float32
    ends: np.ndarray | None = None  # float32 (n, 4): track end points x0, y0, x1, y1

    def __len__(self) -> int:
        return int(self.energy_e.shape[0])

    def peak_e(self) -> np.ndarray:
        """Brightest pixel of each cosmic ray (e-)."""
        if len(self) == 0:
            return np.zeros(0, np.float32)
        return np.maximum.reduceat(self.pixel_e, self.pixel_offsets[:-1]).astype(np.float32)


@dataclass
class RampSimulation:
    """Output of :func:`simulate_ramp`.

    Attributes
    ----------
    reads : ndarray, float32, (nreads, ny, nx)
        Cumulative reads (e-), zeroth read first.
    read_dq : ndarray, int16, (nreads, ny, nx)
        DQ of every read (defective pixels, saturation from the read it happens).
    read_times_s : ndarray, float64, (nreads,)
    dark_rate_e_per_s : ndarray, float32, (ny, nx)
        True accumulation rate of every pixel (dark current, hot pixels).
    defective : ndarray of bool, (ny, nx)
    truth : RampTruth
    read_noise_e : float
    """

    reads: np.ndarray
    read_dq: np.ndarray
    read_times_s: np.ndarray
    dark_rate_e_per_s: np.ndarray
    defective: np.ndarray
    truth: RampTruth
    read_noise_e: float


def default_read_times(detector: Detector, n_reads: int) -> np.ndarray:
    """Read times (s) of a dark-like MULTIACCUM sequence with ``n_reads`` reads.

    WFC3/IR: SPARS100 (0, 2.932, then every 100 s: 16 reads end at 1402.93 s, EXPTIME of the
    instrument table).  NICMOS: 0, 0.203 s (the shortest read interval), then evenly spaced
    up to the table's typical exposure time.
    """
    if n_reads < 2:
        raise ValueError("a ramp needs at least 2 reads")
    if detector.instrume == "WFC3":
        first, step = 2.932, 100.0
        return np.concatenate([[0.0], first + step * np.arange(n_reads - 1)])
    first = 0.203
    if n_reads == 2:
        return np.array([0.0, detector.typical_exptime_s])
    return np.concatenate([[0.0], np.linspace(first, detector.typical_exptime_s, n_reads - 1)])


def simulate_cosmic_ray_pixels(n: int, shape: tuple[int, int], rng: np.random.Generator, *,
                               energy_median_e: float = ENERGY_MEDIAN_E,
                               energy_sigma_ln: float = ENERGY_SIGMA_LN,
                               mean_track_px: float = MEAN_TRACK_PX,
                               diffusion_sigma_px: float = DIFFUSION_SIGMA_PX,
                               min_pixel_e: float = MIN_PIXEL_E):
    """Pixels of ``n`` cosmic rays (vectorised over all of them).

    Returns
    -------
    cr, y, x, e : ndarrays
        For every (cosmic ray, pixel) pair, sorted by cosmic ray then raster order: cosmic
        ray index 0..n-1, pixel row/column in ``shape``, charge (e-).
    ends : ndarray, float32, (n, 4)
        Track end points ``x0, y0, x1, y1`` (pixels) of every cosmic ray.
    """
    ny, nx = shape
    energy = energy_median_e * np.exp(energy_sigma_ln * rng.standard_normal(n))
    length = np.minimum(rng.exponential(mean_track_px, n), MAX_TRACK_PX)
    phi = rng.uniform(0.0, np.pi, n)
    cx = rng.uniform(0.0, nx, n)
    cy = rng.uniform(0.0, ny, n)
    s = (np.arange(TRACK_STEPS) + 0.5) / TRACK_STEPS - 0.5          # -0.5..0.5 along track
    px = cx[:, None] + s[None] * (length * np.cos(phi))[:, None]
    py = cy[:, None] + s[None] * (length * np.sin(phi))[:, None]
    px = px + diffusion_sigma_px * rng.standard_normal(px.shape)
    py = py + diffusion_sigma_px * rng.standard_normal(py.shape)
    ix = np.floor(px).astype(np.int64).ravel()
    iy = np.floor(py).astype(np.int64).ravel()
    cr = np.repeat(np.arange(n), TRACK_STEPS)
    q = np.repeat(energy / TRACK_STEPS, TRACK_STEPS)
    inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    key = (cr[inside] * ny + iy[inside]) * nx + ix[inside]
    uniq, inverse = np.unique(key, return_inverse=True)
    e = np.bincount(inverse.ravel(), weights=q[inside]).astype(np.float64)
    keep = e >= min_pixel_e
    uniq, e = uniq[keep], e[keep]
    cr_u, rest = np.divmod(uniq, ny * nx)
    y_u, x_u = np.divmod(rest, nx)
    half_x, half_y = 0.5 * length * np.cos(phi), 0.5 * length * np.sin(phi)
    ends = np.stack([cx - half_x, cy - half_y, cx + half_x, cy + half_y], -1).astype(np.float32)
    return cr_u, y_u, x_u, e, ends


def simulate_ramp(shape: tuple[int, int], read_times_s: np.ndarray, *, seed=0,
                  read_noise_e: float = 15.0, dark_current_e_per_s: float = 0.05,
                  cr_rate_per_s_cm2: float = 1.2, pixel_area_cm2: float = 18e-4 ** 2,
                  saturation_e: float = 78000.0, hot_pixel_fraction: float = 5e-4,
                  defective_fraction: float = 2e-4, dq_defective: int = 4,
                  dq_saturated: int = 256, energy_median_e: float = ENERGY_MEDIAN_E,
                  n_cosmic_rays: int | None = None, pattern_seed=None,
                  dq_cosmic_ray: int = 0) -> RampSimulation:
    """Simulate one MULTIACCUM ramp (pure arrays; see the module docstring for the model).

    Parameters
    ----------
    shape : (ny, nx)
        Science pixels (reference pixels excluded).
    read_times_s : array, (nreads,)
        Time of each read since the exposure start (s), increasing; the zeroth read first.
    seed : int or numpy Generator
    read_noise_e : float
        Read noise per read (e- rms).
    dark_current_e_per_s : float
        Dark current of normal pixels (e-/s).
    cr_rate_per_s_cm2 : float
        Cosmic-ray flux (CR/s/cm2).
    pixel_area_cm2 : float
    saturation_e : float
        Full well (e-): accumulated charge is clipped there and the read flagged.
    hot_pixel_fraction, defective_fraction : float
        Fractions of hot pixels (log-normal rates, median 2 e-/s, some saturate) and of
        defective pixels (flagged ``dq_defective`` in every read, random walk).
    dq_defective, dq_saturated : int
        DQ bits written for defective and saturated pixels.
    energy_median_e : float
        Median cosmic-ray charge (e-).
    n_cosmic_rays : int, optional
        Exact number of cosmic rays (default: Poisson of flux x area x time span).
    pattern_seed : int, optional
        Seed of the hot and defective pixel pattern (default: drawn from ``seed``), so
        several ramps can share one detector.
    dq_cosmic_ray : int
        When non-zero, this DQ bit is set in every read from the one where a cosmic ray
        arrived on, at its pixels (as calwf3/calnica flag them in the ima).

    Returns
    -------
    RampSimulation
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    times = np.asarray(read_times_s, dtype=np.float64)
    nreads = times.size
    if nreads < 2 or np.any(np.diff(times) <= 0):
        raise ValueError("read_times_s must hold >= 2 strictly increasing times")
    ny, nx = shape
    span = float(times[-1] - times[0])

    pattern = rng if pattern_seed is None else np.random.default_rng(pattern_seed)
    rate = np.full(shape, dark_current_e_per_s, dtype=np.float64)
    n_hot = int(round(hot_pixel_fraction * ny * nx))
    hot = pattern.choice(ny * nx, n_hot, replace=False)
    rate.ravel()[hot] = 2.0 * np.exp(1.5 * pattern.standard_normal(n_hot))
    n_def = int(round(defective_fraction * ny * nx))
    defective = np.zeros(shape, dtype=bool)
    defective.ravel()[pattern.choice(ny * nx, n_def, replace=False)] = True

    dt_ = np.diff(times)
    increments = rng.poisson(rate[None] * dt_[:, None, None]).astype(np.float32)

    # cosmic rays: arrival uniform over (t0, t_last]; read_index = first read after arrival
    if n_cosmic_rays is None:
        n_cosmic_rays = int(rng.poisson(cr_rate_per_s_cm2 * ny * nx * pixel_area_cm2 * span))
    arrival = times[0] + rng.uniform(0.0, span, n_cosmic_rays)
    read_index = np.clip(np.searchsorted(times, arrival, side="left"), 1, nreads - 1)
    cr, y, x, e, ends = simulate_cosmic_ray_pixels(n_cosmic_rays, shape, rng,
                                                   energy_median_e=energy_median_e)
    # cosmic rays that lost every pixel (all outside the chip) are not part of the truth
    present = np.zeros(n_cosmic_rays, dtype=bool)
    present[cr] = True
    renumber = np.cumsum(present) - 1
    cr = renumber[cr]
    arrival, read_index, ends = arrival[present], read_index[present], ends[present]
    np.add.at(increments, (read_index[cr] - 1, y, x), e.astype(np.float32))

    signal = np.zeros((nreads, ny, nx), dtype=np.float32)
    np.cumsum(increments, axis=0, out=signal[1:])
    read_dq = np.zeros((nreads, ny, nx), dtype=np.int16)
    saturated = signal >= saturation_e
    np.minimum(signal, np.float32(saturation_e), out=signal)
    read_dq[saturated] |= np.int16(dq_saturated)
    if dq_cosmic_ray and cr.size:
        first = np.full(shape, nreads, dtype=np.int64)
        np.minimum.at(first, (y, x), read_index[cr])
        read_dq[np.arange(nreads)[:, None, None] >= first[None]] |= np.int16(dq_cosmic_ray)
    reads = signal
    reads += rng.standard_normal(reads.shape, dtype=np.float32) * np.float32(read_noise_e)
    # defective pixels: a random walk with no relation to the model, flagged in every read
    walk = np.cumsum(rng.normal(0.0, 20.0 * read_noise_e, (nreads, n_def)), axis=0)
    reads[:, defective] = walk.astype(np.float32)
    read_dq[:, defective] |= np.int16(dq_defective)

    n = int(present.sum())
    counts = np.bincount(cr, minlength=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    truth = RampTruth(
        read_index=read_index.astype(np.int16),
        arrival_time_s=arrival.astype(np.float64),
        energy_e=np.bincount(cr, weights=e, minlength=n).astype(np.float32),
        n_pixels=counts.astype(np.int32),
        pixel_offsets=offsets,
        pixel_x=x.astype(np.int16), pixel_y=y.astype(np.int16), pixel_e=e.astype(np.float32),
        ends=ends,
    )
    return RampSimulation(reads=reads, read_dq=read_dq, read_times_s=times,
                          dark_rate_e_per_s=rate.astype(np.float32), defective=defective,
                          truth=truth, read_noise_e=float(read_noise_e))


def simulate_detector_ramp(detector, *, seed=0, n_reads: int = 16,
                           read_times_s: np.ndarray | None = None,
                           cr_rate_per_s_cm2: float = 1.2, **kwargs) -> RampSimulation:
    """:func:`simulate_ramp` with one IR detector's facts (shape, read noise, DQ bits...)."""
    det = detector if isinstance(detector, Detector) else get_detector(detector)
    if det.kind != "ir":
        raise HstcrError(f"{det.id} is not an infrared (ramp) detector")
    times = default_read_times(det, n_reads) if read_times_s is None else read_times_s
    defective_bit, saturated_bit = DQ_BITS[det.instrume]
    params = dict(read_noise_e=det.read_noise_e, dark_current_e_per_s=det.dark_current_e_per_s,
                  pixel_area_cm2=det.pixel_area_cm2, saturation_e=SATURATION_E[det.instrume],
                  dq_defective=defective_bit, dq_saturated=saturated_bit)
    params.update(kwargs)
    return simulate_ramp(tuple(det.chip_shape), times, seed=seed,
                         cr_rate_per_s_cm2=cr_rate_per_s_cm2, **params)


# ------------------------------------------------------------------------------------------
# Files shaped like MAST's
# ------------------------------------------------------------------------------------------


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
        One row per injected cosmic ray (:func:`truth_table`): the CCD truth columns
        (dataset, instrument, chip, chip_index, cr_id, energy_e, n_pixels, x0, y0, x1, y1,
        pixels) plus ``read_index`` and ``arrival_time_s``.  Pixels are in the chip frame
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
        from .files import manifest_item

        return manifest_item(self)


def _truth_schema() -> pa.Schema:
    """The CCD generator's truth schema plus the IR columns (one truth format for all)."""
    from .files import TRUTH_SCHEMA

    return (TRUTH_SCHEMA.append(pa.field("read_index", pa.int16(), nullable=False))
            .append(pa.field("arrival_time_s", pa.float32(), nullable=False)))


def truth_table(dataset: str, detector: Detector, truth: RampTruth) -> pa.Table:
    """The truth of one ramp as an Arrow table (one row per cosmic ray, no loop)."""
    n = len(truth)
    schema = _truth_schema()
    pixels = pa.StructArray.from_arrays(
        [pa.array(truth.pixel_x, pa.int16()), pa.array(truth.pixel_y, pa.int16()),
         pa.array(truth.pixel_e, pa.float32())], fields=list(PIXEL))
    ends = truth.ends if truth.ends is not None else np.full((n, 4), np.nan, np.float32)
    columns = {
        "dataset": pa.array([dataset] * n, pa.string()),
        "instrument": pa.array([detector.id] * n, pa.string()),
        "chip": pa.array([detector.chips[0].name] * n, pa.string()),
        "chip_index": pa.array(np.zeros(n, np.int16)),
        "cr_id": pa.array(np.arange(1, n + 1, dtype=np.int32)),
        "energy_e": pa.array(truth.energy_e, pa.float32()),
        "n_pixels": pa.array(truth.n_pixels, pa.int32()),
        "x0": pa.array(ends[:, 0], pa.float32()), "y0": pa.array(ends[:, 1], pa.float32()),
        "x1": pa.array(ends[:, 2], pa.float32()), "y1": pa.array(ends[:, 3], pa.float32()),
        "pixels": pa.ListArray.from_arrays(pa.array(truth.pixel_offsets.astype(np.int32)),
                                           pixels),
        "read_index": pa.array(truth.read_index, pa.int16()),
        "arrival_time_s": pa.array(truth.arrival_time_s.astype(np.float32), pa.float32()),
    }
    return pa.Table.from_arrays([columns[f.name].cast(f.type) for f in schema], schema=schema)


def _dataset_name(detector: Detector, rng: np.random.Generator) -> str:
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    return detector.dataset_prefix + "".join(rng.choice(alphabet, 7)) + "q"


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
    return (when - dt.datetime(1858, 11, 17, tzinfo=dt.timezone.utc)).total_seconds() / 86400.0


def write_ir_dark(detector_id, out_dir, *, seed: int = 0, dataset: str | None = None,
                  n_reads: int = 16, date=None, cr_rate_per_s_cm2: float = 1.2,
                  read_times_s: np.ndarray | None = None, exptime_s: float | None = None,
                  bunit: str | None = None, gain: float | None = None,
                  flag_cosmic_rays: bool = False, fixed_pattern_seed: int | None = None,
                  flashdur_s: float | None = None, **simulate_kwargs) -> IrDarkFiles:
    """Write a synthetic IR dark as ``<dataset>_ima.fits`` + ``<dataset>_spt.fits``.

    Parameters
    ----------
    detector_id : str or Detector
        ``wfc3_ir``, ``nicmos_nic1``, ``nicmos_nic2`` or ``nicmos_nic3``.
    out_dir : path
        Created if needed.
    seed : int
        Everything (pixels, cosmic rays, dataset name, orbit epoch) follows from it.
    dataset : str, optional
        Rootname (default: the detector's prefix + 8 characters drawn from ``seed``).
    n_reads : int
        Reads including the zeroth (NSAMP).
    date : datetime, date or ISO string, optional
        Exposure start (UTC, whole seconds); default 2015-06-15 03:20:11.
    cr_rate_per_s_cm2 : float
        Injected cosmic-ray flux.
    read_times_s : array, optional
        Read times (default :func:`default_read_times`).
    exptime_s : float, optional
        Stretch the default read times so the last read is at this time (EXPTIME).
    bunit : str, optional
        SCI unit: ``ELECTRONS/S``, ``ELECTRONS``, ``COUNTS/S`` or ``COUNTS`` (default
        ELECTRONS/S for WFC3/IR, COUNTS/S for NICMOS).
    gain : float, optional
        e-/ADU written to the gain keywords (default: the table's typical gain).
    flag_cosmic_rays : bool
        Set the detector's CR bit in the read DQs from each cosmic ray's read on.
    fixed_pattern_seed : int, optional
        Seed of the hot/defective pixel pattern (shared by darks of one sample).
    flashdur_s : float, optional
        Accepted for the CCD generator's interface; IR darks have no post-flash (must be
        None or 0).
    **simulate_kwargs
        Passed to :func:`simulate_ramp` (``hot_pixel_fraction``, ``n_cosmic_rays`` ...).

    Returns
    -------
    IrDarkFiles
    """
    det = detector_id if isinstance(detector_id, Detector) else get_detector(str(detector_id))
    if det.kind != "ir":
        raise HstcrError(f"{det.id} is not an infrared (ramp) detector; "
                         f"IR detectors: wfc3_ir, nicmos_nic1..3")
    if flashdur_s:
        raise HstcrError(f"{det.name} darks have no post-flash (FLASHDUR {flashdur_s} s)")
    rng = np.random.default_rng(seed)
    name_rng = np.random.default_rng([seed, 1])
    dataset = (dataset or _dataset_name(det, name_rng)).lower()
    start = _as_datetime(date)
    if read_times_s is None:
        read_times_s = default_read_times(det, n_reads)
        if exptime_s is not None:
            if exptime_s <= 0:
                raise HstcrError(f"EXPTIME must be positive, got {exptime_s}")
            read_times_s = read_times_s * (float(exptime_s) / read_times_s[-1])
    n_reads = len(read_times_s)
    sim = simulate_detector_ramp(det, seed=rng, read_times_s=np.asarray(read_times_s, float),
                                 cr_rate_per_s_cm2=cr_rate_per_s_cm2,
                                 pattern_seed=fixed_pattern_seed,
                                 dq_cosmic_ray=det.cr_bit if flag_cosmic_rays else 0,
                                 **simulate_kwargs)
    times = sim.read_times_s
    gain = float(gain if gain is not None else det.typical_gain)
    unit = (bunit or ("ELECTRONS/S" if det.instrume == "WFC3" else "COUNTS/S")).upper()
    if unit not in ("ELECTRONS/S", "ELECTRONS", "COUNTS/S", "COUNTS"):
        raise HstcrError(f"unsupported BUNIT {unit!r} for a synthetic ima")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ima_path = out_dir / f"{dataset}_ima.fits"
    spt_path = out_dir / f"{dataset}_spt.fits"
    exptime = float(times[-1] - times[0])
    expstart = _mjd(start)
    expend = expstart + exptime / 86400.0
    samp_seq = "SPARS100" if det.instrume == "WFC3" else "SPARS64"
    primary = _primary_header(det, dataset, start, expstart, expend, exptime, n_reads, gain,
                              sim.read_noise_e, f"{dataset}_ima.fits", samp_seq)

    border = det.reference_border_px
    ny, nx = det.chip_shape
    full = (ny + 2 * border, nx + 2 * border)
    inner = (slice(border, border + ny), slice(border, border + nx))
    ref_rng = np.random.default_rng([seed, 2])
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
                               ("ROUTTIME", expstart + t / 86400.0, "UT time of readout (MJD)")])
        hdus.append(fits.ImageHDU(sci, header=sci_hdr, name="SCI", ver=extver))
        hdus.append(fits.ImageHDU(err, header=fits.Header([("BUNIT", unit)]), name="ERR",
                                  ver=extver))
        hdus.append(fits.ImageHDU(dq, name="DQ", ver=extver))
        hdus.append(_constant_hdu("SAMP", extver, full, 1, "SAMPLES"))
        hdus.append(_constant_hdu("TIME", extver, full, t, "SECONDS"))
    fits.HDUList(hdus).writeto(ima_path, overwrite=True)
    elements = _write_spt(spt_path, det, dataset, expstart, exptime, rng)

    n_cr = len(sim.truth)
    area = float(det.chip_area_cm2)
    exposure = {
        "dataset": dataset, "instrument": det.id, "seed": int(seed),
        "fixed_pattern_seed": fixed_pattern_seed,
        "group": f"{det.id}:{samp_seq}:{n_reads}:{exptime:g}",
        "date_obs": start.isoformat(), "expstart_mjd": expstart, "expend_mjd": expend,
        "exptime_s": exptime, "darktime_s": None, "flashdur_s": 0.0,
        # cosmic rays are injected between the zeroth and the last read: the ramp's span
        "integration_time_s": exptime, "integration_rule": "last read - zeroth read",
        "cr_rate_per_s_cm2": float(cr_rate_per_s_cm2), "gain": gain, "bunit": unit,
        "science_suffix": "ima", "flag_cosmic_rays": bool(flag_cosmic_rays),
        "n_reads": n_reads, "read_times_s": [float(x) for x in times],
        "area_cm2": area, "n_cr": n_cr,
        "chips": [{"chip": det.chips[0].name, "chip_index": 0,
                   "ccdchip": det.chips[0].ccdchip, "n_cr": n_cr, "area_cm2": area,
                   "n_hot": int((sim.dark_rate_e_per_s > 10 * det.dark_current_e_per_s).sum()),
                   "n_unflagged_hot": int((sim.dark_rate_e_per_s
                                           > 10 * det.dark_current_e_per_s).sum()),
                   "n_defective": int(sim.defective.sum()), "bad_columns": [],
                   "background_e": float(det.dark_current_e_per_s * exptime),
                   "read_noise_e": float(sim.read_noise_e)}],
        "orbital_elements": elements,
    }
    return IrDarkFiles(dataset=dataset, detector=det,
                       paths={"science": ima_path, "support": spt_path},
                       truth=truth_table(dataset, det, sim.truth), exposure=exposure,
                       simulation=sim)


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
    (the CCD generator's :func:`~hstcr_common.synthetic.files.orbital_elements`).

    Returns the element set written."""
    from .files import orbital_elements

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
    for key, value in elements.items():
        h[key] = value
    fits.HDUList([fits.PrimaryHDU(header=h)]).writeto(path, overwrite=True)
    return elements
