"""Cosmic rays in infrared ramps (WFC3/IR, NICMOS MULTIACCUM): method ``ramp``.

An IR dark is read non-destructively many times; the charge a cosmic ray deposits shows up
as a *jump* between two consecutive reads.  This module finds those jumps with a
two-point-difference test in the spirit of the JWST calibration pipeline's jump step
(``stcal.jump``, Anderson & Gordon 2011), measured against a per-pixel noise model:

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

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..model import CosmicRayCatalog, DetectionSummary

#: a 3-D structuring element that connects 8-neighbours within one plane (read) only
PER_READ_STRUCTURE = np.zeros((3, 3, 3), dtype=bool)
PER_READ_STRUCTURE[1] = True

#: sigma of a normal distribution per median absolute deviation
MAD_TO_SIGMA = 1.482602218505602


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


def read_differences(reads: np.ndarray) -> np.ndarray:
    """Differences of consecutive reads.

    Parameters
    ----------
    reads : ndarray, shape (nreads, ny, nx)
        Cumulative reads in electrons, zeroth read first.

    Returns
    -------
    ndarray, float32, shape (nreads - 1, ny, nx)
        ``reads[k + 1] - reads[k]`` (electrons).
    """
    reads = np.asarray(reads, dtype=np.float32)
    return np.subtract(reads[1:], reads[:-1])


def valid_differences(read_dq: np.ndarray | None, bad_bits: int,
                      saturation_bit: int = 0) -> np.ndarray | None:
    """Which differences can be searched, from the DQ of every read.

    A difference is valid when neither of its two reads carries a ``bad_bits`` flag, with one
    exception: the difference into the *first* saturated read of a pixel stays valid (the
    jump that saturated it); later ones do not.

    Parameters
    ----------
    read_dq : ndarray of int, shape (nreads, ny, nx), or None
        DQ of every read, zeroth read first.  None: everything is valid.
    bad_bits : int
        OR of the DQ bits that make a read unusable (saturation included).
    saturation_bit : int
        The bit meaning "saturated" (0: none).

    Returns
    -------
    ndarray of bool, shape (nreads - 1, ny, nx), or None when every difference is valid.
    """
    if read_dq is None or bad_bits == 0:
        return None
    bad = (read_dq & bad_bits) != 0
    if not bad.any():
        return None
    valid = ~(bad[1:] | bad[:-1])
    if saturation_bit:
        # the jump into saturation: read k fine, read k+1 bad only because of saturation
        other = bad_bits & ~saturation_bit
        sat_only = ((read_dq & saturation_bit) != 0) & ((read_dq & other) == 0)
        valid |= ~bad[:-1] & sat_only[1:]
    return valid


def ramp_rate(diffs: np.ndarray, dt: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Robust per-pixel accumulation rate from read differences.

    Parameters
    ----------
    diffs : ndarray, shape (ndiff, ny, nx)
        Read differences (electrons).
    dt : ndarray, shape (ndiff,)
        Time between the reads of each difference (s), all > 0.
    valid : ndarray of bool, shape (ndiff, ny, nx), optional
        Differences to use; pixels with none get rate 0.

    Returns
    -------
    ndarray, float32, shape (ny, nx)
        Median of ``diffs / dt`` over valid differences (minimum of two; for a single
        difference the chip's median, as one difference cannot separate a jump from the
        pixel's rate), e-/s.
    """
    ndiff = diffs.shape[0]
    dt = np.asarray(dt, dtype=np.float64)
    dt32 = dt.astype(np.float32)[:, None]
    if ndiff == 1:
        # one difference cannot tell a jump from the pixel's own rate: use the chip's median
        ok = diffs[0] if valid is None else diffs[0][valid[0]]
        level = float(np.median(ok)) / dt[0] if ok.size else 0.0
        return np.full(diffs.shape[1:], level, dtype=np.float32)
    if ndiff >= 3 and np.allclose(dt, dt[0], rtol=1e-6):
        # a regular cadence: the median of the differences, scaled once (no rate cube)
        rate = (np.median(diffs, axis=0) / np.float32(dt[0])).astype(np.float32)
    else:
        reduce = np.median if ndiff >= 3 else np.min
        rate = reduce(diffs / dt32[:, :, None], axis=0).astype(np.float32)
    if valid is not None:
        # only pixels with an unusable difference pay for the NaN-aware statistic
        partial = ~valid.all(axis=0)
        if partial.any():
            ok = valid[:, partial]
            sub = np.where(ok, diffs[:, partial] / dt32, np.nan)
            n_ok = ok.sum(axis=0)
            with np.errstate(all="ignore"), _quiet_nan():
                med = np.nanmedian(sub, axis=0)
                low = np.nanmin(np.where(n_ok > 0, sub, 0.0), axis=0)
            rate[partial] = np.where(n_ok >= 3, med, np.where(n_ok > 0, low, 0.0))
    return rate


