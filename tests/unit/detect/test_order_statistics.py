"""Per-pixel order statistics along the first axis: exactly what numpy gives."""

from __future__ import annotations

import numpy as np
import pytest

from hstcr_common.detect import order_statistics
from hstcr_common.detect.order_statistics import lower_median, median_of_slabs


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 8, 15, 16, 17, 25])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_median_of_slabs_is_numpys_median(k, dtype):
    rng = np.random.default_rng(k)
    data = rng.normal(100.0, 10.0, (k, 37, 53)).astype(dtype)
    data[:, 3, :] = np.round(data[:, 3, :])             # ties
    data[k // 2, 5, 7] = np.inf
    data[0, 6, 8] = -np.inf
    data[-1, 9, 9] = np.nan                              # NaN where a value is
    data[:, 10, 10] = np.nan
    want = np.median(data, axis=0)
    got = median_of_slabs(data)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want, equal_nan=True)


def test_median_of_slabs_in_many_strips_and_other_shapes(monkeypatch):
    monkeypatch.setattr(order_statistics, "MEDIAN_STRIP_BYTES", 64)    # 16 float32 per strip
    rng = np.random.default_rng(1)
    for shape in [(6, 100), (7, 3, 5, 11), (4, 1)]:
        data = rng.normal(0.0, 1.0, shape).astype(np.float32)
        assert np.array_equal(median_of_slabs(data), np.median(data, axis=0))
    ints = rng.integers(0, 9, (5, 4, 4))                # not floats: numpy's own
    assert np.array_equal(median_of_slabs(ints), np.median(ints, axis=0))


def test_lower_median_is_the_rank_it_names():
    rng = np.random.default_rng(2)
    for k in (2, 3, 4, 5, 9):
        data = rng.normal(0.0, 1.0, (k, 20, 30)).astype(np.float32)
        rank = 0 if k <= 3 else (k - 1) // 2
        assert np.array_equal(lower_median(data), np.sort(data, axis=0)[rank])


@pytest.mark.parametrize("k", range(1, 13))
def test_the_selection_network_sorts_every_zero_one_input(k):
    """The 0-1 principle: a comparator network that sorts every input of 0s and 1s sorts
    every input.  The unpruned network (every rank) is checked on all 2^k such inputs, and
    each pruned one gives its ranks."""
    inputs = ((np.arange(2 ** k)[:, None] >> np.arange(k)) & 1).T.astype(np.int8)  # (k, 2^k)
    every = tuple(range(k))
    assert np.array_equal(np.stack(order_statistics.select_ranks(inputs, every)),
                          np.sort(inputs, axis=0))
    for rank in every:
        (got,) = order_statistics.select_ranks(inputs, (rank,))
        assert np.array_equal(got, np.sort(inputs, axis=0)[rank])


def test_the_pruned_network_is_smaller_than_a_full_sort():
    """The point of pruning: far fewer min/max than odd-even transposition's k(k-1)."""
    for k, most in [(4, 7), (16, 91), (30, 259)]:
        network = order_statistics.selection_network(k, ((k - 1) // 2,))
        assert sum(low + high for _, _, low, high in network) == most < k * (k - 1)


@pytest.mark.parametrize("k", [2, 4, 6, 9, 16, 21, 30, 33, 129])
def test_order_statistics_beyond_eight_values(k):
    """Groups of up to 30 darks and ramps of ~16 reads: the network for every k, numpy's
    own above MAX_NETWORK_VALUES; ties, infinities, NaN and a strip boundary included."""
    rng = np.random.default_rng(k)
    data = rng.normal(0.0, 1.0, (k, 9, 4100)).astype(np.float32)
    data[:, 0] = np.round(data[:, 0])
    data[0, 1, 5] = np.inf
    data[-1, 1, 6] = -np.inf
    rank = 0 if k <= 3 else (k - 1) // 2
    assert np.array_equal(lower_median(data), np.partition(data, rank, axis=0)[rank])
    assert np.array_equal(median_of_slabs(data), np.median(data, axis=0))
    data[k // 2, 2, 7] = np.nan
    assert np.array_equal(lower_median(data), np.partition(data, rank, axis=0)[rank],
                          equal_nan=True)
    assert np.array_equal(median_of_slabs(data), np.median(data, axis=0), equal_nan=True)
    part = data.reshape(k, -1)[:, :100].copy()
    before = part.copy()
    order_statistics.select_ranks(part, (rank,))
    assert np.array_equal(part, before, equal_nan=True)          # the input is not written
