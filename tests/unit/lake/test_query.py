"""DuckDB views over the lake and the named analyses (shared SQL with Athena)."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from click.testing import CliRunner

from hstcr_common.cli import main
from hstcr_common.lake import Lake
from hstcr_common.lake import connect, named_queries, named_sql, run_named, run_sql, to_duckdb
from factories import fake_rows
from hstcr_common.model import HstcrError

NAMED = ["rate_per_month", "rate_map", "energy_histogram", "size_histogram", "width_histogram",
         "symmetry_histogram", "saa_darks", "rate_vs_field"]


@pytest.fixture(scope="module")
def fake_lake(tmp_path_factory):
    """Six hand-made darks over two instruments and two months, one failure."""
    root = tmp_path_factory.mktemp("lake")
    lake = Lake(root)
    darks = [("o0000001q", 30, "stis_ccd", dt.datetime(2017, 3, 5, tzinfo=dt.timezone.utc)),
             ("o0000002q", 50, "stis_ccd", dt.datetime(2017, 3, 9, tzinfo=dt.timezone.utc)),
             ("o0000003q", 0, "stis_ccd", dt.datetime(2017, 4, 1, tzinfo=dt.timezone.utc)),
             ("j0000001q", 80, "acs_hrc", dt.datetime(2005, 6, 1, tzinfo=dt.timezone.utc)),
             ("j0000002q", 60, "acs_hrc", dt.datetime(2005, 6, 2, tzinfo=dt.timezone.utc)),
             ("j0000003q", 70, "acs_hrc", dt.datetime(2005, 7, 2, tzinfo=dt.timezone.utc))]
    total = {}
    for dataset, n, det, date in darks:
        key, crs, exp, _ = fake_rows(dataset, n, det, date)
        lake.write("cosmic_rays", crs, key, dataset)
        lake.write("exposures", exp, key, dataset)
        total[det] = total.get(det, 0) + n
    from hstcr_common.model import HstcrError
    from hstcr_common.lake import failures_table
    from hstcr_common.lake import PartitionKey
    lake.write("failures", failures_table("o0000009q", "load", HstcrError("bad", "/x.fits")),
               PartitionKey("unknown", 2017, 3), "o0000009q")
    return str(root), total


def test_views_have_partition_columns(fake_lake):
    root, total = fake_lake
    t = run_sql("SELECT instrument, count(*) AS n FROM cosmic_rays GROUP BY instrument ORDER BY instrument", root)
    assert dict(zip(t["instrument"].to_pylist(), t["n"].to_pylist())) == total
    t = run_sql("SELECT DISTINCT year, month FROM exposures ORDER BY year, month", root)
    assert t.to_pylist() == [{"year": 2005, "month": 6}, {"year": 2005, "month": 7},
                             {"year": 2017, "month": 3}, {"year": 2017, "month": 4}]
    assert str(t.schema.field("year").type) == "int32"
    t = run_sql("SELECT dataset, instrument FROM failures", root)
    assert t.to_pylist() == [{"dataset": "o0000009q", "instrument": "unknown"}]


def test_missing_file_or_empty_lake_is_an_error_naming_it(tmp_path):
    """Issue 16: a query over no lake must not answer 0 rows."""
    missing = tmp_path / "nothing"
    with pytest.raises(HstcrError, match=f"{missing}: no lake here: the folder does not exist"):
        connect(str(missing))
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(HstcrError, match="not a lake: this is a file"):
        run_sql("SELECT 1", str(a_file))
    (tmp_path / "empty").mkdir()
    with pytest.raises(HstcrError, match="no Parquet files under cosmic_rays/"):
        run_named("rate_per_month", str(tmp_path / "empty"))


def test_missing_default_lake_points_at_the_demo_lake(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hstcr-demo" / "lake").mkdir(parents=True)
    with pytest.raises(HstcrError, match=r"pass --lake \./hstcr-demo/lake"):
        connect()


def test_lake_with_only_failures_gives_empty_views(tmp_path):
    from hstcr_common.lake import Lake, PartitionKey, failures_table

    lake = Lake(tmp_path / "lake")
    lake.write("failures", failures_table("o0000001q", "load", HstcrError("bad")),
               PartitionKey.from_month("stis_ccd", "2017-03"), "o0000001q")
    con = connect(str(tmp_path / "lake"))
    for table in ("cosmic_rays", "exposures"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    cols = [r[0] for r in con.execute("DESCRIBE cosmic_rays").fetchall()]
    assert cols[:3] == ["dataset", "chip", "cr_id"] and cols[-3:] == ["instrument", "year", "month"]
    for name in NAMED:  # every named query runs on a lake with no cosmic rays
        assert run_named(name, con=con).num_rows == 0


def test_named_queries_listed():
    assert set(NAMED) <= set(named_queries())
    assert all(desc for desc in named_queries().values())


def test_rate_per_month(fake_lake):
    root, _ = fake_lake
    t = run_named("rate_per_month", root).to_pylist()
    by = {(r["instrument"], r["year"], r["month"]): r for r in t}
    r = by[("stis_ccd", 2017, 3)]
    assert r["n_darks"] == 2 and r["n_cr"] == 80
    assert r["rate_cr_s_cm2"] == pytest.approx(80 / (2 * 1115.0 * 4.624))
    assert by[("stis_ccd", 2017, 4)]["rate_cr_s_cm2"] == 0.0


def test_rate_map_conserves_counts_and_exposure(fake_lake):
    root, total = fake_lake
    t = run_named("rate_map", root)
    assert sum(t["n_cr"].to_pylist()) == pytest.approx(sum(total.values()))
    exposure = run_sql("SELECT sum(integration_time_s * searched_area_cm2) AS x FROM exposures", root)
    assert sum(t["exposure_s_cm2"].to_pylist()) == pytest.approx(exposure["x"][0].as_py())
    lat = np.array(t["lat_center_deg"].to_pylist())
    lon = np.array(t["lon_center_deg"].to_pylist())
    assert np.all((lat - 2.5) % 5 == 0) and np.all((lon - 2.5) % 5 == 0)
    # the fake track runs lat -20..-10, lon -50..-10
    assert lat.min() == -17.5 and lat.max() == -7.5 and lon.min() == -47.5 and lon.max() == -7.5


def test_histograms_sum_to_one(fake_lake):
    root, total = fake_lake
    for name in ("energy_histogram", "size_histogram", "width_histogram", "symmetry_histogram"):
        t = run_named(name, root)
        for inst, n in total.items():
            rows = [r for r in t.to_pylist() if r["instrument"] == inst]
            assert sum(r["n"] for r in rows) == n, name
            assert sum(r["fraction"] for r in rows) == pytest.approx(1.0)
    sizes = run_named("size_histogram", root)
    assert set(sizes["n_pixels"].to_pylist()) <= set(range(1, 7))


def test_saa_darks(fake_lake):
    root, _ = fake_lake
    t = run_named("saa_darks", root)
    # the fake track dips to 21,000 nT: every dark is an SAA dark
    assert t.num_rows == 6
    rates = t["rate_cr_s_cm2"].to_pylist()
    assert rates == sorted(rates, reverse=True)


def test_duckdb_shim_only_touches_unnest():
    sql = named_sql("rate_map")
    assert "UNNEST(e.track) AS t(point_time, latitude_deg" in sql  # the Trino form is in the file
    out = to_duckdb(sql)
    assert "CROSS JOIN (SELECT UNNEST(e.track, max_depth := 2)) AS t(point_time, latitude_deg" in out
    assert to_duckdb(named_sql("rate_per_month")) == named_sql("rate_per_month")


@pytest.mark.parametrize("name", NAMED)
def test_named_sql_avoids_duckdb_only_syntax(name):
    """The files must stay valid Trino (Athena): no DuckDB-only constructs."""
    sql = named_sql(name)
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    for pattern in (r"::", r"GROUP BY ALL", r"\bQUALIFY\b", r"\bEXCLUDE\b", r"\blist_", r"\bstruct_",
                    r":=", r"\bilike\b", r"\bmedian\(", r"\bquantile", r"\bepoch\("):
        assert not re.search(pattern, body, re.IGNORECASE), (name, pattern)


def test_cli_query_formats(fake_lake, tmp_path):
    root, total = fake_lake
    runner = CliRunner()
    res = runner.invoke(main, ["query", "SELECT count(*) AS n FROM cosmic_rays", "--lake", root, "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == ['"n"', str(sum(total.values()))]
    out = tmp_path / "r.parquet"
    res = runner.invoke(main, ["query", "--named", "rate_per_month", "--lake", root, "--format", "parquet",
                               "--out", str(out)])
    assert res.exit_code == 0, res.output
    import pyarrow.parquet as pq
    assert pq.read_table(out).num_rows == 4
    res = runner.invoke(main, ["query", "--named", "energy_histogram", "--lake", root])
    assert res.exit_code == 0 and "acs_hrc" in res.output
    res = runner.invoke(main, ["query", "SELECT dataset, pixels FROM cosmic_rays LIMIT 2", "--lake", root,
                               "--format", "csv"])
    assert res.exit_code == 0 and "'x'" in res.output
    res = runner.invoke(main, ["query", "SELECT nope FROM cosmic_rays", "--lake", root])
    assert res.exit_code != 0 and "SQL failed" in res.output
    res = runner.invoke(main, ["query", "--list"])
    assert "rate_map" in res.output
    res = runner.invoke(main, ["query", "--named", "missing", "--lake", root])
    assert res.exit_code != 0 and "unknown named query" in res.output


def test_files_of_an_earlier_version_read_with_nulls_for_newer_columns(tmp_path):
    """A lake written before a column existed still opens; the column is NULL there."""
    import pyarrow.parquet as pq

    lake = Lake(tmp_path / "lake")
    key, crs, exp, _ = fake_rows(n=5)
    path = lake.write("cosmic_rays", crs, key, "o1234567q")
    lake.write("exposures", exp, key, "o1234567q")
    pq.write_table(pq.read_table(path).drop_columns(["saturated", "n_core_pixels"]), path)
    con = connect(str(tmp_path / "lake"))
    assert con.execute("SELECT count(*), count(saturated), count(n_core_pixels) FROM cosmic_rays").fetchall() \
        == [(5, 0, 0)]
