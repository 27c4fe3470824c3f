"""Detector facts, read from ``instruments.toml`` (one table drives everything).

Each detector is a :class:`Detector`; its id (``acs_wfc``, ``wfpc2``, ``nicmos_nic2`` ...) is
the value of the lake's ``instrument`` partition.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..model import HstcrError


@dataclass(frozen=True)
class ChipLayout:
    """Where one chip lives in the science product."""

    name: str
    ccdchip: int
    extver: int
    group: int | None = None


@dataclass(frozen=True)
class Detector:
    """Facts about one HST detector (see ``instruments.toml`` for sources).

    Units: micrometres, cm2, seconds, e-/DN, e- (read noise), e-/pixel/s (dark current).
    """

    id: str
    name: str
    mast_instrument_name: str
    instrume: str
    detector: str
    dataset_prefix: str
    kind: str  # "ccd" or "ir"
    science_suffixes: tuple[str, ...]
    support_suffix: str
    dq_suffix: str
    layout: str
    chip_shape: tuple[int, int]
    chips: tuple[ChipLayout, ...]
    pixel_size_um: float
    area_cm2: float
    thickness_um: float
    gain_keywords: tuple[str, ...]
    bunit: str
    read_noise_e: float
    typical_gain: float
    dark_current_e_per_s: float
    readout_time_s: float
    flashdur_applies: bool
    cr_bit: int
    bad_bits: tuple[int, ...]
    typical_exptime_s: float
    active: tuple[tuple[dt.date, dt.date | None], ...]
    readout_time_short_s: float | None = None
    readout_short_max_exptime_s: float | None = None
    reference_border_px: int = 0
    saturation_bit: int = 0  # DQ bit for full-well saturation (IR ramps: per read)
    material: str = "silicon"  # sensor material: "silicon" (CCDs) or "HgCdTe" (IR arrays)
    ev_per_electron: float = 0.0  # mean eV per electron-hole pair; 0 = no trusted value

    @property
    def kev_per_electron(self) -> float | None:
        """keV deposited per electron collected (``ev_per_electron`` / 1000), or None where
        the table has no trusted pair energy for the material (energy_kev is then null)."""
        return self.ev_per_electron * 1e-3 if self.ev_per_electron > 0 else None

    @property
    def cte_applies(self) -> bool:
        """Whether charge is clocked through the array (CCDs): CTE losses exist.  IR arrays
        read every pixel in place, so CTE correction does not apply to them."""
        return self.kind == "ccd"

    @property
    def bad_mask_bits(self) -> int:
        """The OR of :attr:`bad_bits`: ``dq & bad_mask_bits`` marks pixels never searched."""
        mask = 0
        for bit in self.bad_bits:
            mask |= bit
        return mask

    @property
    def n_chips(self) -> int:
        return len(self.chips)

    @property
    def pixel_area_cm2(self) -> float:
        return (self.pixel_size_um * 1e-4) ** 2

    @property
    def chip_area_cm2(self) -> float:
        """Area of one chip (cm2): the detector area shared equally between its chips."""
        return self.area_cm2 / len(self.chips)

    @property
    def products(self) -> dict[str, str]:
        """File roles -> suffix of the preferred product (manifest roles: science, support, dq)."""
        roles = {"science": self.science_suffixes[0], "support": self.support_suffix}
        if self.dq_suffix:
            roles["dq"] = self.dq_suffix
        return roles


def _date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


@cache
def detectors() -> dict[str, Detector]:
    """All detectors, keyed by id, in table order."""
    table = tomllib.loads(resources.files(__package__).joinpath("instruments.toml").read_text())
    out = {}
    for det_id, row in table.items():
        row = dict(row)
        row["chips"] = tuple(ChipLayout(**chip) for chip in row["chips"])
        row["active"] = tuple((_date(a), _date(b)) for a, b in row["active"])
        for key in ("science_suffixes", "gain_keywords", "bad_bits", "chip_shape"):
            row[key] = tuple(row[key])
        out[det_id] = Detector(id=det_id, **row)
    return out


def _spellings() -> dict[str, str]:
    """Every accepted spelling, folded to lower case -> detector id: the id (``acs_wfc``), the
    handbook name (``ACS/WFC``) and its dash/space forms (``acs-wfc``, ``ACS WFC``)."""
    out = {}
    for det in detectors().values():
        for name in (det.id, det.name, det.mast_instrument_name):
            folded = name.strip().lower()
            for form in (folded, folded.replace("/", "_"), folded.replace("/", "-"), folded.replace("/", " "),
                         folded.replace("_", "-"), folded.replace("_", "/")):
                out.setdefault(form, det.id)
    return out


def detector_id(name: str) -> str:
    """The detector id for any accepted spelling (any case, ``ACS/WFC`` or ``acs_wfc``).

    Raises
    ------
    HstcrError
        Unknown name; the message lists the known ids.
    """
    det_id = _spellings().get(str(name).strip().lower())
    if det_id is None:
        raise HstcrError(f"unknown instrument {name!r}; known: {', '.join(detectors())} "
                         f"(any case; ACS/WFC and acs_wfc are the same)")
    return det_id


def get_detector(name: str) -> Detector:
    """The detector for any accepted spelling of its id or name (see :func:`detector_id`)."""
    return detectors()[detector_id(name)]


def ccd_detectors() -> list[Detector]:
    return [d for d in detectors().values() if d.kind == "ccd"]

