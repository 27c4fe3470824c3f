"""The Lambda layers: the arm64 build fits Lambda's 250 MB, and the same trim recipe applied to
host-platform wheels still imports and processes a synthetic dark with nothing else on the path.

Downloads wheels from PyPI on the first run (cached under ``layers/build/pip-cache``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("hstcr_layer_build", REPO / "layers" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _elf_machine(path: Path) -> str:
    out = subprocess.run(["readelf", "-h", str(path)], capture_output=True, text=True, check=True).stdout
    return next(line.split(":", 1)[1].strip() for line in out.splitlines() if "Machine:" in line)


def test_arm64_layers_and_code_fit_the_lambda_limit(build, tmp_path):
    worker = build.build_layer("arm64", build.TARGET_PYTHON)
    plan = build.build_plan_layer("arm64", build.TARGET_PYTHON)
    code = build.build_function_code(tmp_path / "function")
    code_bytes = build.tree_bytes(code)
    print(f"\narm64 worker layer: {worker.installed_bytes / MB:.1f} MB installed -> "
          f"{worker.layer_bytes / MB:.1f} MB trimmed; plan layer {plan.layer_bytes / MB:.1f} MB; "
          f"code {code_bytes / MB:.2f} MB")
    # both functions keep >= 30 MB under the limit: the worker (process_dark, summarize) and
    # plan, which adds astroquery's layer on top
    budget = build.LAMBDA_UNZIPPED_LIMIT - build.HEADROOM_BYTES
    print(f"headroom: process_dark {(build.LAMBDA_UNZIPPED_LIMIT - worker.layer_bytes - code_bytes) / MB:.1f} MB, "
          f"plan {(build.LAMBDA_UNZIPPED_LIMIT - worker.layer_bytes - plan.layer_bytes - code_bytes) / MB:.1f} MB")
    assert worker.layer_bytes + code_bytes <= budget, "process_dark/summarize"
    assert worker.layer_bytes + plan.layer_bytes + code_bytes <= budget, "plan"
    assert worker.installed_bytes > build.LAMBDA_UNZIPPED_LIMIT  # the trim is what makes it fit
    site = worker.site_dir
    # really the target platform, stripped, and linking inside the layer
    pyarrow_major = next(line.split("==")[1].split(".")[0] for line in
                         (REPO / "layers" / "requirements.txt").read_text().splitlines()
                         if line.startswith("pyarrow=="))
    assert _elf_machine(site / "pyarrow" / f"libparquet.so.{pyarrow_major}00") == "AArch64"
    assert "cpython-312-aarch64" in next(site.glob("numpy/_core/_multiarray_umath.*.so")).name
    assert build.check_needed(site) == []
    for needed in ("numpy", "scipy/ndimage", "scipy/special", "astropy/io/fits", "pyarrow/parquet",
                   "erfa", "ppigrf", "yaml", "astropy_iers_data",
                   "aws_lambda_powertools/logging", "aws_lambda_powertools/metrics",
                   "aws_lambda_powertools/tracing", "aws_xray_sdk"):
        assert (site / needed).exists(), needed
    assert not list(site.rglob("tests/test_*.py"))
    assert not (site / "scipy" / "stats").exists()
    assert not (site / "pandas").exists()      # ppigrf's; hstcr reads its file without it
    assert not list(site.glob("pyarrow/*flight*"))
    # handler code: hstcr_common and functions, no tests
    assert (code / "functions" / "process_dark.py").exists()
    assert (code / "hstcr_common" / "instruments" / "instruments.toml").exists()
    assert (code / "hstcr_common" / "lake" / "queries" / "rate_map.sql").exists()
    assert not list(code.rglob("tests"))
    # bytecode for python3.12 (a read-only Lambda never caches its own), used unchecked: the
    # zipped asset does not keep the sources' times.  This machine has a 3.12 (pyenv).
    assert build.target_interpreter(build.TARGET_PYTHON), "no python3.12 to compile with"
    for root, module in [(code, "hstcr_common/pipeline/process.py"), (code, "functions/process_dark.py"),
                         (site, "numpy/__init__.py"), (site, "scipy/ndimage/_measurements.py"),
                         (site, "astropy/io/fits/card.py"), (site, "pyarrow/parquet/core.py")]:
        cached = Path(build.bytecode_path(str(root / module), build.TARGET_PYTHON))
        header = cached.read_bytes()[:8]
        assert header[4:8] == (1).to_bytes(4, "little"), f"{module}: not unchecked-hash bytecode"
    # ... only for what the functions import (634 of 1050 modules, 12 of the 17 MB all would be)
    n_py, n_pyc = len(list(site.rglob("*.py"))), len(list(site.rglob("*.cpython-312.pyc")))
    assert 0 < n_pyc < 0.8 * n_py, (n_pyc, n_py)


SMOKE = r"""
import json, os, sys
sys.path[:0] = json.loads(os.environ["SMOKE_PATH"])
import numpy, pyarrow.parquet as pq
assert numpy.__file__.startswith(os.environ["SMOKE_LAYER"]), numpy.__file__
try:
    import duckdb
