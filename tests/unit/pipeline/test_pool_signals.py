"""Ctrl-C reaching a worker that is still starting its interpreter must not kill it."""

from __future__ import annotations

import os
import signal
import threading
import time

from hstcr_common.pipeline.pool import _new_pool


def _pid() -> int:
    return os.getpid()


def test_sigint_during_worker_start_up_is_not_a_traceback(tmp_path, monkeypatch):
    # every worker of this test's pool sleeps 1 s while its interpreter starts (site import,
    # before the pool's initializer runs), and gets a SIGINT in that second, as a terminal's
    # Ctrl-C sent to the process group would deliver it
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import os, sys, time\n"
        "if str(os.getppid()) == os.environ.get('HSTCR_TEST_POOL_PARENT') \\\n"
        "        and '--multiprocessing-fork' in sys.orig_argv:   # a worker, not the tracker\n"
        "    open(os.path.join(os.environ['HSTCR_TEST_MARKS'], str(os.getpid())), 'w').close()\n"
        "    time.sleep(1.0)\n")
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("HSTCR_TEST_POOL_PARENT", str(os.getpid()))
    monkeypatch.setenv("HSTCR_TEST_MARKS", str(marks))
    interrupted = []

    def interrupt():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not interrupted:
            for mark in marks.iterdir():
                os.kill(int(mark.name), signal.SIGINT)
                interrupted.append(int(mark.name))
            time.sleep(0.02)

    thread = threading.Thread(target=interrupt, daemon=True)
    thread.start()
    pool = _new_pool(1, 10)
    try:
        worker = pool.submit(_pid).result(timeout=60)
    finally:
        pool.shutdown()
    thread.join(5)
    assert interrupted == [worker]          # the worker got its SIGINT, and lived to answer
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == set()   # parent's mask restored
