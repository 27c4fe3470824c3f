"""What a run costs on AWS, from measured per-dark time and memory.

Lambda GB-seconds per dark are measured for every detector: a synthetic dark of each
(``--detectors``, default the seven of the archive: ACS/WFC, WFC3/UVIS, ACS/HRC, STIS/CCD,
WFPC2, WFC3/IR, NICMOS) is written first, then processed by ``process_item`` in a fresh
interpreter (so peak RSS is one worker's: imports + one dark, not the simulation): a first
(cold) dark, then ``--repeat`` warm ones.  Priced at the worker's memory setting, read from
``infra/functions.py`` (``process_dark``'s ``worker_memory_mb``):

- Lambda: GB-seconds at the arm64 price + $0.20 per 1M requests; the billed time of a warm
  invocation is the measured ``process_item`` time (scaled to Lambda's CPU share: below
  1,769 MB a function gets a fraction of a vCPU, so duration grows as 1769/memory; above it
  the mostly single-threaded work gets no faster) plus the S3 read of the dark, estimated
  from its size at ~80 MB/s in-region (S3_READ_BYTES_PER_S); a cold start adds the imports
  and the first dark's one-time set-up (shown per cold start);
- Step Functions: the Standard parent's transitions + one Express child per dark (``auto``:
  one per group, its reference child, which searches the group's darks);
- S3: our PUT/LIST/GET requests (reads from ``stpubdata`` are paid by AWS Open Data) and
  storage of the Parquet written;
- Athena: bytes scanned by one query over the ``exposures`` table and one over a
  ``cosmic_rays`` column, at $5/TB;
- CloudWatch Logs: the handler's log lines.

Prices: us-east-1, on-demand, no free tier (see PRICES).

Usage::

    python benchmarks/cost_model.py [--darks 1000] [--archive 100000] [--memory MB]
        [--detectors acs_wfc,stis_ccd] [--repeat 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from hstcr_common.pipeline.cores import ONE_THREAD_ENVIRONMENT
from hstcr_common.pipeline.memory import MALLOC_ENVIRONMENT

PRICES = {
    "lambda_arm64_gb_s": 0.0000133334,
    "lambda_x86_gb_s": 0.0000166667,
    "lambda_request": 0.20 / 1e6,
    "sfn_standard_transition": 0.025 / 1000,
    "sfn_express_request": 1.00 / 1e6,
    "sfn_express_gb_s": 0.00001667,
    "s3_put": 0.005 / 1000,      # PUT, COPY, POST, LIST
    "s3_get": 0.0004 / 1000,
    "s3_gb_month": 0.023,
    "athena_tb": 5.0,
    "logs_gb": 0.50,
}
#: One full vCPU at this much Lambda memory (MB).
FULL_VCPU_MB = 1769
#: Our S3 requests, as ``tests/integration/test_s3_requests.py`` counts them on a moto server
#: for the real ``process_dark`` handler (and fails when they change).  A dark: PUT its
#: cosmic_rays and exposures Parquet (one PutObject each below S3_PART_BYTES: pyarrow's
#: delayed open, hstcr_common.remote.s3_filesystem) and its result receipt; HEAD its
#: exposures (already done?) and failures (one to delete?) files.
S3_PUTS_PER_DARK = 3
S3_LISTS_PER_DARK = 0
S3_GETS_PER_DARK = 2
#: ``auto``: a dark searched in its group's reference child HEADs the reference once more (is
#: it the one read last?) ...
S3_GETS_PER_GROUPED_DARK = 3
#: ... and the child adds per group: PUT its receipt and the reference (put_requests), two
#: LISTs, and five GET/HEADs (is the reference or every dark there already; the reference's
#: HEAD once written, so its darks search with the one built, never reading it back)
S3_PUTS_PER_GROUP = 1
S3_LISTS_PER_GROUP = 2
S3_GETS_PER_GROUP = 5
#: pyarrow's S3 upload part: a larger object goes up as a multipart upload
S3_PART_BYTES = 10 * 2**20


def put_requests(nbytes: int) -> int:
    """PUT-class requests of one object written through the lake's S3 file system: one
    PutObject, or create + its parts + complete."""
    return 1 if nbytes <= S3_PART_BYTES else 2 + math.ceil(nbytes / S3_PART_BYTES)


#: Standard-workflow transitions of the parent per dark (the map iteration) and per run.
PARENT_TRANSITIONS_PER_DARK = 1
PARENT_TRANSITIONS_PER_RUN = 9
#: In-region S3 read throughput of one Lambda (bytes/s) and the share of a product the
#: partial reader fetches (SCI + DQ of flt: ERR is skipped).
S3_READ_BYTES_PER_S = 80e6
FETCHED_FRACTION = 0.6
EXPRESS_CHILD_MB = 64           # Express bills memory in 64 MB steps; the child holds one item
LOG_BYTES_PER_DARK = 2_000

#: The archive's detectors (NICMOS: NIC2, its three cameras share one 256 x 256 format).
DETECTORS = "acs_wfc,wfc3_uvis,acs_hrc,stis_ccd,wfpc2,wfc3_ir,nicmos_nic2"
#: Where ``process_dark``'s memory is configured.
FUNCTIONS_PY = Path(__file__).resolve().parents[1] / "infra" / "functions.py"

#: What both measuring children share: the peak-memory reading and the bytes each table of
#: the lake holds per dark
CHILD_COMMON = r"""
import json, os, resource, sys, time


