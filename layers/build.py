"""Build the ``process_dark`` Lambda layer (the scientific stack) and the function code asset.

Lambda allows 250 MB *unzipped* for a function and all its layers together.  The worker set
(numpy, scipy, astropy, pyarrow, ppigrf and their dependencies) installs to ~450 MB, so the
wheels are trimmed by one recipe, applied alike to the target build (arm64, the deployed
layer) and to a host build (x86_64, the one a test can import on this machine):

- test suites, ``__pycache__``, C/C++ headers and Cython sources are dropped;
- pyarrow's Flight RPC, ORC, HDFS/GCS/Azure file systems and CUDA are dropped (the lake
  only needs Arrow + Parquet + dataset/acero/compute, which ``pyarrow.parquet`` loads, and
  S3).  ``libarrow_substrait`` stays: ``pyarrow.lib`` links it;
- hard copies of one shared library under several names keep only the SONAME;
- shared objects are stripped of symbols (``strip --strip-unneeded`` with a strip for the
  target architecture, see :func:`find_strip`);
- bytecode is compiled for the target Python (``unchecked-hash``, :func:`compile_bytecode`)
  for the modules a worker imports and for the function code: Lambda's read-only file system
  never caches it, so every cold start would compile them from source;
- scipy subpackages the worker never imports are dropped (:data:`SCIPY_UNUSED`: the worker
  uses ``scipy.ndimage`` and ``scipy.special``); pandas (31 MB trimmed), which pip installs
  for ppigrf, is dropped: ``hstcr_common.ephemeris.geomag`` reads ppigrf's coefficient file
  with numpy and never imports ppigrf or pandas (a test checks it in a fresh process).

The smoke test (``tests/infra/test_layer.py``) runs the real pipeline on synthetic darks
with nothing but the trimmed host build on ``sys.path``, so a trim that removes something
the worker imports fails there.

After trimming, every remaining shared object's ``DT_NEEDED`` entries must resolve inside
the layer or to the runtime's system libraries (:func:`check_needed`), so a trim that
breaks linking fails the build, not a Lambda cold start.

Usage::

    python layers/build.py                 # arm64 / python3.12 layer + function asset
    python layers/build.py --arch x86_64 --python 3.11   # host build for the smoke test

Outputs (gitignored)::

    layers/build/<arch>-py<ver>/layer/python/...   the layer (Lambda mounts it at /opt/python)
    layers/build/function/                          hstcr_common + functions (the handler code)

Wheels are cached under ``layers/build/pip-cache``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BUILD = HERE / "build"
REQUIREMENTS = HERE / "requirements.txt"
PLAN_REQUIREMENTS = HERE / "requirements-plan.txt"

#: Lambda's hard limit: function code + all layers, unzipped (bytes).
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
#: Room every function keeps under the limit (bytes): a dependency update must not tip it over.
HEADROOM_BYTES = 30 * 1024 * 1024

#: Packages the Lambda Python runtime ships (boto3 and its dependencies).  aws-xray-sdk pulls
#: botocore (30 MB) into the worker layer; the runtime's copy serves instead.  Dropped from the
#: worker layer only: the plan layer pins its own urllib3 for requests.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3")
_RUNTIME_RE = re.compile(r"^(" + "|".join(RUNTIME_PROVIDED) + r")(-[^/]*\.dist-info)?(/|$)")

#: Runtime chosen for the worker: arm64 (Graviton) costs ~20 % less per GB-second than x86_64
#: and every wheel in the worker set ships aarch64 builds.  Python 3.12 is the newest runtime
#: for which all of them ship wheels, with support well beyond 3.11's.
TARGET_ARCH = "arm64"
TARGET_PYTHON = "3.12"

#: scipy subpackages no worker code path imports (hstcr_common uses ndimage + special).
SCIPY_UNUSED = ("stats", "optimize", "sparse", "spatial", "io", "signal", "integrate",
                "interpolate", "odr", "cluster", "datasets", "misc", "differentiate")

_PLATFORM_TAGS = {
    "arm64": ["manylinux_2_17_aarch64", "manylinux2014_aarch64", "manylinux_2_28_aarch64",
              "manylinux_2_34_aarch64"],
    "x86_64": ["manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64",
               "manylinux_2_34_x86_64"],
}

# Paths (relative to the layer's python/ dir) removed by the trim, as regular expressions.
_DROP_PATTERNS = [
    r"(^|/)tests?(/|$)",                       # test suites of every package
    r"(^|/)__pycache__(/|$)",
    r"\.(pyx|pxd|pxi|h|hpp|c|cc|cpp|pyi)$",    # sources and headers
    r"^pyarrow/(include|src)(/|$)",
    r"^pyarrow/.*flight.*",                     # Arrow Flight RPC
    r"^pyarrow/_(orc|hdfs|gcsfs|azurefs|cuda)\.",
    r"^pyarrow/(orc|cuda)\.py$",
    r"^pyarrow/libarrow_cuda.*",
    r"^bin(/|$)",
    r"^scipy/(" + "|".join(SCIPY_UNUSED) + r")(/|$)",
    r"^scipy/_lib/_uarray/LICENSE$",
    # pandas comes with ppigrf, whose IGRF coefficient file hstcr reads without importing
    # either (hstcr_common.ephemeris.geomag; nothing else in a Lambda imports pandas)
    r"^pandas(-[^/]*\.dist-info)?(/|$)",
    r"^astropy/io/fits/hdu/compressed/.*tests.*",
    # astropy subpackages neither the worker (astropy.io.fits, units, utils) nor the plan
    # function's astroquery/pyvo (table, coordinates, time, io.votable) imports
    r"^astropy/(convolution|visualization|modeling|cosmology|timeseries|samp|uncertainty)(/|$)",
    # Powertools: the handlers use logging, metrics and tracing (and the typing/jmespath
    # utilities those import), not the event handlers, parsers, idempotency, batch ...
    r"^aws_lambda_powertools/event_handler(/|$)",
    r"^aws_lambda_powertools/utilities/(?!typing(/|$)|jmespath_utils(/|$)|__init__\.py$)[^/]+",
]
_DROP_RE = re.compile("|".join(_DROP_PATTERNS))
# ... except these, which packages import at run time (astropy/__init__ imports its runner).
_KEEP_RE = re.compile(r"^astropy/tests(/(?!test_)[^/]+\.py)?$")

# System libraries the Lambda runtime (Amazon Linux 2023) provides.
_SYSTEM_LIBS = re.compile(
    r"^(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux.*|libz|libutil)\.so"
)


@dataclass
class LayerBuild:
    """Where one build put its parts and how big they are (bytes, unzipped)."""

    arch: str
    python: str
    layer_dir: Path        # the directory holding python/
    installed_bytes: int   # before trimming
    layer_bytes: int       # after trimming

    @property
    def site_dir(self) -> Path:
        return self.layer_dir / "python"


def tree_bytes(path: Path) -> int:
    """Total size in bytes of the regular files under ``path`` (symlinks not followed)."""
    return sum(p.lstat().st_size for p in Path(path).rglob("*") if p.is_file() and not p.is_symlink())


def _requirements(path: Path) -> list[str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line]


def pip_install(site: Path, arch: str, python: str, requirements: Path = REQUIREMENTS,
                no_deps: bool = False) -> None:
    """Install a requirements file for ``arch``/``python`` into ``site`` (wheels only)."""
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", str(site), "--implementation", "cp", "--python-version", python,
            "--only-binary=:all:", "--cache-dir", str(BUILD / "pip-cache")]
    for tag in _PLATFORM_TAGS[arch]:
        base += ["--platform", tag]
    if no_deps:
        base.append("--no-deps")
    subprocess.run(base + _requirements(requirements), check=True)


def find_strip(arch: str) -> str:
    """A ``strip`` that understands ``arch`` objects.

    The host's GNU strip only knows x86_64 (its generic ``elf64-little`` mode zeroes
    ``e_machine`` and breaks the object), so arm64 needs binutils-aarch64-linux-gnu or
    llvm-strip (Debian: ``apt-get install binutils-aarch64-linux-gnu``).
    """
    candidates = {"arm64": ["aarch64-linux-gnu-strip", "llvm-strip"],
                  "x86_64": ["x86_64-linux-gnu-strip", "strip", "llvm-strip"]}[arch]
    if arch == "x86_64" and os.uname().machine != "x86_64":
        candidates.remove("strip")
    if arch == "arm64" and os.uname().machine == "aarch64":
        candidates.insert(0, "strip")
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit(f"no strip for {arch} objects: install one of {candidates} "
                     "(Debian: apt-get install binutils-aarch64-linux-gnu)")


def trim(site: Path, arch: str) -> None:
    """Apply the trim recipe to an installed ``site`` directory in place."""
    for path in sorted(site.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        rel = path.relative_to(site).as_posix()
        if not path.exists() and not path.is_symlink():
            continue
        if _DROP_RE.search(rel) and not _KEEP_RE.match(rel):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    _dedupe_shared_objects(site)
    strip = find_strip(arch)
    for so in site.rglob("*.so*"):
        # auditwheel grafts (numpy.libs/, scipy.libs/) were rewritten by patchelf; strip
        # breaks their segment alignment ("ELF load command ... not page-aligned").
        if so.parent.name.endswith(".libs"):
            continue
        if so.is_file() and not so.is_symlink() and _is_elf(so):
            subprocess.run([strip, "--strip-unneeded", str(so)], check=True,
                           stdout=subprocess.DEVNULL)
    # dist-info RECORD files list removed files; harmless, but drop the stale byte counts
    for record in site.glob("*.dist-info/RECORD"):
        record.unlink()


def _is_elf(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"\x7fELF"


def _soname(path: Path) -> str | None:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
    m = re.search(r"\(SONAME\)\s+Library soname: \[(.+?)\]", out)
    return m.group(1) if m else None


def _needed(path: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out)


def _dedupe_shared_objects(site: Path) -> None:
    """Wheels cannot hold symlinks, so ``libX.so``, ``libX.so.N`` and ``libX.so.N.M`` are
    three copies of one file; keep the SONAME copy (what the loader asks for)."""
    for so in site.rglob("lib*.so*"):
        if not so.exists() or not so.is_file() or not _is_elf(so):
            continue
        soname = _soname(so)
        if soname and so.name != soname and (so.parent / soname).exists():
            so.unlink()


def check_needed(site: Path) -> list[str]:
    """Return the ``DT_NEEDED`` libraries that resolve neither inside ``site`` nor to a system
    library; an empty list means the trimmed layer links."""
    present = {p.name for p in site.rglob("*.so*")}
    missing = []
    for so in site.rglob("*.so*"):
        if not so.is_file() or not _is_elf(so):
            continue
        for lib in _needed(so):
            if lib not in present and not _SYSTEM_LIBS.match(lib):
                missing.append(f"{so.relative_to(site)} needs {lib}")
    return missing


#: Imports the modules a worker function can load (the handlers and every hstcr_common
#: module, each tried) and prints the files of all modules then loaded, relative to their
#: ``sys.path`` entry.  Run by this machine's Python in the project's environment: the
#: layer holds the same packages, so the same files get imported there (a module missed
#: only costs its compile at a cold start; the host smoke test lists any it imported).
_TRACE_IMPORTS = r"""
import ast, importlib, json, pathlib, pkgutil, sys
import hstcr_common
names = ["functions.process_dark", "functions.summarize"]
# the command line, plots and synthetic darks never run in a Lambda (and __main__ runs)
skip = ("cli", "plots", "synthetic")
names += [m.name for m in pkgutil.walk_packages(hstcr_common.__path__, "hstcr_common.")
          if m.name.split(".")[1] not in skip and not m.name.endswith("__main__")]