except ImportError:
    pass
else:
    raise SystemExit("not isolated: duckdb importable")
import functions.process_dark as handler_module
# the dark was written by the test (the synthetic generator is test tooling, not the worker)
item = json.loads(os.environ["SMOKE_ITEM"])
out = handler_module.handler({"item": item, "method": "threshold", "run_id": "smoke"})
lake = os.environ["HSTCR_LAKE"]
tables = {}
for table in ("exposures", "cosmic_rays"):
    files = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(lake, table)) for f in fs if f.endswith(".parquet")]
    tables[table] = sum(pq.read_metadata(f).num_rows for f in files)
# as in a Lambda, nothing was compiled and cached here (-B): every module the worker
# imported from the layer or the code had its bytecode shipped
import importlib.util
shipped = json.loads(os.environ["SMOKE_PATH"])[:2]
no_bytecode = sorted(m.__name__ for m in list(sys.modules.values())
                     if (getattr(m, "__file__", None) or "").endswith(".py")
                     and m.__file__.startswith(tuple(shipped))
                     and not os.path.exists(importlib.util.cache_from_source(m.__file__)))
import astroquery.mast  # the plan layer
print(json.dumps({"result": out["results"][0], "rows": tables, "no_bytecode": no_bytecode}))
"""


def test_trimmed_host_layer_processes_a_synthetic_dark(build, tmp_path):
    # the full version: pip checks Requires-Python against it (3.11 alone means 3.11.0)
    host_python = platform.python_version()
    worker = build.build_layer("x86_64", host_python)
    plan = build.build_plan_layer("x86_64", host_python)
    code = build.build_function_code(tmp_path / "function", host_python)
    from hstcr_common.synthetic import write_dark

    dark = write_dark("stis_ccd", tmp_path / "dark", seed=7)
    item = {"dataset": dark.dataset, "instrument": "stis_ccd", "files": {k: str(v) for k, v in dark.paths.items()}}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    # what the Lambda Python runtime ships (boto3 and its dependencies; dropped from the layer)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for name in build.RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        (runtime / name).symlink_to(next(iter(spec.submodule_search_locations)))
    env.update(SMOKE_PATH=json.dumps([str(code), str(worker.site_dir), str(plan.site_dir), str(runtime)]),
               SMOKE_LAYER=str(worker.site_dir), SMOKE_ITEM=json.dumps(item),
               HSTCR_LAKE=str(tmp_path / "lake"), HSTCR_RUNS="",
               XDG_CACHE_HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    # -I -S: no site-packages at all, only the stdlib and the trimmed layer + code; -B: nothing
    # cached at run time (Lambda's file system is read-only)
    proc = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", SMOKE], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["result"]["status"] == "done", report
    assert report["result"]["n_cr"] > 0
    assert report["rows"] == {"exposures": 1, "cosmic_rays": report["result"]["n_cr"]}
    assert report["no_bytecode"] == []
