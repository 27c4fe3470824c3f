"""Manifest read/write: JSON Lines (canonical), JSON array and CSV inputs."""

from __future__ import annotations

import json

import pytest

from hstcr_common.model import HstcrError
from hstcr_common.pipeline import read_manifest, validate_item, write_manifest

ITEM = {
    "dataset": "j8xi01abq", "instrument": "acs_wfc", "month": "2019-03",
    "files": {"science": "s3://stpubdata/hst/public/j8xi/j8xi01abq/j8xi01abq_flt.fits",
              "support": "s3://stpubdata/hst/public/j8xi/j8xi01abq/j8xi01abq_spt.fits"},
}


def test_design_example_round_trips_with_extra_keys(tmp_path):
    items = [ITEM, {**ITEM, "dataset": "j8xi01acq", "group": "wfc-1000s-ABCD", "exptime_s": 1000.0,
                    "urls": {"science": "https://mast.stsci.edu/x"}}]
    path = tmp_path / "sub" / "m.jsonl"
    assert write_manifest(iter(items), path) == 2
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0]) == ITEM  # one compact object per line
    assert read_manifest(path) == items
    assert not list(path.parent.glob("*.partial"))


def test_jsonl_skips_blank_and_comment_lines(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text("# darks for March\n\n" + json.dumps(ITEM) + "\n   \n")
    assert read_manifest(path) == [ITEM]


def test_json_array_and_dataset_normalised(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps([{**ITEM, "dataset": "J8XI01ABQ"}], indent=2))
    assert read_manifest(path)[0]["dataset"] == "j8xi01abq"


def test_csv_with_plain_and_dotted_role_columns(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(
        "dataset,instrument,month,science,files.support,urls.science,group,dq\n"
        "u9ka0101m,wfpc2,2005-06,/data/u9ka0101m_c0m.fits,/data/u9ka0101m_shm.fits,"
        "https://mast.stsci.edu/u,g1,/data/u9ka0101m_c1m.fits\n"
        "u9ka0102m,wfpc2,,/data/u9ka0102m_c0m.fits,,,,\n"
    )
    first, second = read_manifest(path)
    assert first["files"] == {"science": "/data/u9ka0101m_c0m.fits", "support": "/data/u9ka0101m_shm.fits",
                              "dq": "/data/u9ka0101m_c1m.fits"}
    assert first["urls"] == {"science": "https://mast.stsci.edu/u"} and first["group"] == "g1"
    assert second == {"dataset": "u9ka0102m", "instrument": "wfpc2",
                      "files": {"science": "/data/u9ka0102m_c0m.fits"}}


@pytest.mark.parametrize("text, message", [
    ("{not json}\n", r"m.jsonl: line 1 is not valid JSON"),
    (json.dumps({**ITEM, "instrument": "acs_xyz"}), r"m.jsonl line 1: unknown instrument 'acs_xyz'"),
    (json.dumps({k: v for k, v in ITEM.items() if k != "files"}), r"line 1: missing files"),
    (json.dumps({**ITEM, "files": {"support": "x"}}), r"name a 'science' file"),
    (json.dumps({**ITEM, "files": {"science": 3}}), r"files\['science'\] must be a location string"),
    (json.dumps({**ITEM, "month": "2019-3"}), r"month '2019-3' is not YYYY-MM"),
    ("[1, 2]", r"m.jsonl item 0: expected a JSON object"),
    (json.dumps(ITEM) + "\n" + json.dumps(ITEM), r"line 2: dataset j8xi01abq already listed at .*line 1"),
])
def test_bad_manifests_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "m.jsonl"
    path.write_text(text)
    with pytest.raises(HstcrError, match=message):
        read_manifest(path)


def test_missing_manifest_and_bad_csv(tmp_path):
    with pytest.raises(HstcrError, match=r"nope.jsonl: manifest not found"):
        read_manifest(tmp_path / "nope.jsonl")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(HstcrError, match="e.csv: CSV manifest has no header row"):
        read_manifest(tmp_path / "e.csv")
    with pytest.raises(HstcrError, match="expected a JSON object"):
        validate_item(["x"])


def test_write_failure_leaves_no_file(tmp_path):
    def broken():
        yield ITEM
        raise HstcrError("MAST went away")

    path = tmp_path / "m.jsonl"
    with pytest.raises(HstcrError):
        write_manifest(broken(), path)
    assert list(tmp_path.iterdir()) == []


def test_write_to_stdout(capsys):
    assert write_manifest([ITEM], "-") == 1
    assert json.loads(capsys.readouterr().out) == ITEM