def peak_rss_mb():
    # VmHWM is this program's own peak: ru_maxrss keeps the forking parent's peak across exec
    try:
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bytes_per_dark(lake, n_darks):
    return {t: sum(os.path.getsize(os.path.join(d, f))
                   for d, _, fs in os.walk(os.path.join(lake, t)) for f in fs) // n_darks
            for t in ("exposures", "cosmic_rays")}
"""

#: One dark alone, ``threshold`` (IR: ``ramp``): a cold first run, then ``repeat`` warm ones
CHILD = CHILD_COMMON + r"""
t0 = time.perf_counter()
from hstcr_common.pipeline import process_item
t_import = time.perf_counter() - t0
item, lake, repeat = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
runs = []
for _ in range(1 + repeat):
    t = time.perf_counter()
    res = process_item(item, lake=lake, method="threshold", reprocess=True)
    runs.append(time.perf_counter() - t)
    if res["status"] != "done":
        raise SystemExit(f"{item['dataset']}: {res['error']}")
print(json.dumps({"n_cr": res["n_cr"], "import_s": t_import, "first_s": runs[0],
                  "process_s": min(runs[1:]), "stages": res.get("stages"),
                  "peak_rss_mb": peak_rss_mb(), "bytes": bytes_per_dark(lake, 1)}))
"""

#: A group, ``auto``, as its reference child runs it: in each of ``1 + repeat`` rounds (the
#: first cold) the reference built, then every dark searched against it (with the reference
#: the build kept, as the child does: it is not read back), and the time to keep a dark's
#: SCI + DQ in /tmp
CHILD_AUTO = CHILD_COMMON + r"""
t0 = time.perf_counter()
from hstcr_common.lake import Lake
from hstcr_common.model import AutoParams
from hstcr_common.pipeline import groups, process_item
t_import = time.perf_counter() - t0
items, lake, repeat = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
builds, runs = [], []
for _ in range(1 + repeat):
    t = time.perf_counter()
    ref = groups.build_group_reference(items, Lake(lake), AutoParams(), reprocess=True)
    builds.append(time.perf_counter() - t)
    if ref["path"] is None:
        raise SystemExit(f"no reference: {ref['reason']}")
    for item in items:
        t = time.perf_counter()
        res = process_item(dict(item, reference=ref["path"]), lake=lake, method="auto",
                           reprocess=True)
        runs.append(time.perf_counter() - t)
        if res["status"] != "done":
            raise SystemExit(f"{item['dataset']}: {res['status']} {res['error']}")
# the child keeps each dark's SCI + DQ in /tmp between the build and the search: the write
import tempfile
from hstcr_common.fits import read_fits_hdus
from hstcr_common.remote import reader_for
stage = []
for item in items:
    with reader_for(item["files"]["science"]) as reader:
        data = read_fits_hdus(reader, ("SCI", "DQ"))
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        with open(os.path.join(folder, "dark.fits"), "wb") as out:
            out.write(data)
        stage.append(time.perf_counter() - t)
