"""Bad input corpus through the real ``hstcr run`` CLI: nothing lost, nothing hangs, memory bounded.

One folder holds good synthetic darks (STIS/CCD 1024x1024 and WFPC2 4x800x800, the small
full-frame detectors) next to ~50 damaged copies of them: truncated at 20 byte offsets (inside
the primary header, every extension header, the SCI, ERR and DQ data), header-only files,
missing SCI/DQ/support/c1m files, wrong shapes, NaN/Inf pixels, all-zero frames, bad times,
an unknown instrument, a subarray, gzip-compressed FITS (good and truncated), an enormous
header, a header announcing 40 GB of pixels, a non-FITS file and an empty file.

``hstcr run`` runs once over the whole folder in a subprocess (so its peak memory can be
measured).  Then, per case:

* a dark the pipeline must refuse has exactly one ``failures`` row (queried with DuckDB via
  :mod:`hstcr_common.lake.query`), no ``exposures``/``cosmic_rays`` rows, and a message that names
  its file and the problem;
* a dark whose damage the pipeline is documented to handle (NaN pixels flagged, a missing or
  broken support file, gzip, missing final padding, a subarray) is processed: one
  ``exposures`` row, no ``failures`` row;
* every good dark succeeds, and the exit status is 3 (some failed).

The decisions are documented in ``docs/robustness.md``.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from hstcr_common.lake import run_sql

# the corpus (59 files) is built and run once, ~25 s: part of the full run, not the quick loop
pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

#: peak RSS (MB) any process of the whole run may reach; a STIS/WFPC2 dark needs ~150 MB, and
#: the 40 GB header or 100,000-card header must not push a worker anywhere near a GB
RUN_RSS_LIMIT_MB = 600
#: peak RSS (MB) of a CLI run over one hostile file (the interpreter + astropy + numpy alone
#: take ~135 MB; unguarded, the 40 GB header would try to allocate 40 GB)
HOSTILE_RSS_LIMIT_MB = 200


@dataclass
class Case:
    """One bad (or damaged but usable) input."""

    name: str
    dataset: str
    outcome: str          # "failed" or "done"
    problem: str = ""     # regex the failures message must match (after the file name)
    file: str = ""        # file name the message must name (default: the science file)


# ---------------------------------------------------------------------------------------------
# Building the corpus
# ---------------------------------------------------------------------------------------------


def _hdu_offsets(path: Path) -> list[tuple[str, int, int, int]]:
    """(EXTNAME, header start, data start, data end) of every HDU."""
    out = []
    with fits.open(path, memmap=False) as hdul:
        for i, hdu in enumerate(hdul):
            info = hdul.fileinfo(i)
            h = hdu.header
            nbytes = abs(h["BITPIX"]) // 8 * int(np.prod([h[f"NAXIS{k}"] for k in
                                                          range(1, h["NAXIS"] + 1)] or [0]))
            out.append((hdu.name, info["hdrLoc"], info["datLoc"], info["datLoc"] + nbytes))
    return out


def _renamed(data: bytes, old: str, new: str) -> bytes:
    """The file with its dataset name (ROOTNAME, FILENAME...) replaced in its headers only."""
    assert len(old) == len(new)
    with fits.open(io.BytesIO(data), memmap=False, lazy_load_hdus=True) as hdul:
        spans = [(hdul.fileinfo(i)["hdrLoc"], hdul.fileinfo(i)["datLoc"]) for i in range(len(hdul))]
    out = bytearray(data)
    for start, stop in spans:  # the pixels are never touched
        out[start:stop] = bytes(out[start:stop]).replace(old.encode(), new.encode()).replace(
            old.upper().encode(), new.upper().encode())
    return bytes(out)


def _edited(path: Path, dataset: str, new_dataset: str, edit) -> bytes:
    """The file, renamed, after ``edit(hdul)`` changed it in memory."""
    with fits.open(path, memmap=False) as hdul:
        hdul = fits.HDUList([h.copy() for h in hdul])
    edit(hdul)
    for hdu in hdul:
        for key in ("ROOTNAME", "FILENAME"):
            if key in hdu.header:
                hdu.header[key] = str(hdu.header[key]).replace(dataset, new_dataset).replace(
                    dataset.upper(), new_dataset.upper())
    buf = io.BytesIO()
    hdul.writeto(buf, output_verify="silentfix")
    return buf.getvalue()


class Corpus:
    """Writes the cases into ``folder``; remembers what each must produce."""

    def __init__(self, folder: Path, stis: dict, wfpc2: dict):
        self.folder = folder
        self.stis, self.wfpc2 = stis, wfpc2
        self.stis_dataset = stis["science"].name.split("_")[0]
        self.wfpc2_dataset = wfpc2["science"].name.split("_")[0]
        self.stis_bytes = stis["science"].read_bytes()
        self.cases: list[Case] = []
        self._n = {"o": 0, "u": 0}

    def _dataset(self, prefix: str) -> str:
        self._n[prefix] += 1
        return f"{prefix}bad{self._n[prefix]:04d}q"  # 9 characters, the instrument's prefix

    def _support(self, ds: str, data: bytes | None = None, src: Path | None = None,
                 suffix: str = "spt"):
        src = src or self.stis["support"]
        old = src.name.split("_")[0]
        data = data if data is not None else _renamed(src.read_bytes(), old, ds)
        (self.folder / f"{ds}_{suffix}.fits").write_bytes(data)

    def stis_case(self, name: str, outcome: str, problem: str = "", *, data: bytes | None = None,
                  edit=None, support=True, name_suffix: str = "flt.fits", file: str = "") -> str:
        ds = self._dataset("o")
        if edit is not None:
            data = _edited(self.stis["science"], self.stis_dataset, ds, edit)
        elif callable(data):
            data = data(ds)
        elif data is None:
            data = _renamed(self.stis_bytes, self.stis_dataset, ds)
        (self.folder / f"{ds}_{name_suffix}").write_bytes(data)
        if support is True:
            self._support(ds)
        elif isinstance(support, bytes):
            self._support(ds, support)
        self.cases.append(Case(name, ds, outcome, problem, file or f"{ds}_{name_suffix}"))
        return ds

    def wfpc2_case(self, name: str, outcome: str, problem: str = "", *, c0m=None, c1m=None,
                   shm=None, file_role: str = "c0m") -> str:
        ds = self._dataset("u")
        old = self.wfpc2_dataset
        for role, replacement in (("c0m", c0m), ("c1m", c1m), ("shm", shm)):
            if replacement is False:
                continue  # the file is missing
            src = self.wfpc2["science" if role == "c0m" else "dq" if role == "c1m" else "support"]
            data = _renamed(src.read_bytes(), old, ds)
            if callable(replacement):
                data = replacement(data)
            (self.folder / f"{ds}_{role}.fits").write_bytes(data)
        self.cases.append(Case(name, ds, outcome, problem, f"{ds}_{file_role}.fits"))
        return ds


def build_corpus(folder: Path, *, stis_seed: int = 101, wfpc2_seed: int = 202) -> list[Case]:
    from hstcr_common.synthetic import write_dark

    good = folder / "_good"
    made = [write_dark("stis_ccd", good, seed=stis_seed + k, exptime_s=300.0,
                      flag_cosmic_rays=True).paths
            for k in range(2)]
    wf = write_dark("wfpc2", good, seed=wfpc2_seed, exptime_s=300.0).paths
    sub = write_dark("stis_ccd", folder / "_sub", seed=303, shape=(512, 512), exptime_s=300.0).paths
    darks = folder / "darks"
    darks.mkdir()
    cases = []
    for paths in made + [wf]:
        for p in paths.values():
            shutil.copy(p, darks / p.name)
        ds = paths["science"].name.split("_")[0]
        cases.append(Case("good", ds, "done"))
    c = Corpus(darks, made[0], wf)
    size = len(c.stis_bytes)
    (_, _, p_dat, _), (_, s_hdr, s_dat, s_end), (_, e_hdr, e_dat, _), (_, d_hdr, d_dat, d_end) = \
        _hdu_offsets(made[0]["science"])
    assert size > d_end  # the last data block is padded

    # ---- truncated at 20 byte offsets: every header and every data block
    trunc = "truncated FITS file"
    for where, cut, problem in [
        ("inside the primary header, first card", 80, "not a readable FITS file"),
        ("inside the primary header", 1000, "not a readable FITS file"),
        ("primary header, last byte missing", p_dat - 1, "not a readable FITS file"),
        ("primary header only (header-only file)", p_dat, trunc + ": NEXTEND=3"),
        ("inside the SCI header, first card", s_hdr + 80, "truncated FITS file|not a readable"),
        ("inside the SCI header", s_hdr + 2000, "truncated FITS file|not a readable"),
        ("SCI header complete, no data", s_dat, trunc),
        ("inside the SCI data, first byte", s_dat + 1, trunc),
        ("inside the SCI data, middle", s_dat + 1_000_003, trunc),
        ("SCI data, last byte missing", s_end - 1, trunc),
        ("after SCI: no ERR and DQ", e_hdr, trunc + ": NEXTEND=3"),
        ("inside the ERR header", e_hdr + 700, "truncated FITS file|not a readable"),
        ("inside the ERR data", e_dat + 2_000_001, trunc),
        ("after ERR: no DQ", d_hdr, trunc + ": NEXTEND=3"),
        ("inside the DQ header, first byte", d_hdr + 1, "truncated FITS file|not a readable"),
        ("DQ header complete, no data", d_dat, trunc),
        ("inside the DQ data, first byte", d_dat + 1, trunc),
        ("inside the DQ data, middle", d_dat + 1_048_577, trunc),
        ("DQ data, last byte missing", d_end - 1, trunc),
        ("one byte left", 1, "not a readable FITS file"),
    ]:
        ds = c._dataset("o")
        data = _renamed(c.stis_bytes, c.stis_dataset, ds)[:cut]
        (darks / f"{ds}_flt.fits").write_bytes(data)
        c._support(ds)
        c.cases.append(Case(f"truncated: {where} (byte {cut})", ds, "failed", problem,
                            f"{ds}_flt.fits"))
    # only the zero padding after the last data block is missing: complete, processed
    c.stis_case("truncated inside the final padding only", "done",
                data=lambda ds: _renamed(c.stis_bytes, c.stis_dataset, ds)[:d_end + 100])

    # ---- empty, not FITS, header-only
    c.stis_case("empty file", "failed", "not a readable FITS file", data=b"")
    c.stis_case("not FITS (text named .fits)", "failed", "not a readable FITS file",
                data=b"<html><body>404 Not Found</body></html>\n" * 100)
    c.stis_case("not FITS (random bytes named .fits)", "failed", "not a readable FITS file",
                data=np.random.default_rng(1).bytes(3 * 2880))

    def headers_only(hdul):
        for hdu in hdul[1:]:
            hdu.data = None
    c.stis_case("headers of every HDU but no pixels", "failed",
                r"no data|no science data|has no pixels|smaller than the full", edit=headers_only)

    # ---- missing pieces
    def drop(index):
        def edit(hdul):
            hdul.pop(index)
            hdul[0].header["NEXTEND"] = len(hdul) - 1  # a consistent file, just without it
        return edit
    c.stis_case("missing SCI extension", "failed", "no SCI extension", edit=drop(1))
    c.stis_case("missing DQ extension", "failed", "missing DQ extension for SCI 1", edit=drop(3))
    c.stis_case("missing SCI and DQ, NEXTEND not updated", "failed",
                "truncated FITS file: NEXTEND=3 but only 1 extension",
                edit=lambda h: (h.pop(3), h.pop(1)))
    c.stis_case("missing support (spt) file", "done", support=False)
    c.stis_case("support (spt) file is not FITS", "done", support=b"garbage" * 500)
    c.stis_case("support (spt) file truncated", "done",
                support=_renamed(c.stis["support"].read_bytes(), c.stis_dataset, "obad9999q")[:4000])
    c.wfpc2_case("WFPC2 c1m (DQ file) missing", "failed", "needs its c1m", c1m=False)
    c.wfpc2_case("WFPC2 c1m truncated", "failed", trunc, c1m=lambda d: d[: len(d) // 2],
                 file_role="c1m")
    c.wfpc2_case("WFPC2 c0m truncated in chip 3", "failed", trunc,
                 c0m=lambda d: d[: len(d) * 5 // 8])
    c.wfpc2_case("WFPC2 shm (support) missing", "done", shm=False)

    # ---- wrong shapes
    def grow(hdul):
        hdul[1].data = np.zeros((1100, 1100), np.float32)
        hdul[3].data = np.zeros((1100, 1100), np.uint16)
    c.stis_case("flt with a 1100x1100 SCI", "failed", r"1100x1100, expected 1024x1024", edit=grow)

    def dq_shape(hdul):
        hdul[3].data = np.zeros((512, 512), np.uint16)
    c.stis_case("DQ shape differs from SCI", "failed", r"DQ shape \(512, 512\) differs", edit=dq_shape)

    def cube(hdul):
        hdul[1].data = np.stack([hdul[1].data, hdul[1].data])
    c.stis_case("SCI is a 3-D cube", "failed", r"SCI data have 3 axes \(2x1024x1024\): expected a 2-D image", edit=cube)

    def wfpc2_big(data):
        with fits.open(io.BytesIO(data), memmap=False) as h:
            h = fits.HDUList([x.copy() for x in h])
        h[2].data = np.zeros((900, 800), np.float32)
        buf = io.BytesIO()
        h.writeto(buf)
        return buf.getvalue()
    c.wfpc2_case("WFPC2 chip of 900x800", "failed", r"900x800, expected 800x800", c0m=wfpc2_big)
    # a subarray is processed as read (issue 13): its own area, flagged in exposures
    c.stis_case("subarray (512x512, SUBARRAY=T)", "done",
                data=lambda ds: _renamed(sub["science"].read_bytes(),
                                         sub["science"].name.split("_")[0], ds))

    # ---- pixels
    def nonfinite(hdul):
        sci = hdul[1].data.astype(np.float32)
        sci[100, 100:110] = np.nan
        sci[200, 200] = np.inf
        sci[300, 300] = -np.inf
        hdul[1].data = sci
    c.stis_case("NaN/Inf pixels", "done", edit=nonfinite)

    def all_zero(hdul):
        hdul[1].data = np.zeros_like(hdul[1].data)
    c.stis_case("all-zero SCI frame", "failed", r"constant|all 0", edit=all_zero)

    def all_nan(hdul):
        hdul[1].data = np.full(hdul[1].data.shape, np.nan, np.float32)
    c.stis_case("all-NaN SCI frame", "failed", r"constant|no usable pixels|all 0", edit=all_nan)

    # ---- header values
    def keyword(key, value, ext=1):
        def edit(hdul):
            hdul[ext].header[key] = value  # STIS keeps the times in the SCI header
        return edit
    c.stis_case("EXPTIME = 0", "failed", r"EXPTIME is 0.0 s", edit=keyword("EXPTIME", 0.0))
    c.stis_case("EXPTIME < 0", "failed", r"EXPTIME is -300.0 s", edit=keyword("EXPTIME", -300.0))
    c.stis_case("EXPTIME not a number", "failed", r"EXPTIME is not a number",
                edit=keyword("EXPTIME", "abc"))

    def backwards(hdul):
        h = hdul[1].header
        h["EXPEND"] = h["EXPSTART"] - 0.01
    c.stis_case("EXPEND before EXPSTART", "failed", r"EXPEND .* before EXPSTART", edit=backwards)

    def no_expstart(hdul):
        for hdu in hdul:
            hdu.header.remove("EXPSTART", ignore_missing=True, remove_all=True)
    c.stis_case("EXPSTART missing", "failed", r"missing keyword EXPSTART", edit=no_expstart)
    c.stis_case("unknown instrument (INSTRUME='FOC')", "failed",
                r"unknown instrument: INSTRUME='FOC'", edit=keyword("INSTRUME", "FOC", 0))
    c.stis_case("unsupported BUNIT", "failed", r"unsupported BUNIT 'MJY/SR'",
                edit=keyword("BUNIT", "MJY/SR"))
    c.stis_case("DATE-OBS nonsense", "failed", r"cannot read DATE-OBS",
                edit=keyword("DATE-OBS", "yesterday"))

    # ---- gzip: supported (astropy decompresses); a damaged one is refused
    def gz(ds):
        return gzip.compress(_renamed(c.stis_bytes, c.stis_dataset, ds), compresslevel=1)
    c.stis_case("gzip-compressed FITS (.fits.gz)", "done", name_suffix="flt.fits.gz", data=gz)
    c.stis_case("gzip-compressed FITS truncated", "failed", r"truncated|not a readable",
                name_suffix="flt.fits.gz", data=lambda ds: gz(ds)[: len(gz(ds)) // 2])
    c.stis_case("gzip header on a non-gzip stream", "failed", r"not a readable FITS file",
                name_suffix="flt.fits.gz", data=b"\x1f\x8b" + b"x" * 5000)

    # ---- hostile sizes
    c.stis_case("enormous primary header (100,000 cards)", "failed",
                r"primary header has more than 20,000 cards",
                data=lambda ds: enormous_header(_renamed(c.stis_bytes, c.stis_dataset, ds)))
    c.stis_case("header announces 40 GB of SCI pixels (gzip)", "failed",
                r"HDU 3 \(SCI\) announces 40,000,000,000 bytes of data, larger than",
                name_suffix="flt.fits.gz",
                data=lambda ds: huge_data_file(c.stis["science"], c.stis_dataset, ds))
    cases += c.cases
    return cases


def enormous_header(data: bytes, n_cards: int = 100_000) -> bytes:
    """The file with ``n_cards`` HISTORY cards added to its primary header (otherwise good)."""
    end = next(i for i in range(0, len(data), 80) if data[i:i + 8] == b"END     ")
    data_start = -(-(end + 80) // 2880) * 2880
    history = b"".join(f"HISTORY card {i} of a header that never ends".ljust(80).encode()
                       for i in range(n_cards))
    header = data[:end] + history + b"END".ljust(80)
    header += b" " * (-len(header) % 2880)
    return header + data[data_start:]


def huge_data_file(path: Path, old: str, dataset: str) -> bytes:
    """The STIS flt with its SCI last, announcing 100000 x 100000 float32 (40 GB), gzipped.

    Compressed, the file is small and its size says nothing about what the headers announce;
    the SCI being last, nothing after it shows the file is short: only a guard on the
    announced size before reading stops the allocation.
    """
    def move_sci_last(hdul):
        hdul.append(hdul.pop(1))
    data = bytearray(_edited(path, old, dataset, move_sci_last))
    sci = data.rfind(b"XTENSION= 'IMAGE   '")
    for key in (b"NAXIS1  =", b"NAXIS2  ="):
        pos = data.find(key, sci)
        data[pos + 10:pos + 30] = f"{100000:>20d}".encode()
    return gzip.compress(bytes(data), compresslevel=1)


# ---------------------------------------------------------------------------------------------
# Running the real CLI once over the whole corpus
# ---------------------------------------------------------------------------------------------

#: runs a command as a child and reports its exit status, output and peak RSS (the largest
#: process of the tree: the CLI or any pool worker), measured in a fresh process so nothing
#: else pytest spawned is counted
_MEASURE = textwrap.dedent("""
    import json, resource, subprocess, sys
    proc = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=float(sys.argv[1]))
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
                      "peak_mb": peak_kb / 1024}))
