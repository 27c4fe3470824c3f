"""Cosmic rays in infrared ramps (WFC3/IR, NICMOS MULTIACCUM): method ``ramp``.

An IR dark is read non-destructively many times; the charge a cosmic ray deposits shows up
as a *jump* between two consecutive reads.  This module finds those jumps with a
two-point-difference test in the spirit of the JWST calibration pipeline's jump step
(``stcal.jump``, Anderson & Gordon 2011), measured against a per-pixel noise model:

Steps 1-3 are the noise model of :mod:`.ramp_noise`; the parameters are
:class:`hstcr_common.model.RampParams`.

1. ``diff[k] = read[k+1] - read[k]`` (electrons), ``dt[k] = t[k+1] - t[k]`` (s).
2. Each pixel's own accumulation rate is the *median* of ``diff[k] / dt[k]`` over its valid
   differences of the regular cadence (:func:`rate_differences`): a cosmic ray adds charge
   to one difference, so the median ignores it (with two differences the *minimum* is used
   instead, for the same reason; with one, the chip's median).
3. The expected scatter of a difference's excess ``diff[k] - rate dt[k]`` is
   ``sqrt(2 rn^2 + max(rate, 0) dt[k])`` (read noise of two reads plus Poisson noise of the
   accumulated charge), widened per difference by the median rate's own scatter as
   measured on simulated pure-noise ramps with the same read times
   (:func:`noise_model_calibration`), and multiplied by one global factor measured from the
   data: the robust scatter of the normalised residuals divided by what the simulated ramps
   give.  So a header read noise
   that is off (e.g. CDS instead of per read) does not change the false-alarm rate.
4. A difference whose excess exceeds ``threshold_sigma`` sigma is a seed; connected pixels
   of the *same* difference above ``grow_sigma`` are added (hysteresis), so the faint edges
   of a cosmic ray count towards its energy.  For speed the full frame is only compared
   with the smallest sigma any pixel can have; the exact model is evaluated at the few
   candidates that pass.
5. Pixels that jumped in the same difference and touch (8-connectivity) form one cosmic ray;
   different differences never merge (a 3-D label problem whose structure only connects
   within a plane).
6. Each jump pixel's size is then measured from its whole ramp: a least-squares fit of
   offset + rate x t + step after the jump read (:func:`fit_jump_steps`), which averages the
   read noise of all reads instead of two.  The cosmic ray's energy is the sum of the steps.

Speed: the JWST pipeline's ``stcal.jump`` two-point difference is the reference; see
``benchmarks/bench_ramp.py`` for the comparison on a 16-read 1024x1024 ramp.

Conventions: reads are 0-based with the zeroth read first; a jump between read ``k-1`` and
read ``k`` is reported at ``read_index = k`` (1 .. nreads-1) and arrives, on average, at
``(t[k-1] + t[k]) / 2``.  Charge arriving before the zeroth read is part of the baseline and
cannot be seen.  Differences involving a read flagged bad (e.g. saturated) are not searched,
except the difference *into* the first saturated read: a jump that saturates a pixel is
still a cosmic ray (its energy is then a lower limit).  Only positive jumps are cosmic rays.
"""

from __future__ import annotations

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..measure import measure_cosmic_rays
from ..model import CosmicRayCatalog, Dark, DetectionSummary, HstcrError, RampParams
from ..model import parse_params
from .ramp_noise import (
    measured_noise_scale,
    noise_model_calibration,
    ramp_rate,
    rate_differences,
    read_differences,
    valid_differences,
)

#: a 3-D structuring element that connects 8-neighbours within one plane (read) only
PER_READ_STRUCTURE = np.zeros((3, 3, 3), dtype=bool)
PER_READ_STRUCTURE[1] = True


