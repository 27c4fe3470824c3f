"""Simulate one infrared MULTIACCUM ramp (WFC3/IR, NICMOS) with the truth of every cosmic ray.

Model of one ramp (per pixel, electrons and seconds): dark current ``rate`` e-/s accumulates
as Poisson increments between reads; hot pixels have a much higher rate (some saturate,
flagged from the read where they cross full well); a few defective pixels are flagged in
every read and random-walk; cosmic rays arrive uniformly in time between the zeroth and the
last read (earlier ones would be part of the zeroth read and invisible) and add their charge
to every read from the one after their arrival; each read adds Gaussian read noise.

Cosmic-ray morphology (HgCdTe has no thick silicon path model): a short straight track of
``L`` pixels (exponential, mean :data:`MEAN_TRACK_PX`) in a random direction, its charge
spread over :data:`TRACK_STEPS` points with Gaussian charge diffusion, binned to pixels.  The
total charge is log-normal (median :data:`ENERGY_MEDIAN_E`).  Pixels receiving less than
:data:`IR_MIN_PIXEL_E` are dropped (and their charge with them) so the truth lists only
pixels that carry charge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import REFERENCE_CR_RATE_S_CM2, HstcrError
from ..instruments import Detector, get_detector
from .overrides import with_overrides

#: median total charge of one cosmic ray (e-) and log-normal sigma (natural log)
ENERGY_MEDIAN_E = 2000.0
ENERGY_SIGMA_LN = 0.9
#: mean track length (pixels) and sub-steps along a track
MEAN_TRACK_PX = 1.2
TRACK_STEPS = 24
# The CCD model (chip.py) has namesakes of the next three with other values on purpose: an IR
# track is a short exponential stub in HgCdTe with point-sampled diffusion and a coarser
# charge floor, not a path through a silicon slab, so the two sets are not interchangeable.
#: upper cut of the track length (pixels)
IR_MAX_TRACK_PX = 8.0
#: charge diffusion sigma (pixels)
IR_DIFFUSION_SIGMA_PX = 0.3
#: pixels with less charge than this are not part of a cosmic ray (e-)
IR_MIN_PIXEL_E = 5.0

#: saturation level used by the simulation (e-), per instrument; WFC3/IR full well ~ 78 ke-
#: [WFC3-IHB 5.7], NICMOS ~ 200 ke- (order of magnitude)
SATURATION_E = {"WFC3": 78000.0, "NICMOS": 200000.0}
#: DQ bits written by the simulation: (defective pixel, saturated) [wf3dq.h, calnic.h]
DQ_BITS = {"WFC3": (4, 256), "NICMOS": (32, 64)}


@dataclass(frozen=True)
class HgCdTeTracks:
    """How a cosmic ray deposits its charge in an infrared (HgCdTe) array.

    Attributes
    ----------
    energy_median_e, energy_sigma_ln : float
        Log-normal total charge (median e-, natural-log sigma).
    mean_track_px, max_track_px : float
        Exponential track length: mean and upper cut (pixels).
    track_steps : int
        Points the charge is spread over along the track.
    diffusion_sigma_px : float
        Gaussian scatter of each point (pixels).
    min_pixel_e : float
        Pixels with less charge (e-) are dropped, with their charge.
    """

    energy_median_e: float = ENERGY_MEDIAN_E
    energy_sigma_ln: float = ENERGY_SIGMA_LN
    mean_track_px: float = MEAN_TRACK_PX
    max_track_px: float = IR_MAX_TRACK_PX
    track_steps: int = TRACK_STEPS
    diffusion_sigma_px: float = IR_DIFFUSION_SIGMA_PX
    min_pixel_e: float = IR_MIN_PIXEL_E


@dataclass(frozen=True)
class RampSpec:
    """The detector and sky of one simulated ramp (the randomness is passed separately).

    Attributes
    ----------
    read_noise_e : float
        Read noise per read (e- rms).
    dark_current_e_per_s : float
        Dark current of normal pixels (e-/s).
    cr_rate_per_s_cm2 : float
        Cosmic-ray flux (CR/s/cm2); default the quiet-orbit flux
        :data:`~hstcr_common.model.constants.REFERENCE_CR_RATE_S_CM2`.
    pixel_area_cm2 : float
        Area of one pixel (cm2).
    saturation_e : float
        Full well (e-): accumulated charge is clipped there and the read flagged.
    hot_pixel_fraction, defective_fraction : float
        Fractions of hot pixels (log-normal rates, median 2 e-/s, some saturate) and of
        defective pixels (flagged ``dq_defective`` in every read, random walk).
    dq_defective, dq_saturated : int
        DQ bits written for defective and saturated pixels.
    dq_cosmic_ray : int
        When non-zero, this DQ bit is set in every read from the one where a cosmic ray
        arrived on, at its pixels (as calwf3/calnica flag them in the ima).
    n_cosmic_rays : int, optional
        Exact number of cosmic rays (None: Poisson of flux x area x time span).
    tracks : HgCdTeTracks
        Cosmic-ray charge deposit model.
    """

    read_noise_e: float = 15.0
    dark_current_e_per_s: float = 0.05
    cr_rate_per_s_cm2: float = REFERENCE_CR_RATE_S_CM2
    pixel_area_cm2: float = 18e-4 ** 2
    saturation_e: float = 78000.0
    hot_pixel_fraction: float = 5e-4
    defective_fraction: float = 2e-4
    dq_defective: int = 4
    dq_saturated: int = 256
    dq_cosmic_ray: int = 0
    n_cosmic_rays: int | None = None
    tracks: HgCdTeTracks = HgCdTeTracks()

    @classmethod
    def for_detector(cls, detector: Detector) -> "RampSpec":
        """The spec of one IR detector's facts (read noise, dark current, pixel, DQ bits)."""
        defective_bit, saturated_bit = DQ_BITS[detector.instrume]
        return cls(read_noise_e=detector.read_noise_e,
                   dark_current_e_per_s=detector.dark_current_e_per_s,
                   pixel_area_cm2=detector.pixel_area_cm2,
                   saturation_e=SATURATION_E[detector.instrume],
                   dq_defective=defective_bit, dq_saturated=saturated_bit)


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


