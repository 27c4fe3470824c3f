"""Group references in the lake: the last one read is reused only while its file is
unchanged."""

from __future__ import annotations

import numpy as np

from hstcr_common.detect import GroupReference
from hstcr_common.detect.reference import ChipReference
from hstcr_common.lake import Lake
from hstcr_common.pipeline.groups import read_reference, write_reference


def _reference(members):
    shape = (8, 16)
    chip = ChipReference("WFC1", np.ones(shape, np.float32), np.full(shape, 2, np.uint8),
                         np.zeros((len(members), 8, 2), np.uint8), np.zeros(shape, bool),
                         [(0, 16)])
    return GroupReference(list(members), {m: [[0.0]] for m in members}, [chip], "acs_wfc",
                          "minimum")


def test_the_reference_read_last_is_reused_until_its_file_changes(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    path = write_reference(lake, "g", _reference(["a", "b"]).to_bytes())
    first = read_reference(lake, path)
    assert read_reference(lake, path) is first              # a group's next dark
    assert first.members == ["a", "b"]
    write_reference(lake, "g", _reference(["a", "b", "c"]).to_bytes())   # rebuilt
    again = read_reference(lake, path)
    assert again is not first and again.members == ["a", "b", "c"]
    other = write_reference(lake, "h", _reference(["d", "e"]).to_bytes())
    assert read_reference(lake, other).members == ["d", "e"]
    assert read_reference(lake, path) is not again          # only one is held
