"""The noise model of an IR ramp's read differences, against which jumps are measured.

``diff[k] = read[k+1] - read[k]`` (electrons), ``dt[k] = t[k+1] - t[k]`` (s).  Each pixel's
own accumulation rate is the *median* of ``diff[k] / dt[k]`` over its valid differences of
the regular cadence (:func:`rate_differences`): a cosmic ray adds charge to one difference,
so the median ignores it (with two differences the *minimum* is used instead, for the same
reason; with one, the chip's median).  The expected scatter of a difference's excess
``diff[k] - rate dt[k]`` is ``sqrt(2 rn^2 + max(rate, 0) dt[k])`` (:func:`difference_sigma`:
read noise of two reads plus Poisson noise of the accumulated charge), widened per
difference by the median rate's own scatter as measured on simulated pure-noise ramps with
the same read times (:func:`noise_model_calibration`), and multiplied by one global factor
measured from the data (:func:`measured_noise_scale`), so a header read noise that is off
(e.g. CDS instead of per read) does not change the false-alarm rate.

Differences involving a read flagged bad (e.g. saturated) are not used, except the
difference *into* the first saturated read (:func:`valid_differences`).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import ndtri

from .order_statistics import median_of_slabs

#: sigma of a normal distribution per median absolute deviation
MAD_TO_SIGMA = 1.482602218505602


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
        rate = (median_of_slabs(diffs) / np.float32(dt[0])).astype(np.float32)
    else:
        rates = diffs / dt32[:, :, None]
        rate = (median_of_slabs(rates) if ndiff >= 3 else np.min(rates, axis=0)).astype(np.float32)
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


class _quiet_nan:
    """Silence numpy's all-NaN slice warnings (handled explicitly by the caller)."""

    def __enter__(self):
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
