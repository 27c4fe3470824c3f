"""The group reference's smooth map reads its mean only where the box estimates sample it."""

from __future__ import annotations

import numpy as np
import pytest

from hstcr_common.detect.group_reference import ChipReference, Elementwise
from hstcr_common.detect.local_background import background_grids


def _chip(shape, seed=3) -> ChipReference:
    rng = np.random.default_rng(seed)
    ny, nx = shape
    count = np.full(shape, 4, np.uint8)
    count[::97, ::13] = 0                 # scattered pixels no dark was accepted at
    count[5::101] = 3                     # rows where one dark was rejected
    count[: ny // 20, : nx // 15] = 0     # an empty corner (a masked region)
    total = (rng.normal(40.0, 5.0, shape) * count).astype(np.float32)
    return ChipReference("c", total, count, np.zeros((4, ny, -(-nx // 8)), np.uint8),
                         np.zeros(shape, bool), [])


@pytest.mark.parametrize("shape, amplifiers", [((2048, 4096), 2), ((1024, 1024), 1),
                                               ((800, 800), 1), ((1015, 1000), 3),
                                               ((256, 256), 1)])
def test_the_smooth_grids_equal_those_of_the_whole_mean(shape, amplifiers):
    chip = _chip(shape)
    whole = background_grids(chip.mean_e(), chip.count == 0, n_amplifiers=amplifiers)
    sampled = chip.smooth_grids(amplifiers)
    assert len(sampled) == len(whole) == amplifiers
    for a, b in zip(whole, sampled):
        assert a.keys() == b.keys()
        for key in a:
            assert np.asarray(a[key]).dtype == np.asarray(b[key]).dtype
            assert np.array_equal(a[key], b[key]), key


def test_an_elementwise_view_computes_only_the_slice_it_is_asked_for():
    calls = []

    def ratio(x, y):
        calls.append(x.shape)
        return x / y

    x = np.arange(1.0, 121.0).reshape(10, 12)
    y = np.full((10, 12), 4.0)
    view = Elementwise(ratio, x, y)
    assert view.shape == (10, 12) and view.ndim == 2
    part = view[:, 3:9][::2, ::3]
    assert calls == []                                   # slicing computes nothing
    assert np.array_equal(np.asarray(part), (x / y)[:, 3:9][::2, ::3])
    assert calls == [(5, 2)]
    assert np.asarray(part, dtype=np.float32).dtype == np.float32