def difference_sigma(rate_e_per_s: np.ndarray, dt: np.ndarray,
                     read_noise_e: float | np.ndarray) -> np.ndarray:
    """Modelled noise of each read difference (electrons, 1 sigma).

    ``sqrt(2 rn^2 + max(rate, 0) * dt)``: two reads' read noise plus the Poisson noise of the
    charge accumulated between them.

    Parameters
    ----------
    rate_e_per_s : ndarray, shape (ny, nx)
    dt : ndarray, shape (ndiff,)
    read_noise_e : float or ndarray broadcastable to (ny, nx)
        Read noise per read (e- rms).

    Returns
    -------
    ndarray, float32, shape (ndiff, ny, nx)
    """
    rn2 = 2.0 * np.square(np.asarray(read_noise_e, dtype=np.float32))
    poisson = np.maximum(rate_e_per_s, 0.0)[None] * dt.astype(np.float32)[:, None, None]
    return np.sqrt(rn2 + poisson)


def rate_differences(dt: np.ndarray, skip_first_difference: bool = False) -> slice | np.ndarray:
    """Which differences the per-pixel rate is estimated from.

    Those of the regular cadence: ``dt >= 0.5 * median(dt)`` among the searched ones.  A
    much shorter difference (the 2.9 s first one of WFC3's SPARS sequences, NICMOS's 0.2 s)
    measures the rate poorly (read noise / dt) and, as one of few samples, would drag the
    median towards a jump.  Returned as a slice when contiguous (no copy of the cube).

    Parameters
    ----------
    dt : ndarray, (ndiff,)
    skip_first_difference : bool
        The first difference is never used (nor searched).

    Returns
    -------
    slice or ndarray of int
    """
    dt = np.asarray(dt, dtype=np.float64)
    searched = np.ones(dt.size, dtype=bool)
    if skip_first_difference and dt.size > 1:
        searched[0] = False
    keep = searched & (dt >= 0.5 * np.median(dt[searched]))
    idx = np.flatnonzero(keep)
    if idx.size and np.all(np.diff(idx) == 1):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


#: upper-tail quantile used to match the residuals' tail to a normal distribution
TAIL_QUANTILE = 0.99


def noise_model_calibration(dt: np.ndarray, read_noise_e: float, rate_e_per_s: float, *,
                            skip_first_difference: bool = False, n_pixels: int = 20_000,
                            seed: int = 20090514) -> tuple[np.ndarray, float]:
    """How the residuals about the median rate really scatter, from simulated ramps.

    The rate is estimated from the differences themselves, so a difference's residual
    ``diff[k] - rate dt[k]`` is not distributed like the difference: it also carries the
    estimate's own scatter (large when there are few differences, or for a long difference
    among short ones) and its correlation with the difference.  Both depend only on the read
    times, so they are measured once on ``n_pixels`` pure-noise ramps with the same read
    times, read noise and rate (fixed seed: deterministic, a few ms):

    * ``factor[k]``: the residual's upper tail (``TAIL_QUANTILE``) divided by the normal
      quantile, relative to ``sqrt(2 rn^2 + rate dt[k])``, so thresholds in sigma keep their
      normal false-alarm rate (e.g. ~1.05 for SPARS100's 100 s differences, ~1.0 for its
      2.9 s first one, more with few differences);
    * ``expected``: what :func:`measured_noise_scale` gives on those simulated residuals once
      divided by ``factor`` (the median-correlated residuals are a bit narrower than normal
      in their core); the scale measured on real data is divided by it.

    Parameters
    ----------
    dt : ndarray, (ndiff,)
        Read intervals (s).
    read_noise_e : float
        Read noise per read (e-).
    rate_e_per_s : float
        Typical accumulation rate of the chip (e-/s).
    skip_first_difference : bool
        The first difference is not used for the rate (nor searched): its factor is 1.
    n_pixels, seed : int
        Size and seed of the simulation.

    Returns
    -------
    factor : ndarray, float32, (ndiff,)
    expected : float
    """
    from scipy.special import ndtri

    rng = np.random.default_rng(seed)
    dt = np.asarray(dt, dtype=np.float64)
    rate = max(float(rate_e_per_s), 0.0)
    increments = rate * dt[:, None] + np.sqrt(rate * dt)[:, None] * rng.standard_normal(
        (dt.size, n_pixels))
    signal = np.concatenate([np.zeros((1, n_pixels)), np.cumsum(increments, axis=0)])
    reads = (signal + read_noise_e * rng.standard_normal(signal.shape)).astype(np.float32)
    diffs = read_differences(reads[:, None, :])
    use = rate_differences(dt, skip_first_difference)
    searched = slice(1, None) if skip_first_difference and dt.size > 1 else slice(None)
    r = ramp_rate(diffs[use], dt[use])
    excess = diffs[searched] - r[None] * dt[searched].astype(np.float32)[:, None, None]
    z = (excess / difference_sigma(r, dt[searched], read_noise_e))[:, 0, :]
    tail = np.quantile(z, TAIL_QUANTILE, axis=1) / ndtri(TAIL_QUANTILE)
    factor = np.ones(dt.size, dtype=np.float32)
    factor[searched] = np.where(np.isfinite(tail) & (tail > 0), tail, 1.0)
    expected = measured_noise_scale(z / factor[searched][:, None])
    return factor, (expected if np.isfinite(expected) and expected > 0 else 1.0)


