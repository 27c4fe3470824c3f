"""A soak: peak memory of a local run over many darks; does it stay flat from 200 to 2,000?

The engine behind ``benchmarks/bench_memory.py`` and ``tests/integration/test_memory_soak.py``
(it lives in the package so neither imports the other).

A run of N darks goes through :func:`hstcr_common.pipeline.run` (the engine of ``hstcr run``)
in a driver process with ``--workers`` spawned workers.  A sampler thread in the driver reads
``VmRSS``/``VmHWM`` of the driver and of every worker from ``/proc`` every 0.1 s (workers are
recycled every 32 darks, so many come and go); ``getrusage(RUSAGE_CHILDREN)`` gives the peak
of every reaped worker as a cross-check.

Cheap darks: a few synthetic templates are simulated once; the N darks are byte copies of them
with the ROOTNAME card of the primary header patched (the pipeline names a dark by ROOTNAME,
so hard links would all be one dark).  Copies are made a window ahead of the run and deleted
once their result is in, so 2,000 full-frame darks need ~100 of them on disk at a time.

Usage::

    .venv/bin/python benchmarks/bench_memory.py            # 200 and 2,000 full-frame darks
    .venv/bin/python -m hstcr_common.pipeline.soak --n 200 --n 2000 --shape 256
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BLOCK = 2880
CARD = 80
TEMPLATES = {"stis_ccd": 6, "acs_hrc": 6}
WINDOW = 96


# --------------------------------------------------------------------------- cheap copies

def _patch_rootname(header: bytearray, new: str) -> None:
    """Set ROOTNAME in a raw FITS header (in place; same 80-byte card, so still valid)."""
    for i in range(0, len(header), CARD):
        key = bytes(header[i:i + 8])
        if key == b"ROOTNAME":
            card = f"ROOTNAME= '{new:<8}'".ljust(CARD)[:CARD]
            header[i:i + CARD] = card.encode("ascii")
            return
        if key == b"END     ":
            break
    raise ValueError("no ROOTNAME card in the primary header")


def _primary_header_length(fh) -> int:
    fh.seek(0)
    n = 0
    while True:
        block = fh.read(BLOCK)
        if len(block) < BLOCK:
            raise ValueError("no END card")
        n += BLOCK
        for i in range(0, BLOCK, CARD):
            if block[i:i + 8] == b"END     ":
                return n


def clone_file(src: Path, dst: Path, rootname: str) -> None:
    """Copy a FITS file with its primary ROOTNAME replaced (header patched, data streamed)."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        n = _primary_header_length(fin)
        fin.seek(0)
        header = bytearray(fin.read(n))
        _patch_rootname(header, rootname)
        fout.write(header)
        fout.flush()  # sendfile writes at the descriptor's position, after the header
        size = os.fstat(fin.fileno()).st_size
        offset = n
        while offset < size:  # kernel copy: the data never enters this process's memory
            offset += os.sendfile(fout.fileno(), fin.fileno(), offset, size - offset)


def write_templates(folder: Path, shape: int | None = None) -> list[dict]:
    """Synthetic template darks (once); returns their manifest items."""
    from hstcr_common.synthetic import write_sample

    manifest = folder / "templates.jsonl"
    if manifest.exists():
        return [json.loads(line) for line in manifest.read_text().splitlines()]
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for k, (det, n) in enumerate(TEMPLATES.items()):
        kwargs = {"shape": (shape, shape)} if shape else {}
        darks = write_sample(det, n, folder / det, seed=900 + k, **kwargs)
        items += [d.manifest_item for d in darks]
    manifest.write_text("".join(json.dumps(it) + "\n" for it in items))
    return items


def clone_items(templates: list[dict], n: int, folder: Path) -> list[dict]:
    """``n`` manifest items cycling over the templates, each with its own rootname and files
    (not yet written: :func:`make_copy` writes them)."""
    items = []
    for i in range(n):
        t = templates[i % len(templates)]
        name = f"{t['dataset'][0]}{i:07d}q"
        files = {role: str(folder / f"{name}_{Path(p).name.split('_', 1)[1]}") for role, p in t["files"].items()}
        items.append({"dataset": name, "instrument": t["instrument"], "month": t["month"], "files": files,
                      "template": t["files"]})
    # the run goes month by month: list the copies in that order so the window of copies
    # made ahead is the window the run is working through
    return sorted(items, key=lambda it: it["month"])


def make_copy(item: dict) -> None:
    for role, dst in item["files"].items():
        clone_file(Path(item["template"][role]), Path(dst), item["dataset"])


def drop_copy(item: dict) -> None:
    for dst in item["files"].values():
        try:
            os.unlink(dst)
        except FileNotFoundError:
            pass


# --------------------------------------------------------------------------- memory sampling

def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def _children(pid: int) -> list[int]:
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                kids += [int(x) for x in fh.read().split()]
        except OSError:
            pass
    return kids


class TreeSampler(threading.Thread):
    """Samples VmRSS/VmHWM of this process and its descendants every ``interval`` seconds."""

    def __init__(self, interval: float = 0.1):
        super().__init__(daemon=True)
        self.interval = interval
        self.stop_event = threading.Event()
        self.worker_hwm: dict[int, int] = {}   # pid -> peak RSS (bytes)
        self.parent_hwm = 0
        self.max_tree_rss = 0                  # the most the whole tree held at one moment
        self.progress = 0                      # darks finished (set by the driver)
        self.marks: list[tuple[int, int, int]] = []  # (darks done, parent RSS, tree RSS)

    def sample(self):
        me = os.getpid()
        st = _status(me)
        self.parent_hwm = max(self.parent_hwm, st.get("VmHWM", 0))
        tree = st.get("VmRSS", 0)
        stack = _children(me)
        while stack:
            pid = stack.pop()
            s = _status(pid)
            if s:
                self.worker_hwm[pid] = max(self.worker_hwm.get(pid, 0), s.get("VmHWM", 0))
                tree += s.get("VmRSS", 0)
            try:
                stack += _children(pid)
            except OSError:
                pass
        self.max_tree_rss = max(self.max_tree_rss, tree)
        self.marks.append((self.progress, st.get("VmRSS", 0), tree))

    def run(self):
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(self.interval)