@dataclass
class JumpResult:
    """Outcome of :func:`detect_jumps` for one chip.

    Attributes
    ----------
    labels : ndarray, int32, shape (nreads - 1, ny, nx)
        Cosmic-ray label of every pixel in every difference (0 = none), 1..n.
    n : int
        Number of cosmic rays.
    excess_e : ndarray, float32, shape (nreads - 1, ny, nx)
        Jump above the pixel's expected accumulation, ``diff - rate * dt`` (electrons), at
        the pixels of the cosmic rays; 0 elsewhere.
    rate_e_per_s : ndarray, float32, shape (ny, nx)
        Robust per-pixel accumulation rate (e-/s).
    valid : ndarray of bool, shape (nreads - 1, ny, nx), or None
        Differences that were searched; None means all of them.
    noise_scale : float
        Global factor applied to the modelled sigma: robust scatter of the residuals
        measured on the data / the same on simulated ramps that follow the model.
    searched_fraction : ndarray, float32, shape (ny, nx)
        Fraction of the ramp's time span each pixel was searched (0 = never, 1 = always).
    """

    labels: np.ndarray
    n: int
    excess_e: np.ndarray
    rate_e_per_s: np.ndarray
    valid: np.ndarray | None
    noise_scale: float
    searched_fraction: np.ndarray


