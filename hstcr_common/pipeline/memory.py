"""Keep freed memory for the next dark: glibc's malloc thresholds for the processes that search.

Searching one dark allocates and frees a few dozen frame-sized arrays (8-34 MB each for an
ACS/WFC chip).  glibc serves an allocation above its mmap threshold (which adapts, but never
past 32 MB) with a fresh mapping, and gives heap memory back to the system once more than
128 kB is free at its top, so every dark touched new pages again.  Page faults are dear in the
micro-VMs of a laptop's container or of Lambda: on the 2-core VM here one full-frame ACS/WFC
dark took ~18,000 faults and 0.6-1.5 s of system time, against 1.6 s of user time.  With both
thresholds raised the next dark reuses the last one's memory: detection of the second dark
1.97 -> 1.26 s (no faults).  The peak is unchanged (the process keeps its peak instead of
shrinking between darks, which a worker that handles dark after dark needs anyway).

Arrow's buffers (the Parquet writer's) come from glibc's malloc too, not from Arrow's own
mimalloc pool: that pool maps fresh segments for the first dark's Parquet files and made the
first write of a process 0.10-0.26 s against 0.06-0.075 s from malloc (steady writes 0.06 s
either way, ACS/WFC darks, 3 runs each).

Elsewhere than glibc (macOS) the malloc thresholds are not changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

#: largest allocation served from the heap (bytes): above any frame hstcr allocates
MMAP_THRESHOLD_BYTES = 1 << 30
#: free memory at the top of the heap kept rather than returned to the system (bytes)
TRIM_THRESHOLD_BYTES = 1 << 31
#: the same, for a process's start-up (glibc reads them before the first allocation): what
#: the pool's workers inherit and the Lambda functions are configured with
MALLOC_ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD_BYTES),
                      "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD_BYTES),
                      "ARROW_DEFAULT_MEMORY_POOL": "system"}
#: mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> bool:
    """Raise this process's malloc thresholds (glibc ``mallopt``), and set the environment the
    processes it spawns start with; Arrow allocates through malloc from here on (unless the
    user chose a pool: ``ARROW_DEFAULT_MEMORY_POOL``).  Returns whether this process's
    allocator took the thresholds."""
    for name, value in MALLOC_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    arrow = sys.modules.get("pyarrow")          # imported later, it reads the environment
    if arrow is not None and os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "system":
        arrow.set_memory_pool(arrow.system_memory_pool())
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    # 2**31 does not fit a C int: the largest one is as good
    return mallopt(_M_TRIM_THRESHOLD, min(TRIM_THRESHOLD_BYTES, 2**31 - 1)) == 1 and ok
