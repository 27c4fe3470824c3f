"""Freed frame-sized arrays are reused by the next dark instead of faulting in new pages."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from hstcr_common.pipeline.memory import MALLOC_ENVIRONMENT

_PROBE = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from hstcr_common.pipeline.memory import keep_freed_memory
    assert keep_freed_memory()
frames = [np.ones((2048, 4096), np.float32) for _ in range(6)]   # ACS/WFC chips, 34 MB
del frames
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
frames = [np.ones((2048, 4096), np.float32) for _ in range(6)]
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENVIRONMENT}
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True,
                         env=env, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc's mallopt")
def test_a_freed_chip_sized_array_is_reused_without_page_faults():
    # 34 MB is above glibc's largest adaptive mmap threshold: by default every such array
    # is a fresh mapping whose pages are faulted in again
    default, keep = _faults("default"), _faults("keep")
    assert keep < 100 and default > 10 * max(keep, 100), (default, keep)


def test_workers_and_lambda_inherit_the_thresholds():
    from hstcr_common.pipeline.memory import keep_freed_memory

    keep_freed_memory()
    for name, value in MALLOC_ENVIRONMENT.items():
        assert os.environ[name] == value


_ARROW_PROBE = """
import sys
import pyarrow as pa
from hstcr_common.pipeline.memory import keep_freed_memory
keep_freed_memory()
import os
print(pa.default_memory_pool().backend_name, os.environ["ARROW_DEFAULT_MEMORY_POOL"])
"""


@pytest.mark.parametrize("chosen,expected", [(None, "system"), ("jemalloc", "jemalloc")])
def test_arrow_allocates_through_malloc_unless_the_user_chose_a_pool(chosen, expected):
    import pyarrow as pa

    if expected not in pa.supported_memory_backends():
        pytest.skip(f"this pyarrow has no {expected} pool")
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    out = subprocess.run([sys.executable, "-c", _ARROW_PROBE], capture_output=True, text=True,
                         env=env, check=True)
    assert out.stdout.split() == [expected, chosen or "system"]
