"""Simulate one chip of a CCD calibration dark, with the truth of every injected cosmic ray.

The ideal dark (``conditions`` clean; units: electrons, pixels, seconds):

* dark current ``detector.dark_current_e_per_s * exposure_s`` per pixel (plus an optional
  uniform post-flash level) and hot pixels with Poisson noise, cosmic-ray charge with Fano
  noise (Gaussian, variance ``FANO_FACTOR * N``), Gaussian read noise;
* hot pixels: a fixed pattern of the detector (same positions and rates for every dark made
  with the same ``fixed_pattern_seed``), log-uniform dark rates well above the background,
  most flagged in DQ, a fraction new and unflagged (:mod:`.pattern`);
* bad columns flagged in DQ (their data are left as dark current: the flag is what matters);
* cosmic rays: a Poisson number ``rate * exposure * chip area`` of tracks (:mod:`.tracks`).

A realistic dark (:class:`~.conditions.DarkConditions` not clean) adds the hot-pixel
population of :func:`~.pattern.simulate_hot_population` (growth, unflagged share, clusters,
telegraph pixels), heavy ions, a post-flash gradient, and the readout chain of
:mod:`.readout` (full-well bleeding, CTE trails, amplifier offsets, A/D limit) with the
saturation DQ bits; the truth then records each cosmic ray's observed energy and saturation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..model import REFERENCE_CR_RATE_S_CM2, HstcrError
from ..instruments import Detector, get_detector
from .conditions import READOUT, DarkConditions
from .overrides import with_overrides
from .pattern import (HOT_PIXEL_FRACTION, N_BAD_COLUMNS, UNFLAGGED_HOT_FRACTION, chip_dq,
                      saturation_bits, simulate_fixed_pattern, simulate_hot_population)
from .readout import (Readout, amp_offset_image, expected_readout, flash_image,
                      observed_share, read_out)
from .tracks import CosmicRayTruth, SiliconTracks, simulate_cosmic_rays


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
    conditions : DarkConditions
        Departures from the ideal dark (default :meth:`DarkConditions.clean`: none).  Its
        ``hot_fraction``/``unflagged_share`` replace the two fields above when set, its
        ``flash_e`` replaces ``flash_e`` when set; its ``heavy_ion_fraction`` applies to
        ``tracks``.
    chip_index : int
        Position of the chip in the file: picks its readout geometry (register side,
        amplifiers) from :data:`~.conditions.READOUT`.
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
    conditions: DarkConditions = DarkConditions()
    chip_index: int = 0


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
    conditions : DarkConditions
        The conditions simulated.
    telegraph_pixels, telegraph_high : ndarray, bool (ny, nx), optional
        Random-telegraph hot pixels, and those at their high level in this dark (None: none).
    hot_cluster_id : ndarray, int32 (ny, nx), optional
        Cluster number of hot pixels in clusters (0: isolated; None: no clusters modelled).
    flash_e : float
        Mean post-flash electrons per pixel (included in ``background_e``).
    flash_gradient : float
        End-to-end relative change of the flash along x.
    amp_offsets_e : tuple of float
        Offset of each amplifier of the chip (e-), left to right.
    readout : Readout, optional
        Register side, CTE and saturation levels used (None: the ideal dark).
    expected_image : ndarray, float32 (ny, nx), optional
        Noise-free frame through bleeding, CTE, offsets and the A/D limit (None: the ideal
        dark, see :attr:`expected_e`).
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
    conditions: DarkConditions = DarkConditions()
    telegraph_pixels: np.ndarray | None = None
    telegraph_high: np.ndarray | None = None
    hot_cluster_id: np.ndarray | None = None
    flash_e: float = 0.0
    flash_gradient: float = 0.0
    amp_offsets_e: tuple[float, ...] = (0.0,)
    readout: Readout | None = None
    expected_image: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.science_e.shape)

    @property
    def expected_e(self) -> np.ndarray:
        """Noise-free expectation of ``science_e`` (float32): background + hot + cosmic rays
        (realistic darks: :attr:`expected_image`, after bleeding, CTE, offsets, A/D limit)."""
        if self.expected_image is not None:
            return self.expected_image
        return (np.float32(self.background_e) + self.hot_pixel_e
                + self.cosmic_rays.image(self.shape)).astype(np.float32)

    def background_image(self) -> np.ndarray:
        """Expected dark current + post-flash electrons per pixel (float64, (ny, nx)), without
        the amplifier offsets."""
        dark = self.background_e - self.flash_e
        return dark + flash_image(self.shape, self.flash_e, self.flash_gradient)


def _as_detector(detector) -> Detector:
    return detector if isinstance(detector, Detector) else get_detector(str(detector))


def _as_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


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

    if not spec.conditions.is_clean:
        return _simulate_realistic(det, spec, shape, exposure_s, rng, read_noise,
                                   fixed_pattern_seed)

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
    dq = chip_dq(det, shape, hot & ~unflagged, bad_columns)
    if spec.flag_cosmic_rays and det.cr_bit:
        noise = np.sqrt(read_noise**2 + background_e + hot_e)
        dq[cr_e > 3.0 * noise] |= np.uint16(det.cr_bit)

    return ChipTruth(
        science_e=science, dq=dq, cosmic_rays=truth, hot_pixels=hot,
        unflagged_hot_pixels=unflagged, background_e=float(background_e),
        read_noise_e=read_noise, hot_pixel_e=hot_e, bad_columns=bad_columns,
        exposure_s=exposure_s, cr_rate_per_s_cm2=float(spec.cr_rate_per_s_cm2),
        area_cm2=area_cm2, flash_e=float(spec.flash_e),
    )


def _simulate_realistic(det: Detector, spec: ChipSpec, shape, exposure_s: float,
                        rng: np.random.Generator, read_noise: float,
                        fixed_pattern_seed) -> ChipTruth:
    """:func:`simulate_chip` under realistic conditions (see the module docstring).

    Randomness: the pattern from ``fixed_pattern_seed`` (else a child of ``rng``); this
    dark's telegraph states and amplifier offsets from a child of ``rng`` (``spawn``, which
    leaves ``rng``'s own stream untouched); then cosmic rays and noise from ``rng`` as in the
    ideal dark.
    """
    cond = spec.conditions
    pattern_rng = (rng.spawn(1)[0] if fixed_pattern_seed is None
                   else np.random.default_rng(fixed_pattern_seed))
    state_rng = rng.spawn(1)[0]
    hot_fraction = spec.hot_pixel_fraction if cond.hot_fraction is None else cond.hot_fraction
    unflagged = (spec.unflagged_hot_fraction if cond.unflagged_share is None
                 else cond.unflagged_share)
    pop = simulate_hot_population(
        shape, pattern_rng, state_rng, hot_fraction=hot_fraction, unflagged_share=unflagged,
        cluster_share=cond.cluster_share, telegraph_share=cond.telegraph_share,
        telegraph_low_ratio=cond.telegraph_low_ratio,
        hot_rate_range_e_per_s=cond.hot_rate_range_e_per_s, n_bad_columns=spec.n_bad_columns)
    layout = READOUT.get(det.id, (("bottom", "A"),))
    register, amps = layout[spec.chip_index % len(layout)]
    offsets = tuple(float(v) for v in state_rng.uniform(-cond.amp_offset_e, cond.amp_offset_e,
                                                        len(amps)))
    readout = Readout(register=register, amp_offsets_e=offsets,
                      cte_fraction=cond.cte_fraction, cte_trail_px=cond.cte_trail_px,
                      full_well_e=cond.full_well(det) if cond.saturation else None,
                      adc_limit_e=cond.adc_limit(det) if cond.saturation else None)

    ny, nx = shape
    area_cm2 = ny * nx * det.pixel_area_cm2
    n_cr = int(rng.poisson(spec.cr_rate_per_s_cm2 * exposure_s * area_cm2))
    tracks = dataclasses.replace(spec.tracks, heavy_ion_fraction=cond.heavy_ion_fraction)
    truth = simulate_cosmic_rays(n_cr, shape, det.thickness_um, det.pixel_size_um, rng, tracks)

    flash_e = float(spec.flash_e if cond.flash_e is None else cond.flash_e)
    dark_e = det.dark_current_e_per_s * exposure_s
    background = dark_e + flash_image(shape, flash_e, cond.flash_gradient)
    hot_e = (pop.rate_e_per_s * np.float32(exposure_s)).astype(np.float32)
    cr_e = truth.image(shape)
    signal = hot_e.astype(np.float64) + cr_e
    science, full_well, adc = read_out(rng, background, hot_e, cr_e, read_noise,
                                       tracks.fano_factor, readout)
    expected = expected_readout(background, signal, readout)
    _observe(truth, expected, background, signal, full_well | adc, shape, readout)

    dq = chip_dq(det, shape, pop.flagged, pop.bad_columns)
    full_bit, adc_bit = saturation_bits(det)
    dq[full_well] |= np.uint16(full_bit)
    dq[adc] |= np.uint16(full_bit | adc_bit)
    if spec.flag_cosmic_rays and det.cr_bit:
        noise = np.sqrt(read_noise**2 + background + hot_e)
        dq[cr_e > 3.0 * noise] |= np.uint16(det.cr_bit)

    return ChipTruth(
        science_e=science, dq=dq, cosmic_rays=truth, hot_pixels=pop.hot,
        unflagged_hot_pixels=pop.hot & ~pop.flagged, background_e=float(dark_e + flash_e),
        read_noise_e=read_noise, hot_pixel_e=hot_e, bad_columns=pop.bad_columns,
        exposure_s=exposure_s, cr_rate_per_s_cm2=float(spec.cr_rate_per_s_cm2),
        area_cm2=area_cm2, conditions=cond, telegraph_pixels=pop.telegraph,
        telegraph_high=pop.telegraph_high, hot_cluster_id=pop.cluster_id, flash_e=flash_e,
        flash_gradient=float(cond.flash_gradient), amp_offsets_e=offsets, readout=readout,
        expected_image=expected.astype(np.float32),
    )


def _observe(truth: CosmicRayTruth, expected, background, signal, saturated, shape,
             readout: Readout) -> None:
    """Fill the truth's ``energy_observed_e`` and ``saturated`` (in place, no loop)."""
    n = len(truth)
    if n == 0:
        truth.energy_observed_e = np.zeros(0, np.float32)
        truth.saturated = np.zeros(0, bool)
        return
    level = background + amp_offset_image(shape, readout.amp_offsets_e)
    ratio = observed_share(expected, level, signal)
    y, x = truth.pixel_y.astype(np.int64), truth.pixel_x.astype(np.int64)
    share = truth.pixel_e.astype(np.float64) * ratio[y, x]
    starts = truth.pixel_offsets[:-1]
    truth.energy_observed_e = np.add.reduceat(share, starts).astype(np.float32)
    truth.saturated = np.logical_or.reduceat(saturated[y, x], starts)
    if truth.heavy_ion is None:
        truth.heavy_ion = np.zeros(n, bool)


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
