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
