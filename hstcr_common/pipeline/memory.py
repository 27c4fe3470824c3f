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

Elsewhere than glibc (macOS) nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: largest allocation served from the heap (bytes): above any frame hstcr allocates
MMAP_THRESHOLD_BYTES = 1 << 30
#: free memory at the top of the heap kept rather than returned to the system (bytes)
TRIM_THRESHOLD_BYTES = 1 << 31
#: the same, for a process's start-up (glibc reads them before the first allocation): what
#: the pool's workers inherit and the Lambda functions are configured with
MALLOC_ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD_BYTES),
                      "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD_BYTES)}
#: mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> bool:
    """Raise this process's malloc thresholds (glibc ``mallopt``), and set the environment the
    processes it spawns start with.  Returns whether this process's allocator took them."""
    for name, value in MALLOC_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    # 2**31 does not fit a C int: the largest one is as good
    return mallopt(_M_TRIM_THRESHOLD, min(TRIM_THRESHOLD_BYTES, 2**31 - 1)) == 1 and ok
