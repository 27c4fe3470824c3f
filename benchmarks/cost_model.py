"""What a run costs on AWS, from measured per-dark time and memory.

Runs the real pipeline (``process_item``, threshold method) on a synthetic ACS/WFC dark (the
largest CCD product: 2 x 2048 x 4096) and a synthetic STIS/CCD dark (1024^2), each in a fresh
process (so peak memory includes the imports a cold Lambda pays), and prices:

- Lambda: GB-seconds at the arm64 price (x86_64 shown for comparison) + requests; the time
  is import + processing measured here plus the S3 read of the dark (estimated from its
  size at ~80 MB/s in-region, see S3_READ_BYTES_PER_S);
- Step Functions: the Standard parent's transitions + one Express child per dark;
- S3: our PUT/LIST/GET requests (reads from ``stpubdata`` are paid by AWS Open Data) and
  storage of the Parquet written;
- Athena: bytes scanned by one query over the ``exposures`` table and one over a
  ``cosmic_rays`` column, at $5/TB;
- CloudWatch Logs: the handler's log lines.

Prices: us-east-1, on-demand, no free tier (see PRICES).  Lambda time is the time measured
here scaled to Lambda's CPU share: below 1,769 MB a function gets a fraction of a vCPU, so
duration grows as 1769/memory; above it the (mostly single-threaded) work gets no faster.

Usage::

    python benchmarks/cost_model.py [--darks 1000] [--archive 100000] [--memory 2048]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

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
#: Requests per dark: PUT exposures + cosmic_rays Parquet + result JSON; LIST/GET for the
#: resumability check and the summary's read of the result.
S3_PUTS_PER_DARK = 3
S3_LISTS_PER_DARK = 2
S3_GETS_PER_DARK = 2
#: Standard-workflow transitions of the parent per dark (the map iteration) and per run.
PARENT_TRANSITIONS_PER_DARK = 1
PARENT_TRANSITIONS_PER_RUN = 8
#: In-region S3 read throughput of one Lambda (bytes/s) and the share of a product the
#: partial reader fetches (SCI + DQ of flt: ERR is skipped).
S3_READ_BYTES_PER_S = 80e6
FETCHED_FRACTION = 0.6
EXPRESS_CHILD_MB = 64           # Express bills memory in 64 MB steps; the child holds one item
LOG_BYTES_PER_DARK = 2_000

MEASURE = r"""
import json, resource, sys, time, os
t0 = time.perf_counter()
from hstcr_common.pipeline import process_item
from hstcr_common.synthetic import write_dark
t_import = time.perf_counter() - t0
detector, out, lake = sys.argv[1:4]
dark = write_dark(detector, out, seed=11)
item = {"dataset": dark.dataset, "instrument": detector, "files": {k: str(v) for k, v in dark.paths.items()}}
t0 = time.perf_counter()
res = process_item(item, lake=lake, method="threshold")
t_process = time.perf_counter() - t0
size = {t: sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(lake, t)) for f in fs)
        for t in ("exposures", "cosmic_rays")}
print(json.dumps({"detector": detector, "status": res["status"], "n_cr": res["n_cr"],
                  "import_s": t_import, "process_s": t_process, "stages": res.get("stages"),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "bytes": size, "input_bytes": sum(p.stat().st_size for p in dark.paths.values())}))
