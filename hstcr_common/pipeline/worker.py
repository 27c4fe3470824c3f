"""A pool worker's start: the search's imports, Ctrl-C left to the parent, an end of its own
when the parent is gone.

This module is the pool's ``initializer`` and imports nothing heavy itself: a spawned worker
unpickles the initializer before its first task, so the search's modules (numpy, scipy,
astropy, pyarrow, ~0.5 s) load here, under :func:`.collector.imports_without_collection`,
and not while the first task's function is unpickled.  Workers are replaced every
:data:`.pool.MAX_TASKS_PER_CHILD` darks, so each of these costs is paid again and again
over a long run.
"""

from __future__ import annotations

import importlib
import os
import signal
import threading
import time

from .collector import freeze_at_exit, imports_without_collection

#: how often a worker checks that the run that started it is still alive, s
PARENT_CHECK_S = 1.0


def start_worker(parent_pid: int) -> None:
    """Pool initializer: import the search, leave Ctrl-C to the parent, and exit when the
    parent is gone.

    A run killed outright (SIGKILL, the OOM killer) cannot shut its pool down, and its
    workers would otherwise wait on the task queue forever, ~200 MB each.  A daemon thread
    notices the re-parenting within :data:`PARENT_CHECK_S` and ends the worker.
    """
    with imports_without_collection():
        importlib.import_module(".pool", __package__)   # the tasks' module: search and lake
    freeze_at_exit()        # a retiring worker exits in ~0.04 s, not ~0.2 s (pipeline.collector)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C for the run
    # spawned with SIGINT blocked (RecyclingPool._spawn_process): a pending one is dropped
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="hstcr-parent-watch", daemon=True).start()
