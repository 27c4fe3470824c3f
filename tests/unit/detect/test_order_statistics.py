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