def measured_noise_scale(normalised: np.ndarray) -> float:
    """Robust scatter of normalised residuals ``excess / sigma``.

    Parameters
    ----------
    normalised : ndarray
        Residuals of (a sample of) the differences, in units of their modelled sigma.

    Returns
    -------
    float
        ``1.4826 * median(|r - median(r)|)``; cosmic rays are rare enough not to move it.
        1.0 when there are fewer than 100 finite values.
    """
    sample = np.asarray(normalised).reshape(-1)
    sample = sample[np.isfinite(sample)]
    if sample.size < 100:
        return 1.0
    centre = np.median(sample)
    return float(MAD_TO_SIGMA * np.median(np.abs(sample - centre)))


def label_jumps(grow_mask: np.ndarray, seed_index: np.ndarray) -> tuple[np.ndarray, int]:
    """Cosmic rays from jump masks: 8-connected within one difference, seeded (hysteresis).

    Parameters
    ----------
    grow_mask : ndarray of bool, shape (ndiff, ny, nx)
        Pixels whose jump is significant at the low (grow) threshold.
    seed_index : ndarray of int
        Flat indices (into ``grow_mask``) of the pixels above the high (seed) threshold;
        all inside ``grow_mask``.

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
    where = np.flatnonzero(flat)          # relabel only the (sparse) labelled voxels
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


def detect_jumps(reads: np.ndarray, read_times_s: np.ndarray, read_noise_e: float | np.ndarray,
                 *, read_dq: np.ndarray | None = None, bad_bits: int = 0,
                 saturation_bit: int = 0, threshold_sigma: float = 5.0,
                 grow_sigma: float = 2.0, calibrate_noise: bool = True,
                 skip_first_difference: bool = False,
                 noise_sample_size: int = 200_000, fit_steps: bool = True) -> JumpResult:
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
    read_dq : ndarray of int, shape (nreads, ny, nx), optional
        DQ of every read.
    bad_bits : int
        DQ bits that make a read unusable (see :func:`valid_differences`).
    saturation_bit : int
        DQ bit meaning saturated (0: none).
    threshold_sigma : float
        Seed threshold on the excess, in units of the difference's sigma.
    grow_sigma : float
        Threshold for neighbours joining a seed in the same difference.
    calibrate_noise : bool
        Rescale the noise model by measured / expected robust scatter of the residuals.
    skip_first_difference : bool
        Do not search the zeroth-to-first-read difference (for detectors with a reset
        anomaly).
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
    dt = np.diff(times)
    if reads.ndim != 3 or reads.shape[0] < 2 or times.shape != (reads.shape[0],):
        raise ValueError("detect_jumps needs reads (nreads>=2, ny, nx) and one time per read")
    if np.any(dt <= 0):
        raise ValueError("read times must increase strictly")
    diffs = read_differences(reads)
    ndiff = diffs.shape[0]
    valid = valid_differences(read_dq, bad_bits, saturation_bit)
    # the rate comes from the differences that are searched
    skip = bool(skip_first_difference and ndiff > 1)
    use = rate_differences(dt, skip)
    rate = ramp_rate(diffs[use], dt[use], None if valid is None else valid[use])
    if skip:
        if valid is None:
            valid = np.ones(diffs.shape, dtype=bool)
        valid[0] = False
    factor, expected = noise_model_calibration(
        dt, float(np.median(read_noise_e)), float(np.median(rate)), skip_first_difference=skip)
    dt32 = dt.astype(np.float32)

    scale = 1.0
    if calibrate_noise:
        step = max(1, diffs.size // noise_sample_size)
        sample = np.arange(0, diffs.size, step, dtype=np.int64)
        if skip:
            sample = sample[sample >= rate.size]
        if valid is not None:
            sample = sample[valid.reshape(-1)[sample]]
        ex, sig = _excess_and_sigma(diffs, rate, dt32, factor, read_noise_e, sample)
        scale = measured_noise_scale(ex / sig) / expected
        if not np.isfinite(scale) or scale <= 0:
            scale = 1.0
    grow_thr = np.float32(grow_sigma * scale)
    seed_thr = np.float32(threshold_sigma * scale)

    # candidates: above the grow threshold for the smallest possible sigma (read noise only)
    min_sigma = np.sqrt(2.0) * float(np.min(read_noise_e)) * factor
    candidate = np.empty(diffs.shape, dtype=bool)
    for k in range(ndiff):        # one plane at a time keeps the temporaries small
        np.greater(diffs[k], rate * dt32[k] + np.float32(grow_thr * min_sigma[k]),
                   out=candidate[k])
    if valid is not None:
        candidate &= valid
    index = np.flatnonzero(candidate)
    ex, sig = _excess_and_sigma(diffs, rate, dt32, factor, read_noise_e, index)
    z = ex / sig
    grows = z > grow_thr
    candidate.reshape(-1)[index[~grows]] = False              # now the exact grow mask
    labels, n = label_jumps(candidate, index[z > seed_thr])

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

    span = float(times[-1] - times[0])
    if valid is None:
        searched = np.ones(rate.shape, dtype=np.float32)
    else:
        searched = (np.tensordot(dt32, valid.astype(np.float32), axes=1)
                    / np.float32(span)).astype(np.float32)
    return JumpResult(labels=labels, n=n, excess_e=excess, rate_e_per_s=rate, valid=valid,
                      noise_scale=float(scale), searched_fraction=searched)


#: defaults of :func:`find_ir_cosmic_rays` (recorded in the lake with every exposure)
DEFAULT_PARAMS = {"threshold_sigma": 5.0, "grow_sigma": 2.0, "calibrate_noise": True,
                  "skip_first_difference": False}


def measure_jumps(jumps: JumpResult, read_times_s: np.ndarray, *,
                  chip_index: int = 0) -> CosmicRayCatalog:
    """Measure the labelled jumps of one chip as a catalogue (energy = the jump in e-).

    The ``ndiff`` planes are stacked into one tall image (labels never touch across planes:
    they were made per plane) so :func:`hstcr_common.measure.label.measure_cosmic_rays` measures
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
    from ..measure import measure_cosmic_rays

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