""")


def run_measured(args: list[str], timeout_s: float = 240.0) -> dict:
    """Run ``args`` in a child; ``{"rc", "stdout", "stderr", "peak_mb"}``."""
    out = subprocess.run([PYTHON, "-c", _MEASURE, str(timeout_s), *args], capture_output=True,
                         text=True, timeout=timeout_s + 30, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def hstcr_cli() -> list[str]:
    """The installed console script (the real CLI a user runs)."""
    script = Path(PYTHON).with_name("hstcr")
    return [str(script)] if script.exists() else [PYTHON, "-c",
                                                  "from hstcr_common.cli import main; main()"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    cases = build_corpus(root)
    lake = root / "lake"
    # one dark at a time: the corpus is byte copies of a few darks (damaged or not), and a
    # group reference (the default method) built from copies of one dark would hold that
    # dark's own cosmic rays; what is tested here is the handling of damaged files
    res = run_measured(hstcr_cli() + ["run", str(root / "darks"), "--lake", str(lake),
                                      "--workers", "2", "--json", "--method", "threshold"])
    summary = json.loads(res["stdout"]) if res["stdout"].strip().startswith("{") else None
    return {"cases": cases, "lake": str(lake), "res": res, "summary": summary,
            "darks": root / "darks"}


def _rows(lake: str, table: str, columns: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in run_sql(f"SELECT {columns} FROM {table}", lake).to_pylist():
        out.setdefault(row["dataset"], []).append(row)
    return out


def test_corpus_is_big_and_varied(corpus):
    cases = corpus["cases"]
    refused = [c for c in cases if c.outcome == "failed"]
    truncated = [c for c in refused if c.name.startswith("truncated:")]
    assert len(truncated) == 20 and len(refused) == 48, [c.name for c in cases]
    assert sum(c.outcome == "done" and c.name != "good" for c in cases) == 8
    assert len({c.dataset for c in cases}) == len(cases)


def test_cli_exit_status_says_some_failed(corpus):
    res = corpus["res"]
    assert res["rc"] == 3, (res["rc"], res["stderr"][-3000:])
    s = corpus["summary"]
    assert s is not None, res["stdout"][-2000:]
    expect_failed = sum(c.outcome == "failed" for c in corpus["cases"])
    assert s["failed"] == expect_failed and s["done"] == len(corpus["cases"]) - expect_failed
    assert "Traceback" not in res["stderr"], res["stderr"][-3000:]


def test_every_refused_dark_has_exactly_one_clear_failures_row(corpus):
    lake = corpus["lake"]
    failures = _rows(lake, "failures", "dataset, stage, error_type, message, source")
    exposures = _rows(lake, "exposures", "dataset")
    results = {r["dataset"]: r for r in corpus["summary"]["results"]}
    problems = []
    for case in (c for c in corpus["cases"] if c.outcome == "failed"):
        rows = failures.get(case.dataset, [])
        if len(rows) != 1:
            problems.append(f"{case.name}: {len(rows)} failures rows")
            continue
        row = rows[0]
        # the message names the file (full path) and then says what is wrong
        named = str(corpus["darks"] / case.file)
        if not row["message"].startswith(f"{named}: "):
            problems.append(f"{case.name}: message does not name {case.file}: {row['message']}")
        elif not re.search(case.problem, row["message"][len(named) + 2:]):
            problems.append(f"{case.name}: expected /{case.problem}/, got: {row['message']}")
        if row["error_type"] != "HstcrError":  # a user's bad file, never a bug of ours
            problems.append(f"{case.name}: {row['error_type']}: {row['message']}")
        if case.dataset in exposures:
            problems.append(f"{case.name}: also has an exposures row")
        if results.get(case.dataset, {}).get("status") != "failed":
            problems.append(f"{case.name}: CLI result {results.get(case.dataset)}")
        elif results[case.dataset]["error"] != row["message"]:
            problems.append(f"{case.name}: CLI error differs from the failures row")
    assert not problems, "\n".join(problems)


def test_good_and_handled_darks_are_processed(corpus):
    lake = corpus["lake"]
    failures = _rows(lake, "failures", "dataset, message")
    exposures = _rows(lake, "exposures", "dataset, n_cr, track_note, subarray, searched_pixels")
    sub = exposures[_case(corpus, "subarray (512x512, SUBARRAY=T)").dataset][0]
    assert sub["subarray"] is True and 0.9 * 512 * 512 < sub["searched_pixels"] <= 512 * 512
    assert sub["n_cr"] > 0
    problems = []
    for case in (c for c in corpus["cases"] if c.outcome == "done"):
        if case.dataset in failures:
            problems.append(f"{case.name}: failures row {failures[case.dataset]}")
        if len(exposures.get(case.dataset, [])) != 1:
            problems.append(f"{case.name}: {len(exposures.get(case.dataset, []))} exposures rows")
    assert not problems, "\n".join(problems)
    # nothing else is in the lake: one row per case, in exactly one of the two tables
    assert set(failures) | set(exposures) == {c.dataset for c in corpus["cases"]}
    assert not set(failures) & set(exposures)


def _case(corpus, name: str) -> Case:
    return next(c for c in corpus["cases"] if c.name == name)


def test_handled_damage_gives_the_good_darks_results(corpus):
    """gzip, missing padding and a missing/broken support file change nothing but the track;
    NaN/Inf pixels are flagged and never become (or poison) a cosmic ray."""
    lake = corpus["lake"]
    good = next(c for c in corpus["cases"] if c.name == "good" and c.dataset.startswith("o"))
    q = ("SELECT dataset, count(*) AS n, sum(energy_e) AS e, sum(n_pixels) AS p, "
         "count(*) FILTER (WHERE isnan(energy_e) OR isinf(energy_e)) AS bad "
         "FROM cosmic_rays GROUP BY dataset")
    crs = {r["dataset"]: r for r in run_sql(q, lake).to_pylist()}
    exposures = _rows(lake, "exposures", "dataset, n_cr, track_note, track")
    ref = crs[good.dataset]
    assert ref["n"] > 100
    same_pixels = ["gzip-compressed FITS (.fits.gz)", "truncated inside the final padding only",
                   "missing support (spt) file", "support (spt) file is not FITS",
                   "support (spt) file truncated"]
    for name in same_pixels:
        got = crs[_case(corpus, name).dataset]
        assert (got["n"], got["p"]) == (ref["n"], ref["p"]), name
        assert got["e"] == pytest.approx(ref["e"], rel=1e-6), name
    for name in same_pixels[2:]:
        row = exposures[_case(corpus, name).dataset][0]
        assert row["track"] is None and "support" in row["track_note"], (name, row)
    assert exposures[_case(corpus, "WFPC2 shm (support) missing").dataset][0]["track"] is None
    nonfinite = crs[_case(corpus, "NaN/Inf pixels").dataset]
    assert nonfinite["bad"] == 0
    assert abs(nonfinite["n"] - ref["n"]) <= 3  # 12 flagged pixels can cut a cosmic ray or two
    assert all(r["bad"] == 0 for r in crs.values())


def test_nonfinite_pixels_are_not_in_any_cosmic_ray(corpus):
    ds = _case(corpus, "NaN/Inf pixels").dataset
    rows = run_sql(f"SELECT p.x AS x, p.y AS y FROM cosmic_rays, UNNEST(pixels) AS u(p) "
                   f"WHERE dataset = '{ds}'", corpus["lake"]).to_pylist()
    assert len(rows) > 1000
    touched = {(r["x"], r["y"]) for r in rows}
    flagged = {(x, 100) for x in range(100, 110)} | {(200, 200), (300, 300)}
    assert not touched & flagged


def test_whole_run_memory_is_bounded(corpus):
    print(f"peak RSS of the whole run: {corpus['res']['peak_mb']:.0f} MB")
    assert 0 < corpus["res"]["peak_mb"] < RUN_RSS_LIMIT_MB, corpus["res"]["peak_mb"]


# ---------------------------------------------------------------------------------------------
# The hostile files alone: bounded time and memory in a fresh process
# ---------------------------------------------------------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["enormous primary header (100,000 cards)",
                                  "header announces 40 GB of SCI pixels (gzip)"])
def test_hostile_file_alone_is_refused_in_bounded_memory(corpus, tmp_path, name):
    case = _case(corpus, name)
    folder = tmp_path / "one"
    folder.mkdir()
    for path in corpus["darks"].glob(f"{case.dataset}_*"):
        shutil.copy(path, folder / path.name)
    res = run_measured(hstcr_cli() + ["run", str(folder), "--lake", str(tmp_path / "lake"),
                                      "--workers", "1", "--json"], timeout_s=60)
    assert res["rc"] == 3, res["stderr"][-2000:]
    (result,) = json.loads(res["stdout"])["results"]
    assert re.search(case.problem, result["error"]), result["error"]
    print(f"{name}: peak RSS {res['peak_mb']:.0f} MB")
    assert res["peak_mb"] < HOSTILE_RSS_LIMIT_MB, res["peak_mb"]


def test_header_guard_reads_at_most_the_limit(tmp_path):
    """The guard stops after MAX_HEADER_CARDS cards: a 1,000,000-card header (80 MB) is
    refused having read ~1.6 MB of it, and a header just under the limit is accepted."""
    from hstcr_common.model import HstcrError
    from hstcr_common.fits import MAX_HEADER_CARDS, open_fits

    class Counting(io.BytesIO):
        read_bytes = 0

        def read(self, n=-1):
            out = super().read(n)
            Counting.read_bytes += len(out)
            return out

    head = (b"SIMPLE  =                    T".ljust(80) + b"BITPIX  =                    8".ljust(80)
            + b"NAXIS   =                    0".ljust(80))
    hist = b"HISTORY x".ljust(80)
    huge = Counting(head + hist * 1_000_000 + b"END".ljust(80))
    with pytest.raises(HstcrError, match="primary header has more than 20,000 cards"):
        with open_fits(huge, "huge.fits"):
            pass
    assert Counting.read_bytes < 2 * MAX_HEADER_CARDS * 80
    fine = head + hist * (MAX_HEADER_CARDS - 10) + b"END".ljust(80)
    fine += b" " * (-len(fine) % 2880)
    with open_fits(fine, "fine.fits") as hdul:
        assert len(hdul[0].header["HISTORY"]) == MAX_HEADER_CARDS - 10


def test_data_guard_accepts_every_real_layout():
    """The data-size bound leaves room for every real product layout of the table."""
    from hstcr_common.instruments import detectors
    from hstcr_common.fits import MAX_DATA_FACTOR

    for det in detectors().values():
        ny, nx = det.chip_shape
        limit = MAX_DATA_FACTOR * det.n_chips * ny * nx * 8
        # the biggest single HDU a real product has: one chip in float32 with overscan
        # (STIS raw 1044x1062), a WFPC2 group cube (4 x 800 x 800 float32), an IR read
        assert limit >= 4 * max(1062 * 1044 if det.id == "stis_ccd" else 0,
                                det.n_chips * ny * nx if det.id == "wfpc2" else 0,
                                (ny + 10) * (nx + 10)), det.id


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", ["stack", "dq"])
def test_other_methods_account_for_every_dark_too(corpus, tmp_path, method):
    """The stack method loads a group before detecting; dq reads the CR bits: a bad dark in
    a group is one failures row and its neighbours are still processed."""
    from click.testing import CliRunner

    from hstcr_common.cli import main

    names = ["good", "truncated: inside the SCI data, middle (byte 1005763)",
             "all-zero SCI frame", "NaN/Inf pixels", "EXPEND before EXPSTART",
             "gzip-compressed FITS (.fits.gz)"]
    chosen = [c for c in corpus["cases"] if c.name in names and c.dataset.startswith("o")]
    folder = tmp_path / "subset"
    folder.mkdir()
    for case in chosen:
        for path in corpus["darks"].glob(f"{case.dataset}_*"):
            shutil.copy(path, folder / path.name)
    lake = str(tmp_path / "lake")
    res = CliRunner().invoke(main, ["run", str(folder), "--lake", lake, "--workers", "1",
                                    "--method", method, "--quiet"])
    assert res.exit_code == 3, res.output
    failures = _rows(lake, "failures", "dataset, message")
    exposures = _rows(lake, "exposures", "dataset, method")
    for case in chosen:
        if case.outcome == "failed":
            assert len(failures.get(case.dataset, [])) == 1 and case.dataset not in exposures, case
            assert re.search(case.problem, failures[case.dataset][0]["message"]), case
        else:
            assert len(exposures.get(case.dataset, [])) == 1 and case.dataset not in failures, case
