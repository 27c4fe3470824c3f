"""The data dictionary (issue 16): every column documented once, everywhere the same."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from factories import fake_rows
from hstcr_common.lake import Lake, TABLES
from hstcr_common.lake.schemas import data_dictionary, field_doc

REPO = Path(__file__).resolve().parents[3]


def _fields(schema):
    for f in schema:
        yield f
        if pa.types.is_list(f.type) and pa.types.is_struct(f.type.value_type):
            yield from f.type.value_type


def test_every_column_has_a_description_and_a_unit_entry():
    for table, schema in TABLES.items():
        for f in _fields(schema):
            unit, desc = field_doc(f)
            assert len(desc) > 8, (table, f.name)
            assert f.metadata and b"unit" in f.metadata, (table, f.name)


def test_units_of_the_physical_columns():
    doc = {f.name: field_doc(f)[0] for f in TABLES["cosmic_rays"]}
    assert doc["energy_e"] == "e-" and doc["energy_kev"] == "keV" and doc["width_sigma"] == "pixel"
    exp = {f.name: field_doc(f)[0] for f in TABLES["exposures"]}
    assert exp["rate_corrected_cr_s_cm2"] == "CR/s/cm2" and exp["integration_time_s"] == "s"


def test_descriptions_travel_inside_the_parquet_files(tmp_path):
    lake = Lake(tmp_path)
    key, crs, exp, _ = fake_rows(n=5)
    path = lake.write("cosmic_rays", crs, key, "o1234567q")
    schema = pq.read_schema(path)
    assert field_doc(schema.field("energy_e")) == field_doc(TABLES["cosmic_rays"].field("energy_e"))


def test_docs_columns_md_is_generated_from_the_schemas():
    assert (REPO / "docs" / "columns.md").read_text() == data_dictionary(), \
        "docs/columns.md is stale: run `hstcr columns --out docs/columns.md`"
