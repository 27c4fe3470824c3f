"""The fixed pattern of a CCD chip: hot pixels, bad columns and the DQ bits that flag them.

Two generators:

* :func:`simulate_fixed_pattern` - the ideal dark's pattern (a fixed number of isolated hot
  pixels, log-uniform rates, a fixed share unflagged), unchanged since before issue 13;
* :func:`simulate_hot_population` - the realistic one (:class:`~.conditions.DarkConditions`):
  hot pixels drawn from a fixed, seeded *pool* in a fixed order, so darks of one set-up share
  their hot pixels and a dark later in the anneal cycle (a larger ``hot_fraction``) holds every
  hot pixel of an earlier one plus new ones; the first ``(1 - unflagged_share)`` of them (the
  oldest) are flagged in DQ; clusters of 2-6 adjacent pixels grow around a share of them;
  random-telegraph pixels switch between a high and a low level from dark to dark.

Everything is vectorised over pixels (no loop per hot pixel or cluster).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..instruments import Detector
from .conditions import HOT_RATE_RANGE_E_PER_S

#: default fraction of pixels that are hot, of those the share missing from the DQ (new since
#: the reference file), and bad columns per chip (the ideal dark's pattern).
HOT_PIXEL_FRACTION = 0.005
UNFLAGGED_HOT_FRACTION = 0.1
N_BAD_COLUMNS = 2
#: size of the seeded candidate pool of the realistic population (fraction of the pixels):
#: the most a chip can hold before clusters are added.  The pool has a fixed size so its
#: draws (and so every hot pixel's position, rate and kind) do not depend on the fraction used.
HOT_POOL_FRACTION = 0.1
#: cluster sizes (pixels, seed included), uniform; the mean (4) sets the number of seeds.
CLUSTER_SIZES = (2, 6)

# --- DQ bits per detector family -------------------------------------------------------------
#: (hot pixel, bad column): hstcal acsdq.h / wf3dq.h: 16 hot pixel, 128 bad column; stisdq.h:
#: 16 hot, 4 bad detector pixel; calwp2: 4 permanent camera defect, 128 "hot-ish" (16 there
#: means missing data).
_DQ_BITS = {
    "acs_wfc": (16, 128),
    "acs_hrc": (16, 128),
    "wfc3_uvis": (16, 128),
    "stis_ccd": (16, 4),
    "wfpc2": (128, 4),
}
#: (full-well saturation, A/D saturation): acsdq.h / wf3dq.h 256 SATPIXEL and 2048 ATODSAT;
#: stisdq.h 256 (one bit for both); calwp2 8 (saturated pixel).
_SATURATION_BITS = {
    "acs_wfc": (256, 2048),
    "acs_hrc": (256, 2048),
    "wfc3_uvis": (256, 2048),
    "stis_ccd": (256, 256),
    "wfpc2": (8, 8),
}
#: the 8 neighbours a cluster grows into, (dy, dx)
_NEIGHBOURS = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])


def dq_bits(detector: Detector) -> tuple[int, int]:
    """(hot pixel bit, bad column bit) this detector's pipeline uses."""
    return _DQ_BITS.get(detector.id, (16, 4))


def saturation_bits(detector: Detector) -> tuple[int, int]:
    """(full-well saturation bit, A/D saturation bit) this detector's pipeline uses."""
    return _SATURATION_BITS.get(detector.id, (256, 256))


