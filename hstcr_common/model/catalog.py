"""The per-dark result of detection: a column-oriented catalogue of cosmic rays.

One value per cosmic ray in each array (no Python objects per cosmic ray).  Pixel lists are
stored flat with offsets (Arrow ``ListArray`` layout): the pixels of cosmic ray ``k`` are
``pixel_x[pixel_offsets[k]:pixel_offsets[k + 1]]`` etc.  :meth:`CosmicRayCatalog.concat`
joins per-chip catalogues; the lake writer turns one into a ``cosmic_rays`` table
without a loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np


@dataclass
class CosmicRayCatalog:
    """Cosmic rays of one dark (or one chip).

    All per-cosmic-ray arrays have length ``n``.  Coordinates are 0-based pixels in the chip
    frame (x = column, y = row).  Moments are intensity-weighted about the centroid
    (pixel^2).  Energies are electrons with the local background removed.
    """

    chip_index: np.ndarray      # int16, index into Dark.chips
    cr_id: np.ndarray           # int32, 1..n, unique within the dark
    n_pixels: np.ndarray        # int32
    energy_e: np.ndarray        # float32
    peak_e: np.ndarray          # float32
    x_centroid: np.ndarray      # float32
    y_centroid: np.ndarray      # float32
    ixx: np.ndarray             # float32
    iyy: np.ndarray             # float32
    ixy: np.ndarray             # float32
    width_sigma: np.ndarray     # float32, sqrt((ixx+iyy)/2)
    symmetry: np.ndarray        # float32, sqrt((ixx-iyy)^2+4ixy^2)/(ixx+iyy)
    x_min: np.ndarray           # int16
    x_max: np.ndarray           # int16
    y_min: np.ndarray           # int16
    y_max: np.ndarray           # int16
    n_merged: np.ndarray        # int16: number of cosmic rays the split found in this one's blob (1 = isolated)
    pixel_offsets: np.ndarray   # int64, length n + 1
    pixel_x: np.ndarray         # int16
    pixel_y: np.ndarray         # int16
    pixel_e: np.ndarray         # float32
    read_index: np.ndarray | None = None      # int16, IR only
    arrival_time_s: np.ndarray | None = None  # float32, IR only
    n_core_pixels: np.ndarray | None = None   # int32: pixels of the detected core, before the halo
    saturated: np.ndarray | None = None       # bool: holds a saturated pixel (energy is a lower bound)

    def __len__(self) -> int:
        return int(self.cr_id.shape[0])

    @classmethod
    def empty(cls, optional: tuple[str, ...] = ()) -> "CosmicRayCatalog":
        """No cosmic rays.  Optional columns are None unless named in ``optional`` (then
        zero-length arrays: a method that fills them gives them even for no rows)."""
        unknown = set(optional) - set(_OPTIONAL_FILL)
        if unknown:
            raise ValueError(f"not optional catalogue columns: {sorted(unknown)}")
        kw = {}
        for f in fields(cls):
            if f.name in _OPTIONAL_FILL and f.name not in optional:
                continue
            kw[f.name] = np.zeros(1 if f.name == "pixel_offsets" else 0, dtype=_DTYPES[f.name])
        return cls(**kw)

    @classmethod
    def concat(cls, parts: list["CosmicRayCatalog"]) -> "CosmicRayCatalog":
        """Join catalogues (e.g. one per chip), renumbering ``cr_id`` 1..n.

        An optional column is None only if it is None in every part; otherwise parts
        without it contribute its fill (``n_core_pixels`` -1, ``saturated`` False,
        ``read_index`` -1, ``arrival_time_s`` NaN).
        """
        parts = [p for p in parts if p is not None]
        if not parts:
            return cls.empty()
        kw = {}
        for f in fields(cls):
            name = f.name
            if name == "pixel_offsets":
                shifts = np.cumsum([0] + [int(p.pixel_offsets[-1]) for p in parts[:-1]])
                kw[name] = np.concatenate(
                    [parts[0].pixel_offsets[:1]]
                    + [p.pixel_offsets[1:] + s for p, s in zip(parts, shifts)]
                ).astype(np.int64)
            elif name in _OPTIONAL_FILL:
                if all(getattr(p, name) is None for p in parts):
                    kw[name] = None
                else:
                    fill = _OPTIONAL_FILL[name]
                    kw[name] = np.concatenate(
                        [getattr(p, name) if getattr(p, name) is not None
                         else np.full(len(p), fill, dtype=_DTYPES[name]) for p in parts]
                    ).astype(_DTYPES[name])
            else:
                kw[name] = np.concatenate([getattr(p, name) for p in parts]).astype(_DTYPES[name])
        kw["cr_id"] = np.arange(1, len(kw["n_pixels"]) + 1, dtype=np.int32)
        return cls(**kw)


_DTYPES = {
    "chip_index": np.int16, "cr_id": np.int32, "n_pixels": np.int32,
    "energy_e": np.float32, "peak_e": np.float32, "x_centroid": np.float32,
    "y_centroid": np.float32, "ixx": np.float32, "iyy": np.float32, "ixy": np.float32,
    "width_sigma": np.float32, "symmetry": np.float32, "x_min": np.int16, "x_max": np.int16,
    "y_min": np.int16, "y_max": np.int16, "n_merged": np.int16, "pixel_offsets": np.int64,
    "pixel_x": np.int16, "pixel_y": np.int16, "pixel_e": np.float32,
    "read_index": np.int16, "arrival_time_s": np.float32,
    "n_core_pixels": np.int32, "saturated": np.bool_,
}
#: optional columns (None when a method does not fill them) and their fill in a concat
_OPTIONAL_FILL = {"read_index": -1, "arrival_time_s": np.nan, "n_core_pixels": -1, "saturated": False}


@dataclass
class DetectionSummary:
    """Per-exposure outcome of detection (before timing: rates are filled by the pipeline).

    Attributes
    ----------
    method : str
        ``dq``, ``threshold``, ``stack`` or ``ramp``.
    params : dict
        Every parameter that changes the result (JSON-serialisable), recorded in the lake.
    n_cr : int
        Cosmic rays in the catalogue (after splitting): the *resolved* cosmic rays.  Two
        that overlap with no dip between them are one row, so this is a lower bound that
        depends on crowding: on 1000 s CCD darks at 1.2 CR/s/cm2 it is 3-7% below the
        number that hit (``exposures.rate_cr_s_cm2`` = n_cr / (time x area)).
    n_cr_split : int
        How many of them came from splitting merged blobs.
    n_cr_corrected : float
        Count corrected for coincidences that could not be split (>= n_cr): the estimate
        of the cosmic rays that hit, whatever the crowding.  Its rate,
        ``exposures.rate_corrected_cr_s_cm2``, is the headline incidence rate (within 1-2%
        of the injected rate on the synthetic full-frame darks of every CCD; IR ramps:
        equal to n_cr, jumps are found per read).
    searched_pixels : int
        Pixels searched (masked pixels excluded), summed over chips.
    searched_area_cm2 : float
        ``searched_pixels`` x pixel area.
    notes : list of str
        What was done (e.g. "split 312 merged blobs by local maxima").
    method_reason : str
        Why this method was used for this dark (e.g. the group its reference came from, or
        why a dark fell back to a single-dark method).
    group_size : int
        Darks in the group whose reference this dark was searched against (1: one dark).
    occupancy : float
        Fraction of the searched pixels inside a cosmic-ray footprint: the input of the
        coincidence correction (NaN when not computed).
    n_saturated : int
        Cosmic rays holding a saturated pixel (their energy is a lower bound).
    spill_fraction : float
        Charge added to the energies for what the footprints' edges spill into the free
        pixels around them, over the summed footprint charge
        (:func:`hstcr_common.measure.spill_correction`; NaN when not applied).
    """

    method: str
    params: dict
    n_cr: int
    n_cr_split: int
    n_cr_corrected: float
    searched_pixels: int
    searched_area_cm2: float
    notes: list[str] = field(default_factory=list)
    method_reason: str = ""
    group_size: int = 1
    occupancy: float = float("nan")
    n_saturated: int = 0
    spill_fraction: float = float("nan")