def simulate_cosmic_ray_pixels(n: int, shape: tuple[int, int], rng: np.random.Generator,
                               tracks: HgCdTeTracks | None = None, **overrides):
    """Pixels of ``n`` cosmic rays (vectorised over all of them).

    Parameters
    ----------
    n : int
    shape : (ny, nx)
    rng : numpy.random.Generator
    tracks : HgCdTeTracks, optional
        Deposit model; default :class:`HgCdTeTracks` ().
    **overrides
        Fields of :class:`HgCdTeTracks` to replace (an unknown name is a TypeError).

    Returns
    -------
    cr, y, x, e : ndarrays
        For every (cosmic ray, pixel) pair, sorted by cosmic ray then raster order: cosmic
        ray index 0..n-1, pixel row/column in ``shape``, charge (e-).
    ends : ndarray, float32, (n, 4)
        Track end points ``x0, y0, x1, y1`` (pixels) of every cosmic ray.
    """
    tracks = with_overrides(tracks or HgCdTeTracks(), overrides)
    ny, nx = shape
    steps = tracks.track_steps
    energy = tracks.energy_median_e * np.exp(tracks.energy_sigma_ln * rng.standard_normal(n))
    length = np.minimum(rng.exponential(tracks.mean_track_px, n), tracks.max_track_px)
    phi = rng.uniform(0.0, np.pi, n)
    cx = rng.uniform(0.0, nx, n)
    cy = rng.uniform(0.0, ny, n)
    s = (np.arange(steps) + 0.5) / steps - 0.5          # -0.5..0.5 along track
    px = cx[:, None] + s[None] * (length * np.cos(phi))[:, None]
    py = cy[:, None] + s[None] * (length * np.sin(phi))[:, None]
    px = px + tracks.diffusion_sigma_px * rng.standard_normal(px.shape)
    py = py + tracks.diffusion_sigma_px * rng.standard_normal(py.shape)
    ix = np.floor(px).astype(np.int64).ravel()
    iy = np.floor(py).astype(np.int64).ravel()
    cr = np.repeat(np.arange(n), steps)
    q = np.repeat(energy / steps, steps)
    inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    key = (cr[inside] * ny + iy[inside]) * nx + ix[inside]
    uniq, inverse = np.unique(key, return_inverse=True)
    e = np.bincount(inverse.ravel(), weights=q[inside]).astype(np.float64)
    keep = e >= tracks.min_pixel_e
    uniq, e = uniq[keep], e[keep]
    cr_u, rest = np.divmod(uniq, ny * nx)
    y_u, x_u = np.divmod(rest, nx)
    half_x, half_y = 0.5 * length * np.cos(phi), 0.5 * length * np.sin(phi)
    ends = np.stack([cx - half_x, cy - half_y, cx + half_x, cy + half_y], -1).astype(np.float32)
    return cr_u, y_u, x_u, e, ends


