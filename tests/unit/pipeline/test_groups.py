"""Group references in the lake: the last one read is reused only while its file is
unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from hstcr_common.detect import GroupReference
from hstcr_common.detect.group_reference import ChipReference
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


def test_a_reference_is_stored_compressed_and_read_back_exactly():
    import io
    import json

    rng = np.random.default_rng(3)
    ref = _reference(["a", "b", "c"])
    chip = ref.chips[0]
    chip.total_e = rng.normal(300.0, 5.0, chip.total_e.shape).astype(np.float32)
    chip.count = rng.integers(0, 4, chip.count.shape).astype(np.uint8)
    chip.accepted = rng.integers(0, 256, chip.accepted.shape).astype(np.uint8)
    chip.telegraph = rng.random(chip.telegraph.shape) < 0.1
    chip.smooth = [{"x0": 0, "x1": 16, "level": rng.normal(size=(1, 1)).astype(np.float32)}]
    data = ref.to_bytes()
    back = GroupReference.from_bytes(data)
    got = back.chips[0]
    for name in ("total_e", "count", "accepted", "telegraph"):
        want, have = getattr(chip, name), getattr(got, name)
        assert have.dtype == want.dtype and np.array_equal(have, want), name
        assert have.flags.writeable
    assert np.array_equal(got.smooth[0]["level"], chip.smooth[0]["level"])
    assert back.members == ref.members and back.levels == ref.levels
    # a reference written before compression (plain arrays, no "arrays" in the head) reads
    with np.load(io.BytesIO(data)) as z:
        head = json.loads(bytes(z["head"]).decode())
    del head["arrays"]
    plain = {"head": np.frombuffer(json.dumps(head).encode(), np.uint8), "total_0": chip.total_e,
             "count_0": chip.count, "accepted_0": chip.accepted,
             "telegraph_0": np.packbits(chip.telegraph, axis=-1),
             "smooth_0_0": chip.smooth[0]["level"]}
    buf = io.BytesIO()
    np.savez(buf, **plain)
    old = GroupReference.from_bytes(buf.getvalue()).chips[0]
    assert np.array_equal(old.total_e, chip.total_e) and np.array_equal(old.telegraph, chip.telegraph)


def _same_reference(a: GroupReference, b: GroupReference) -> None:
    """Every field equal, arrays with their dtypes, smooth grids with their keys."""
    assert (a.members, a.levels, a.meta, a.detector, a.center) == \
        (b.members, b.levels, b.meta, b.detector, b.center)
    assert len(a.chips) == len(b.chips)
    for x, y in zip(a.chips, b.chips):
        assert x.name == y.name and x.segments == y.segments
        for name in ("total_e", "count", "accepted", "telegraph"):
            u, v = getattr(x, name), getattr(y, name)
            assert u.dtype == v.dtype and u.shape == v.shape and np.array_equal(u, v), name
        assert (x.smooth is None) == (y.smooth is None)
        for g, h in zip(x.smooth or [], y.smooth or []):
            assert sorted(g) == sorted(h) and (g["x0"], g["x1"]) == (h["x0"], h["x1"])
            assert g["level"].dtype == h["level"].dtype and np.array_equal(g["level"], h["level"])


@pytest.fixture(scope="module")
def stis_group(tmp_path_factory):
    """A group of 3 synthetic STIS/CCD darks of one set-up, as ``hstcr run`` lists them."""
    from hstcr_common.pipeline import items_from_folder
    from hstcr_common.synthetic import write_sample

    folder = tmp_path_factory.mktemp("stis")
    write_sample("stis_ccd", 3, folder, seed=5)
    return items_from_folder(str(folder))


def test_a_built_reference_is_kept_exactly_as_it_would_be_read_back(stis_group, tmp_path):
    from hstcr_common.model import AutoParams
    from hstcr_common.pipeline.groups import build_group_reference, forget_reference

    lake = Lake(str(tmp_path / "lake"))
    built = build_group_reference(stis_group, lake, AutoParams())
    assert built["status"] == "built"
    kept = read_reference(lake, built["path"])
    forget_reference()
    stored = read_reference(lake, built["path"])
    assert stored is not kept
    _same_reference(kept, stored)
    assert any(c.smooth for c in stored.chips)      # the smooth grids are compared too


def test_the_darks_searched_after_a_build_are_not_read_back_and_match(stis_group, tmp_path,
                                                                       monkeypatch):
    """The process that built a reference searches its group with the one it kept (no read
    of the file), and finds exactly what a process reading it back finds."""
    import pyarrow.parquet as pq

    from hstcr_common.model import AutoParams
    from hstcr_common.pipeline import process_item
    from hstcr_common.pipeline.groups import build_group_reference, forget_reference

    def search(lake_dir, read_back):
        lake = Lake(str(lake_dir))
        built = build_group_reference(stis_group, lake, AutoParams())
        if read_back:
            forget_reference()
        for item in stis_group:
            result = process_item(dict(item, reference=built["path"]), lake=str(lake_dir),
                                  method="auto")
            assert result["status"] == "done", result
        # every row of both tables but the time it was written
        return {p.relative_to(lake_dir): pq.read_table(p).drop_columns(
                    [c for c in ("processed_at",) if c in pq.read_schema(p).names])
                for table in ("cosmic_rays", "exposures")
                for p in sorted(lake_dir.rglob(f"{table}/**/*.parquet"))}

    reads = []
    original = GroupReference.from_bytes
    monkeypatch.setattr(GroupReference, "from_bytes",
                        classmethod(lambda cls, data: reads.append(1) or original(data)))
    kept = search(tmp_path / "kept", read_back=False)
    assert reads == []
    read = search(tmp_path / "read", read_back=True)
    assert reads == [1]
    assert kept.keys() == read.keys() and len(kept) == 6
    for name in kept:
        assert kept[name].equals(read[name]), name
    forget_reference()
