"""Simulate one chip of a CCD calibration dark, with the truth of every injected cosmic ray.

The model (units: electrons, pixels, micrometres, seconds):

* dark current ``detector.dark_current_e_per_s * exposure_s`` per pixel (plus an optional
  uniform post-flash level) and hot pixels with Poisson noise, cosmic-ray charge with Fano
  noise (Gaussian, variance ``FANO_FACTOR * N``), Gaussian read noise;
* hot pixels: a fixed pattern of the detector (same positions and rates for every dark made
  with the same ``fixed_pattern_seed``), log-uniform dark rates well above the background,
  most flagged in DQ, a fraction new and unflagged;
* bad columns flagged in DQ (their data are left as dark current: the flag is what matters);
* cosmic rays: a Poisson number ``rate * exposure * chip area`` at uniform positions, incidence
  angles of an isotropic flux on a slab (``cos(theta)`` weighting, so ``cos^2(theta)`` is
  uniform), a projected track of ``thickness * tan(theta) / pixel_size`` pixels in a uniform
  azimuth, charge proportional to the path in silicon (lognormal electrons per micrometre),
  spread along the track in sub-pixel steps and diffused by a narrow Gaussian core plus a
  faint halo (pixel-integrated, so charge is conserved).

Everything is vectorised over cosmic rays and steps (``np.repeat`` over steps, one
``np.unique`` to gather each cosmic ray's pixels, ``np.bincount`` into the image).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.special import ndtr

from ..model import REFERENCE_CR_RATE_S_CM2, HstcrError
from ..instruments import Detector, get_detector
from .overrides import with_overrides

# --- cosmic-ray model constants (see module docstring) -------------------------------------
#: median electrons per micrometre of path in silicon.  The often-quoted ~80 e-/um is the
#: *mean* energy loss of a minimum-ionising particle; the distribution in thin (~15 um)
#: layers is Landau-like with a most probable value well below the mean.  A lognormal with
#: this median and :data:`E_PER_UM_SIGMA` has a mean of ~53 e-/um and puts the median
#: deposit of an ACS/WFC cosmic ray (median path ~21 um) at ~1000 e-, as measured.
E_PER_UM_MEDIAN = 44.0
#: lognormal sigma (natural log) of the electrons per micrometre.
E_PER_UM_SIGMA = 0.6
#: longest projected track (pixels): grazing tracks are capped here.
MAX_TRACK_PX = 200.0
#: spacing of the charge sub-steps along a track (pixels); below the diffusion width so the
#: deposited charge along the track is smooth.
STEP_PX = 0.5
#: charge diffusion: Gaussian core sigma (pixels), halo sigma (pixels), halo charge fraction.
#: With these an ACS/WFC cosmic ray has ~9 pixels above 15 e- (the detectable size; mean
#: size measured in real darks ~9 px) and ~20 pixels above MIN_PIXEL_E (the truth footprint).
DIFFUSION_SIGMA_PX = 0.45
HALO_SIGMA_PX = 1.0
HALO_FRACTION = 0.04
#: half-width of the pixel kernel each sub-step spreads its charge over (pixels).
KERNEL_RADIUS_PX = 3
#: pixel contributions below this (electrons) are dropped from the truth *and* the image.
MIN_PIXEL_E = 0.5
#: Fano factor of electron-hole pair creation in silicon (variance / mean of the number of
#: pairs), ~0.115 for keV-scale deposits; the cosmic-ray charge noise (see simulate_chip).
FANO_FACTOR = 0.115

# --- hot pixels and bad columns ------------------------------------------------------------
#: log-uniform range of hot-pixel dark rates (e-/s): ACS calls a pixel hot above 0.08 e-/s.
HOT_RATE_RANGE_E_PER_S = (0.08, 8.0)
#: default fraction of pixels that are hot, of those the share missing from the DQ (new since
#: the reference file), and bad columns per chip.
HOT_PIXEL_FRACTION = 0.005
UNFLAGGED_HOT_FRACTION = 0.1
N_BAD_COLUMNS = 2

# --- DQ bits per detector family: (hot pixel, bad column) -----------------------------------
#: hstcal acsdq.h / wf3dq.h: 16 hot pixel, 128 bad column; stisdq.h: 16 hot, 4 bad detector
#: pixel; calwp2: 4 permanent camera defect, 128 "hot-ish" (16 there means missing data).
_DQ_BITS = {
    "acs_wfc": (16, 128),
    "acs_hrc": (16, 128),
    "wfc3_uvis": (16, 128),
    "stis_ccd": (16, 4),
    "wfpc2": (128, 4),
}


@dataclass(frozen=True)
class SiliconTracks:
    """How a cosmic ray deposits and spreads its charge in a CCD's silicon.

    Attributes
    ----------
    e_per_um_median, e_per_um_sigma : float
        Lognormal electrons per micrometre of path (median, natural-log sigma).
    max_track_px : float
        Cap on the projected track length (pixels).
    step_px : float
        Spacing of the charge sub-steps along a track (pixels).
    diffusion_sigma_px, halo_sigma_px : float
        Charge diffusion: Gaussian core and halo sigma (pixels).
    halo_fraction : float
        Fraction of the charge in the halo.
    kernel_radius_px : int
        Half-width of the pixel kernel each sub-step spreads its charge over (pixels).
    min_pixel_e : float
        Pixel contributions below this (electrons) are dropped from truth and image.
    fano_factor : float
        Variance / mean of the number of electron-hole pairs (the charge noise).
    """

    e_per_um_median: float = E_PER_UM_MEDIAN
    e_per_um_sigma: float = E_PER_UM_SIGMA
    max_track_px: float = MAX_TRACK_PX
    step_px: float = STEP_PX
    diffusion_sigma_px: float = DIFFUSION_SIGMA_PX
    halo_sigma_px: float = HALO_SIGMA_PX
    halo_fraction: float = HALO_FRACTION
    kernel_radius_px: int = KERNEL_RADIUS_PX
    min_pixel_e: float = MIN_PIXEL_E
    fano_factor: float = FANO_FACTOR


@dataclass(frozen=True)
class ChipSpec:
    """One chip of a calibrated CCD dark to simulate (the randomness is passed separately).

    Attributes
    ----------
    shape : (ny, nx), optional
        Chip shape (pixels); None: ``detector.chip_shape``.  The cosmic-ray count scales with
        the area ``ny * nx * pixel_area``.
    exposure_s : float, optional
        Integration time (s) over which dark current and cosmic rays accumulate; None:
        ``detector.typical_exptime_s``.
    cr_rate_per_s_cm2 : float
        Injected cosmic-ray rate (CR/s/cm2); default the quiet-orbit flux
        :data:`~hstcr_common.model.constants.REFERENCE_CR_RATE_S_CM2`.
    hot_pixel_fraction : float
        Fraction of pixels that are hot.
    unflagged_hot_fraction : float
        Fraction of the hot pixels not flagged in DQ.
    n_bad_columns : int
        Columns flagged bad in DQ.
    flag_cosmic_rays : bool
        Set ``detector.cr_bit`` in DQ where cosmic-ray charge exceeds 3 sigma of the pixel
        noise (as HST's CR rejection would); nothing for detectors without a CR bit.
    flash_e : float
        Uniform post-flash electrons per pixel (adds to the background and its noise).
    read_noise_e : float, optional
        Read noise (e- rms); None: the instrument table's value.
    tracks : SiliconTracks
        Cosmic-ray charge deposit model.
    """

    shape: tuple[int, int] | None = None
    exposure_s: float | None = None
    cr_rate_per_s_cm2: float = REFERENCE_CR_RATE_S_CM2
    hot_pixel_fraction: float = HOT_PIXEL_FRACTION
    unflagged_hot_fraction: float = UNFLAGGED_HOT_FRACTION
    n_bad_columns: int = N_BAD_COLUMNS
    flag_cosmic_rays: bool = False
    flash_e: float = 0.0
    read_noise_e: float | None = None
    tracks: SiliconTracks = SiliconTracks()


@dataclass
class CosmicRayTruth:
    """The injected cosmic rays of one chip, as column arrays (one value per cosmic ray).

    Pixel lists are flat with offsets (as in :class:`hstcr_common.model.catalog.CosmicRayCatalog`):
    the pixels of cosmic ray ``k`` are ``pixel_x[pixel_offsets[k]:pixel_offsets[k + 1]]``.
    Coordinates are 0-based pixels in the chip frame (x = column, y = row).

    Attributes
    ----------
    cr_id : ndarray, int32
        1..n within the chip.
    energy_e : ndarray, float32
        Total electrons deposited in the chip (the sum of the cosmic ray's ``pixel_e``).
    n_pixels : ndarray, int32
        Pixels holding at least :data:`MIN_PIXEL_E` electrons of this cosmic ray.
    x0, y0, x1, y1 : ndarray, float32
        Projected track end points (pixels); may lie off the chip for edge tracks.
    pixel_offsets : ndarray, int64, length n + 1
    pixel_x, pixel_y : ndarray, int16
    pixel_e : ndarray, float32
        Electrons this cosmic ray put in that pixel, after diffusion and before noise.
        Overlapping cosmic rays each list their own share.
    """

    cr_id: np.ndarray
    energy_e: np.ndarray
    n_pixels: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    pixel_offsets: np.ndarray
    pixel_x: np.ndarray
    pixel_y: np.ndarray
    pixel_e: np.ndarray

    def __len__(self) -> int:
        return int(self.cr_id.shape[0])

    @property
    def pixel_cr_index(self) -> np.ndarray:
        """Index (0-based, into the per-cosmic-ray arrays) of the cosmic ray of every pixel."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.pixel_offsets))

    @property
    def track_length_px(self) -> np.ndarray:
        """Projected track length (pixels), float32."""
        return np.hypot(self.x1 - self.x0, self.y1 - self.y0).astype(np.float32)

    def image(self, shape: tuple[int, int]) -> np.ndarray:
        """Electrons all cosmic rays put in each pixel (before noise), float32 (ny, nx)."""
        ny, nx = shape
        flat = self.pixel_y.astype(np.int64) * nx + self.pixel_x.astype(np.int64)
        return np.bincount(flat, weights=self.pixel_e, minlength=ny * nx).reshape(
            shape).astype(np.float32)

    def label_image(self, shape: tuple[int, int]) -> np.ndarray:
        """``cr_id`` of the cosmic ray that put the most charge in each pixel (0: none), int32."""
        ny, nx = shape
        flat = self.pixel_y.astype(np.int64) * nx + self.pixel_x.astype(np.int64)
        labels = np.zeros(ny * nx, dtype=np.int32)
        # write in increasing charge order so the largest share wins each pixel
        order = np.argsort(self.pixel_e, kind="stable")
        labels[flat[order]] = self.cr_id[self.pixel_cr_index[order]]
        return labels.reshape(shape)

    @classmethod
    def empty(cls) -> "CosmicRayTruth":
        f32 = np.zeros(0, np.float32)
        return cls(np.zeros(0, np.int32), f32, np.zeros(0, np.int32), f32, f32, f32, f32,
                   np.zeros(1, np.int64), np.zeros(0, np.int16), np.zeros(0, np.int16), f32)


@dataclass
class ChipTruth:
    """A simulated chip and everything that went into it.

    Attributes
    ----------
    science_e : ndarray, float32 (ny, nx)
        Electrons as a calibrated (bias-subtracted) flt holds them: dark current x time +
        flash + hot pixels (Poisson noise) + cosmic rays (Fano noise), read noise.
    dq : ndarray, uint16 (ny, nx)
        Flagged hot pixels, bad columns, and (with ``flag_cosmic_rays``) the CR bit.
    cosmic_rays : CosmicRayTruth
    hot_pixels : ndarray, bool (ny, nx)
        Every hot pixel, flagged or not.
    unflagged_hot_pixels : ndarray, bool (ny, nx)
        Hot pixels without a DQ flag (new since the reference file).
    background_e : float
        Mean dark-current (plus flash) electrons per normal pixel.
    read_noise_e : float
        Read noise used (e- rms).
    hot_pixel_e : ndarray, float32 (ny, nx)
        Expected extra dark electrons of each hot pixel (0 elsewhere).
    bad_columns : ndarray, int64
        Column indices flagged bad.
    exposure_s : float
        Integration time simulated (s): dark current and cosmic rays accumulate over it.
    cr_rate_per_s_cm2 : float
        Injected cosmic-ray rate.
    area_cm2 : float
        Chip area (cm2) the rate applies to.
    """

    science_e: np.ndarray
    dq: np.ndarray
    cosmic_rays: CosmicRayTruth
    hot_pixels: np.ndarray
    unflagged_hot_pixels: np.ndarray
    background_e: float
    read_noise_e: float
    hot_pixel_e: np.ndarray | None = None
    bad_columns: np.ndarray | None = None
    exposure_s: float = 0.0
    cr_rate_per_s_cm2: float = 0.0
    area_cm2: float = 0.0

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.science_e.shape)

    @property
    def expected_e(self) -> np.ndarray:
        """Noise-free expectation of ``science_e`` (float32): background + hot + cosmic rays."""
        return (np.float32(self.background_e) + self.hot_pixel_e
                + self.cosmic_rays.image(self.shape)).astype(np.float32)


def _as_detector(detector) -> Detector:
    return detector if isinstance(detector, Detector) else get_detector(str(detector))


def _as_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def simulate_cosmic_rays(
    n: int,
    shape: tuple[int, int],
    thickness_um: float,
    pixel_size_um: float,
    rng: np.random.Generator,
    tracks: SiliconTracks | None = None,
    **overrides,
) -> CosmicRayTruth:
    """Tracks, energies and per-pixel charge of ``n`` cosmic rays hitting one chip.

    Parameters
    ----------
    n : int
        Number of cosmic rays to inject.
    shape : (ny, nx)
        Chip shape (pixels).
    thickness_um, pixel_size_um : float
        Depth of the charge-collecting silicon and pixel pitch (micrometres).
    rng : numpy.random.Generator
    tracks : SiliconTracks, optional
        Deposit and diffusion model; default :class:`SiliconTracks` ().
    **overrides
        Fields of :class:`SiliconTracks` to replace (an unknown name is a TypeError).

    Returns
    -------
    CosmicRayTruth
        Cosmic rays left with no pixel above ``tracks.min_pixel_e`` are dropped (rare: a tiny
        deposit); ``energy_e`` is the sum of the kept pixels.
    """
    tracks = with_overrides(tracks or SiliconTracks(), overrides)
    if n <= 0:
        return CosmicRayTruth.empty()
    x0, y0, x1, y1, length_px, deposit_e = _track_geometry(
        n, shape, thickness_um, pixel_size_um, rng, tracks)
    cr, px, py, e = _diffused_steps(x0, y0, x1, y1, length_px, deposit_e, shape, tracks)
    return _gather_pixels(cr, px, py, e, (x0, y0, x1, y1), n, shape, tracks.min_pixel_e)


def _track_geometry(n, shape, thickness_um, pixel_size_um, rng, tracks):
    """End points, projected length (pixels) and deposit (e-) of ``n`` isotropic tracks."""
    ny, nx = shape
    # midpoint uniform over the chip, isotropic flux through a slab
    xm = rng.uniform(-0.5, nx - 0.5, n)
    ym = rng.uniform(-0.5, ny - 0.5, n)
    cos_theta = np.sqrt(rng.uniform(0.0, 1.0, n))          # flux through a plane ~ cos(theta)
    cos_theta = np.maximum(cos_theta, 1e-6)
    tan_theta = np.sqrt(1.0 - cos_theta**2) / cos_theta
    length_px = np.minimum(thickness_um * tan_theta / pixel_size_um, tracks.max_track_px)
    path_um = np.hypot(thickness_um, length_px * pixel_size_um)  # consistent with the cap
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    half_dx = 0.5 * length_px * np.cos(phi)
    half_dy = 0.5 * length_px * np.sin(phi)
    # charge: proportional to the path, lognormal per micrometre
    deposit_e = path_um * rng.lognormal(np.log(tracks.e_per_um_median), tracks.e_per_um_sigma, n)
    return xm - half_dx, ym - half_dy, xm + half_dx, ym + half_dy, length_px, deposit_e


def _diffused_steps(x0, y0, x1, y1, length_px, deposit_e, shape, tracks):
    """(cosmic ray, x, y, electrons) of every on-chip pixel share of every sub-step.

    Sub-steps come from ``np.repeat`` over steps (no loop per cosmic ray); each spreads its
    charge over a (2R+1)^2 kernel of pixel-integrated Gaussian core + halo.
    """
    ny, nx = shape
    n = x0.size
    n_steps = np.maximum(1, np.ceil(length_px / tracks.step_px).astype(np.int64))
    cr_of_step = np.repeat(np.arange(n, dtype=np.int64), n_steps)
    first = np.cumsum(n_steps) - n_steps
    k = np.arange(cr_of_step.size, dtype=np.int64) - first[cr_of_step]
    t = (k + 0.5) / n_steps[cr_of_step]                      # step centres in (0, 1)
    sx = x0[cr_of_step] + t * (x1 - x0)[cr_of_step]
    sy = y0[cr_of_step] + t * (y1 - y0)[cr_of_step]
    step_e = (deposit_e / n_steps)[cr_of_step]

    r = tracks.kernel_radius_px
    offs = np.arange(-r, r + 1)
    ix = np.rint(sx).astype(np.int64)
    iy = np.rint(sy).astype(np.int64)
    fx = (sx - ix)[:, None]
    fy = (sy - iy)[:, None]

    def pixel_weights(frac, sigma):
        # fraction of a unit Gaussian centred at `frac` falling in pixels offs (edges +-0.5)
        return ndtr((offs + 0.5 - frac) / sigma) - ndtr((offs - 0.5 - frac) / sigma)

    core, halo = tracks.diffusion_sigma_px, tracks.halo_sigma_px
    w = ((1.0 - tracks.halo_fraction) * pixel_weights(fx, core)[:, :, None]
         * pixel_weights(fy, core)[:, None, :]
         + tracks.halo_fraction * pixel_weights(fx, halo)[:, :, None]
         * pixel_weights(fy, halo)[:, None, :])
    w /= w.sum(axis=(1, 2), keepdims=True)                   # conserve charge in the kernel
    # w[step, ox, oy]
    px = ix[:, None, None] + offs[None, :, None]
    py = iy[:, None, None] + offs[None, None, :]
    px = np.broadcast_to(px, w.shape).ravel()
    py = np.broadcast_to(py, w.shape).ravel()
    e = (w * step_e[:, None, None]).ravel()
    cr = np.broadcast_to(cr_of_step[:, None, None], w.shape).ravel()
    on_chip = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
    return cr[on_chip], px[on_chip], py[on_chip], e[on_chip]


def _gather_pixels(cr, px, py, e, ends, n, shape, min_pixel_e) -> CosmicRayTruth:
    """Sum the shares per (cosmic ray, pixel), drop faint pixels and empty cosmic rays."""
    ny, nx = shape
    key = cr * (ny * nx) + py * nx + px
    ukey, inverse = np.unique(key, return_inverse=True)
    pix_e = np.bincount(inverse.ravel(), weights=e, minlength=ukey.size)
    keep = pix_e >= min_pixel_e
    ukey, pix_e = ukey[keep], pix_e[keep]
    pix_cr = ukey // (ny * nx)
    flat = ukey % (ny * nx)
    counts = np.bincount(pix_cr, minlength=n)
    # drop cosmic rays left without pixels and renumber the rest 1..m
    alive = counts > 0
    counts = counts[alive]
    m = int(counts.size)
    if m == 0:
        return CosmicRayTruth.empty()
    offsets = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    pixel_e = pix_e.astype(np.float32)
    # sum the stored float32 pixel values so energy_e is exactly their sum
    energy_e = np.add.reduceat(pixel_e.astype(np.float64), offsets[:-1]).astype(np.float32)
    x0, y0, x1, y1 = (end[alive].astype(np.float32) for end in ends)
    return CosmicRayTruth(
        cr_id=np.arange(1, m + 1, dtype=np.int32),
        energy_e=energy_e,
        n_pixels=counts.astype(np.int32),
        x0=x0, y0=y0, x1=x1, y1=y1,
        pixel_offsets=offsets,
        pixel_x=(flat % nx).astype(np.int16),
        pixel_y=(flat // nx).astype(np.int16),
        pixel_e=pixel_e,
    )


def simulate_fixed_pattern(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    hot_pixel_fraction: float = HOT_PIXEL_FRACTION,
    unflagged_hot_fraction: float = UNFLAGGED_HOT_FRACTION,
    n_bad_columns: int = N_BAD_COLUMNS,
    hot_rate_range_e_per_s: tuple[float, float] = HOT_RATE_RANGE_E_PER_S,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hot pixels and bad columns: a property of the detector, not of one exposure.

    Returns
    -------
    hot_rate : ndarray, float32 (ny, nx)
        Extra dark rate of each hot pixel (e-/s), 0 elsewhere; log-uniform over
        ``hot_rate_range_e_per_s``.
    hot : ndarray, bool (ny, nx)
    unflagged : ndarray, bool (ny, nx)
        Hot pixels missing from the DQ (new since the reference file).
    bad_columns : ndarray, int64
    """
    ny, nx = shape
    npix = ny * nx
    n_hot = int(round(hot_pixel_fraction * npix))
    flat = rng.choice(npix, size=n_hot, replace=False) if n_hot else np.zeros(0, np.int64)
    lo, hi = hot_rate_range_e_per_s
    rates = np.exp(rng.uniform(np.log(lo), np.log(hi), n_hot))
    hot_rate = np.zeros(npix, dtype=np.float32)
    hot_rate[flat] = rates
    hot = np.zeros(npix, dtype=bool)
    hot[flat] = True
    unflagged = np.zeros(npix, dtype=bool)
    unflagged[flat[rng.uniform(size=n_hot) < unflagged_hot_fraction]] = True
    bad_columns = np.sort(rng.choice(nx, size=min(n_bad_columns, nx), replace=False))
    return (hot_rate.reshape(shape), hot.reshape(shape), unflagged.reshape(shape),
            bad_columns.astype(np.int64))


def dq_bits(detector: Detector) -> tuple[int, int]:
    """(hot pixel bit, bad column bit) this detector's pipeline uses."""
    return _DQ_BITS.get(detector.id, (16, 4))


def simulate_chip(
    detector,
    spec: ChipSpec | None = None,
    *,
    rng=None,
    fixed_pattern_seed: int | Sequence[int] | None = None,
    **overrides,
) -> ChipTruth:
    """Simulate one chip of a calibrated (bias-subtracted) CCD dark, in electrons.

    Parameters
    ----------
    detector : Detector or str
        Row of the instrument table (or its id).  IR detectors raise :class:`HstcrError`.
    spec : ChipSpec, optional
        What to simulate; default :class:`ChipSpec` ().
    rng : numpy.random.Generator or int, optional
        Randomness of this exposure (cosmic rays, noise).
    fixed_pattern_seed : int or sequence of int, optional
        Seed of the hot pixels and bad columns.  Darks simulated with the same seed share the
        same pattern (as darks of one anneal cycle do).  None: drawn from ``rng``.
    **overrides
        Fields of :class:`ChipSpec` to replace (``shape=``, ``exposure_s=``,
        ``cr_rate_per_s_cm2=`` ...); an unknown name is a TypeError.

    Returns
    -------
    ChipTruth
    """
    spec = with_overrides(spec or ChipSpec(), overrides)
    det = _as_detector(detector)
    if det.kind != "ccd":
        raise HstcrError(f"{det.name}: synthetic darks are CCD only (IR ramps are simulated "
                         "elsewhere)")
    shape = tuple(int(s) for s in (spec.shape or det.chip_shape))
    if len(shape) != 2 or min(shape) <= 0:
        raise HstcrError(f"{det.name}: bad chip shape {shape}")
    exposure_s = float(det.typical_exptime_s if spec.exposure_s is None else spec.exposure_s)
    if exposure_s < 0:
        raise HstcrError(f"{det.name}: negative exposure time {exposure_s}")
    rng = _as_rng(rng)
    read_noise = float(det.read_noise_e if spec.read_noise_e is None else spec.read_noise_e)

    # fixed pattern first, from its own stream when seeded
    pattern_rng = rng if fixed_pattern_seed is None else np.random.default_rng(fixed_pattern_seed)
    hot_rate, hot, unflagged, bad_columns = simulate_fixed_pattern(
        shape, pattern_rng, hot_pixel_fraction=spec.hot_pixel_fraction,
        unflagged_hot_fraction=spec.unflagged_hot_fraction, n_bad_columns=spec.n_bad_columns)

    ny, nx = shape
    area_cm2 = ny * nx * det.pixel_area_cm2
    n_cr = int(rng.poisson(spec.cr_rate_per_s_cm2 * exposure_s * area_cm2))
    truth = simulate_cosmic_rays(n_cr, shape, det.thickness_um, det.pixel_size_um, rng,
                                 spec.tracks)

    background_e = det.dark_current_e_per_s * exposure_s + float(spec.flash_e)
    hot_e = (hot_rate * np.float32(exposure_s)).astype(np.float32)
    cr_e = truth.image(shape)
    science = _noisy_science(rng, shape, background_e, hot_e, cr_e, read_noise,
                             spec.tracks.fano_factor)
    dq = _chip_dq(det, shape, hot & ~unflagged, bad_columns)
    if spec.flag_cosmic_rays and det.cr_bit:
        noise = np.sqrt(read_noise**2 + background_e + hot_e)
        dq[cr_e > 3.0 * noise] |= np.uint16(det.cr_bit)

    return ChipTruth(
        science_e=science, dq=dq, cosmic_rays=truth, hot_pixels=hot,
        unflagged_hot_pixels=unflagged, background_e=float(background_e),
        read_noise_e=read_noise, hot_pixel_e=hot_e, bad_columns=bad_columns,
        exposure_s=exposure_s, cr_rate_per_s_cm2=float(spec.cr_rate_per_s_cm2),
        area_cm2=area_cm2,
    )


def _noisy_science(rng, shape, background_e, hot_e, cr_e, read_noise_e, fano_factor):
    """Electrons read out: Poisson dark + hot pixels, Fano-noisy cosmic rays, read noise."""
    # dark current, flash and hot pixels: thermally generated, one electron at a time, so
    # Poisson.  Cosmic-ray charge is not: the number of electron-hole pairs a particle makes
    # in silicon fluctuates far less than Poisson, with variance F * N for Fano factor
    # F ~ 0.115 at these (keV) energies (Fano 1947, Phys. Rev. 72, 26; silicon: Lowe & Sareen
    # 2007, NIM A 576, 367; Janesick, "Scientific Charge-Coupled Devices", 2001, ch. 2).  N is
    # thousands of pairs per cosmic ray, so a Gaussian of variance F * N per pixel.
    science = rng.poisson(background_e + hot_e.astype(np.float64)).astype(np.float32)
    cr_noise = rng.standard_normal(shape, dtype=np.float32)
    cr_noise *= np.sqrt(np.float32(fano_factor) * cr_e)
    science += cr_e
    science += cr_noise
    science += rng.standard_normal(shape, dtype=np.float32) * np.float32(read_noise_e)
    return science


def _chip_dq(det: Detector, shape, flagged_hot: np.ndarray, bad_columns: np.ndarray):
    """DQ of the fixed pattern: flagged hot pixels and bad columns, uint16."""
    hot_bit, column_bit = dq_bits(det)
    dq = np.zeros(shape, dtype=np.uint16)
    dq[flagged_hot] |= np.uint16(hot_bit)
    dq[:, bad_columns] |= np.uint16(column_bit)
    return dq