def find_ir_cosmic_rays(dark, **params) -> tuple[CosmicRayCatalog, DetectionSummary]:
    """Method ``ramp``: every cosmic ray of an IR dark from the jumps between its reads.

    Parameters
    ----------
    dark : Dark
        An IR dark from :func:`hstcr_common.load.ir.load_ir_dark` (chips carry ``reads``,
        ``read_times_s`` and ``read_dq``).
    **params
        Overrides of :data:`DEFAULT_PARAMS`: ``threshold_sigma`` (seed, sigma),
        ``grow_sigma`` (neighbours, sigma), ``calibrate_noise`` (bool),
        ``skip_first_difference`` (bool).  See :func:`detect_jumps`.

    Returns
    -------
    catalog : CosmicRayCatalog
        All chips; ``read_index`` and ``arrival_time_s`` set.
    summary : DetectionSummary
        ``searched_pixels`` counts each pixel by the fraction of the ramp's time span in
        which it could be searched (a pixel that saturates half-way counts one half; a
        pixel flagged bad in every read counts 0), rounded.

    Raises
    ------
    HstcrError
        A chip without reads (not a ramp), or an unknown parameter.
    """
    from ..model import HstcrError

    unknown = set(params) - set(DEFAULT_PARAMS)
    if unknown:
        raise HstcrError(f"unknown parameter(s) for method 'ramp': {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(DEFAULT_PARAMS)}", dark.source, "detect")
    p = {**DEFAULT_PARAMS, **params}
    det = dark.detector
    parts, searched, notes = [], 0.0, []
    for index, chip in enumerate(dark.chips):
        if chip.reads is None or chip.read_times_s is None:
            raise HstcrError(f"chip {chip.name} has no reads: method 'ramp' needs an IR ramp "
                             f"(ima)", dark.source, "detect")
        jumps = detect_jumps(
            chip.reads, chip.read_times_s, chip.read_noise_e, read_dq=chip.read_dq,
            bad_bits=det.bad_mask_bits | det.saturation_bit,
            saturation_bit=det.saturation_bit,
            threshold_sigma=float(p["threshold_sigma"]), grow_sigma=float(p["grow_sigma"]),
            calibrate_noise=bool(p["calibrate_noise"]),
            skip_first_difference=bool(p["skip_first_difference"]))
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
        method="ramp", params=p, n_cr=n, n_cr_split=0, n_cr_corrected=float(n),
        searched_pixels=searched_pixels,
        searched_area_cm2=searched_pixels * det.pixel_area_cm2, notes=notes)
    return catalog, summary


class _quiet_nan:
    """Silence numpy's all-NaN slice warnings (handled explicitly by the caller)."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


#: the name :func:`hstcr_common.detect.methods.find_cosmic_rays` looks up for ``method='ramp'``
find_cosmic_rays_ramp = find_ir_cosmic_rays
