"""Processes of hstcr end without the garbage collector's passes over what is still alive."""

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
    from hstcr_common.pipeline.pool import _watch_parent
    _watch_parent(os.getppid())
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
