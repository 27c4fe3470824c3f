"""Processes that search darks start no BLAS threads (hstcr_common.pipeline.cores)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from hstcr_common.pipeline.cores import ONE_THREAD_ENVIRONMENT

#: threads of a process once numpy and scipy (each with its OpenBLAS) are loaded
_THREADS = """
import os, sys
{setup}
import numpy, scipy.ndimage, scipy.linalg
print(len(os.listdir('/proc/self/task')))
"""


def _threads(setup: str = "", env: dict | None = None) -> int:
    base = {k: v for k, v in os.environ.items() if k not in ONE_THREAD_ENVIRONMENT}
    out = subprocess.run([sys.executable, "-c", _THREADS.format(setup=setup)],
                         capture_output=True, text=True, check=True, env={**base, **(env or {})})
    return int(out.stdout.strip())


needs_cores = pytest.mark.skipif(
    platform.system() != "Linux" or (os.cpu_count() or 1) < 2,
    reason="counts /proc/self/task; BLAS starts threads only with >= 2 cores")


@needs_cores
def test_blas_starts_threads_by_default_and_none_with_the_environment():
    assert _threads() > 1                      # what the setting is for
    assert _threads(env=ONE_THREAD_ENVIRONMENT) == 1


@needs_cores
def test_the_hstcr_command_sets_it_before_numpy_loads():
    # the CLI package is imported before any command module (which import numpy)
    assert _threads(setup="import hstcr_common.cli") == 1


@needs_cores
def test_a_users_own_setting_is_kept():
    assert _threads(setup="import hstcr_common.cli",
                    env={"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}) > 1


def test_workers_spawned_by_run_inherit_it(tmp_path, monkeypatch):
    from hstcr_common.pipeline import run

    for name in ONE_THREAD_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    run([], lake=str(tmp_path / "lake"), workers=2)
    for name, value in ONE_THREAD_ENVIRONMENT.items():
        assert os.environ[name] == value