def simulate_ramp(shape: tuple[int, int], read_times_s: np.ndarray,
                  spec: RampSpec | None = None, *, seed=0, pattern_seed=None,
                  **overrides) -> RampSimulation:
    """Simulate one MULTIACCUM ramp (pure arrays; see the module docstring for the model).

    Parameters
    ----------
    shape : (ny, nx)
        Science pixels (reference pixels excluded).
    read_times_s : array, (nreads,)
        Time of each read since the exposure start (s), increasing; the zeroth read first.
    spec : RampSpec, optional
        Detector and flux; default :class:`RampSpec` ().
    seed : int or numpy Generator
    pattern_seed : int, optional
        Seed of the hot and defective pixel pattern (default: drawn from ``seed``), so
        several ramps can share one detector.
    **overrides
        Fields of :class:`RampSpec` to replace (``cr_rate_per_s_cm2=``, ``read_noise_e=``
        ...); an unknown name is a TypeError.

    Returns
    -------
    RampSimulation
    """
    spec = with_overrides(spec or RampSpec(), overrides)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    times = np.asarray(read_times_s, dtype=np.float64)
    nreads = times.size
    if nreads < 2 or np.any(np.diff(times) <= 0):
        raise ValueError("read_times_s must hold >= 2 strictly increasing times")
    pattern = rng if pattern_seed is None else np.random.default_rng(pattern_seed)
    rate, defective = _pixel_pattern(shape, pattern, spec)
    increments = rng.poisson(rate[None] * np.diff(times)[:, None, None]).astype(np.float32)
    truth, (cr, y, x) = _arrivals(shape, times, rng, spec, increments)

    ny, nx = shape
    signal = np.zeros((nreads, ny, nx), dtype=np.float32)
    np.cumsum(increments, axis=0, out=signal[1:])
    read_dq = np.zeros((nreads, ny, nx), dtype=np.int16)
    saturated = signal >= spec.saturation_e
    np.minimum(signal, np.float32(spec.saturation_e), out=signal)
    read_dq[saturated] |= np.int16(spec.dq_saturated)
    if spec.dq_cosmic_ray and cr.size:
        first = np.full(shape, nreads, dtype=np.int64)
        np.minimum.at(first, (y, x), truth.read_index[cr].astype(np.int64))
        read_dq[np.arange(nreads)[:, None, None] >= first[None]] |= np.int16(spec.dq_cosmic_ray)
    reads = signal
    reads += rng.standard_normal(reads.shape, dtype=np.float32) * np.float32(spec.read_noise_e)
    # defective pixels: a random walk with no relation to the model, flagged in every read
    walk = np.cumsum(rng.normal(0.0, 20.0 * spec.read_noise_e, (nreads, int(defective.sum()))),
                     axis=0)
    reads[:, defective] = walk.astype(np.float32)
    read_dq[:, defective] |= np.int16(spec.dq_defective)
    return RampSimulation(reads=reads, read_dq=read_dq, read_times_s=times,
                          dark_rate_e_per_s=rate.astype(np.float32), defective=defective,
                          truth=truth, read_noise_e=float(spec.read_noise_e))


def _pixel_pattern(shape, pattern: np.random.Generator, spec: RampSpec):
    """Accumulation rate of every pixel (e-/s, float64) and the defective-pixel mask."""
    ny, nx = shape
    rate = np.full(shape, spec.dark_current_e_per_s, dtype=np.float64)
    n_hot = int(round(spec.hot_pixel_fraction * ny * nx))
    hot = pattern.choice(ny * nx, n_hot, replace=False)
    rate.ravel()[hot] = 2.0 * np.exp(1.5 * pattern.standard_normal(n_hot))
    n_def = int(round(spec.defective_fraction * ny * nx))
    defective = np.zeros(shape, dtype=bool)
    defective.ravel()[pattern.choice(ny * nx, n_def, replace=False)] = True
    return rate, defective


def _arrivals(shape, times, rng, spec: RampSpec, increments):
    """Inject cosmic rays into the read increments (in place); their truth and pixels.

    Arrival is uniform over (t0, t_last]; ``read_index`` is the first read after arrival.
    Returns the :class:`RampTruth` and the (cosmic ray 0..n-1, row, column) of every pixel.
    """
    ny, nx = shape
    nreads = times.size
    span = float(times[-1] - times[0])
    n_cosmic_rays = spec.n_cosmic_rays
    if n_cosmic_rays is None:
        n_cosmic_rays = int(rng.poisson(spec.cr_rate_per_s_cm2 * ny * nx * spec.pixel_area_cm2
                                        * span))
    arrival = times[0] + rng.uniform(0.0, span, n_cosmic_rays)
    read_index = np.clip(np.searchsorted(times, arrival, side="left"), 1, nreads - 1)
    cr, y, x, e, ends = simulate_cosmic_ray_pixels(n_cosmic_rays, shape, rng, spec.tracks)
    # cosmic rays that lost every pixel (all outside the chip) are not part of the truth
    present = np.zeros(n_cosmic_rays, dtype=bool)
    present[cr] = True
    renumber = np.cumsum(present) - 1
    cr = renumber[cr]
    arrival, read_index, ends = arrival[present], read_index[present], ends[present]
    np.add.at(increments, (read_index[cr] - 1, y, x), e.astype(np.float32))

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
    return truth, (cr, y, x)


def simulate_detector_ramp(detector, *, seed=0, n_reads: int = 16,
                           read_times_s: np.ndarray | None = None, pattern_seed=None,
                           **overrides) -> RampSimulation:
    """:func:`simulate_ramp` with one IR detector's facts (:meth:`RampSpec.for_detector`).

    ``**overrides`` are fields of :class:`RampSpec` (``cr_rate_per_s_cm2=`` ...).
    """
    det = detector if isinstance(detector, Detector) else get_detector(detector)
    if det.kind != "ir":
        raise HstcrError(f"{det.id} is not an infrared (ramp) detector")
    times = default_read_times(det, n_reads) if read_times_s is None else read_times_s
    spec = with_overrides(RampSpec.for_detector(det), overrides)
    return simulate_ramp(tuple(det.chip_shape), times, spec, seed=seed,
                         pattern_seed=pattern_seed)
