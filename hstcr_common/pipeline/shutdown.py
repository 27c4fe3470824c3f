"""A process's exit without the garbage collector's last passes over every object.

When a process ends (``sys.exit``, the end of ``main``, a pool worker retiring), CPython's
finalization runs the cyclic garbage collector over every object still alive, in several
passes while it tears the modules down.  After a dark is searched that is ~77,000 objects
(numpy, scipy, astropy, pyarrow and their modules): 0.16-0.27 s of a process that searched one
ACS/WFC dark in ~1.5 s, with perf showing ``gc_collect_main``, ``visit_decref`` and
``visit_reachable`` on top.  With the objects frozen first (``gc.freeze``: moved to a
permanent generation the collector skips), the same exit takes 0.035-0.045 s.

What is skipped is the collection of reference cycles still alive at exit, whose memory the
system takes back anyway.  Nothing of hstcr's depends on it: every file is written and closed
inside a ``with`` block (a lake file is renamed into place only once closed), and ``atexit``
handlers and ``weakref.finalize`` callbacks run as before (the freeze is registered first, so
it runs after every handler registered later).
"""

from __future__ import annotations

import atexit
import gc

_registered = False


def freeze_at_exit() -> None:
    """Freeze the garbage collector's objects when this process exits (once per process)."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