def drive(n: int, templates_dir: Path, work: Path, workers: int, shape: int | None) -> dict:
    """One run of ``n`` darks in this process; returns the memory figures (bytes)."""
    from hstcr_common.pipeline import run

    templates = write_templates(templates_dir, shape)
    inputs = work / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    items = clone_items(templates, n, inputs)
    by_name = {it["dataset"]: it for it in items}
    for it in items[:WINDOW]:
        make_copy(it)
    sampler = TreeSampler()
    sampler.start()
    half_marks = {}
    counter = [0]
    worker_hwm_at_half: list[int] = []

    def on_result(result):
        i = counter[0]
        counter[0] += 1
        sampler.progress = counter[0]
        drop_copy(by_name[result["dataset"]])
        if i + WINDOW < n:
            make_copy(items[i + WINDOW])
        if counter[0] == n // 2:
            sampler.sample()
            half_marks.update(parent_rss=sampler.marks[-1][1])
            worker_hwm_at_half.append(max(sampler.worker_hwm.values(), default=0))

    t0 = time.perf_counter()
    summary = run([{k: v for k, v in it.items() if k != "template"} for it in items], lake=str(work / "lake"),
                  workers=workers, on_result=on_result)
    seconds = time.perf_counter() - t0
    sampler.sample()
    sampler.stop_event.set()
    sampler.join()
    children_maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    worker_peaks = sorted(sampler.worker_hwm.values())
    return {
        "n": n, "done": summary.done, "failed": summary.failed, "seconds": round(seconds, 1),
        "darks_per_s": round(summary.done / seconds, 2), "n_cr": summary.n_cr,
        "workers_seen": len(worker_peaks),
        "parent_peak": sampler.parent_hwm,
        "parent_rss_half": half_marks.get("parent_rss", 0),
        "parent_rss_end": sampler.marks[-1][1],
        "worker_peak": max(worker_peaks, default=0),
        "worker_peak_first_half": worker_hwm_at_half[0] if worker_hwm_at_half else 0,
        "worker_peak_median": worker_peaks[len(worker_peaks) // 2] if worker_peaks else 0,
        "children_maxrss": children_maxrss,
        "tree_peak": sampler.max_tree_rss,
        "failures": [r["error"] for r in summary.results if r["status"] == "failed"][:5],
    }


def measure(n: int, templates_dir: Path, work: Path, *, workers: int = 2, shape: int | None = None,
            timeout: float = 3600) -> dict:
    """:func:`drive` in a fresh interpreter (so earlier runs cannot inflate its figures)."""
    cmd = [sys.executable, "-m", __name__, "--driver", "--n", str(n), "--templates",
           str(templates_dir), "--work", str(work), "--workers", str(workers)]
    if shape:
        cmd += ["--shape", str(shape)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def _mb(x: int) -> str:
    return f"{x / 2**20:7.0f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, action="append", help="darks per run (repeatable); default 200 and 2000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shape", type=int, default=None, help="square chip side (default: full frame)")
    ap.add_argument("--templates", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--driver", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.driver:
        out = drive(args.n[0], args.templates, args.work, args.workers, args.shape)
        print(json.dumps(out))
        return
    sizes = args.n or [200, 2000]
    scratch = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        templates = args.templates or scratch / "templates"
        write_templates(templates, args.shape)
        rows = []
        for n in sizes:
            work = (args.work or scratch) / f"run-{n}"
            shutil.rmtree(work, ignore_errors=True)
            rows.append(measure(n, templates, work, workers=args.workers, shape=args.shape))
            shutil.rmtree(work, ignore_errors=True)
        frame = f"{args.shape}x{args.shape}" if args.shape else "full-frame 1024x1024"
        print(f"hstcr run, {frame} STIS/CCD + ACS/HRC darks, {args.workers} workers (MB = MiB)")
        print(f"{'darks':>6} {'s':>7} {'darks/s':>8} {'parent':>7} {'parent@½':>9} {'parent@end':>10} "
              f"{'worker':>7} {'worker@½':>9} {'rusage':>7} {'tree':>7} {'workers':>7}")
        for r in rows:
            print(f"{r['n']:>6} {r['seconds']:>7} {r['darks_per_s']:>8} {_mb(r['parent_peak'])} "
                  f"{_mb(r['parent_rss_half']):>9} {_mb(r['parent_rss_end']):>10} {_mb(r['worker_peak'])} "
                  f"{_mb(r['worker_peak_first_half']):>9} {_mb(r['children_maxrss'])} {_mb(r['tree_peak'])} "
                  f"{r['workers_seen']:>7}")
            assert r["failed"] == 0, r["failures"]
        if len(rows) >= 2:
            a, b = rows[0], rows[-1]
            print(f"ratio {b['n']}/{a['n']} darks: parent peak x{b['parent_peak'] / a['parent_peak']:.2f}, "
                  f"worker peak x{b['worker_peak'] / a['worker_peak']:.2f}, "
                  f"tree peak x{b['tree_peak'] / a['tree_peak']:.2f}")
        print(json.dumps(rows))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