"""


def measure(detector: str) -> dict:
    """Process one synthetic dark of ``detector`` in a fresh interpreter; time, memory, bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", MEASURE, detector, f"{tmp}/dark", f"{tmp}/lake"],
                              capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def lambda_memory_mb(peak_rss_mb: float, floor_mb: int = 1024) -> int:
    """Memory setting: peak RSS with 50 % headroom, in 64 MB steps, at least ``floor_mb``."""
    need = max(floor_mb, peak_rss_mb * 1.5)
    return int(-(-need // 64) * 64)


def cost_per_dark(m: dict, memory_mb: int) -> dict:
    """Dollars per dark by service for one measured dark at a Lambda memory setting."""
    fetch_s = m["input_bytes"] * FETCHED_FRACTION / S3_READ_BYTES_PER_S
    seconds = (m["import_s"] + m["process_s"]) * max(1.0, FULL_VCPU_MB / memory_mb) + fetch_s
    gb_s = memory_mb / 1024 * seconds
    lake_bytes = sum(m["bytes"].values())
    return {
        "seconds": seconds,
        "lambda": gb_s * PRICES["lambda_arm64_gb_s"] + PRICES["lambda_request"],
        "lambda_x86": gb_s * PRICES["lambda_x86_gb_s"] + PRICES["lambda_request"],
        "step_functions": (PARENT_TRANSITIONS_PER_DARK * PRICES["sfn_standard_transition"]
                           + PRICES["sfn_express_request"]
                           + EXPRESS_CHILD_MB / 1024 * seconds * PRICES["sfn_express_gb_s"]),
        "s3_requests": ((S3_PUTS_PER_DARK + S3_LISTS_PER_DARK) * PRICES["s3_put"]
                        + S3_GETS_PER_DARK * PRICES["s3_get"]),
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="hstcr AWS cost model (measured per-dark cost)")
    parser.add_argument("--darks", type=int, default=1000)
    parser.add_argument("--archive", type=int, default=100_000)
    parser.add_argument("--memory", type=int, default=None, help="Lambda memory (MB); default from peak RSS")
    parser.add_argument("--detectors", default="acs_wfc,stis_ccd")
    args = parser.parse_args(argv)

    rows = []
    for detector in args.detectors.split(","):
        m = measure(detector)
        memory = args.memory or lambda_memory_mb(m["peak_rss_mb"])
        rows.append((m, memory, cost_per_dark(m, memory)))

    print("Measured (this machine, fresh process per dark, threshold method):")
    print(f"{'detector':10} {'status':7} {'n_cr':>7} {'import s':>9} {'process s':>10} {'peak MB':>8} "
          f"{'input MB':>9} {'Parquet MB':>11} {'memory MB':>10} {'Lambda s':>9}")
    for m, memory, c in rows:
        print(f"{m['detector']:10} {m['status']:7} {m['n_cr']:>7} {m['import_s']:>9.2f} {m['process_s']:>10.2f} "
              f"{m['peak_rss_mb']:>8.0f} {m['input_bytes'] / 1e6:>9.1f} {c['lake_bytes'] / 1e6:>11.2f} "
              f"{memory:>10} {c['seconds']:>9.2f}")

    services = ["lambda", "step_functions", "s3_requests", "logs"]
    for label, n in ((f"per {args.darks:,} darks", args.darks), (f"whole archive, {args.archive:,} darks", args.archive)):
        print(f"\nCost {label} (USD, us-east-1, Lambda arm64):")
        print(f"{'detector':10} " + " ".join(f"{s:>16}" for s in services)
              + f" {'total':>10} {'storage/month':>14} {'x86 Lambda':>11} {'Athena expo':>12} {'Athena histo':>13}")
        for m, memory, c in rows:
            total = sum(c[s] for s in services)
            expo, histo = athena_cost(c["exposures_bytes"], c["cosmic_rays_bytes"], n)
            print(f"{m['detector']:10} " + " ".join(f"{c[s] * n:>16.4f}" for s in services)
                  + f" {total * n:>10.4f} {c['s3_storage_month'] * n:>14.4f} {c['lambda_x86'] * n:>11.4f}"
                  + f" {expo:>12.5f} {histo:>13.5f}")
    run_fixed = PARENT_TRANSITIONS_PER_RUN * PRICES["sfn_standard_transition"]
    print(f"\nPer run fixed: {run_fixed:.4f} USD (parent transitions). total = one pass (compute + requests);"
          " storage/month = the Parquet written, per month kept.")
    print("Athena expo = one query over all exposures rows; Athena histo = one histogram over cosmic_rays.")
    arm = sum(c["lambda"] for _, _, c in rows)
    x86 = sum(c["lambda_x86"] for _, _, c in rows)
    print(f"arm64/x86_64 Lambda cost ratio: {arm / x86:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
