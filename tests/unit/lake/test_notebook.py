"""The notebook API: ``import hstcr; hstcr.open_lake(path).sql(...)`` (issue 16)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

import hstcr
from factories import fake_rows
from hstcr_common.lake import Lake, run_named
from hstcr_common.model import HstcrError


@pytest.fixture(scope="module")
def lake_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    lake = Lake(root)
    for dataset, n, det, day in [("o0000001q", 30, "stis_ccd", 5), ("o0000002q", 50, "stis_ccd", 9),
                                 ("j0000001q", 80, "acs_hrc", 1)]:
        key, crs, exp, _ = fake_rows(dataset, n, det, dt.datetime(2017, 3, day, tzinfo=dt.timezone.utc))
        lake.write("cosmic_rays", crs, key, dataset)
        lake.write("exposures", exp, key, dataset)
    return str(root)


def test_two_lines_to_a_dataframe_and_an_arrow_table(lake_path):
    lake = hstcr.open_lake(lake_path)
    df = lake.sql("SELECT instrument, count(*) AS n FROM cosmic_rays GROUP BY 1 ORDER BY 1").df()
    assert df.to_dict("list") == {"instrument": ["acs_hrc", "stis_ccd"], "n": [80, 80]}
    table = lake.exposures.to_arrow_table()  # .arrow() is a RecordBatchReader in DuckDB >= 1.4
    assert isinstance(table, pa.Table) and table.num_rows == 3
    assert lake.exposures.arrow().read_all().num_rows == 3
    assert lake.cosmic_rays.filter("instrument = 'stis_ccd'").count("*").fetchall() == [(80,)]


def test_named_analyses_are_methods_with_the_cli_answers(lake_path):
    lake = hstcr.open_lake(lake_path)
    assert "rate_per_month" in lake.analyses() and "rate_per_month" in dir(lake)
    mine = lake.rate_per_month().to_arrow_table().to_pylist()
    cli = run_named("rate_per_month", lake_path).to_pylist()
    assert [(r["instrument"], r["n_darks"], r["n_cr"]) for r in mine] == \
        [(r["instrument"], r["n_darks"], r["n_cr"]) for r in cli]
    # same SQL; only the order DuckDB sums floats in may differ
    assert [r["rate_corrected_cr_s_cm2"] for r in mine] == \
        pytest.approx([r["rate_corrected_cr_s_cm2"] for r in cli], rel=1e-12)
    with pytest.raises(AttributeError, match="named analyses: .*rate_map"):
        lake.no_such_analysis()


def test_errors_name_the_lake_and_the_problem(lake_path, tmp_path):
    with pytest.raises(HstcrError, match="no lake here"):
        hstcr.open_lake(str(tmp_path / "missing"))
    with hstcr.open_lake(lake_path) as lake:
        with pytest.raises(HstcrError, match="SQL failed"):
            lake.sql("SELECT nope FROM cosmic_rays")
        with pytest.raises(HstcrError, match="unknown table 'rays'"):
            lake.table("rays")
