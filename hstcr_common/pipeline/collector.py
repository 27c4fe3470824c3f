"""The cyclic garbage collector at a process's start and end: not over the libraries' objects.

Importing numpy, scipy, astropy and pyarrow creates ~50,000 objects that live as long as the
process, and the collector walks them again and again:

* **while they are imported**: CPython collects its young objects every 700 allocations and
  the older generations every 10 of those, so the imports of ``hstcr run`` paid ~126 young,
  ~11 middle and one full collection: 0.05-0.09 s of a one-dark process, measured with
  ``gc.callbacks`` (all of them in its first 0.65 s; none of the middle or full ones after).
  :func:`imports_without_collection` holds the collector off while a block imports, then
  freezes what it created (``gc.freeze``: a permanent generation the collector skips);
* **at exit** (``sys.exit``, the end of ``main``, a pool worker retiring): finalisation runs
  the collector over every object still alive, ~77,000 after a dark is searched, several
  times while it tears the modules down: 0.16-0.27 s of a process that searched one ACS/WFC
  dark in ~1.5 s, with perf showing ``gc_collect_main``, ``visit_decref`` and
  ``visit_reachable`` on top.  With the objects frozen first (:func:`freeze_at_exit`) the
  same exit takes 0.035-0.045 s.

What is given up: reference cycles among the frozen objects (module-level state of the
libraries) are never collected, and cycles still alive at exit are left to the system, which
takes the memory back anyway.  Nothing of hstcr's depends on either: every file is written
and closed inside a ``with`` block (a lake file is renamed into place only once closed), and
``atexit`` handlers and ``weakref.finalize`` callbacks run as before.  The per-dark work
runs with the collector on as usual: a failed dark's traceback cycle, holding frame-sized
arrays, is collected as before.
"""

from __future__ import annotations

import atexit
import gc
from contextlib import contextmanager

_registered = False
_imports_settled = False


def freeze_at_exit() -> None:
    """Freeze the collector's objects when this process exits (registered once per process;
    registered early, it runs after every exit handler registered later)."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True


@contextmanager
def imports_without_collection():
    """Hold the collector off while the block runs (imports), then freeze the objects it
    created and give the collector back as it was.

    Once per process: a later block finds its modules imported already, and freezing again
    would make permanent whatever cyclic garbage the process holds by then (a test suite
    that runs the command in-process, over and over)."""
    global _imports_settled
    if _imports_settled:
        yield
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        _imports_settled = True
        gc.freeze()
        if was_enabled:
            gc.enable()