import pyarrow.dataset as ds
methods = set(ds.dataset(os.path.join(lake, "exposures"), format="parquet",
                         partitioning="hive").to_table(columns=["method"])["method"].to_pylist())
if methods != {"reference"}:
    raise SystemExit(f"expected every dark searched against the reference, got {methods}")
print(json.dumps({"n_cr": res["n_cr"], "import_s": t_import, "first_s": builds[0],
                  "build_s": min(builds[1:]),
                  "process_s": min(sum(runs[k:k + len(items)]) / len(items)
                                   for k in range(len(items), len(runs), len(items))),
                  "stage_s": sorted(stage)[len(stage) // 2], "staged_bytes": len(data),
                  "stages": res.get("stages"), "peak_rss_mb": peak_rss_mb(),
                  "bytes": bytes_per_dark(lake, len(items)),
                  "reference_bytes": os.path.getsize(ref["path"].removeprefix("file://")),
                  "group": len(items)}))
"""
#: Darks per group for ``--method auto`` (a reference is built per group, then each dark is
#: searched against it; the plan allows up to 20 per reference child)
GROUP_SIZE = 4


def worker_memory_mb(path: Path = FUNCTIONS_PY) -> int:
    """``process_dark``'s configured memory (MB): ``WORKER_MEMORY_MB`` of
    ``infra/functions.py`` (read as text: the CDK need not be installed)."""
    found = re.search(r"^WORKER_MEMORY_MB\s*=\s*(\d+)", path.read_text(), re.MULTILINE)
    if not found:
        raise SystemExit(f"{path}: no WORKER_MEMORY_MB")
    return int(found.group(1))


def measure(detector: str, repeat: int = 2, method: str = "threshold") -> dict:
    """Write synthetic darks of ``detector``, then process them in a fresh interpreter: import
    time, first (cold) and best warm ``process_item`` seconds, peak RSS, bytes in and out.

    ``method`` "auto" (CCDs): a group of :data:`GROUP_SIZE` darks of one set-up, its
    reference built (``build_s``: best of the warm builds) and every dark searched against
    it (``process_s``: the best warm round's mean search, with the reference the build kept,
    as the reference child searches), ``stage_s``: writing one dark's SCI + DQ to a local
    file."""
    from hstcr_common.instruments import get_detector
    from hstcr_common.synthetic import write_sample

    grouped = method == "auto" and get_detector(detector).kind == "ccd"
    with tempfile.TemporaryDirectory() as tmp:
        write_sample(detector, GROUP_SIZE if grouped else 1, f"{tmp}/dark", seed=11)
        items = [json.loads(line) for line in
                 (Path(tmp) / "dark" / "manifest.jsonl").read_text().splitlines()]
        # the worker's environment as the stack sets it (infra/functions.py): glibc keeps
        # freed memory for the next dark (hstcr_common.pipeline.memory), BLAS starts no
        # threads (hstcr_common.pipeline.cores)
        env = {**os.environ, **MALLOC_ENVIRONMENT, **ONE_THREAD_ENVIRONMENT}
        child, arg = (CHILD_AUTO, items) if grouped else (CHILD, items[0])
        proc = subprocess.run([sys.executable, "-c", child, json.dumps(arg), f"{tmp}/lake",
                               str(repeat)], capture_output=True, text=True, env=env)
        if proc.returncode:
            raise SystemExit(f"{detector}: {proc.stderr.strip().splitlines()[-1]}")
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        m["input_bytes"] = sum(Path(f).stat().st_size for f in items[0]["files"].values() if f)
    m["detector"] = detector
    m["method"] = "auto (reference)" if grouped else ("ramp" if get_detector(detector).kind == "ir"
                                                       else "threshold")
    return m


def lambda_seconds(m: dict, memory_mb: int) -> tuple[float, float]:
    """(billed seconds of a warm invocation, extra seconds of a cold one) at ``memory_mb``."""
    cpu = max(1.0, FULL_VCPU_MB / memory_mb)
    fetch_s = m["input_bytes"] * FETCHED_FRACTION / S3_READ_BYTES_PER_S
    warm = m["process_s"] * cpu + fetch_s
    if "build_s" in m:
        # auto: the group's reference child reads each dark once (fetch_s) into /tmp, builds
        # the reference from the copies (its share here), writes it and searches every dark
        # from its copy with the reference it built; the darks it searched get no child of
        # their own
        warm += m["stage_s"] + m["build_s"] * cpu / m["group"]
        cold = (m["import_s"] + m["first_s"] - m["build_s"]) * cpu
    else:
        cold = (m["import_s"] + m["first_s"] - m["process_s"]) * cpu
    return warm, cold


def cost_per_dark(m: dict, memory_mb: int) -> dict:
    """Dollars per dark by service for one measured dark at a Lambda memory setting."""
    seconds, _ = lambda_seconds(m, memory_mb)
    gb_s = memory_mb / 1024 * seconds
    lake_bytes = sum(m["bytes"].values())
    # auto: the group's one Express child (a parent transition, one invocation) searches its
    # darks, which get no child of their own; its requests per group come on top
    children = 1.0 / m["group"] if "build_s" in m else 1.0
    per_group = 1.0 / m["group"] if "build_s" in m else 0.0
    return {
        "seconds": seconds,
        "gb_s": gb_s,
        "lambda": gb_s * PRICES["lambda_arm64_gb_s"] + PRICES["lambda_request"] * children,
        "lambda_x86": gb_s * PRICES["lambda_x86_gb_s"] + PRICES["lambda_request"] * children,
        "step_functions": ((PARENT_TRANSITIONS_PER_DARK * PRICES["sfn_standard_transition"]
                            + PRICES["sfn_express_request"]) * children
                           + EXPRESS_CHILD_MB / 1024 * seconds * PRICES["sfn_express_gb_s"]),
        "s3_requests": ((S3_PUTS_PER_DARK + S3_LISTS_PER_DARK
                         + sum(put_requests(m["bytes"][t]) - 1 for t in ("cosmic_rays", "exposures"))
                         + (S3_PUTS_PER_GROUP + put_requests(m.get("reference_bytes", 0))
                            + S3_LISTS_PER_GROUP) * per_group) * PRICES["s3_put"]
                        + ((S3_GETS_PER_GROUPED_DARK if per_group else S3_GETS_PER_DARK)
                           + S3_GETS_PER_GROUP * per_group) * PRICES["s3_get"]),
        "s3_storage_month": lake_bytes / 1e9 * PRICES["s3_gb_month"],
        "logs": LOG_BYTES_PER_DARK / 1e9 * PRICES["logs_gb"],
        "lake_bytes": lake_bytes,
        "exposures_bytes": m["bytes"]["exposures"],
        "cosmic_rays_bytes": m["bytes"]["cosmic_rays"],
    }


def athena_cost(exposures_bytes: float, cosmic_rays_bytes: float, n: int) -> tuple[float, float]:
    """($ for a query over all exposures, $ for one reading ~1/10 of cosmic_rays) for n darks.

    Athena bills at least 10 MB per query.  A histogram reads one or two of the ~20
    cosmic_rays columns; 1/10 of the bytes is a fair upper estimate (pixels dominate)."""
    tb = 1e12
    exposures = max(10e6, exposures_bytes * n) / tb * PRICES["athena_tb"]
    histogram = max(10e6, cosmic_rays_bytes * n / 10) / tb * PRICES["athena_tb"]
    return exposures, histogram


def lambda_table(rows: list, memory_mb: int, n: int = 1000) -> list[str]:
    """Markdown table: measured time and memory, GB-s and arm64 Lambda cost per ``n`` darks."""
    lines = [f"| detector | method | CRs | process_item s (warm) | reference build s per dark "
             f"| peak RSS MB | billed s | GB-s/dark | $ per {n:,} darks | cold start +s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m, c in rows:
        _, cold = lambda_seconds(m, memory_mb)
        build = f"{m['build_s'] / m['group']:.2f}" if "build_s" in m else "-"
        lines.append(f"| {m['detector']} | {m['method']} | {m['n_cr']:,} | {m['process_s']:.2f} | "
                     f"{build} | "
                     f"{m['peak_rss_mb']:.0f} | {c['seconds']:.2f} | {c['gb_s']:.2f} | "
                     f"{c['lambda'] * n:.4f} | {cold:.2f} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="hstcr AWS cost model (measured per-dark cost)")
    parser.add_argument("--darks", type=int, default=1000)
    parser.add_argument("--archive", type=int, default=100_000)
    parser.add_argument("--memory", type=int, default=None,
                        help="Lambda memory (MB); default process_dark's, from infra/functions.py")
    parser.add_argument("--detectors", default=DETECTORS)
    parser.add_argument("--repeat", type=int, default=2, help="warm darks after the first")
    parser.add_argument("--method", choices=("auto", "threshold"), default="auto",
                        help="CCD method measured: auto (the default of hstcr run and of the "
                             "AWS plan: a reference per group of %d darks, then each dark "
                             "against it) or threshold (one dark alone); IR darks use ramp"
                             % GROUP_SIZE)
    parser.add_argument("--json", help="also write the measurements here")
    args = parser.parse_args(argv)
    # the Lambda ships bytecode for hstcr_common (layers/build.py); a fresh interpreter here
    # has it only when it was compiled (PYTHONDONTWRITEBYTECODE keeps Python from caching it)
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "hstcr_common"), quiet=1)

    memory = args.memory or worker_memory_mb()
    rows = []
    for detector in args.detectors.split(","):
        m = measure(detector, args.repeat, args.method)
        rows.append((m, cost_per_dark(m, memory)))
        print(f"measured {detector}: {m['process_s']:.2f} s warm, {m['peak_rss_mb']:.0f} MB peak",
              file=sys.stderr, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps([m for m, _ in rows], indent=1))

    print(f"Lambda per dark at process_dark's {memory} MB, arm64 (this machine, fresh process per "
          f"detector, {args.method}; IR: ramp). billed s = warm process_item x "
          f"{max(1.0, FULL_VCPU_MB / memory):.2f} (CPU share) + S3 read at "
          f"{S3_READ_BYTES_PER_S / 1e6:.0f} MB/s of {FETCHED_FRACTION:.0%} of the input"
          + ("; auto: the group's reference child reads each dark once into /tmp, builds the "
             f"reference (shared by its {GROUP_SIZE} darks, as is the child itself), writes it and "
             "searches each dark from its copy with the reference it built" if
             args.method == "auto" else "") + ":")
    print("\n".join(lambda_table(rows, memory, args.darks)))
    over = [m["detector"] for m, _ in rows if m["peak_rss_mb"] > memory]
    print(f"peak RSS under {memory} MB: {'all' if not over else 'NOT ' + ', '.join(over)}")

    services = ["lambda", "step_functions", "s3_requests", "logs"]
    for label, n in ((f"per {args.darks:,} darks", args.darks), (f"whole archive, {args.archive:,} darks", args.archive)):
        print(f"\nCost {label} (USD, us-east-1, Lambda arm64):")
        print(f"{'detector':12} " + " ".join(f"{s:>15}" for s in services)
              + f" {'total':>10} {'storage/month':>14} {'x86 Lambda':>11} {'Athena expo':>12} {'Athena histo':>13}")
        for m, c in rows:
            total = sum(c[s] for s in services)
            expo, histo = athena_cost(c["exposures_bytes"], c["cosmic_rays_bytes"], n)
            print(f"{m['detector']:12} " + " ".join(f"{c[s] * n:>15.4f}" for s in services)
                  + f" {total * n:>10.4f} {c['s3_storage_month'] * n:>14.4f} {c['lambda_x86'] * n:>11.4f}"
                  + f" {expo:>12.5f} {histo:>13.5f}")
    run_fixed = PARENT_TRANSITIONS_PER_RUN * PRICES["sfn_standard_transition"]
    print(f"\nPer run fixed: {run_fixed:.4f} USD (parent transitions). total = one pass (compute + requests);"
          " storage/month = the Parquet written, per month kept.")
    print("Athena expo = one query over all exposures rows; Athena histo = one histogram over cosmic_rays.")
    arm = sum(c["lambda"] for _, c in rows)
    x86 = sum(c["lambda_x86"] for _, c in rows)
    print(f"arm64/x86_64 Lambda cost ratio: {arm / x86:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