# and what a function imports when it runs (erfa for the orbit, ...)
for path in pathlib.Path(hstcr_common.__path__[0]).rglob("*.py"):
    if path.relative_to(hstcr_common.__path__[0]).parts[0] in skip:
        continue
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
for name in names:
    try:
        importlib.import_module(name)
    except Exception:
        pass
roots = sorted({p.rstrip("/") for p in sys.path if p}, key=len, reverse=True)
files = set()
for module in list(sys.modules.values()):
    path = getattr(module, "__file__", None) or ""
    if path.endswith(".py"):
        root = next((r for r in roots if path.startswith(r + "/")), None)
        if root:
            files.add(path[len(root) + 1:])
print(json.dumps(sorted(files)))
"""


def worker_imports() -> list[str]:
    """Files (``package/module.py``) a worker function imports: those get bytecode."""
    out = subprocess.run([sys.executable, "-c", _TRACE_IMPORTS], cwd=REPO, check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def target_interpreter(python: str) -> str | None:
    """A Python interpreter of version ``python`` (its major.minor) on this machine: this one,
    ``pythonX.Y`` on the PATH, or a pyenv version; None when there is none.  Bytecode is
    specific to the minor version (3.12's is read by every 3.12.x)."""
    want = tuple(int(part) for part in python.split(".")[:2])
    if sys.version_info[:2] == want:
        return sys.executable
    name = f"python{want[0]}.{want[1]}"
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(name)] + sorted(str(p) for p in pyenv.glob(f"{want[0]}.{want[1]}*/bin/{name}"))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(*sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and tuple(map(int, probe.stdout.split())) == want:
            return candidate
    return None


def compile_bytecode(root: Path, python: str, files: list[str] | None = None) -> int:
    """Write bytecode for the ``.py`` files under ``root`` (only ``files``, relative to it,
    when given) with an interpreter of version ``python``; return how many files got one.

    Lambda's file system is read-only, so a module without bytecode is compiled from source at
    every cold start and never cached: the worker's imports took 1.47-1.65 s with no bytecode
    against 0.55-0.72 s with it (this machine, the host build, ``python -S -B``).  ``unchecked-hash``
    bytecode is used as it is (PEP 552): the asset's zip does not keep the sources' mtimes,
    which timestamp-checked bytecode would compare.  Without an interpreter of that version
    the layer ships without bytecode (it works, its cold starts are slower), said on stderr.
    """
    interpreter = target_interpreter(python)
    if interpreter is None:
        print(f"no python{python} here: {root} ships without bytecode (slower cold starts)",
              file=sys.stderr)
        return 0
    paths = ([str(root / f) for f in files if (root / f).is_file()] if files is not None
             else [str(p) for p in sorted(root.rglob("*.py"))])
    for start in range(0, len(paths), 500):     # compileall takes the files as arguments
        # a file that does not compile (another Python's syntax in a package) keeps no
        # bytecode and is not an error: it is compiled at import, if it is ever imported
        subprocess.run([interpreter, "-m", "compileall", "-q", "-q", "--invalidation-mode",
                        "unchecked-hash", *paths[start:start + 500]], check=False,
                       stdout=subprocess.DEVNULL)
    return sum(1 for p in paths if Path(bytecode_path(p, python)).is_file())


def bytecode_path(source: str, python: str) -> str:
    """Where CPython ``python`` keeps the bytecode of ``source`` (``__pycache__``)."""
    major, minor = python.split(".")[:2]
    path = Path(source)
    return str(path.parent / "__pycache__" / f"{path.stem}.cpython-{major}{minor}.pyc")


def build_layer(arch: str = TARGET_ARCH, python: str = TARGET_PYTHON, *,
                clean: bool = True) -> LayerBuild:
    """Install, trim and check the worker layer for ``arch``/``python``.

    Returns
    -------
    LayerBuild
        Sizes before and after the trim (bytes, unzipped).
    """
    if arch not in _PLATFORM_TAGS:
        raise SystemExit(f"unknown architecture {arch!r}; choose one of {sorted(_PLATFORM_TAGS)}")
    layer_dir = BUILD / f"{arch}-py{python}" / "layer"
    site = layer_dir / "python"
    if clean and layer_dir.exists():
        shutil.rmtree(layer_dir)
    site.mkdir(parents=True, exist_ok=True)
    pip_install(site, arch, python)
    installed = tree_bytes(site)
    for path in sorted(site.iterdir()):
        if _RUNTIME_RE.match(path.name):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    trim(site, arch)
    missing = check_needed(site)
    if missing:
        raise SystemExit("trimmed layer does not link:\n  " + "\n  ".join(missing))
    # bytecode for what a worker imports only: all of it would be 17 MB of the headroom
    compile_bytecode(site, python, worker_imports())
    return LayerBuild(arch, python, layer_dir, installed, tree_bytes(site))


def build_plan_layer(arch: str = TARGET_ARCH, python: str = TARGET_PYTHON) -> LayerBuild:
    """The plan function's second layer: astroquery and friends (``requirements-plan.txt``),
    installed without dependencies on top of the worker layer."""
    layer_dir = BUILD / f"{arch}-py{python}" / "plan-layer"
    site = layer_dir / "python"
    if layer_dir.exists():
        shutil.rmtree(layer_dir)
    site.mkdir(parents=True)
    pip_install(site, arch, python, PLAN_REQUIREMENTS, no_deps=True)
    installed = tree_bytes(site)
    trim(site, arch)
    return LayerBuild(arch, python, layer_dir, installed, tree_bytes(site))


def build_function_code(out: Path | None = None, python: str = TARGET_PYTHON) -> Path:
    """Copy ``hstcr_common`` and ``functions`` (the handlers) into one asset directory, with
    their bytecode for ``python`` (:func:`compile_bytecode`)."""
    out = out or BUILD / "function"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")
    shutil.copytree(REPO / "hstcr_common", out / "hstcr_common", ignore=ignore)
    shutil.copytree(REPO / "functions", out / "functions", ignore=ignore)
    compile_bytecode(out, python)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default=TARGET_ARCH, choices=sorted(_PLATFORM_TAGS))
    parser.add_argument("--python", default=TARGET_PYTHON)
    parser.add_argument("--no-function", action="store_true", help="skip the function asset")
    args = parser.parse_args(argv)
    mb = 1024 * 1024
    build = build_layer(args.arch, args.python)
    plan = build_plan_layer(args.arch, args.python)
    for b, what in ((build, "worker layer"), (plan, "plan layer")):
        print(f"{what} {b.arch} python{b.python}: installed {b.installed_bytes / mb:.1f} MB"
              f" -> trimmed {b.layer_bytes / mb:.1f} MB  ({b.layer_dir})")
    status = 0
    if not args.no_function:
        function = build_function_code(python=args.python)
        fn_bytes = tree_bytes(function)
        for name, extra in (("process_dark/summarize", 0), ("plan", plan.layer_bytes)):
            total = build.layer_bytes + extra + fn_bytes
            print(f"{name}: function code {fn_bytes / mb:.2f} MB + layers = {total / mb:.1f} MB"
                  f" unzipped of {LAMBDA_UNZIPPED_LIMIT / mb:.0f} MB"
                  f" (headroom {(LAMBDA_UNZIPPED_LIMIT - total) / mb:.1f} MB)")
            # both functions keep HEADROOM_BYTES free (plan: worker + astroquery layer)
            limit = LAMBDA_UNZIPPED_LIMIT - HEADROOM_BYTES
            if total > limit:
                print(f"{name}: {total / mb:.1f} MB is over its budget of {limit / mb:.0f} MB", file=sys.stderr)
                status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
