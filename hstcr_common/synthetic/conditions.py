"""How far a synthetic CCD dark is from an ideal one: the conditions of a real dark.

:class:`DarkConditions` holds every departure from the ideal dark that issue 13 lists: a
hot/warm-pixel population that grows between anneals with a share missing from the DQ,
clusters and random-telegraph ("blinking") pixels, CTE trails, a post-flash with a gradient,
amplifier offsets, full-well saturation with bleeding and the A/D limit, and heavy-ion tracks.
Three ways to get one:

* :meth:`DarkConditions.clean` - none of it: the generator's behaviour before issue 13, bit for
  bit (the default of :func:`~.dark.simulate_dark` and :func:`~.sample.write_sample`, so every
  existing seed makes the same dark);
* :meth:`DarkConditions.for_detector` - the realistic level for one detector on one date
  (the default of ``hstcr sample`` and ``hstcr demo``), from :data:`EPOCHS`;
* :meth:`DarkConditions.late_mission` - the worst realistic level, the stress test of the
  issue (ACS/WFC in the 2020s just before an anneal), for every CCD detector.

Epoch model (per detector, :class:`DetectorEpochs`).  Radiation damage makes hot pixels at a
steady rate; the monthly anneal (WFPC2: decontamination) repairs most of the new ones but not
all, so the population right after an anneal grows with mission age, and between anneals it
grows linearly with the days since the last one::

    hot_fraction = permanent_at_install + permanent_per_year * years_in_orbit
                   + new_per_day * days_since_anneal

The DQ hot-pixel flags of a single dark come from the superdark of its anneal cycle, so the
pixels that turned hot since the anneal are the unflagged ones
(``unflagged_share = new_per_day * days_since_anneal / hot_fraction``).  The anneal phase is
counted from the installation date in steps of ``anneal_period_days`` (the real anneal
calendar is not needed for statistics).  CTE loss grows linearly with years in orbit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from ..model import HstcrError
from ..instruments import Detector, get_detector

#: log-uniform range of hot-pixel dark rates (e-/s): ACS calls a pixel hot above 0.08 e-/s
#: (ACS Instrument Handbook 5.2.2).  Kept here (and re-exported by :mod:`.chip`) because the
#: clean generator uses it too.
HOT_RATE_RANGE_E_PER_S = (0.08, 8.0)

#: full-well depth (e-) per detector: ACS/WFC 84,700 and ACS/HRC 155,000 (ACS Instrument
#: Handbook, Table 4.1 / 5.1); WFC3/UVIS 63,000-72,000 (WFC3 Instrument Handbook 5.4.5; the
#: lower end); STIS/CCD ~144,000 (STIS Instrument Handbook 7.2.1); WFPC2 ~53,000 (WFPC2
#: Instrument Handbook 4.2, reached only at ATODGAIN 15).
FULL_WELL_E = {"acs_wfc": 84_700.0, "acs_hrc": 155_000.0, "wfc3_uvis": 63_000.0,
               "stis_ccd": 144_000.0, "wfpc2": 53_000.0}
#: bits of the analogue-to-digital converter: 16 for ACS, WFC3 and STIS, 12 for WFPC2 (WFPC2
#: Instrument Handbook 4.2: 4095 DN).  The A/D limit in electrons is ``(2**bits - 1) * gain``
#: (bias neglected): ACS/WFC at gain 2 131,070 e- (above the full well, so the well limits),
#: ACS/HRC at gain 2 131,070 e- and STIS at gain 1 65,535 e- (below the well: the A/D
#: limits), WFPC2 at gain 7 28,665 e-.
ADC_BITS = {"wfpc2": 12}

#: readout geometry per detector, one entry per chip in file order: the side of the chip the
#: serial register is on (``"bottom"``: y = 0; charge moves towards it, so CTE trails point to
#: increasing y; ``"top"``: to decreasing y) and the amplifiers reading the chip from left to
#: right (the chip is split in equal parts along x).  ACS/WFC and WFC3/UVIS: amplifiers C, D at
#: the bottom of chip 2 (extension 1), A, B at the top of chip 1 (ACS and WFC3 Data Handbooks,
#: ch. 2 and 3).  STIS: the register is near the top rows (the E1 pseudo-apertures at row ~900
#: sit close to it to reduce CTE loss, STIS Instrument Handbook 7.2.7).  WFPC2: CTE loss grows
#: with the row number (the "Y ramp", WFPC2 Instrument Handbook 4.10), so the register is at
#: y = 0.  ACS/HRC: amplifier C, assumed at y = 0 (unverified).
READOUT = {
    "acs_wfc": (("bottom", "CD"), ("top", "AB")),
    "wfc3_uvis": (("bottom", "CD"), ("top", "AB")),
    "acs_hrc": (("bottom", "C"),),
    "stis_ccd": (("top", "D"),),
    "wfpc2": (("bottom", "A"),) * 4,
}


@dataclass(frozen=True)
class DetectorEpochs:
    """How one detector's defects evolve with time (see the module docstring).

    Attributes
    ----------
    installed : date
        Start of the time in orbit (CTE and permanent hot pixels grow from it).
    anneal_period_days : float
        Days between anneals (WFPC2: decontaminations).
    permanent_at_install, permanent_per_year : float
        Hot-pixel fraction that survives the anneals: at installation and its growth per year.
    new_per_day : float
        Fraction of pixels that turn hot per day between anneals.
    cte_per_year : float
        Growth per year in orbit of the fraction of a pixel's charge trailed when it is read
        through the whole chip (``cte_fraction``).
    flash_since : date or None
        Since when the calibration darks are post-flashed (None: never).
    hot_rate_range_e_per_s : (float, float)
        Log-uniform range of hot-pixel dark rates; the lower end is the detector's hot-pixel
        threshold.
    """

    installed: dt.date
    anneal_period_days: float
    permanent_at_install: float
    permanent_per_year: float
    new_per_day: float
    cte_per_year: float
    flash_since: dt.date | None = None
    hot_rate_range_e_per_s: tuple[float, float] = HOT_RATE_RANGE_E_PER_S


#: per-detector epoch model.  Sources and reasoning:
#: * new hot pixels: ACS/WFC and WFC3/UVIS gain ~0.1-0.2 % of their pixels per month between
#:   the monthly anneals ("hundreds per day above 0.08 e-/s", ../shared/reference/
#:   hst-detectors.md; ACS and WFC3 hot-pixel monitors): 0.15 %/month = 5e-5/day on ACS/WFC,
#:   0.1 %/month on UVIS, HRC and STIS (anneals every four weeks, STIS Instrument Handbook
#:   7.3.1), ~0.14 %/month on WFPC2 (unverified: tens of new hot pixels per chip per day);
#: * permanent hot pixels: the anneals repair most but not all (WFC3: the anneal restores
#:   20-30 % of the hot pixels to normal), giving percent-level populations late in each
#:   mission: ACS/WFC ~2.2 % after an anneal in 2024, UVIS ~1.8 %, STIS ~2.2 %, HRC ~0.8 % by
#:   2007, WFPC2 ~0.8 % by 2009 (rates chosen to reach these; unverified in detail);
#: * CTE: a few per cent of a faint source's charge trailed far from the register late in the
#:   mission (ACS and WFC3/UVIS CTE monitors; the yearly rates are a linear fit, unverified
#:   in detail): 0.2 %/year
#:   on ACS (4.4 % in 2024, ~2 % averaged over the chip, the 1.4-2.2 % energy bias measured in
#:   issue 13), 0.25 %/year on UVIS and WFPC2, 0.15 %/year on STIS;
#: * post-flash: ACS/WFC and WFC3/UVIS darks post-flashed to ~12 e- since Cycle 20 (October
#:   2012; WFC3 ISR 2013-12, ACS post-flash calibration darks);
#: * hot thresholds: ACS 0.08 e-/s, WFC3/UVIS 54 e-/hr = 0.015 e-/s (WFC3 Data Handbook
#:   5.3.1), STIS 0.1 e-/s, WFPC2 0.02 e-/s (unverified).
EPOCHS = {
    "acs_wfc": DetectorEpochs(dt.date(2002, 3, 7), 28.0, 5e-4, 1.0e-3, 5.0e-5, 2.0e-3,
                              dt.date(2012, 10, 1)),
    "acs_hrc": DetectorEpochs(dt.date(2002, 3, 7), 28.0, 5e-4, 1.5e-3, 3.3e-5, 2.0e-3),
    "wfc3_uvis": DetectorEpochs(dt.date(2009, 5, 14), 28.0, 5e-4, 1.2e-3, 3.3e-5, 2.5e-3,
                                dt.date(2012, 10, 1), (0.015, 5.0)),
    "stis_ccd": DetectorEpochs(dt.date(1997, 2, 14), 28.0, 1e-3, 0.8e-3, 3.3e-5, 1.5e-3,
                               None, (0.1, 8.0)),
    "wfpc2": DetectorEpochs(dt.date(1993, 12, 2), 28.0, 5e-4, 0.5e-3, 4.7e-5, 2.5e-3,
                            None, (0.02, 5.0)),
}

#: realistic level of the knobs the epoch model does not set: 2 % of hot pixels in clusters,
#: 3 % telegraph pixels, a 20 % flash gradient, amplifier offsets up to 2 e- (bias residuals
#: of a few e-), 0.2 % heavy ions (galactic-cosmic-ray nuclei heavier than helium are ~1 % of
#: the flux; those bright enough to stand out as 10-100x the median are rarer).
REALISTIC = {"cluster_share": 0.02, "telegraph_share": 0.03, "flash_gradient": 0.2,
             "amp_offset_e": 2.0, "heavy_ion_fraction": 0.002}
#: the late-mission stress test of issue 13 (ACS/WFC in the 2020s just before an anneal),
#: applied to every CCD: 2.5 % hot pixels, half unflagged, 2 % in clusters, 5 % telegraph,
#: 12 e- flash (flashed detectors only) with a 30 % gradient, offsets up to 3 e-, and CTE at
#: least 3 % (more where the detector's end of life is worse).
LATE_MISSION = {"hot_fraction": 0.025, "unflagged_share": 0.5, "cluster_share": 0.02,
                "telegraph_share": 0.05, "flash_e": 12.0, "flash_gradient": 0.3,
                "amp_offset_e": 3.0, "heavy_ion_fraction": 0.002, "min_cte_fraction": 0.03}
#: post-flash level of flashed calibration darks (e-), see :data:`EPOCHS`
DARK_FLASH_E = 12.0
#: preset names accepted wherever conditions are given by name
PRESETS = ("clean", "realistic", "late-mission")


@dataclass(frozen=True)
class DarkConditions:
    """Departures of one synthetic CCD dark from the ideal (all off: :meth:`clean`).

    Attributes
    ----------
    hot_fraction : float, optional
        Fraction of pixels hot or warm in this dark (clusters included); None: the spec's
        ``hot_pixel_fraction``.
    unflagged_share : float, optional
        Share of the hot pixels missing from the DQ (new since the reference superdark); None:
        the spec's ``unflagged_hot_fraction``.
    cluster_share : float
        Share of the hot pixels that sit in clusters of 2-6 adjacent pixels.
    telegraph_share : float
        Share of the hot pixels that are random-telegraph pixels: in each dark a telegraph pixel
        is at its high level or at ``telegraph_low_ratio`` of it, with equal odds.
    telegraph_low_ratio : float
        Low level of a telegraph pixel as a fraction of its high level.
    hot_rate_range_e_per_s : (float, float)
        Log-uniform range of hot-pixel dark rates (e-/s).
    cte_fraction : float
        Fraction of a pixel's charge (above the background) trailed when it is read through the
        whole chip; proportional to the number of parallel transfers (the distance from the
        serial register).  The trail is exponential along the readout direction.
    cte_trail_px : float
        e-folding length of the trail (pixels).
    flash_e : float
        Post-flash level (e-, mean over the chip); None: from FLASHDUR (``flashdur_s``).
        Only for post-flashed detectors (ACS/WFC, WFC3/UVIS).
    flash_gradient : float
        Relative change of the flash level from one edge of the chip (x = 0) to the other.
    amp_offset_e : float
        Per-amplifier offsets (bias residuals) are uniform in +-this (e-), new in every dark.
    saturation : bool
        Clip at the full well, bleed the excess along the column (charge conserved), clip at
        the A/D limit, and flag both in DQ.
    full_well_e, adc_limit_e : float, optional
        Override the detector's full well / A/D limit (e-); None: :data:`FULL_WELL_E`,
        ``(2**bits - 1) * gain``.
    heavy_ion_fraction : float
        Fraction of cosmic rays that are heavy ions: 10-100x the charge per micrometre and long
        (grazing) tracks.
    label : str
        Name recorded in the truth (``clean``, ``realistic``, ``late-mission`` or ``custom``).
    """

    hot_fraction: float | None = None
    unflagged_share: float | None = None
    cluster_share: float = 0.0
    telegraph_share: float = 0.0
    telegraph_low_ratio: float = 0.1
    hot_rate_range_e_per_s: tuple[float, float] = HOT_RATE_RANGE_E_PER_S
    cte_fraction: float = 0.0
    cte_trail_px: float = 2.0
    flash_e: float | None = None
    flash_gradient: float = 0.0
    amp_offset_e: float = 0.0
    saturation: bool = False
    full_well_e: float | None = None
    adc_limit_e: float | None = None
    heavy_ion_fraction: float = 0.0
    label: str = "clean"

    @classmethod
    def clean(cls) -> "DarkConditions":
        """No departures: the ideal dark (the generator's behaviour before issue 13)."""
        return cls()

    @property
    def is_clean(self) -> bool:
        """True when every departure is off, so the original generator runs unchanged."""
        return dataclasses.replace(self, label="clean") == DarkConditions()

    @classmethod
    def for_detector(cls, detector, date) -> "DarkConditions":
        """The realistic conditions of ``detector``'s darks on ``date`` (see module docstring).

        Parameters
        ----------
        detector : Detector or str
            A CCD detector.
        date : date, datetime or ISO string
        """
        det, epochs = _epochs(detector)
        day = _as_date(date)
        years = max((day - epochs.installed).days, 0) / 365.25
        since_anneal = max((day - epochs.installed).days, 0) % epochs.anneal_period_days
        permanent = epochs.permanent_at_install + epochs.permanent_per_year * years
        new = epochs.new_per_day * since_anneal
        flashed = epochs.flash_since is not None and day >= epochs.flash_since
        return cls(hot_fraction=permanent + new, unflagged_share=new / (permanent + new),
                   hot_rate_range_e_per_s=epochs.hot_rate_range_e_per_s,
                   cte_fraction=epochs.cte_per_year * years,
                   flash_e=DARK_FLASH_E if flashed else 0.0, saturation=True,
                   label="realistic", **REALISTIC)

    @classmethod
    def late_mission(cls, detector) -> "DarkConditions":
        """The worst realistic conditions for ``detector`` (issue 13's stress test)."""
        det, epochs = _epochs(detector)
        end = det.active[-1][1] or dt.date(2024, 12, 31)
        worst = cls.for_detector(det, end)
        knobs = dict(LATE_MISSION)
        cte = max(worst.cte_fraction, knobs.pop("min_cte_fraction"))
        if not det.flashdur_applies:
            knobs["flash_e"] = 0.0
        return dataclasses.replace(worst, cte_fraction=cte, label="late-mission", **knobs)

    @classmethod
    def preset(cls, name: str, detector, date) -> "DarkConditions":
        """Conditions by name: ``clean``, ``realistic`` (:meth:`for_detector`) or
        ``late-mission``."""
        key = str(name).lower().replace("_", "-")
        if key == "clean":
            return cls.clean()
        if key == "realistic":
            return cls.for_detector(detector, date)
        if key == "late-mission":
            return cls.late_mission(detector)
        raise HstcrError(f"unknown dark conditions {name!r}: choose one of {', '.join(PRESETS)}")

    def full_well(self, detector: Detector) -> float:
        """Full-well depth used (e-)."""
        return float(self.full_well_e if self.full_well_e is not None
                     else FULL_WELL_E.get(detector.id, 65_535.0))

    def adc_limit(self, detector: Detector, gain: float | None = None) -> float:
        """A/D limit used (e-): ``(2**bits - 1) * gain``."""
        if self.adc_limit_e is not None:
            return float(self.adc_limit_e)
        bits = ADC_BITS.get(detector.id, 16)
        return float((2**bits - 1) * (detector.typical_gain if gain is None else gain))

    def as_dict(self) -> dict:
        """JSON-serialisable fields (for the exposure truth)."""
        out = dataclasses.asdict(self)
        out["hot_rate_range_e_per_s"] = list(self.hot_rate_range_e_per_s)
        return out


def resolve_conditions(conditions, detector, date, overrides=()) -> DarkConditions:
    """A :class:`DarkConditions` from a preset name or an instance, plus field overrides.

    Parameters
    ----------
    conditions : str or DarkConditions
    detector : Detector or str
    date : date or datetime
        Observation date (for the ``realistic`` epoch model).
    overrides : iterable of (field, value) or dict
        Fields to replace after resolving (an unknown name is a TypeError); the label becomes
        ``custom`` unless given.
    """
    base = (conditions if isinstance(conditions, DarkConditions)
            else DarkConditions.preset(conditions, detector, date))
    changes = dict(overrides.items() if isinstance(overrides, dict) else overrides)
    if not changes:
        return base
    names = {f.name for f in dataclasses.fields(DarkConditions)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise TypeError(f"DarkConditions has no field {', '.join(map(repr, unknown))}")
    changes.setdefault("label", "custom")
    return dataclasses.replace(base, **changes)


def _epochs(detector) -> tuple[Detector, DetectorEpochs]:
    det = detector if isinstance(detector, Detector) else get_detector(str(detector))
    if det.id not in EPOCHS:
        raise HstcrError(f"{det.name}: dark conditions are modelled for the CCDs only "
                         f"({', '.join(EPOCHS)})")
    return det, EPOCHS[det.id]


def _as_date(when) -> dt.date:
    if isinstance(when, dt.datetime):
        return when.date()
    if isinstance(when, dt.date):
        return when
    try:
        return dt.date.fromisoformat(str(when)[:10])
    except ValueError:
        raise HstcrError(f"bad date {when!r}: expected YYYY-MM-DD") from None
