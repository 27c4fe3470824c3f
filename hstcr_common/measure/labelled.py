"""The labelled cosmic rays of one chip as pixel lists: what labelling gives measurement.

:class:`CosmicRayLabels` holds the flat indices of every cosmic-ray pixel (sorted, the halo
included) and their labels, so measurement costs in proportion to the cosmic-ray pixels;
the chip-sized label image is made only when asked for (:attr:`CosmicRayLabels.image`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass
class CosmicRayLabels:
    """Cosmic rays of one chip after labelling, splitting and the halo.

    Unpacks and indexes as the tuple ``labels, n, n_merged, notes`` (the label image first),
    so code written for a label image keeps working; :func:`hstcr_common.measure.measure_cosmic_rays` takes the
    object itself and then never scans the chip.

    Attributes
    ----------
    shape : (ny, nx)
        The chip.
    idx : ndarray of int64
        Flat indices (row-major) of every cosmic-ray pixel, halo included, increasing.
    pixel_label : ndarray of int32
        Label 1..n of each pixel of ``idx``.
    is_core : ndarray of bool
        The pixel was detected (False: added by the halo).
    n : int
        Number of cosmic rays, labelled 1..n in raster order of each one's first pixel.
    n_merged : ndarray of int16, (n,)
        How many cosmic rays were found in the component each came from (1 = isolated).
    n_core_pixels : ndarray of int32, (n,)
        Pixels of each cosmic ray before the halo ring was added.
    saturated : ndarray of bool, (n,), or None
        The cosmic ray holds a saturated pixel (its energy is a lower bound); None when no
        saturation mask was given.
    notes : list of str
        What was done, for :attr:`hstcr_common.model.DetectionSummary.notes`.
    values_e : ndarray of float64, or None
        Electrons above the background of each pixel of ``idx`` (None: labelled without an
        image).
    values_background : object
        The background ``values_e`` was taken against (the ``background_e`` given to
        labelling): measurement reuses ``values_e`` only for that same background.
    """

    shape: tuple[int, int]
    idx: np.ndarray
    pixel_label: np.ndarray
    is_core: np.ndarray
    n: int
    n_merged: np.ndarray
    n_core_pixels: np.ndarray
    saturated: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    values_e: np.ndarray | None = field(default=None, repr=False)
    values_background: object = field(default=None, repr=False)

    def values_against(self, background_e) -> np.ndarray | None:
        """``values_e`` if they were taken against ``background_e`` (the same object)."""
        if self.values_e is not None and background_e is self.values_background:
            return self.values_e
        return None

    @cached_property
    def image(self) -> np.ndarray:
        """Label image, int32 (ny, nx): 0 outside cosmic rays, 1..n inside."""
        labels = np.zeros(self.shape, dtype=np.int32)
        labels.ravel()[self.idx] = self.pixel_label
        return labels

    def _as_tuple(self, with_image: bool = True) -> tuple:
        return (self.image if with_image else None, self.n, self.n_merged, self.notes)

    def __iter__(self):
        return iter(self._as_tuple())

    def __len__(self) -> int:
        return 4

    def __getitem__(self, item):
        """``result[1]`` etc. as for the former ``(labels, n, n_merged, notes)`` tuple (the
        label image is made only for ``[0]`` or a slice holding it)."""
        whole = self._as_tuple(with_image=False)
        if isinstance(item, slice):
            return tuple(self._as_tuple()[item])
        return self.image if item in (0, -4) else whole[item]