def simulate_fixed_pattern(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    hot_pixel_fraction: float = HOT_PIXEL_FRACTION,
    unflagged_hot_fraction: float = UNFLAGGED_HOT_FRACTION,
    n_bad_columns: int = N_BAD_COLUMNS,
    hot_rate_range_e_per_s: tuple[float, float] = HOT_RATE_RANGE_E_PER_S,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hot pixels and bad columns of the ideal dark: a property of the detector, not of one
    exposure.

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


@dataclass
class HotPopulation:
    """The hot and warm pixels of one chip in one dark (arrays (ny, nx)).

    Attributes
    ----------
    rate_e_per_s : ndarray, float32
        Extra dark rate in this dark (telegraph state applied), 0 for normal pixels.
    hot : ndarray, bool
    flagged : ndarray, bool
        Hot pixels flagged in DQ (the rest are new since the reference superdark).
    telegraph : ndarray, bool
        Random-telegraph pixels.
    telegraph_high : ndarray, bool
        Telegraph pixels at their high level in this dark.
    cluster_id : ndarray, int32
        Cluster number (1..) of pixels in a cluster, 0 for isolated ones.
    bad_columns : ndarray, int64
    """

    rate_e_per_s: np.ndarray
    hot: np.ndarray
    flagged: np.ndarray
    telegraph: np.ndarray
    telegraph_high: np.ndarray
    cluster_id: np.ndarray
    bad_columns: np.ndarray


def _mix(key: np.ndarray) -> np.ndarray:
    """A 64-bit integer hash (splitmix64 finaliser), vectorised; wraps modulo 2**64."""
    z = key.astype(np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def simulate_hot_population(
    shape: tuple[int, int],
    pattern_rng: np.random.Generator,
    state_rng: np.random.Generator,
    *,
    hot_fraction: float,
    unflagged_share: float,
    cluster_share: float = 0.0,
    telegraph_share: float = 0.0,
    telegraph_low_ratio: float = 0.1,
    hot_rate_range_e_per_s: tuple[float, float] = HOT_RATE_RANGE_E_PER_S,
    n_bad_columns: int = N_BAD_COLUMNS,
) -> HotPopulation:
    """The realistic hot-pixel population of one chip in one dark.

    Parameters
    ----------
    shape : (ny, nx)
    pattern_rng : numpy.random.Generator
        The detector's fixed pattern (seeded alike for darks of one set-up): pool positions,
        rates, which pixels seed clusters or blink, the cluster shapes, bad columns.
    state_rng : numpy.random.Generator
        This dark's randomness: the telegraph states.
    hot_fraction : float
        Fraction of pixels hot, cluster members included (expected value).
    unflagged_share : float
        Share of the hot pixels not flagged in DQ: the newest ones.
    cluster_share : float
        Share of the hot pixels in clusters of 2-6 adjacent pixels (8-connected around a
        seed; expected value).
    telegraph_share : float
        Share of the hot pixels that are telegraph pixels (a cluster blinks as one).
    telegraph_low_ratio : float
        Low level / high level of a telegraph pixel.
    hot_rate_range_e_per_s : (float, float)
        Log-uniform range of the (high) dark rates.
    n_bad_columns : int

    Returns
    -------
    HotPopulation
    """
    ny, nx = shape
    npix = ny * nx
    pool_n = max(1, min(npix, int(round(HOT_POOL_FRACTION * npix))))
    # every draw has the pool's size whatever the fractions, so a pixel's role is fixed
    pool = pattern_rng.choice(npix, size=pool_n, replace=False).astype(np.int64)
    lo, hi = hot_rate_range_e_per_s
    rate = np.exp(pattern_rng.uniform(np.log(lo), np.log(hi), pool_n))
    seed_draw = pattern_rng.random(pool_n)
    blink_draw = pattern_rng.random(pool_n)
    key = pattern_rng.integers(0, 2**63, pool_n, dtype=np.int64).astype(np.uint64)
    bad_columns = np.sort(pattern_rng.choice(nx, size=min(n_bad_columns, nx), replace=False))
    high = state_rng.random(pool_n) < 0.5

    # a cluster of mean size m adds m - 1 pixels to its seed: seeds per base pixel s gives a
    # cluster share m s / (1 + (m - 1) s)
    mean_size = 0.5 * (CLUSTER_SIZES[0] + CLUSTER_SIZES[1])
    s = cluster_share / (mean_size - (mean_size - 1.0) * cluster_share)
    n_base = int(round(hot_fraction / (1.0 + (mean_size - 1.0) * s) * npix))
    if n_base > pool_n:
        raise ValueError(f"hot fraction {hot_fraction} exceeds the pool "
                         f"({HOT_POOL_FRACTION} of the pixels)")
    n_flagged = int(round(n_base * (1.0 - unflagged_share)))
    rank = np.arange(n_base)
    base_flat = pool[:n_base]
    telegraph = blink_draw[:n_base] < telegraph_share
    seeds = np.nonzero(seed_draw[:n_base] < s)[0]

    # cluster members: the first size - 1 of the 8 neighbours, in an order hashed from the key
    size = CLUSTER_SIZES[0] + (key[seeds] % np.uint64(CLUSTER_SIZES[1] - CLUSTER_SIZES[0] + 1)
                               ).astype(np.int64)
    hashes = _mix(key[seeds][:, None] + np.arange(1, 9, dtype=np.uint64)[None, :])
    order = np.argsort(hashes, axis=1)
    take = np.arange(8)[None, :] < (size - 1)[:, None]
    member_seed = np.broadcast_to(seeds[:, None], order.shape)[take]
    offsets = _NEIGHBOURS[order[take]]
    my = base_flat[member_seed] // nx + offsets[:, 0]
    mx = base_flat[member_seed] % nx + offsets[:, 1]
    on_chip = (my >= 0) & (my < ny) & (mx >= 0) & (mx < nx)
    member_seed, my, mx = member_seed[on_chip], my[on_chip], mx[on_chip]
    # a member's rate: a hashed 25-100 % of its seed's
    scale = 0.25 + 0.75 * ((hashes[take][on_chip] >> np.uint64(11)).astype(np.float64)
                           / float(2**53))

    # every hot pixel (base, then members) with the attributes of its seed
    flat = np.concatenate([base_flat, my * nx + mx])
    owner = np.concatenate([rank, member_seed])
    level = rate[owner] * np.concatenate([np.ones(n_base), scale])
    blinks = telegraph[owner]
    level = np.where(blinks & ~high[owner], level * telegraph_low_ratio, level)
    cluster = np.zeros(n_base, dtype=np.int32)
    cluster[seeds] = np.arange(1, seeds.size + 1, dtype=np.int32)

    out_rate = np.zeros(npix, dtype=np.float32)
    # where a member lands on another hot pixel the brighter one wins
    np.maximum.at(out_rate, flat, level.astype(np.float32))
    hot = out_rate > 0
    as_image = {}
    for name, values in (("flagged", owner < n_flagged), ("telegraph", blinks),
                         ("telegraph_high", blinks & high[owner])):
        image = np.zeros(npix, dtype=bool)
        image[flat[values]] = True
        as_image[name] = image.reshape(shape)
    cluster_id = np.zeros(npix, dtype=np.int32)
    cluster_id[flat] = cluster[owner]
    return HotPopulation(rate_e_per_s=out_rate.reshape(shape), hot=hot.reshape(shape),
                         cluster_id=cluster_id.reshape(shape),
                         bad_columns=bad_columns.astype(np.int64), **as_image)


def chip_dq(det: Detector, shape, flagged_hot: np.ndarray, bad_columns: np.ndarray):
    """DQ of the fixed pattern: flagged hot pixels and bad columns, uint16."""
    hot_bit, column_bit = dq_bits(det)
    dq = np.zeros(shape, dtype=np.uint16)
    dq[flagged_hot] |= np.uint16(hot_bit)
    dq[:, bad_columns] |= np.uint16(column_bit)
    return dq
