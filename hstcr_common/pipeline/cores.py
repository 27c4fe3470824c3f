"""One core per searching process: the BLAS libraries start no threads of their own.

numpy and scipy each load an OpenBLAS that starts a thread per core and keeps it spinning
for a while after every call.  A search calls BLAS only for small products (the background
maps' ``(ny, 32) x (32, nx)`` interpolation per amplifier region, the spill fit's 2 x 2
normal equations), which gain nothing from more threads; the spinning threads only burn
CPU.  Measured on this 2-core machine (synthetic full-frame ACS/WFC darks, ``threshold``):

* one worker, 4 darks: the same wall time (5.5-6.0 s either way), but user CPU
  6.3 s -> 5.1 s: ~0.3 s per dark spent spinning;
* a worker per core (the default), 8 darks on 2 workers: 7.1-7.4 s -> 6.1-6.4 s wall
  (user CPU 12.0-12.6 s -> 10.0-10.5 s), as the spinning threads no longer take the other
  worker's core.

A Lambda worker has one vCPU's worth of CPU time (1,769 MB) or a little more; a spinning
thread there takes its time from the search.  So every process that searches darks starts
with :data:`ONE_THREAD_ENVIRONMENT`: the ``hstcr`` command sets it before anything imports
numpy (:mod:`hstcr_common.cli`), :func:`hstcr_common.pipeline.run` for the workers it spawns,
and the Lambda functions are configured with it (``infra/functions.py``).  A value the user
set is kept.
"""

from __future__ import annotations

import os

#: the thread count of every BLAS build numpy/scipy may load: OpenBLAS (pthreads or OpenMP),
#: MKL, Apple's Accelerate -- the variables joblib's workers set for the same reason
ONE_THREAD_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                          "MKL_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1"}


def one_blas_thread() -> None:
    """Set :data:`ONE_THREAD_ENVIRONMENT` (where not set) for the processes started from here,
    and for this one if numpy is not imported yet (BLAS reads it when it loads)."""
    for name, value in ONE_THREAD_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
