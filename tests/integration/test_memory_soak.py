"""Load: a local run over many darks keeps its memory flat and loses nothing.

The full measurement (200 and 2,000 full-frame darks) is ``benchmarks/bench_memory.py``; this
test runs the same driver (:mod:`hstcr_common.pipeline.soak`) over 200 small-frame darks (byte copies of a dozen templates with
their ROOTNAME patched) and checks that the run finishes every dark, that the lake holds
exactly one row set per dark, and that memory does not creep: the parent's RSS and the
workers' peak RSS in the second half of the run stay within a bound of the first half's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hstcr_common.lake import Lake

N_DARKS = 200
SHAPE = None  # full frames: a smaller frame is a subarray, which the pipeline refuses
MB = 2**20


def _bench():
    from hstcr_common.pipeline import soak

    return soak


def test_rootname_patch_keeps_a_valid_fits_file(tmp_path):
    """A copy with ROOTNAME patched reads as its own dark through the real loader."""
    from astropy.io import fits

    from hstcr_common.load import read_header_facts
    from hstcr_common.synthetic import write_sample

    bench = _bench()
    dark = write_sample("stis_ccd", 1, tmp_path / "t", seed=3, shape=(64, 64))[0]
    src = dark.paths["science"]
    dst = tmp_path / "o0000042q_flt.fits"
    bench.clone_file(src, dst, "o0000042q")
    assert dst.stat().st_size == src.stat().st_size
    with fits.open(dst) as hdul, fits.open(src) as orig:
        hdul.verify("exception")
        assert hdul[0].header["ROOTNAME"] == "o0000042q"
        assert (hdul["SCI"].data == orig["SCI"].data).all()
    assert read_header_facts(str(dst))["dataset"] == "o0000042q"


@pytest.mark.slow
def test_memory_stays_flat_over_200_darks(tmp_path):
    bench = _bench()
    templates = tmp_path / "templates"
    work = tmp_path / "work"
    bench.write_templates(templates, SHAPE)  # here, so the driver's own peak is the run's alone
    r = bench.measure(N_DARKS, templates, work, workers=2, shape=SHAPE, timeout=600)
    assert (r["done"], r["failed"]) == (N_DARKS, 0), r["failures"]
    # every dark exactly once in the lake
    lake = Lake(work / "lake")
    assert len(lake.files("exposures")) == len(lake.files("cosmic_rays")) == N_DARKS
    assert lake.read_table("exposures", ["dataset"]).num_rows == N_DARKS
    assert sum(lake.num_rows(p) for p in lake.files("cosmic_rays")) == r["n_cr"] > 0
    # workers were recycled (32 darks each), and were all seen by the sampler
    assert r["workers_seen"] >= N_DARKS // 32
    # flat: the parent grows by less than 40 MB from half-way to the end, and no worker of the
    # second half peaks above the first half's peak by more than 25% + 20 MB
    assert r["parent_rss_end"] - r["parent_rss_half"] < 40 * MB, r
    assert r["worker_peak"] < 1.25 * r["worker_peak_first_half"] + 20 * MB, r
    # sanity of the figures themselves (MB): a Python + numpy/astropy/pyarrow process
    assert 30 * MB < r["worker_peak"] < 1500 * MB and 30 * MB < r["parent_peak"] < 1500 * MB
    print(f"\n{N_DARKS} full-frame darks: parent peak {r['parent_peak'] / MB:.0f} MB, "
          f"worker peak {r['worker_peak'] / MB:.0f} MB, {r['seconds']} s")


@pytest.mark.slow
def test_worker_recycling_never_stalls_the_pool():
    """Regression: with CPython's own ProcessPoolExecutor (3.11 .. gh-115634), a run of more
    than ``workers * max_tasks_per_child`` darks hung forever once every worker had retired.
    The pipeline's pool replaces retired workers; 40 tasks over 2 workers retiring every 3."""
    import os
    from concurrent.futures import as_completed

    from hstcr_common.pipeline.pool import _new_pool

    with _new_pool(2, 3) as pool:
        futures = [pool.submit(os.getpid) for _ in range(40)]
        pids = [f.result() for f in as_completed(futures, timeout=120)]
    assert len(pids) == 40
    assert len(set(pids)) >= 40 // 3  # every worker retired after 3 tasks and was replaced
