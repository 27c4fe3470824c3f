"""The collector spares the libraries' objects: imports without its passes, exits without them."""

from __future__ import annotations

import subprocess
import sys

import pytest

# A reference cycle alive at exit whose finaliser says so: CPython's exit collects it (and
# runs ``__del__``) unless the collector's objects were frozen first.
_PROBE = """
import sys
setup = sys.argv[1]
if setup == "cli":
    import hstcr_common.cli
elif setup == "worker":
    import os
    from hstcr_common.pipeline.worker import start_worker
    start_worker(os.getppid())
import atexit

class Node:
    def __del__(self):
        sys.stdout.write("collected\\n")
        sys.stdout.flush()

a, b = Node(), Node()
a.other, b.other = b, a
del a, b
atexit.register(lambda: sys.stdout.write("exit handlers ran\\n"))
"""


def _exit_output(setup: str) -> str:
    out = subprocess.run([sys.executable, "-c", _PROBE, setup], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_plain_process_collects_its_cycles_at_exit():
    # the control: what the freeze takes away is real in this Python
    assert "collected" in _exit_output("none")


@pytest.mark.parametrize("setup", ["cli", "worker"])
def test_the_command_line_and_the_pool_workers_skip_the_exit_collection(setup):
    printed = _exit_output(setup)
    assert "collected" not in printed
    assert "exit handlers ran" in printed        # atexit handlers still run


_IMPORTS_PROBE = """
import gc
from hstcr_common.pipeline.collector import imports_without_collection
frozen = gc.get_freeze_count()
with imports_without_collection():
    inside = gc.isenabled()
    import fractions, decimal          # objects the block creates
after_first = gc.get_freeze_count()
with imports_without_collection():
    import statistics
print(inside, gc.isenabled(), after_first > frozen, gc.get_freeze_count() == after_first)
"""


def test_imports_run_without_the_collector_and_stay_frozen_once_per_process():
    out = subprocess.run([sys.executable, "-c", _IMPORTS_PROBE], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # off inside, on again after, the block's objects frozen, a second block freezes nothing
    assert out.stdout.split() == ["False", "True", "True", "True"]


_RUN_PROBE = """
import gc, sys
counts = [0, 0, 0]
gc.callbacks.append(lambda phase, info: phase == "stop" and counts.__setitem__(
    info["generation"], counts[info["generation"]] + 1))
if sys.argv[1] == "plain":
    import hstcr_common.pipeline.pool           # what `hstcr run` imports, collector on
elif sys.argv[1] == "worker":                   # a pool worker's start (its initializer)
    import os
    from hstcr_common.pipeline.worker import start_worker
    start_worker(os.getppid())
else:
    from hstcr_common.cli import main
    try:                                        # no darks: it stops right after its imports
        main(["run", sys.argv[2], "--lake", sys.argv[3], "--quiet"])
    except SystemExit:
        pass
print(*counts)
"""


@pytest.mark.parametrize("how", ["cli", "worker"])
def test_hstcr_run_and_its_workers_import_the_search_without_the_collectors_older_passes(
        tmp_path, how):
    (tmp_path / "in").mkdir()

    def passes(how):
        out = subprocess.run([sys.executable, "-c", _RUN_PROBE, how, str(tmp_path / "in"),
                              str(tmp_path / "lake")], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        young, middle, full = map(int, out.stdout.split())
        return middle + full

    # 11 middle-or-full passes (one full) for the plain import here, 4 for the command (its
    # own click and argument handling before the search's imports), 0 for a worker
    assert passes(how) * 2 < passes("plain")
