"""How ``hstcr run`` stops (issue 16): loud errors before any work, Ctrl-C with a summary and
exit 130, no orphaned workers when the run itself is killed, and a network that is down
stopping the run instead of filing a failure per dark."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hstcr_common.lake import Lake
from hstcr_common.synthetic import write_sample

HSTCR = [sys.executable, "-m", "hstcr_common.cli"]


def hstcr(*args, cwd=None, env=None, timeout=300):
    return subprocess.run([*HSTCR, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture(scope="module")
def darks(tmp_path_factory):
    root = tmp_path_factory.mktemp("darks")
    write_sample("stis_ccd", 8, root, seed=11)
    return root


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# --------------------------------------------------------------------------- loud errors

def test_query_and_plot_over_no_lake_fail_naming_it(tmp_path):
    for args in (("query", "SELECT 1"), ("plot", "all", "--out", tmp_path / "p")):
        res = hstcr(*args, cwd=tmp_path)
        assert res.returncode != 0
        assert "./hstcr-lake: no lake here: the folder does not exist" in res.stderr
    (tmp_path / "hstcr-demo" / "lake").mkdir(parents=True)
    res = hstcr("query", "SELECT 1", cwd=tmp_path)
    assert res.returncode != 0 and "pass --lake ./hstcr-demo/lake" in res.stderr
    res = hstcr("query", "--lake", tmp_path / "hstcr-demo", "SELECT 1", cwd=tmp_path)
    assert res.returncode != 0 and "no Parquet files" in res.stderr


def test_unknown_instrument_and_unusable_lake_fail_before_any_work(darks, tmp_path):
    res = hstcr("run", darks, "--instrument", "bogus", "--lake", tmp_path / "lake")
    assert res.returncode != 0 and "unknown instrument 'bogus'; known: acs_wfc" in res.stderr
    a_file = tmp_path / "some_file.txt"
    a_file.write_text("notes")
    res = hstcr("run", darks, "--lake", a_file)
    assert res.returncode != 0 and res.stderr.count("\n") <= 2, res.stderr  # one line, no traceback
    assert f"{a_file}: cannot write a lake here: it is a file" in res.stderr
    assert not (tmp_path / "lake").exists()


def test_any_case_and_the_handbook_spelling_of_an_instrument(darks, tmp_path):
    res = hstcr("run", darks, "--instrument", "STIS/CCD", "--lake", tmp_path / "lake", "--workers", "1", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["done"] == 8
    res = hstcr("run", darks, "--instrument", "ACS/WFC", "--lake", tmp_path / "lake2", "--workers", "1")
    assert res.returncode != 0 and "8 dark(s) of other instruments" in res.stderr


def test_one_file_is_input_and_unused_files_are_reported(darks, tmp_path):
    science = sorted(darks.glob("*_flt.fits"))[0]
    res = hstcr("run", science, "--lake", tmp_path / "lake", "--workers", "1", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["done"] == 1 and out["results"][0]["dataset"] == science.name[:9]
    # a badly named dark, a text file: counted, with the reason
    folder = tmp_path / "input"
    folder.mkdir()
    for f in sorted(darks.glob(f"{science.name[:9]}_*")):
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "ocorrupt1q_flt.fits").write_bytes(b"SIMPLE")
    (folder / "notes.txt").write_text("x")
    res = hstcr("run", folder, "--lake", tmp_path / "lake", "--workers", "1")
    assert "not used: 1 file(s), FITS name is not <9-character dataset>_<suffix>.fits: ocorrupt1q_flt.fits" in res.stderr
    assert "not used: 1 file(s), not a FITS file: notes.txt" in res.stderr


# --------------------------------------------------------------------------- stopping

def _start_run(darks, lake, *extra):
    return subprocess.Popen([*HSTCR, "run", str(darks), "--lake", str(lake), "--workers", "2", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for(condition, timeout=120.0):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_ctrl_c_says_what_was_kept_and_how_to_resume(darks, tmp_path):
    lake = tmp_path / "lake"
    proc = _start_run(darks, lake)
    assert _wait_for(lambda: len(Lake(lake).files("exposures")) >= 1)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "stopped: interrupted (Ctrl-C)" in err and "resume: run the same command again" in err
    assert "Traceback" not in err
    kept = len(Lake(lake).files("exposures"))
    assert f"darks done" in err and kept >= 1
    # the rerun finishes the rest and duplicates nothing
    res = hstcr("run", darks, "--lake", lake, "--workers", "2", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["skipped"] >= kept
    assert len(Lake(lake).files("exposures")) == 8


@pytest.mark.slow
def test_killing_the_run_leaves_no_worker_behind(darks, tmp_path):
    proc = _start_run(darks, tmp_path / "lake", "--reprocess")
    assert _wait_for(lambda: len(_children(proc.pid)) >= 2)
    workers = _children(proc.pid)
    proc.kill()  # SIGKILL, as the OOM killer does: no chance to shut the pool down
    proc.wait(10)
    assert _wait_for(lambda: not any(_alive(w) for w in workers), timeout=15), \
        [w for w in workers if _alive(w)]


def test_a_down_network_stops_the_run_with_one_message(tmp_path):
    """Every dark's files on an S3 endpoint nobody listens on: the run stops after 10 darks in
    a row failed to download, says why and how to resume, and leaves the rest untouched."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: connections are refused at once
    manifest = tmp_path / "manifest.jsonl"
    items = [{"dataset": f"o{i:07d}q", "instrument": "stis_ccd", "month": "2017-03",
              "files": {"science": f"s3://stpubdata/hst/public/o{i:07d}q_flt.fits"}} for i in range(14)]
    manifest.write_text("".join(json.dumps(it) + "\n" for it in items))
    t0 = time.monotonic()
    res = hstcr("run", "--manifest", manifest, "--lake", tmp_path / "lake", "--workers", "1",
                env={"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "x",
                     "AWS_SECRET_ACCESS_KEY": "x"}, timeout=600)
    assert res.returncode == 4, res.stderr
    assert "10 darks in a row could not be downloaded" in res.stderr
    assert "4 not started" in res.stderr and "resume: run the same command again" in res.stderr
    print(f"\nstopped after {time.monotonic() - t0:.1f} s")


@pytest.mark.slow
def test_workers_that_cannot_run_stop_the_run_instead_of_respawning(darks, tmp_path):
    """Every spawned worker dies at start (a broken install): the run stops after three
    deaths in a row with one message, instead of one failures row per dark forever."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    # spawned workers import sitecustomize from PYTHONPATH; the parent has the marker unset
    (hooks / "sitecustomize.py").write_text(
        "import os, sys\n"
        "if os.environ.get('HSTCR_TEST_BROKEN_WORKER') and 'multiprocessing' in ' '.join(sys.argv):\n"
        "    os._exit(1)\n")
    env = {"PYTHONPATH": os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]),
           "HSTCR_TEST_BROKEN_WORKER": "1"}
    res = hstcr("run", darks, "--lake", tmp_path / "lake", "--workers", "2", "--method", "threshold",
                env=env, timeout=600)
    assert res.returncode == 4, res.stderr
    assert "3 worker processes in a row died" in res.stderr and "resume:" in res.stderr
