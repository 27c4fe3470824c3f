"""The lake: rows from a catalogue, atomic partition files, local and S3 (moto), resumable keys."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

from hstcr_common.lake import store as lake_mod
from hstcr_common.model import CosmicRayCatalog, DetectionSummary
from hstcr_common.lake import Lake, PartitionKey, partition_of
from hstcr_common.lake import cosmic_rays_table, exposures_table, failures_table, track_array
from hstcr_common.model import params_hash
from hstcr_common.lake import COSMIC_RAYS, EXPOSURES, FAILURES


from factories import FakeTiming, FakeTrack, fake_rows, make_catalog, make_dark  # noqa: E402,F401


# ---------------------------------------------------------------------------------------------
# rows
# ---------------------------------------------------------------------------------------------

def test_cosmic_rays_table_matches_catalog():
    cat = make_catalog(50, n_chips=2)
    t = cosmic_rays_table(cat, ["WFC2", "WFC1"], "j12345678", "threshold")
    assert t.schema == COSMIC_RAYS
    assert t.num_rows == 50
    assert t["chip"].to_pylist() == ["WFC2", "WFC1"] * 25
    assert set(t["dataset"].to_pylist()) == {"j12345678"}
    np.testing.assert_array_equal(t["n_pixels"].to_numpy(), cat.n_pixels)
    # pixel lists: lengths and contents come straight from the flat arrays + offsets
    lengths = pa.compute.list_value_length(t["pixels"]).to_numpy()
    np.testing.assert_array_equal(lengths, cat.n_pixels)
    k = 17
    pix = t["pixels"][k].as_py()
    a, b = cat.pixel_offsets[k], cat.pixel_offsets[k + 1]
    assert [p["x"] for p in pix] == cat.pixel_x[a:b].tolist()
    np.testing.assert_allclose([p["e"] for p in pix], cat.pixel_e[a:b])
    np.testing.assert_allclose(t["energy_kev"].to_numpy(), cat.energy_e * 3.65e-3, rtol=1e-6)
    assert t["read_index"].null_count == 50


def test_empty_catalog_gives_zero_rows():
    t = cosmic_rays_table(CosmicRayCatalog.empty(), ["CCD"], "o1234567q", "dq")
    assert t.num_rows == 0 and t.schema == COSMIC_RAYS


def test_ir_optional_columns_keep_values_and_nulls():
    cat = make_catalog(4)
    cat.read_index = np.array([3, -1, 5, 7], np.int16)
    cat.arrival_time_s = np.array([10.0, np.nan, 30.0, 40.0], np.float32)
    t = cosmic_rays_table(cat, ["IR"], "i12345678", "ramp")
    assert t["read_index"].to_pylist() == [3, None, 5, 7]
    assert t["arrival_time_s"].to_pylist() == [10.0, None, 30.0, 40.0]


def test_exposures_row_rate_and_track():
    key, crs, exp, cat = fake_rows(n=40)
    assert exp.schema == EXPOSURES and exp.num_rows == 1
    row = exp.to_pylist()[0]
    assert key == PartitionKey("stis_ccd", 2017, 3)
    assert row["n_cr"] == 40
    assert row["rate_cr_s_cm2"] == pytest.approx(40 / (1115.0 * 4.624))
    assert len(row["track"]) == 19
    assert row["track"][0]["time"] == dt.datetime(2017, 3, 5, 12, tzinfo=dt.timezone.utc)
    assert row["min_b_nt"] == 21000.0
    assert row["detector"] == "STIS/CCD"
    assert len(row["params_hash"]) == 16
    # no support file: null track and a note
    _, _, exp2, _ = fake_rows(n=1, track=False)
    r2 = exp2.to_pylist()[0]
    assert r2["track"] is None and r2["track_note"] == "no SPT" and r2["min_b_nt"] is None


def test_energy_kev_is_material_specific():
    """3.65 eV per pair in silicon (every CCD), 2.4 eV in NICMOS's HgCdTe (measured, Bruce et
    al. 2012), null for WFC3/IR (no trusted value); the detector follows from the chips."""
    from hstcr_common.instruments import detectors
    from hstcr_common.model import SILICON_EV_PER_PAIR, HstcrError
    for det in detectors().values():
        if det.kind == "ccd":
            assert det.material == "silicon" and det.ev_per_electron == SILICON_EV_PER_PAIR
        else:
            assert det.material == "HgCdTe" and det.ev_per_electron < SILICON_EV_PER_PAIR
    cat = make_catalog(6)
    e = cat.energy_e.astype(np.float64)
    nic = cosmic_rays_table(cat, ["NIC2"], "n12345678", "ramp")
    np.testing.assert_allclose(nic["energy_kev"].to_numpy(), e * 2.4e-3, rtol=1e-6)
    ir = cosmic_rays_table(cat, ["IR"], "i12345678", "ramp")
    assert ir["energy_kev"].null_count == 6 and ir.schema == COSMIC_RAYS
    explicit = cosmic_rays_table(cat, ["IR"], "i12345678", "ramp", kev_per_electron=2.5e-3)
    np.testing.assert_allclose(explicit["energy_kev"].to_numpy(), e * 2.5e-3, rtol=1e-6)
    with pytest.raises(HstcrError, match="belong to 0 detectors"):
        cosmic_rays_table(cat, ["CHIPX"], "x12345678", "threshold")


def test_core_pixels_and_saturation_keep_values_and_nulls():
    cat = make_catalog(4)
    t = cosmic_rays_table(cat, ["CCD"], "o1234567q", "threshold")
    assert t["n_core_pixels"].null_count == 4 and t["saturated"].null_count == 4
    cat.n_core_pixels = np.array([3, -1, 1, 2], np.int32)   # -1: not recorded (a concat fill)
    cat.saturated = np.array([False, True, False, False])
    t = cosmic_rays_table(cat, ["CCD"], "o1234567q", "threshold")
    assert t["n_core_pixels"].to_pylist() == [3, None, 1, 2]
    assert t["saturated"].to_pylist() == [False, True, False, False]


def test_exposures_new_columns_from_the_dark_summary_and_timing():
    from factories import make_dark
    dark = make_dark("j1234567q", "acs_wfc")
    dark.subarray, dark.subarray_name, dark.aperture = True, "WFC1A-512", "WFC1A-512"
    dark.subarray_origin, dark.cte_corrected, dark.science_suffix = (1536, 0), True, "flc"
    summary = DetectionSummary("stack", {}, 90, 3, 100.0, 512 * 512, 0.5,
                               method_reason="group of 5 darks (acs_wfc, ABCD, 2019-03)",
                               group_size=5, occupancy=0.0125, n_saturated=7)
    timing = FakeTiming(dark.date_obs, 1000.0)
    row = exposures_table(dark, summary, timing, None, "no SPT", method="stack",
                          params_key="k").to_pylist()[0]
    assert row["subarray"] is True and row["subarray_name"] == "WFC1A-512"
    assert (row["subarray_x0"], row["subarray_y0"]) == (1536, 0)
    assert row["aperture"] == "WFC1A-512" and row["cte_corrected"] is True
    assert row["method_reason"].startswith("group of 5") and row["group_size"] == 5
    assert row["occupancy"] == 0.0125 and row["n_saturated"] == 7
    assert row["integration_time_2021_s"] == 1015.0 and row["readout_time_s"] == 15.0
    assert row["rate_2021_cr_s_cm2"] == pytest.approx(100.0 / (1015.0 * 0.5))
    assert row["rate_corrected_cr_s_cm2"] == pytest.approx(100.0 / (1015.0 * 0.5))
    assert row["short_exposure"] is False
    # defaults: a full frame, no reason recorded, occupancy not computed -> nulls
    plain = exposures_table(make_dark(), DetectionSummary("threshold", {}, 1, 0, 1.0, 4, 1.0),
                            timing, None, "", method="threshold", params_key="k").to_pylist()[0]
    assert plain["subarray"] is False and plain["subarray_name"] is None
    assert plain["subarray_x0"] is None and plain["occupancy"] is None
    assert plain["method_reason"] is None and plain["group_size"] == 1
    assert plain["cte_corrected"] is False and plain["n_saturated"] == 0


def test_track_array_is_one_list_value():
    trk = FakeTrack(dt.datetime(2020, 1, 1), 5)
    arr = track_array(trk)
    assert len(arr) == 1 and len(arr[0]) == 5


def test_failures_row_names_stage_and_message():
    from hstcr_common.model import HstcrError
    t = failures_table("o1", "load", HstcrError("not a FITS file", source="/x/o1_flt.fits", stage="load"),
                       source="/x/o1_flt.fits", method="threshold")
    row = t.to_pylist()[0]
    assert t.schema == FAILURES
    assert row["stage"] == "load" and row["error_type"] == "HstcrError"
    assert "/x/o1_flt.fits" in row["message"] and "not a FITS file" in row["message"]


def test_building_rows_does_not_import_pandas():
    """``pa.array`` imports pandas (~0.4 s of a cold start) when it is installed, and a cast
    imports ``pyarrow.compute`` (~50 ms); the rows of a dark are built from buffers instead.
    A fresh interpreter builds all three tables."""
    pytest.importorskip("pandas")      # without pandas installed the check proves nothing
    tests_dir = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {tests_dir!r})
        from factories import FakeTiming, FakeTrack, fake_rows, make_catalog
        from hstcr_common.lake import cosmic_rays_table, failures_table
        assert "pandas" not in sys.modules, "imported before the rows were built"
        cat = make_catalog(30, n_chips=2)
        cat.n_core_pixels = cat.n_pixels.astype("int32")
        cat.saturated = cat.n_pixels > 3
        cosmic_rays_table(cat, ["WFC2", "WFC1"], "j12345678", "threshold")
        fake_rows(n=20)
        fake_rows(n=0, track=False)
        failures_table("o1", "load", ValueError("bad"), source="/x", method="threshold")
        print("pandas" in sys.modules, "pyarrow.compute" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False False"


def _same_table(ours: pa.Table, reference: pa.Table) -> None:
    assert ours.schema.equals(reference.schema, check_metadata=True)
    for name in reference.column_names:   # per column, so a failure names it
        assert ours[name].equals(reference[name]), name


def test_cosmic_rays_table_equals_what_pa_array_gives():
    cat = make_catalog(57, n_chips=2)
    cat.read_index = np.where(np.arange(57) % 5 == 0, -1, np.arange(57)).astype(np.int16)
    cat.arrival_time_s = np.where(cat.read_index < 0, np.nan, 2.5 * cat.read_index).astype(np.float32)
    cat.n_core_pixels = np.where(np.arange(57) % 7 == 0, -1, cat.n_pixels).astype(np.int32)
    cat.saturated = cat.n_pixels > 4
    ours = cosmic_rays_table(cat, ["WFC2", "WFC1"], "jäöü5678", "threshold")
    n = len(cat)

    def ref(values, dtype, null_value=None):
        values = np.asarray(values, dtype)
        if null_value is None:
            return pa.array(values)
        return pa.array(values, mask=np.isnan(values) if null_value != null_value else values == null_value)

    pixels = pa.ListArray.from_arrays(
        pa.array(cat.pixel_offsets.astype(np.int32)),
        pa.StructArray.from_arrays([ref(cat.pixel_x, np.int16), ref(cat.pixel_y, np.int16),
                                    ref(cat.pixel_e, np.float32)], fields=list(COSMIC_RAYS.field("pixels").type.value_type)))
    columns = {
        "dataset": pa.array(["jäöü5678"] * n, pa.string()),
        "chip": pa.array([["WFC2", "WFC1"][i] for i in cat.chip_index], pa.string()),
        "method": pa.array(["threshold"] * n, pa.string()),
        "n_core_pixels": ref(cat.n_core_pixels, np.int32, -1),
        "energy_kev": pa.array((cat.energy_e.astype(np.float64) * 3.65e-3).astype(np.float32)),
        "saturated": pa.array(cat.saturated),
        "read_index": ref(cat.read_index, np.int16, -1),
        "arrival_time_s": ref(cat.arrival_time_s, np.float32, np.nan),
        "pixels": pixels,
    }
    for f in COSMIC_RAYS:
        if f.name not in columns:
            columns[f.name] = pa.array(np.asarray(getattr(cat, f.name), f.type.to_pandas_dtype()))
    reference = pa.Table.from_arrays([columns[f.name] for f in COSMIC_RAYS], schema=COSMIC_RAYS)
    _same_table(ours, reference)
    assert ours["read_index"].null_count == 12 and ours["n_core_pixels"].null_count == 9
    empty = cosmic_rays_table(CosmicRayCatalog.empty(), ["CCD"], "o1", "dq")
    _same_table(empty, COSMIC_RAYS.empty_table())


def test_one_row_tables_equal_what_pa_array_gives():
    from hstcr_common.lake.rows import row_table, value_array
    plus3 = dt.timezone(dt.timedelta(hours=3))
    at = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=plus3)
    dark = make_dark("j1234567q", "acs_wfc")
    summary = DetectionSummary("stack", {"seed_sigma": 6}, 90, 3, 100.0, 512 * 512, 0.5,
                               method_reason="group of 5 darks (é)", group_size=5, occupancy=0.0125)
    timing = FakeTiming(dark.date_obs, 1000.0)
    track = FakeTrack(dark.date_obs, 7)
    ours = exposures_table(dark, summary, timing, track, "", method="stack", params_key="k",
                           processed_at=at)
    row = ours.to_pylist()[0]
    points = [{"time": t.astype("datetime64[us]").item().replace(tzinfo=dt.timezone.utc),
               "latitude_deg": float(np.float32(la)), "longitude_deg": float(np.float32(lo)),
               "altitude_km": 540.0, "b_nt": float(np.float32(b)),
               "geomag_latitude_deg": float(np.float32(g))}
              for t, la, lo, b, g in zip(track.time, track.latitude_deg, track.longitude_deg,
                                         track.b_nt, track.geomag_latitude_deg)]
    reference = pa.Table.from_arrays(
        [pa.array([points if f.name == "track" else row[f.name]], f.type) for f in EXPOSURES],
        schema=EXPOSURES)
    _same_table(ours, reference)
    assert row["processed_at"] == at and row["aperture"] is None
    # failures: naive datetimes are UTC, nulls, non-ASCII text
    naive = dt.datetime(2020, 1, 1, 12)
    ours = failures_table("o1", "load", ValueError("fichier illisible: é"), failed_at=naive)
    row = ours.to_pylist()[0]
    assert row["failed_at"] == naive.replace(tzinfo=dt.timezone.utc) and row["source"] is None
    _same_table(ours, pa.Table.from_arrays([pa.array([row[f.name]], f.type) for f in FAILURES],
                                           schema=FAILURES))
    # every value type of the schemas, and the values numpy would silently convert
    values = {pa.int16(): -7, pa.int32(): 2**31 - 1, pa.float32(): 0.1, pa.float64(): 1e300,
              pa.bool_(): True, pa.string(): "", pa.timestamp("us", tz="UTC"): at}
    for typ, value in values.items():
        for v in (value, None):
            assert value_array(v, typ).equals(pa.array([v], typ)), (typ, v)
    nan = value_array(float("nan"), pa.float64())      # NaN stays a value, as in pa.array
    assert nan.null_count == 0 and np.isnan(nan.to_numpy()[0])
    for typ, value in ((pa.int32(), True), (pa.int16(), 1.5)):
        with pytest.raises(TypeError):
            value_array(value, typ)
    schema = pa.schema([pa.field("a", pa.int32(), metadata={"unit": "s"})])
    assert row_table({"a": 3}, schema).schema.field("a").metadata == {b"unit": b"s"}


def test_params_hash_is_canonical():
    assert params_hash("threshold", {"a": 1, "b": 2}) == params_hash("threshold", {"b": 2, "a": 1})
    assert params_hash("threshold", None) == params_hash("threshold", {})
    assert params_hash("threshold", {"a": 1}) != params_hash("dq", {"a": 1})


# ---------------------------------------------------------------------------------------------
# local lake
# ---------------------------------------------------------------------------------------------

def test_write_read_replace_local(tmp_path):
    lake = Lake(tmp_path / "lake")
    key, crs, exp, _ = fake_rows(n=25)
    path = lake.write("cosmic_rays", crs, key, "o1234567q")
    assert path.endswith("cosmic_rays/instrument=stis_ccd/year=2017/month=03/o1234567q.parquet")
    assert lake.num_rows(path) == 25
    # partition columns are not stored in the file
    assert "instrument" not in lake.read_file(path).column_names
    # re-writing replaces, never duplicates
    _, crs2, _, _ = fake_rows(n=7)
    lake.write("cosmic_rays", crs2, key, "o1234567q")
    assert lake.files("cosmic_rays") == [path]
    full = lake.read_table("cosmic_rays")
    assert full.num_rows == 7
    assert set(full["instrument"].to_pylist()) == {"stis_ccd"} and set(full["year"].to_pylist()) == {2017}
    assert lake.index("cosmic_rays") == {"o1234567q": [path]}
    assert partition_of(path) == key
    assert lake.delete(path) and not lake.delete(path)
    assert lake.files("cosmic_rays") == []


def test_write_casts_to_schema_and_rejects_unknown_table(tmp_path):
    from hstcr_common.model import HstcrError
    lake = Lake(tmp_path)
    key, crs, _, _ = fake_rows(n=3)
    # column order shuffled: the writer selects and casts to the schema
    shuffled = crs.select(list(reversed(crs.column_names)))
    p = lake.write("cosmic_rays", shuffled, key, "x")
    assert lake.read_file(p).schema == COSMIC_RAYS
    with pytest.raises(HstcrError, match="unknown lake table"):
        lake.write("nope", crs, key, "x")


def test_exception_between_temp_write_and_rename_leaves_nothing(tmp_path, monkeypatch):
    lake = Lake(tmp_path)
    key, crs, _, _ = fake_rows(n=5)

    def boom(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(lake_mod.os, "replace", boom)
    with pytest.raises(OSError, match="disk gone"):
        lake.write("cosmic_rays", crs, key, "o1234567q")
    folder = tmp_path / "cosmic_rays" / key.path
    assert list(folder.iterdir()) == []  # no target, and the temp file was removed
    assert lake.files("cosmic_rays") == []


def test_writer_killed_mid_write_leaves_no_visible_file(tmp_path):
    """SIGKILL a process after its temp file exists but before the rename."""
    lake_dir = tmp_path / "lake"
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.dirname(__file__)))!r})
        from factories import fake_rows
        from hstcr_common.lake import store as L
        def hang(src, dst):
            print("TEMP", src, flush=True)
            time.sleep(60)
        L.os.replace = hang
        key, crs, exp, _ = fake_rows(n=30)
        L.Lake({str(lake_dir)!r}).write("cosmic_rays", crs, key, "o1234567q")
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("TEMP"), line
    temp = line.split(" ", 1)[1].strip()
    assert os.path.exists(temp)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    lake = Lake(lake_dir)
    assert lake.files("cosmic_rays") == []
    # nothing visible to SQL either: the half-written dark is not even a lake yet
    from hstcr_common.lake import connect
    from hstcr_common.model import HstcrError
    with pytest.raises(HstcrError, match="no Parquet files"):
        connect(str(lake_dir))


# ---------------------------------------------------------------------------------------------
# S3 (moto server) through pyarrow.fs
# ---------------------------------------------------------------------------------------------

def test_s3_lake_roundtrip(moto_s3):
    import boto3
    lake = Lake("s3://lake-bucket/prefix/lake")
    key, crs, exp, _ = fake_rows(n=12)
    p = lake.write("cosmic_rays", crs, key, "o1234567q")
    lake.write("exposures", exp, key, "o1234567q")
    # the object is where the layout says, visible to boto3
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="lake-bucket")["Contents"])
    assert keys == [
        "prefix/lake/cosmic_rays/instrument=stis_ccd/year=2017/month=03/o1234567q.parquet",
        "prefix/lake/exposures/instrument=stis_ccd/year=2017/month=03/o1234567q.parquet",
    ]
    assert lake.num_rows(p) == 12
    _, crs2, _, _ = fake_rows(n=4)
    lake.write("cosmic_rays", crs2, key, "o1234567q")
    assert lake.read_table("cosmic_rays").num_rows == 4
    assert lake.read_file(lake.files("exposures")[0], ["params_hash"]).num_rows == 1
    # DuckDB views over the S3 lake (pyarrow dataset, no DuckDB extension needed)
    from hstcr_common.lake import run_sql
    t = run_sql("SELECT instrument, year, month, count(*) AS n FROM cosmic_rays GROUP BY ALL", lake.uri)
    assert t.to_pylist() == [{"instrument": "stis_ccd", "year": 2017, "month": 3, "n": 4}]
    assert lake.delete(p)
    assert lake.files("cosmic_rays") == []


def test_s3_generic_endpoint_variable(moto_s3, monkeypatch):
    """AWS_ENDPOINT_URL (no _S3 suffix) is honoured too."""
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3)
    lake = Lake("s3://lake-bucket/generic")
    key, crs, _, _ = fake_rows(n=2)
    lake.write("cosmic_rays", crs, key, "o1234567q")
    assert lake.index("cosmic_rays") == {
        "o1234567q": ["lake-bucket/generic/cosmic_rays/instrument=stis_ccd/year=2017/month=03/o1234567q.parquet"]}
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    # the SDK's standard strategy retries a refused connection for ~40 s: one attempt shows
    # the endpoint in use just as well
    from hstcr_common.remote import clients
    monkeypatch.setattr(clients, "MAX_ATTEMPTS", 1)
    with pytest.raises(OSError):
        Lake("s3://lake-bucket/generic").files("cosmic_rays")
