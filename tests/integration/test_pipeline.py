"""End to end: synthetic darks -> ``hstcr run`` -> lake -> SQL, and the per-dark job's edges."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from hstcr_common.cli import main
from hstcr_common.lake import Lake
from hstcr_common.model import REFERENCE_CR_RATE_S_CM2
from hstcr_common.pipeline import (RunSummary, items_from_folder, process_group, process_item, run,
                                   summarize_lake)
from hstcr_common.lake import connect, run_named, run_sql
from hstcr_common.synthetic import write_sample



#: small detectors keep the end-to-end test fast; ACS/WFC and WFC3/UVIS are in the slow test
SMALL = {"stis_ccd": 2, "acs_hrc": 2, "wfpc2": 2}
CORRUPT = "obadfile1_flt.fits"


def _truth(darks_dir: Path) -> dict:
    """dataset -> (instrument, injected n_cr, injected rate CR/s/cm2)."""
    out = {}
    for folder in sorted(darks_dir.iterdir()):
        if not (folder / "truth_exposures.parquet").exists():
            continue
        t = pq.read_table(folder / "truth_exposures.parquet").to_pylist()
        for row in t:
            inst, n, rate = out.get(row["dataset"], (row["instrument"], 0, row["cr_rate_per_s_cm2"]))
            out[row["dataset"]] = (inst, n + row["n_cr"], rate)
    return out


@pytest.fixture(scope="module")
def darks(tmp_path_factory):
    root = tmp_path_factory.mktemp("darks")
    for k, (det, n) in enumerate(SMALL.items()):
        write_sample(det, n, root / det, seed=11 + k)
    (root / "stis_ccd" / CORRUPT).write_bytes(b"SIMPLE  =                    T" + b"\0" * 200)
    return root


@pytest.fixture(scope="module")
def first_run(darks, tmp_path_factory):
    lake = tmp_path_factory.mktemp("lake")
    runner = CliRunner()
    res = runner.invoke(main, ["run", str(darks), "--lake", str(lake), "--workers", "2", "--json"])
    return lake, res


def test_run_writes_exactly_the_injected_datasets(darks, first_run):
    lake, res = first_run
    assert res.exit_code == 3, res.output  # one corrupt file -> non-zero, the rest done
    summary = json.loads(res.stdout)
    truth = _truth(darks)
    assert summary["done"] == len(truth) and summary["failed"] == 1 and summary["skipped"] == 0
    con = connect(str(lake))
    got = dict(con.execute("SELECT dataset, instrument FROM exposures").fetchall())
    assert got == {ds: inst for ds, (inst, _, _) in truth.items()}
    # one cosmic_rays file per dark, its rows = the dark's n_cr
    per_dark = dict(con.execute("SELECT dataset, count(*) FROM cosmic_rays GROUP BY dataset").fetchall())
    n_cr = dict(con.execute("SELECT dataset, n_cr FROM exposures").fetchall())
    assert per_dark == n_cr
    assert summary["n_cr"] == sum(n_cr.values())
    assert len(Lake(lake).files("cosmic_rays")) == len(truth)
    # cr_id unique per dark; partition columns from the path agree with the dark's month
    assert con.execute("SELECT count(*) FROM (SELECT dataset, cr_id FROM cosmic_rays "
                       "GROUP BY dataset, cr_id HAVING count(*) > 1)").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM exposures WHERE year <> year(date_obs) "
                       "OR month <> month(date_obs)").fetchone()[0] == 0
    # no temporary files anywhere
    assert not [p for p in Path(lake).rglob("*") if p.name.endswith(".tmp")]


def test_corrupt_file_is_one_failure_row(first_run):
    lake, _ = first_run
    rows = run_sql("SELECT * FROM failures", str(lake)).to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert row["dataset"] == "obadfile1" and row["stage"] == "load" and row["error_type"] == "HstcrError"
    assert CORRUPT in row["message"]
    assert row["instrument"] == "unknown"


def test_recovered_rate_matches_injected(darks, first_run):
    lake, _ = first_run
    truth = _truth(darks)
    rates = run_named("rate_per_month", str(lake)).to_pylist()
    for inst in SMALL:
        injected = {r for i, _, r in truth.values() if i == inst}
        assert len(injected) == 1
        rows = [r for r in rates if r["instrument"] == inst]
        n = sum(r["n_cr"] for r in rows)
        assert n > 1000
        rate = sum(r["rate_cr_s_cm2"] * r["n_darks"] for r in rows) / sum(r["n_darks"] for r in rows)
        # detection recovers ~95% of the injected cosmic rays (coincident ones merge)
        assert 0.88 < rate / injected.pop() < 1.04, (inst, rate)
        found = sum(n for i, n, _ in truth.values() if i == inst)
        assert 0.88 < n / found < 1.02
    # measured energies agree with the injected ones (median within 10%)
    injected = pq.read_table(darks / "stis_ccd" / "truth.parquet", columns=["energy_e"])
    measured = run_sql("SELECT energy_e FROM cosmic_rays WHERE instrument = 'stis_ccd'", str(lake))
    ratio = np.median(measured["energy_e"].to_numpy()) / np.median(injected["energy_e"].to_numpy())
    assert 0.9 < ratio < 1.1


def test_named_queries_are_sane_on_the_run(first_run):
    lake, _ = first_run
    con = connect(str(lake))
    rate_map = run_named("rate_map", con=con)
    total = con.execute("SELECT sum(n_cr), sum(integration_time_s * searched_area_cm2) FROM exposures").fetchall()[0]
    assert sum(rate_map["n_cr"].to_pylist()) == pytest.approx(total[0])
    assert sum(rate_map["exposure_s_cm2"].to_pylist()) == pytest.approx(total[1])
    lat = np.array(rate_map["lat_center_deg"].to_pylist())
    assert np.all(np.abs(lat) < 35)  # HST's inclination is 28.5 deg
    for name, col in (("energy_histogram", "log10_energy_e"), ("size_histogram", "n_pixels"),
                      ("width_histogram", "width_sigma_px"), ("symmetry_histogram", "symmetry")):
        t = run_named(name, con=con).to_pylist()
        for inst in SMALL:
            rows = [r for r in t if r["instrument"] == inst]
            assert sum(r["fraction"] for r in rows) == pytest.approx(1.0)
            mode = max(rows, key=lambda r: r["n"])[col]
            if name == "energy_histogram":
                assert 2.0 <= mode <= 4.0  # 100 .. 10,000 e-
            if name == "size_histogram":
                assert 5 <= mode <= 40  # truth ~17 px; detection adds a 1-px halo ring
    saa = run_named("saa_darks", con=con)
    assert all(b < 23000 for b in saa["min_b_nt"].to_pylist())
    fields = run_named("rate_vs_field", con=con)
    assert sum(fields["n_darks"].to_pylist()) == len(_lake_datasets(lake))


def _lake_datasets(lake) -> set[str]:
    return set(Lake(lake).index("exposures"))


def test_rerun_skips_and_adds_nothing(darks, first_run):
    lake, _ = first_run
    before = {p: os.stat(p).st_mtime_ns for p in Lake(lake).files("cosmic_rays")}
    summary = run(items_from_folder(darks), lake=str(lake), workers=1)
    assert summary.done == 0 and summary.skipped == len(before) and summary.failed == 1
    after = {p: os.stat(p).st_mtime_ns for p in Lake(lake).files("cosmic_rays")}
    assert after == before
    assert len(Lake(lake).files("failures")) == 1  # the failure is replaced, not added


def test_reprocess_replaces_without_duplicates(darks, tmp_path):
    lake = tmp_path / "lake"
    items = [it for it in items_from_folder(darks / "acs_hrc")]
    first = run(items, lake=str(lake), workers=1)
    again = run(items, lake=str(lake), workers=1, reprocess=True)
    assert first.done == again.done == 2
    n = run_sql("SELECT count(*) AS n FROM cosmic_rays", str(lake))["n"][0].as_py()
    assert n == again.n_cr
    # different parameters are a different request: not skipped
    other = run(items, lake=str(lake), workers=1, params={"seed_sigma": 8.0})
    assert other.done == 2 and other.n_cr < again.n_cr
    params = run_sql("SELECT DISTINCT params FROM exposures", str(lake))["params"].to_pylist()
    assert len(params) == 1 and json.loads(params[0])["seed_sigma"] == 8.0


def test_process_item_from_manifest_and_failure_cleanup(darks, tmp_path):
    lake = str(tmp_path / "lake")
    items = [json.loads(line) for line in (darks / "stis_ccd" / "manifest.jsonl").read_text().splitlines()]
    item = items[0]
    # a missing file fails, with its row in the manifest month
    broken = {**item, "files": {**item["files"], "science": str(tmp_path / "gone_flt.fits")}}
    res = process_item(broken, lake=lake)
    assert res["status"] == "failed" and "not found" in res["error"]
    assert set(res) >= {"dataset", "instrument", "status", "n_cr", "seconds", "error"}
    y, m = item["month"].split("-")
    fail = Path(lake) / f"failures/instrument=stis_ccd/year={y}/month={m}/{item['dataset']}.parquet"
    assert fail.exists()
    # then it succeeds: the failure file goes away
    res = process_item(item, lake=lake)
    assert res["status"] == "done" and res["n_cr"] > 0 and res["error"] is None
    assert not fail.exists()
    assert process_item(item, lake=lake)["status"] == "skipped"
    assert process_item(item, lake=lake, reprocess=True)["status"] == "done"
    s = summarize_lake(lake)
    assert s["darks"] == 1 and s["cosmic_rays"] == res["n_cr"] and s["n_failures"] == 0
    assert s["tables"]["cosmic_rays"]["stis_ccd"]["files"] == 1


def test_zero_cosmic_rays_still_accounted(tmp_path):
    darks = tmp_path / "d"
    write_sample("acs_hrc", 1, darks, seed=5, cr_rate_per_s_cm2=0.0, hot_pixel_fraction=0.0)
    lake = tmp_path / "lake"
    summary = run(items_from_folder(darks), lake=str(lake), workers=1)
    assert summary.done == 1
    crs = Lake(lake).files("cosmic_rays")
    assert len(crs) == 1
    assert Lake(lake).num_rows(crs[0]) == summary.n_cr
    assert summary.n_cr < 5


def test_stack_method_groups(darks, tmp_path):
    items = [json.loads(line) for line in (darks / "stis_ccd" / "manifest.jsonl").read_text().splitlines()]
    lake = str(tmp_path / "lake")
    summary = run(items, lake=lake, method="stack", workers=1)
    assert summary.done == 2, summary.results
    methods = run_sql("SELECT DISTINCT method FROM exposures", lake)["method"].to_pylist()
    assert methods == ["stack"]
    assert run(items, lake=lake, method="stack", workers=1).skipped == 2
    # a group of one falls back to the single-frame method
    res = process_group(items[:1], lake=lake, reprocess=True)
    assert res[0]["status"] == "done"


def test_manifest_cli_and_unknown_method(darks, tmp_path):
    runner = CliRunner()
    lake = tmp_path / "lake"
    res = runner.invoke(main, ["run", "--manifest", str(darks / "wfpc2" / "manifest.jsonl"),
                               "--lake", str(lake), "--workers", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    assert len(Lake(lake).files("exposures")) == 2
    res = runner.invoke(main, ["run", "--lake", str(lake)])
    assert res.exit_code == 2 and "give one input" in res.output
    res = runner.invoke(main, ["run", str(darks), "--method", "nope"])
    assert res.exit_code == 2
    s = process_item({"dataset": "x", "instrument": "stis_ccd", "month": "2010-01", "files": {"science": "a"}},
                     lake=str(lake), method="nope")
    assert s["status"] == "failed" and "unknown method" in s["error"]


def test_process_item_into_s3(moto_s3, darks):  # noqa: F811
    items = [json.loads(line) for line in (darks / "acs_hrc" / "manifest.jsonl").read_text().splitlines()]
    import boto3
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="pipeline-lake")
    lake = "s3://pipeline-lake/run1"
    res = process_item(items[0], lake=lake)
    assert res["status"] == "done", res
    assert process_item(items[0], lake=lake)["status"] == "skipped"
    s = summarize_lake(lake)
    assert s["darks"] == 1 and s["cosmic_rays"] == res["n_cr"]
    assert run_sql("SELECT count(*) AS n FROM cosmic_rays", lake)["n"][0].as_py() == res["n_cr"]
    # the run loop's spawned workers rebuild the S3 file system from the environment
    summary = run(items, lake=lake, workers=2)
    assert (summary.skipped, summary.done) == (1, 1), summary.results
    assert summarize_lake(lake)["darks"] == 2


def test_ir_dark_uses_ramp(tmp_path):
    from hstcr_common.synthetic import write_ir_dark
    f = write_ir_dark("nicmos_nic2", tmp_path / "d", seed=2)
    lake = str(tmp_path / "lake")
    summary = run(items_from_folder(tmp_path / "d"), lake=lake, workers=1)
    assert summary.done == 1, summary.results
    row = run_sql("SELECT method, n_cr FROM exposures", lake).to_pylist()[0]
    assert row["method"] == "ramp"
    assert 0.8 < row["n_cr"] / f.truth.num_rows < 1.1
    arrivals = run_sql("SELECT count(*) AS n FROM cosmic_rays WHERE read_index IS NOT NULL", lake)
    assert arrivals["n"][0].as_py() == row["n_cr"]


def test_run_summary_figures():
    s = RunSummary(results=[{"status": "done", "n_cr": 10}, {"status": "failed", "n_cr": 0},
                            {"status": "skipped", "n_cr": 0}], seconds=2.0)
    assert s.as_dict() == {"done": 1, "failed": 1, "skipped": 1, "n_cr": 10, "seconds": 2.0,
                           "darks_per_s": 0.5, "cr_per_s": 5.0}


@pytest.mark.slow
def test_big_ccds_one_dark_each(tmp_path):
    """ACS/WFC and WFC3/UVIS full frames (2 x 8 Mpixel) through the same path."""
    darks = tmp_path / "d"
    for k, det in enumerate(("acs_wfc", "wfc3_uvis")):
        write_sample(det, 1, darks / det, seed=40 + k)
    lake = str(tmp_path / "lake")
    summary = run(items_from_folder(darks), lake=lake, workers=2)
    assert summary.done == 2, summary.results
    truth = _truth(darks)
    rows = run_sql("SELECT dataset, instrument, n_cr, rate_cr_s_cm2, n_chips FROM exposures", lake).to_pylist()
    for r in rows:
        inst, n, rate = truth[r["dataset"]]
        assert r["instrument"] == inst and r["n_chips"] == 2
        assert 0.88 < r["rate_cr_s_cm2"] / rate < 1.04
    chips = run_sql("SELECT DISTINCT instrument, chip FROM cosmic_rays ORDER BY 1, 2", lake).to_pylist()
    assert [(c["instrument"], c["chip"]) for c in chips] == [
        ("acs_wfc", "WFC1"), ("acs_wfc", "WFC2"), ("wfc3_uvis", "UVIS1"), ("wfc3_uvis", "UVIS2")]


def test_pipeline_imports_only_the_worker_stack():
    """The Lambda worker has numpy/scipy/astropy/pyarrow only: no duckdb, matplotlib, rich, boto3."""
    import subprocess
    import sys
    code = ("import sys, hstcr_common.pipeline.process, hstcr_common.pipeline.pool, hstcr_common.lake.store, hstcr_common.lake.rows; "
            "bad = [m for m in ('duckdb', 'matplotlib', 'rich', 'boto3', 'click') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_dark_processed_in_a_fresh_worker_imports_no_astropy_units(darks, tmp_path):
    """The worker reads FITS with astropy.io.fits and nothing else of astropy: its units and
    constants (~0.1-0.2 s of every start, each Lambda cold start included) stay unloaded.
    astropy 8.0's astropy.utils.data imports astropy.units as it loads (7.2 does not), which is
    why the lock holds astropy 7.2 (pyproject.toml)."""
    import subprocess
    import sys
    item = next(it for it in items_from_folder(str(darks / "stis_ccd"))
                if it["dataset"] + "_flt.fits" != CORRUPT)
    code = ("import json, sys\n"
            "from hstcr_common.pipeline import process_item\n"
            f"r = process_item(json.loads({json.dumps(json.dumps(item))}), "
            f"lake={str(tmp_path / 'lake')!r}, method='threshold')\n"
            "assert r['status'] == 'done', r\n"
            "print([m for m in ('astropy.units', 'astropy.constants', 'astropy.coordinates', "
            "'astropy.time') if m in sys.modules])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().splitlines()[-1] == "[]", res.stdout


def test_killed_worker_fails_only_its_dark(darks, tmp_path, monkeypatch):
    """A worker process killed mid-dark (as by the OOM killer) breaks the pool; the run retries
    the other darks alone and records one failure for the killed one."""
    items = items_from_folder(darks / "stis_ccd") + items_from_folder(darks / "acs_hrc")
    items = [it for it in items if it["instrument"]]  # the corrupt file is tested elsewhere
    victim = items[1]["dataset"]
    # spawned workers start a fresh interpreter, which imports sitecustomize from PYTHONPATH:
    # there, the worker handed the victim dies as the OOM killer would do it
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import os\n"
        "import hstcr_common.pipeline.pool as pool\n"
        "_process_one = pool.process_one\n"
        "def _dying(item, *args, **kwargs):\n"
        "    if item.get('dataset') == os.environ['HSTCR_TEST_VICTIM']:\n"
        "        os._exit(137)\n"
        "    return _process_one(item, *args, **kwargs)\n"
        "pool.process_one = _dying\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("HSTCR_TEST_VICTIM", victim)
    lake = str(tmp_path / "lake")
    summary = run(items, lake=lake, workers=2)
    status = {r["dataset"]: r["status"] for r in summary.results}
    assert status.pop(victim) == "failed"
    assert set(status.values()) == {"done"} and len(status) == len(items) - 1
    fails = run_sql("SELECT dataset, stage FROM failures", lake).to_pylist()
    assert fails == [{"dataset": victim, "stage": "worker"}]
    assert not [p for p in Path(lake).rglob("*.tmp")]


def _rate_ratio(lake, darks_dir, method=None):
    truth = _truth(darks_dir)
    where = f" WHERE method = '{method}'" if method else ""
    rows = run_sql("SELECT dataset, method, n_cr_corrected, rate_corrected_cr_s_cm2 FROM exposures"
                   + where, str(lake)).to_pylist()
    return {r["dataset"]: (r["method"], r["rate_corrected_cr_s_cm2"] / truth[r["dataset"]][2])
            for r in rows}


@pytest.mark.slow
def test_auto_is_the_default_and_holds_the_rate_with_many_unflagged_hot_pixels(tmp_path):
    """Issue 13: 2.5% hot pixels, half unflagged, the same in every dark of one set-up."""
    darks_dir = tmp_path / "darks"
    write_sample("acs_hrc", 3, darks_dir / "acs_hrc", seed=21, hot_pixel_fraction=0.025,
                 unflagged_hot_fraction=0.5)
    runner = CliRunner()
    ratios = {}
    for method in (None, "threshold"):
        lake = tmp_path / f"lake-{method or 'default'}"
        args = ["run", str(darks_dir), "--lake", str(lake), "--workers", "1", "--json"]
        res = runner.invoke(main, args + (["--method", method] if method else []))
        assert res.exit_code == 0, res.output
        ratios[method or "auto"] = _rate_ratio(lake, darks_dir)
    print({m: {d: (u, round(r, 4)) for d, (u, r) in v.items()} for m, v in ratios.items()})
    auto = ratios["auto"]
    assert {u for u, _ in auto.values()} == {"reference"}
    assert all(abs(r - 1) <= 0.02 for _, r in auto.values()), auto
    worst_auto = max(abs(r - 1) for _, r in auto.values())
    worst_threshold = max(abs(r - 1) for _, r in ratios["threshold"].values())
    assert worst_threshold >= worst_auto, ratios
    refs = list((tmp_path / "lake-default" / "references").glob("*.npz"))
    assert len(refs) == 1


@pytest.mark.slow
def test_default_method_holds_the_rate_at_twice_the_density_on_late_mission_darks(tmp_path):
    """Issue 13: ACS/HRC (small pixels: footprints touch most), late-mission conditions, a
    group of 3 at twice the normal cosmic-ray density.  The coincidence model sampling only
    isolated footprints gave 0.981 of the injected rate here (0.961 on another seed); every
    footprint 1.005 (0.985)."""
    darks_dir = tmp_path / "darks"
    write_sample("acs_hrc", 3, darks_dir / "acs_hrc", seed=41, conditions="late-mission",
                 cr_rate_per_s_cm2=2 * REFERENCE_CR_RATE_S_CM2)
    lake = tmp_path / "lake"
    res = CliRunner().invoke(main, ["run", str(darks_dir), "--lake", str(lake), "--workers", "1",
                                    "--json"])
    assert res.exit_code == 0, res.output
    truth = pq.read_table(darks_dir / "acs_hrc" / "truth_exposures.parquet").to_pylist()
    injected = sum(r["n_cr"] for r in truth) / sum(
        r["integration_time_s"] * r["area_cm2"] for r in truth)
    [row] = run_sql("SELECT sum(n_cr_corrected) / sum(integration_time_s * searched_area_cm2) "
                    "AS rate, min(method) AS method FROM exposures", str(lake)).to_pylist()
    assert row["method"] == "reference"
    assert row["rate"] / injected == pytest.approx(1.0, abs=0.015), (row, injected)
