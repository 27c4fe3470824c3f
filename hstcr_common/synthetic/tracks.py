"""How a cosmic ray deposits charge in a CCD's silicon, with the truth of every one injected.

The model (units: electrons, pixels, micrometres): a Poisson number of cosmic rays at uniform
positions, incidence angles of an isotropic flux on a slab (``cos(theta)`` weighting, so
``cos^2(theta)`` is uniform), a projected track of ``thickness * tan(theta) / pixel_size``
pixels in a uniform azimuth, charge proportional to the path in silicon (lognormal electrons
per micrometre), spread along the track in sub-pixel steps and diffused by a narrow Gaussian
core plus a faint halo (pixel-integrated, so charge is conserved).  Optionally a share of them
are heavy ions (much brighter per micrometre, long tracks).

Everything is vectorised over cosmic rays and steps (``np.repeat`` over steps, one
``np.unique`` to gather each cosmic ray's pixels, ``np.bincount`` into the image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

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
#: heavy ions (:class:`SiliconTracks`): galactic-cosmic-ray nuclei deposit ~Z**2 times a
#: proton's charge per micrometre; those standing out in darks give 10-100x the median
#: (log-uniform), on long tracks (projected length log-uniform 20-200 px: the bright ones are
#: noticed, and kept apart here, by their length).
HEAVY_ION_GAIN_RANGE = (10.0, 100.0)
HEAVY_ION_TRACK_PX = (20.0, MAX_TRACK_PX)

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
    heavy_ion_fraction : float
        Fraction of the cosmic rays that are heavy ions (0: none, the ideal dark).
    heavy_ion_gain_range : (float, float)
        Log-uniform range of a heavy ion's electrons per micrometre / a proton's.
    heavy_ion_track_px : (float, float)
        Log-uniform range of a heavy ion's projected track length (pixels).
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
    heavy_ion_fraction: float = 0.0
    heavy_ion_gain_range: tuple[float, float] = HEAVY_ION_GAIN_RANGE
    heavy_ion_track_px: tuple[float, float] = HEAVY_ION_TRACK_PX


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
    energy_observed_e : ndarray, float32, optional
        What the frame holds of the cosmic ray in its pixels (noise-free) after bleeding, CTE
        and the A/D limit: each pixel's observed charge above the background shared in
        proportion to the deposits (charge trailed or bled out of the pixels, or clipped, is
        lost).  None: equal to ``energy_e`` (the ideal dark).
    saturated : ndarray, bool, optional
        The cosmic ray has a pixel flagged saturated (full well or A/D) in the frame.
    heavy_ion : ndarray, bool, optional
        Injected as a heavy ion.
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
    energy_observed_e: np.ndarray | None = None
    saturated: np.ndarray | None = None
    heavy_ion: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.cr_id.shape[0])

    @property
    def observed_energy(self) -> np.ndarray:
        """``energy_observed_e``, or ``energy_e`` where it was not modelled (float32)."""
        return self.energy_e if self.energy_observed_e is None else self.energy_observed_e

    @property
    def is_saturated(self) -> np.ndarray:
        """``saturated`` (all False where not modelled), bool."""
        return np.zeros(len(self), bool) if self.saturated is None else self.saturated

    @property
    def is_heavy_ion(self) -> np.ndarray:
        """``heavy_ion`` (all False where not modelled), bool."""
        return np.zeros(len(self), bool) if self.heavy_ion is None else self.heavy_ion

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
    heavy = None
    if tracks.heavy_ion_fraction > 0:
        x0, y0, x1, y1, length_px, deposit_e, heavy = _heavy_ions(
            (x0, y0, x1, y1, length_px, deposit_e), thickness_um, pixel_size_um, rng, tracks)
    cr, px, py, e = _diffused_steps(x0, y0, x1, y1, length_px, deposit_e, shape, tracks)
    return _gather_pixels(cr, px, py, e, (x0, y0, x1, y1), n, shape, tracks.min_pixel_e,
                          heavy)


def _heavy_ions(tracks_arrays, thickness_um, pixel_size_um, rng, tracks):
    """Turn a ``heavy_ion_fraction`` of the tracks into heavy ions: same midpoint, azimuth
    and (relative) charge per micrometre, a long projected track and ``heavy_ion_gain_range``
    times the charge per micrometre.  Draws after every ordinary draw, so the other cosmic rays
    are those of the same seed without heavy ions."""
    x0, y0, x1, y1, length_px, deposit_e = (np.array(a, dtype=np.float64)
                                            for a in tracks_arrays)
    n = x0.size
    heavy = rng.random(n) < tracks.heavy_ion_fraction
    k = int(heavy.sum())
    gain = np.exp(rng.uniform(*np.log(tracks.heavy_ion_gain_range), k))
    new_length = np.exp(rng.uniform(*np.log(tracks.heavy_ion_track_px), k))
    old_path = np.hypot(thickness_um, length_px[heavy] * pixel_size_um)
    new_path = np.hypot(thickness_um, new_length * pixel_size_um)
    deposit_e[heavy] *= gain * new_path / old_path
    xm, ym = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    phi = np.arctan2(y1 - y0, x1 - x0)[heavy]
    half_dx, half_dy = 0.5 * new_length * np.cos(phi), 0.5 * new_length * np.sin(phi)
    x0[heavy], x1[heavy] = xm[heavy] - half_dx, xm[heavy] + half_dx
    y0[heavy], y1[heavy] = ym[heavy] - half_dy, ym[heavy] + half_dy
    length_px[heavy] = new_length
    return x0, y0, x1, y1, length_px, deposit_e, heavy


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


def _gather_pixels(cr, px, py, e, ends, n, shape, min_pixel_e, heavy=None) -> CosmicRayTruth:
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
        heavy_ion=None if heavy is None else heavy[alive],
    )