def label_jumps(grow_mask: np.ndarray, seed_index: np.ndarray,
                candidates: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Cosmic rays from jump masks: 8-connected within one difference, seeded (hysteresis).

    Parameters
    ----------
    grow_mask : ndarray of bool, shape (ndiff, ny, nx)
        Pixels whose jump is significant at the low (grow) threshold.
    seed_index : ndarray of int
        Flat indices (into ``grow_mask``) of the pixels above the high (seed) threshold;
        all inside ``grow_mask``.
    candidates : ndarray of int, optional
        Flat indices holding every pixel of ``grow_mask`` (and maybe others): the relabelling
        visits these instead of finding the labelled pixels in the cube (a pass over 15
        differences of a 1024 x 1024 ramp, ~40 ms).

    Returns
    -------
    labels : ndarray, int32, shape (ndiff, ny, nx)
        1..n, ordered by (difference, first pixel in raster order); 0 elsewhere.
    n : int
    """
    labels, n_all = ndimage.label(grow_mask, structure=PER_READ_STRUCTURE)
    labels = labels.astype(np.int32, copy=False)
    if n_all == 0:
        return labels, 0
    flat = labels.reshape(-1)
    keep = np.zeros(n_all + 1, dtype=bool)
    keep[flat[seed_index]] = True
    keep[0] = False
    n = int(keep.sum())
    if n == n_all:
        return labels, n
    remap = np.zeros(n_all + 1, dtype=np.int32)
    remap[keep] = np.arange(1, n + 1, dtype=np.int32)
    # relabel only the (sparse) labelled voxels: outside the grow mask the labels are 0 and
    # stay 0 (remap[0] is 0)
    where = np.flatnonzero(flat) if candidates is None else candidates
    flat[where] = remap[flat[where]]
    return labels, n


def _excess_and_sigma(diffs, rate, dt, factor, read_noise_e, flat_index):
    """Excess and modelled sigma of the differences at flat indices of (ndiff, ny, nx)."""
    npix = rate.size
    k, p = np.divmod(flat_index, npix)
    r = rate.reshape(-1)[p]
    excess = diffs.reshape(-1)[flat_index] - r * dt[k]
    rn = np.asarray(read_noise_e, dtype=np.float32)
    rn2 = np.square(rn if rn.ndim == 0 else np.broadcast_to(rn, rate.shape).reshape(-1)[p])
    sigma = np.sqrt(2.0 * rn2 + np.maximum(r, 0.0) * dt[k]) * factor[k]
    return excess.astype(np.float32), sigma.astype(np.float32)


def fit_jump_steps(reads: np.ndarray, read_times_s: np.ndarray, jump_index: np.ndarray,
                   npix: int, *, read_ok: np.ndarray | None = None,
                   fallback_e: np.ndarray | None = None) -> np.ndarray:
    """Size of each jump from a least-squares fit of its pixel's whole ramp.

    For a pixel that jumped once, at read ``k``, the reads follow
    ``a + rate * t + step * [j >= k]``; fitting ``a``, ``rate`` and ``step`` to all its usable
    reads measures the step with the read noise of many reads averaged on both sides
    instead of the two reads of one difference (e.g. ~0.6x the noise for a jump in the
    middle of a 16-read ramp).  Pixels that jumped more than once, and jumps with no usable
    read on one side (the jump into saturation), keep ``fallback_e``.  Vectorised: one
    3x3 normal-equation solve per jump pixel.

    Parameters
    ----------
    reads : ndarray, (nreads, ny, nx)
        Cumulative reads (e-).
    read_times_s : ndarray, (nreads,)
    jump_index : ndarray of int
        Flat indices into the (ndiff, ny, nx) difference cube of the pixels that jumped.
    npix : int
        ``ny * nx``.
    read_ok : ndarray of bool, (nreads, ny, nx), optional
        Reads that may be used (default: all).
    fallback_e : ndarray, optional
        Jump sizes to keep where the fit is not possible (default: NaN).

    Returns
    -------
    ndarray, float32
        Step (e-) of every jump pixel.
    """
    nreads = reads.shape[0]
    plane, pix = np.divmod(np.asarray(jump_index, dtype=np.int64), npix)
    out = (np.full(plane.size, np.nan, np.float32) if fallback_e is None
           else np.asarray(fallback_e, dtype=np.float32).copy())
    if plane.size == 0:
        return out
    once = np.bincount(pix, minlength=npix)[pix] == 1
    plane, pix_once = plane[once], pix[once]
    flat_reads = reads.reshape(nreads, -1)
    y = flat_reads[:, pix_once].astype(np.float64)                    # (nreads, m)
    w = (np.ones_like(y) if read_ok is None
         else read_ok.reshape(nreads, -1)[:, pix_once].astype(np.float64))
    t = np.asarray(read_times_s, dtype=np.float64)
    tc = t - t.mean()
    tc = (tc / max(float(np.abs(tc).max()), 1e-12))[:, None]          # unit-less, O(1)
    h = (np.arange(nreads)[:, None] >= (plane + 1)[None]).astype(np.float64)
    y = y - (y * w).sum(axis=0) / np.maximum(w.sum(axis=0), 1.0)       # for conditioning
    s1, st, stt = w.sum(0), (w * tc).sum(0), (w * tc * tc).sum(0)
    sh, sth = (w * h).sum(0), (w * h * tc).sum(0)
    a = np.stack([np.stack([s1, st, sh], -1), np.stack([st, stt, sth], -1),
                  np.stack([sh, sth, sh], -1)], -2)                      # (m, 3, 3)
    b = np.stack([(w * y).sum(0), (w * tc * y).sum(0), (w * h * y).sum(0)], -1)
    # a step needs usable reads on both sides and one more to fix the slope
    ok = (sh >= 1) & (s1 - sh >= 1) & (s1 >= 3)
    if ok.any():
        a_ok = a[ok]
        det = np.linalg.det(a_ok)
        good = np.abs(det) > 1e-9 * np.abs(a_ok).max(axis=(1, 2)) ** 3
        sol = np.zeros((a_ok.shape[0], 3))
        sol[good] = np.linalg.solve(a_ok[good], b[ok][good][..., None])[..., 0]
        fitted = np.flatnonzero(ok)[good]
        idx_once = np.flatnonzero(once)
        out[idx_once[fitted]] = sol[good, 2].astype(np.float32)
    return out


def _check_ramp(reads: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The read intervals dt (s), once the ramp's shape and times are checked."""
    dt = np.diff(times)
    if reads.ndim != 3 or reads.shape[0] < 2 or times.shape != (reads.shape[0],):
        raise ValueError("detect_jumps needs reads (nreads>=2, ny, nx) and one time per read")
    if np.any(dt <= 0):
        raise ValueError("read times must increase strictly")
    return dt


def _noise_scale(diffs, rate, dt32, factor, expected, read_noise_e, valid, skip: bool,
                 sample_size: int) -> float:
    """Measured / expected robust scatter of the normalised residuals, on a regular sample."""
    step = max(1, diffs.size // sample_size)
    sample = np.arange(0, diffs.size, step, dtype=np.int64)
    if skip:
        sample = sample[sample >= rate.size]
    if valid is not None:
        sample = sample[valid.reshape(-1)[sample]]
    ex, sig = _excess_and_sigma(diffs, rate, dt32, factor, read_noise_e, sample)
    scale = measured_noise_scale(ex / sig) / expected
    return scale if np.isfinite(scale) and scale > 0 else 1.0


def _significant(diffs, rate, dt32, factor, read_noise_e, valid, grow_thr: np.float32):
    """Flat indices of the differences above the grow threshold, their excess and z.

    The full frame is only compared with the smallest sigma any pixel can have (read noise
    only); the exact model is evaluated at the few candidates that pass.  Returns the
    candidate mask too, now exact: the grow mask.
    """
    min_sigma = np.sqrt(2.0) * float(np.min(read_noise_e)) * factor
    candidate = np.empty(diffs.shape, dtype=bool)
    for k in range(diffs.shape[0]):        # one plane at a time keeps the temporaries small
        np.greater(diffs[k], rate * dt32[k] + np.float32(grow_thr * min_sigma[k]),
                   out=candidate[k])
    if valid is not None:
        candidate &= valid
    index = np.flatnonzero(candidate)
    ex, sig = _excess_and_sigma(diffs, rate, dt32, factor, read_noise_e, index)
    z = ex / sig
    candidate.reshape(-1)[index[~(z > grow_thr)]] = False
    return candidate, index, ex, z


def _searched_fraction(times: np.ndarray, dt32: np.ndarray, valid, shape) -> np.ndarray:
    """Fraction of the ramp's time span each pixel was searched."""
    if valid is None:
        return np.ones(shape, dtype=np.float32)
    span = float(times[-1] - times[0])
    return (np.tensordot(dt32, valid.astype(np.float32), axes=1)
            / np.float32(span)).astype(np.float32)


def detect_jumps(reads: np.ndarray, read_times_s: np.ndarray, read_noise_e: float | np.ndarray,
                 params: RampParams, *, read_dq: np.ndarray | None = None, bad_bits: int = 0,
                 saturation_bit: int = 0, noise_sample_size: int = 200_000,
                 fit_steps: bool = True) -> JumpResult:
    """Find the jumps of one chip's ramp and label them as cosmic rays.

    The full-frame work is the read differences, the per-pixel median rate and one
    comparison per difference against a *conservative* threshold (the smallest sigma any
    pixel can have: read noise only); the exact noise model is then evaluated only at the
    few candidates that pass it.

    Parameters
    ----------
    reads : ndarray, shape (nreads, ny, nx)
        Cumulative reads in electrons, zeroth read first (nreads >= 2).
    read_times_s : ndarray, shape (nreads,)
        Time of each read since the exposure start (s), strictly increasing.
    read_noise_e : float or ndarray broadcastable to (ny, nx)
        Read noise per read (e- rms).
    params : RampParams
        Seed and grow thresholds (sigma), noise calibration, first difference skipped.
    read_dq : ndarray of int, shape (nreads, ny, nx), optional
        DQ of every read.
    bad_bits : int
        DQ bits that make a read unusable (see :func:`valid_differences`).
    saturation_bit : int
        DQ bit meaning saturated (0: none).
    noise_sample_size : int
        Differences sampled (regularly) to measure the noise scale.
    fit_steps : bool
        Measure each jump by fitting the pixel's whole ramp (:func:`fit_jump_steps`) rather
        than from its one difference (less noise, same expectation).

    Returns
    -------
    JumpResult
    """
    times = np.asarray(read_times_s, dtype=np.float64)
    dt = _check_ramp(reads, times)
    diffs = read_differences(reads)
    valid = valid_differences(read_dq, bad_bits, saturation_bit)
    # the rate comes from the differences that are searched
    skip = bool(params.skip_first_difference and diffs.shape[0] > 1)
    use = rate_differences(dt, skip)
    rate = ramp_rate(diffs[use], dt[use], None if valid is None else valid[use])
    if skip:
        if valid is None:
            valid = np.ones(diffs.shape, dtype=bool)
        valid[0] = False
    factor, expected = noise_model_calibration(
        dt, float(np.median(read_noise_e)), float(np.median(rate)), skip_first_difference=skip)
    dt32 = dt.astype(np.float32)
    scale = (_noise_scale(diffs, rate, dt32, factor, expected, read_noise_e, valid, skip,
                          noise_sample_size) if params.calibrate_noise else 1.0)
    grow_thr = np.float32(params.grow_sigma * scale)
    seed_thr = np.float32(params.threshold_sigma * scale)
    grow_mask, index, ex, z = _significant(diffs, rate, dt32, factor, read_noise_e, valid,
                                           grow_thr)
    labels, n = label_jumps(grow_mask, index[z > seed_thr], candidates=index)

    # the jump of every labelled pixel (zero elsewhere): what the measurement sums
    excess = np.zeros(diffs.shape, dtype=np.float32)
    labelled = labels.reshape(-1)[index] > 0
    jump_index = index[labelled]
    jump_e = ex[labelled]
    if fit_steps:
        read_ok = None
        if read_dq is not None and bad_bits:
            read_ok = (read_dq & bad_bits) == 0
        jump_e = fit_jump_steps(reads, times, jump_index, rate.size, read_ok=read_ok,
                                fallback_e=jump_e)
    excess.reshape(-1)[jump_index] = jump_e
    return JumpResult(labels=labels, n=n, excess_e=excess, rate_e_per_s=rate, valid=valid,
                      noise_scale=float(scale),
                      searched_fraction=_searched_fraction(times, dt32, valid, rate.shape))


def measure_jumps(jumps: JumpResult, read_times_s: np.ndarray, *,
                  chip_index: int = 0) -> CosmicRayCatalog:
    """Measure the labelled jumps of one chip as a catalogue (energy = the jump in e-).

    The ``ndiff`` planes are stacked into one tall image (labels never touch across planes:
    they were made per plane) so :func:`hstcr_common.measure.measure_cosmic_rays` measures
    every cosmic ray in one vectorised pass; rows are then mapped back to the chip frame.

    Parameters
    ----------
    jumps : JumpResult
    read_times_s : ndarray, (nreads,)
    chip_index : int

    Returns
    -------
    CosmicRayCatalog
        With ``read_index`` (read where the jump appears, 1..nreads-1) and
        ``arrival_time_s`` (mid-time between that read and the previous one, s since the
        exposure start).  ``pixel_e``/``energy_e``/``peak_e`` are the jumps above each
        pixel's own accumulation.
    """
    ndiff, ny, nx = jumps.labels.shape
    if jumps.n == 0:
        cat = CosmicRayCatalog.empty()
        cat.read_index = np.zeros(0, np.int16)
        cat.arrival_time_s = np.zeros(0, np.float32)
        return cat
    tall_labels = jumps.labels.reshape(ndiff * ny, nx)
    tall_image = jumps.excess_e.reshape(ndiff * ny, nx)
    cat = measure_cosmic_rays(tall_labels, jumps.n, tall_image, chip_index=chip_index)
    plane = (cat.y_min.astype(np.int64) // ny)
    shift = plane * ny
    counts = np.diff(cat.pixel_offsets)
    cat.pixel_y = (cat.pixel_y.astype(np.int64) - np.repeat(shift, counts)).astype(np.int16)
    cat.y_centroid = (cat.y_centroid - shift).astype(np.float32)
    cat.y_min = (cat.y_min - shift).astype(np.int16)
    cat.y_max = (cat.y_max - shift).astype(np.int16)
    times = np.asarray(read_times_s, dtype=np.float64)
    cat.read_index = (plane + 1).astype(np.int16)
    cat.arrival_time_s = (0.5 * (times[plane] + times[plane + 1])).astype(np.float32)
    return cat


def find_ir_cosmic_rays(dark: Dark, params: RampParams | str | None = None,
                        **values: object) -> tuple[CosmicRayCatalog, DetectionSummary]:
    """Method ``ramp``: every cosmic ray of an IR dark from the jumps between its reads.

    Parameters
    ----------
    dark : Dark
        An IR dark from :func:`hstcr_common.load.load_dark` (chips carry ``reads``,
        ``read_times_s`` and ``read_dq``).
    params : RampParams, optional
        Defaults when None.  The string ``"ramp"`` is accepted for callers that name the
        method.
    **values
        Instead of ``params``: parameter names and values as the CLI or an event gives them
        (``threshold_sigma="8"``), turned into a :class:`RampParams` by
        :func:`hstcr_common.model.parse_params`.

    Returns
    -------
    catalog : CosmicRayCatalog
        All chips; ``read_index`` and ``arrival_time_s`` set.
    summary : DetectionSummary
        ``params`` is :meth:`RampParams.to_dict`.  ``searched_pixels`` counts each pixel by
        the fraction of the ramp's time span in which it could be searched (a pixel that
        saturates half-way counts one half; a pixel flagged bad in every read counts 0),
        rounded.

    Raises
    ------
    HstcrError
        A chip without reads (not a ramp), or an unknown parameter or bad value.
    """
    if params is None or isinstance(params, str) or values:
        try:
            params = parse_params(params or "ramp", values)
        except HstcrError as exc:
            raise HstcrError(exc.problem, dark.source, "detect") from None
    if not isinstance(params, RampParams):
        raise HstcrError(f"method {params.method!r} is for CCDs; {dark.detector.name} darks "
                         "use 'ramp'", dark.source, "detect")
    det = dark.detector
    parts, searched, notes = [], 0.0, []
    for index, chip in enumerate(dark.chips):
        if chip.reads is None or chip.read_times_s is None:
            raise HstcrError(f"chip {chip.name} has no reads: method 'ramp' needs an IR ramp "
                             f"(ima)", dark.source, "detect")
        jumps = detect_jumps(chip.reads, chip.read_times_s, chip.read_noise_e, params,
                             read_dq=chip.read_dq,
                             bad_bits=det.bad_mask_bits | det.saturation_bit,
                             saturation_bit=det.saturation_bit)
        parts.append(measure_jumps(jumps, chip.read_times_s, chip_index=index))
        searched += float(jumps.searched_fraction.sum(dtype=np.float64))
        span = float(chip.read_times_s[-1] - chip.read_times_s[0])
        notes.append(f"{chip.name}: {jumps.n} jumps in {chip.reads.shape[0] - 1} read "
                     f"differences over {span:.1f} s; noise model x{jumps.noise_scale:.3f} "
                     f"(measured/modelled scatter, read noise {chip.read_noise_e:.2f} e-)")
    catalog = CosmicRayCatalog.concat(parts)
    n = len(catalog)
    searched_pixels = int(round(searched))
    summary = DetectionSummary(
        method="ramp", params=params.to_dict(), n_cr=n, n_cr_split=0, n_cr_corrected=float(n),
        searched_pixels=searched_pixels,
        searched_area_cm2=searched_pixels * det.pixel_area_cm2, notes=notes)
    return catalog, summary
