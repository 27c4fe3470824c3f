"""A group's reference, the object: what it holds per chip, and how it is stored.

:func:`.reference.build_reference` makes one and :func:`.reference.find_cosmic_rays_reference`
searches a dark against it; in between it is stored in the lake (:meth:`GroupReference.to_bytes`:
an ``.npz`` of zstd-compressed arrays) and read back by every dark searched elsewhere
(:meth:`GroupReference.from_bytes`).  Per chip it holds a float32 sum, a uint8 count, a
telegraph mask and one bit per dark and pixel: ~90 MB for ACS/WFC plus 2 MB per dark.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np

from .local_background import BackgroundMap, background_grids
from .packing import PACKING, pack, unpack


def _mean_e(total_e: np.ndarray, count: np.ndarray) -> np.ndarray:
    return total_e / np.maximum(count, 1).astype(np.float32)


def _empty(count: np.ndarray) -> np.ndarray:
    return count == 0


class Elementwise:
    """``func(*arrays)``, an elementwise function of equally shaped arrays, computed only
    where it is sliced: ``e[key]`` slices the arrays (views, nothing computed) and
    ``np.asarray(e[key])`` computes ``func`` on those slices."""

    def __init__(self, func, *arrays: np.ndarray):
        self.func, self.arrays = func, arrays
        self.shape = arrays[0].shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, key) -> "Elementwise":
        return Elementwise(self.func, *(a[key] for a in self.arrays))

    def __array__(self, dtype=None, copy=None):
        out = self.func(*self.arrays)
        return out if dtype is None else out.astype(dtype, copy=False)


@dataclass
class ChipReference:
    """The reference of one chip (what it holds and why: :mod:`.reference`).

    Attributes
    ----------
    name : str
    total_e : ndarray, float32 (ny, nx)
        Sum of the accepted darks' values (e-, levels removed).
    count : ndarray, uint8 (ny, nx)
        Number of accepted darks.
    accepted : ndarray, uint8 (ndarks, ny, ceil(nx / 8))
        Which darks were accepted, bit-packed along rows (:func:`numpy.packbits`).
    telegraph : ndarray of bool (ny, nx)
    segments : list of (int, int)
        Amplifier column ranges; each dark has a level per range.
    smooth : list of dict, optional
        The smooth map of the group's mean (:func:`.local_background.background_grids`:
        box grids per amplifier region); None for a reference stored before it existed
        (then computed when searching).
    """

    name: str
    total_e: np.ndarray
    count: np.ndarray
    accepted: np.ndarray
    telegraph: np.ndarray
    segments: list[tuple[int, int]]
    smooth: list | None = None

    def smooth_grids(self, n_amplifiers: int = 1) -> list:
        """:attr:`smooth`, computed from the group's mean the first time it is asked for.

        The box estimates read a quarter of the pixels (:data:`.local_background.
        SAMPLE_STEP`), so the mean and the empty pixels are computed there only: the same
        float32 values as :meth:`mean_e` at those pixels, without the two chip-sized
        passes and the 32 MB frame the whole mean costs (an ACS/WFC chip: ~0.06-0.09 s of
        the build, and memory touched for the first time in a fresh process)."""
        if self.smooth is None:
            self.smooth = background_grids(Elementwise(_mean_e, self.total_e, self.count),
                                           Elementwise(_empty, self.count),
                                           n_amplifiers=n_amplifiers)
        return self.smooth

    def smooth_map(self, n_amplifiers: int = 1) -> BackgroundMap:
        """The smooth map of the group's mean (e-), held as its box grids: the residual
        reads it a strip of rows at a time (``np.asarray`` gives the float32 frame)."""
        return BackgroundMap(self.smooth_grids(n_amplifiers), self.shape)

    def mean_e(self) -> np.ndarray:
        """Mean of the accepted darks (e-, levels removed; 0 where none was)."""
        return _mean_e(self.total_e, self.count)

    @property
    def shape(self) -> tuple[int, int]:
        return self.total_e.shape


@dataclass
class GroupReference:
    """A group's reference: every chip, the members and their levels.

    Attributes
    ----------
    members : list of str
        Datasets, in the order of ``accepted``.
    levels : dict
        dataset -> per chip, per segment background level (e-).
    chips : list of ChipReference
    detector : str
        Detector id.
    center : str
        "lower median" (>= 4 darks) or "minimum" (2 or 3 darks): the clipping centre.
    meta : dict
        JSON-able: the group's description, key, parameters hash, software version ...
    """

    members: list[str]
    levels: dict[str, list[list[float]]]
    chips: list[ChipReference]
    detector: str
    center: str
    meta: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.members)

    def to_bytes(self) -> bytes:
        """An ``.npz`` holding everything, each array zstd-compressed (floats byte-shuffled).

        Every dark's search downloads its group's reference: on AWS that read was as long as
        the search itself for ACS/WFC (94 MB, ~1.2 s at 80 MB/s).  Compressed it is ~60 MB:
        the counts, acceptance bits and telegraph flags shrink 10-100x, the sums ~17% once
        their bytes are grouped by significance (sign and exponent bytes repeat)."""
        head = {"members": self.members, "levels": self.levels, "detector": self.detector,
                "center": self.center, "meta": self.meta, "encoding": PACKING,
                "chips": [{"name": c.name, "segments": c.segments,
                           "smooth": None if c.smooth is None else
                           [{"x0": g["x0"], "x1": g["x1"]} for g in c.smooth]}
                          for c in self.chips]}
        plain = {}
        for i, c in enumerate(self.chips):
            plain[f"total_{i}"] = c.total_e
            plain[f"count_{i}"] = c.count
            plain[f"accepted_{i}"] = c.accepted
            plain[f"telegraph_{i}"] = np.packbits(c.telegraph, axis=-1)
            for a, g in enumerate(c.smooth or []):
                plain[f"smooth_{i}_{a}"] = g["level"]
        head["arrays"] = {k: {"dtype": np.asarray(v).dtype.str, "shape": list(np.shape(v))}
                          for k, v in plain.items()}
        arrays = {"head": np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)}
        arrays.update({k: pack(np.asarray(v)) for k, v in plain.items()})
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    def as_stored(self) -> "GroupReference":
        """The reference as :meth:`from_bytes` gives it back from :meth:`to_bytes`, without the
        round trip: the same arrays, the smooth grids holding only what is stored (their
        ``level``), the levels and ``meta`` as JSON gives them back.  What a process that has
        just built and stored a reference searches with (its reference child on AWS: the
        read-back was a GET of ~60 MB and its decompression per ACS/WFC group)."""
        head = json.loads(json.dumps({"levels": self.levels, "meta": self.meta}))
        chips = [ChipReference(c.name, c.total_e, c.count, c.accepted, c.telegraph,
                               [tuple(s) for s in c.segments],
                               None if c.smooth is None else
                               [{"x0": g["x0"], "x1": g["x1"], "level": g["level"]}
                                for g in c.smooth])
                 for c in self.chips]
        return GroupReference(list(self.members), head["levels"], chips, self.detector,
                              self.center, head["meta"])

    @classmethod
    def from_bytes(cls, data: bytes) -> "GroupReference":
        with np.load(io.BytesIO(data)) as z:
            head = json.loads(bytes(z["head"]).decode())
            described = head.get("arrays")         # None: an uncompressed reference

            def array(name):
                return z[name] if described is None else unpack(z[name], described[name])

            chips = []
            for i, c in enumerate(head["chips"]):
                total = array(f"total_{i}")
                smooth = c.get("smooth")
                if smooth is not None:
                    smooth = [{**g, "level": array(f"smooth_{i}_{a}")}
                              for a, g in enumerate(smooth)]
                chips.append(ChipReference(
                    c["name"], total, array(f"count_{i}"), array(f"accepted_{i}"),
                    np.unpackbits(array(f"telegraph_{i}"), axis=-1,
                                  count=total.shape[1]).astype(bool),
                    [tuple(s) for s in c["segments"]], smooth))
        return cls(head["members"], head["levels"], chips, head["detector"], head["center"],
                   head["meta"])
