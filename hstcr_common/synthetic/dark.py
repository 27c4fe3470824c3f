"""Simulate a whole CCD calibration dark (every chip, header facts, orbit, truth) and write it.

:class:`DarkSpec` says what dark to make; :func:`simulate_dark` makes it in memory (a
:class:`SyntheticDark`, whose :attr:`~SyntheticDark.dark` is what the loader would return);
:func:`write_dark` also writes the MAST-shaped files (:mod:`.products`).  The cosmic rays are
injected over the integration time the pipeline itself derives from the keywords written
(:func:`integration_time`), so truth and measurement share one denominator.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..model import REFERENCE_CR_RATE_S_CM2, SECONDS_PER_DAY, Chip, Dark, HstcrError
from ..instruments import Detector, get_detector
from ..ephemeris import integration_time as pipeline_integration_time
from .chip import ChipSpec, ChipTruth, simulate_chip
from .conditions import DarkConditions, resolve_conditions
from .exposure import as_utc, dataset_name, default_date, manifest_item, mjd_from_datetime
from .overrides import with_overrides
from .pattern import HOT_PIXEL_FRACTION, N_BAD_COLUMNS, UNFLAGGED_HOT_FRACTION
from .products import CCDAMP, date_obs_text, support_hdus, write_products
from .support import orbital_elements
from .truth import chip_truth_table, hot_pixel_table

#: HST idle time added to DARKTIME after EXPTIME + FLASHDUR (s) for detectors whose headers
#: carry DARKTIME (post-SM4 full-frame ACS/WFC and WFC3/UVIS include the time since the last
#: flush; ~3 s is typical).  Detectors not listed get no DARKTIME keyword, so the pipeline's
#: EXPTIME + FLASHDUR + readout rule applies to them.
DARKTIME_OVERHEAD_S = {"acs_wfc": 3.0, "wfc3_uvis": 3.0}
#: post-flash electrons per second of FLASHDUR (the MED current gives ~tens of e- in a few s)
FLASH_E_PER_S = 1.0
#: share of the CTE trail left in a CTE-corrected ``flc`` product: the pixel-based correction
#: (ACS and WFC3 Data Handbooks) restores most of the trailed charge but not all of it, least
#: for faint charge packets.  0.2 is an assumption (unverified), not a measured value.
FLC_CTE_RESIDUAL = 0.2
#: science products a synthetic dark can be written as, per detector
_SUFFIXES = {"acs_wfc": ("flt", "flc"), "wfc3_uvis": ("flt", "flc"), "acs_hrc": ("flt",),
             "stis_ccd": ("flt", "crj"), "wfpc2": ("c0m",)}


@dataclass(frozen=True)
class DarkSpec:
    """A synthetic CCD dark to make: its set-up and sky (seeds and names are passed apart).

    Attributes
    ----------
    exptime_s : float, optional
        EXPTIME (s); None: the detector's typical dark exposure.
    date : datetime, date or ISO string, optional
        DATE-OBS/TIME-OBS (UTC); None: a seed-derived time in the last active period.
    cr_rate_per_s_cm2 : float
        Injected cosmic-ray rate (CR/s/cm2); default the quiet-orbit flux
        :data:`~hstcr_common.model.constants.REFERENCE_CR_RATE_S_CM2`.
    hot_pixel_fraction : float
        Fraction of pixels that are hot.
    unflagged_hot_fraction : float
        Fraction of the hot pixels missing from the DQ.
    n_bad_columns : int
        Bad columns per chip.
    flag_cosmic_rays : bool
        Set the CR bit in DQ where cosmic rays are (as CR rejection would).
    flashdur_s : float, optional
        FLASHDUR (s) for post-flashed detectors (ACS/WFC, WFC3/UVIS); the flash adds
        :data:`FLASH_E_PER_S` electrons per second of flash to every pixel.  None: 0.
    science_suffix : str, optional
        ``flt``/``flc`` (ACS, WFC3), ``flt``/``crj`` (STIS), ``c0m`` (WFPC2); None: the
        detector's preferred product.  An ``flc`` is CTE-corrected: its trails keep
        :data:`FLC_CTE_RESIDUAL` of the conditions' ``cte_fraction``.
    bunit : str, optional
        ``ELECTRONS`` or ``COUNTS``; None: the detector's product unit.
    shape : (ny, nx), optional
        Chip shape (a smaller frame for quick tests, labelled a subarray); None: full frame.
    conditions : DarkConditions or str
        Departures from the ideal dark: a :class:`~.conditions.DarkConditions` or a preset
        name, ``"clean"`` (default: none, the generator's behaviour before issue 13, bit for
        bit), ``"realistic"`` (this detector on this dark's date) or ``"late-mission"``.  A
        post-flash level (``flash_e``) writes FLASHDUR = ``flash_e / FLASH_E_PER_S`` unless
        ``flashdur_s`` is given, which then sets the level.
    condition_overrides : tuple of (field, value)
        :class:`~.conditions.DarkConditions` fields replaced after resolving ``conditions``
        (e.g. ``(("hot_fraction", 0.02),)``).
    """

    exptime_s: float | None = None
    date: dt.datetime | dt.date | str | None = None
    cr_rate_per_s_cm2: float = REFERENCE_CR_RATE_S_CM2
    hot_pixel_fraction: float = HOT_PIXEL_FRACTION
    unflagged_hot_fraction: float = UNFLAGGED_HOT_FRACTION
    n_bad_columns: int = N_BAD_COLUMNS
    flag_cosmic_rays: bool = False
    flashdur_s: float | None = None
    science_suffix: str | None = None
    bunit: str | None = None
    shape: tuple[int, int] | None = None
    conditions: DarkConditions | str = "clean"
    condition_overrides: tuple = ()


@dataclass
class SyntheticDark:
    """One simulated (and possibly written) synthetic dark.

    Attributes
    ----------
    dataset : str
        9-character rootname.
    detector : Detector
    paths : dict
        File role -> path: ``science``, ``support`` and (WFPC2) ``dq``; empty until written.
    truth : pyarrow.Table
        One row per injected cosmic ray (see :func:`~.truth.chip_truth_table`).
    chips : list of ChipTruth
        In file order.
    exposure : dict
        Exposure-level truth (JSON-serialisable): times, rates, counts per chip.
    facts : dict
        Header values the files are written with (internal).
    """

    dataset: str
    detector: Detector
    paths: dict[str, Path]
    truth: pa.Table
    chips: list[ChipTruth]
    exposure: dict = field(default_factory=dict)
    facts: dict = field(default_factory=dict, repr=False)

    @property
    def dark(self) -> Dark:
        """The dark as :func:`hstcr_common.load.ccd.load_dark` would return it (no files).

        Science arrays are the simulated electrons (shared, not copied); the support header
        is the primary header of the SPT/SHM file as a plain dict.
        """
        det, exp = self.detector, self.exposure
        gains = {key: exp["gain"] for key in det.gain_keywords}
        chips = [Chip(name=layout.name, ccdchip=layout.ccdchip, science=chip.science_e,
                      dq=chip.dq, gain=exp["gain"], read_noise_e=chip.read_noise_e)
                 for layout, chip in zip(det.chips, self.chips)]
        support = support_hdus(det, self.dataset, self.facts, exp["orbital_elements"])[0]
        return Dark(
            dataset=self.dataset, detector=det, chips=chips,
            date_obs=dt.datetime.fromisoformat(exp["date_obs"]),
            expstart_mjd=exp["expstart_mjd"], expend_mjd=exp["expend_mjd"],
            exptime_s=exp["exptime_s"], darktime_s=exp["darktime_s"],
            flashdur_s=exp["flashdur_s"], ccdamp=CCDAMP.get(det.id, ""),
            ccdgain=exp["gain"], gains=gains, bunit=exp["bunit"], subarray=False,
            source=str(self.paths.get("science", f"synthetic:{self.dataset}")),
            science_suffix=exp["science_suffix"],
            support_header={k: v for k, v in support.header.items()
                            if k and k not in ("COMMENT", "HISTORY")},
            header={"ROOTNAME": self.dataset, "TARGNAME": "DARK", "IMAGETYP": "DARK",
                    "synthetic": True},
        )

    @property
    def manifest_item(self) -> dict:
        """The dark as a manifest work item (see DESIGN.md)."""
        return manifest_item(self)

    @property
    def hot_pixels(self) -> pa.Table:
        """Truth of every hot, warm, clustered and telegraph pixel (one row per pixel, see
        :func:`~.truth.hot_pixel_table`)."""
        return hot_pixel_table(self.dataset, self.detector, self.chips)


def integration_time(detector: Detector, exptime_s: float, flashdur_s: float) -> tuple[
        float, float | None, str]:
    """(integration time, DARKTIME to write or None, rule) for a synthetic dark.

    The DARKTIME keyword is written for the detectors of :data:`DARKTIME_OVERHEAD_S`
    (EXPTIME + FLASHDUR + the idle overhead).  The integration time the cosmic rays are
    injected over is then computed by the pipeline's own rule,
    :func:`hstcr_common.ephemeris.timing.integration_time`, from exactly the keywords
    written, so the truth's rate and the measured rate share one denominator and one
    ``integration_rule`` string (e.g. ``"DARKTIME"``, ``"EXPTIME+READOUT(60s)"``).
    """
    darktime = None
    if detector.id in DARKTIME_OVERHEAD_S:
        darktime = exptime_s + flashdur_s + DARKTIME_OVERHEAD_S[detector.id]
    total, rule = pipeline_integration_time(detector, exptime_s, darktime_s=darktime,
                                            flashdur_s=flashdur_s)
    return total, darktime, rule


def simulate_dark(detector_id, spec: DarkSpec | None = None, *, seed: int,
                  dataset: str | None = None, fixed_pattern_seed: int | None = None,
                  group: str | None = None, **overrides) -> SyntheticDark:
    """Simulate one whole dark (every chip, header facts, orbit, truth) without writing files.

    Parameters
    ----------
    detector_id : str or Detector
        A CCD detector (IR raises :class:`HstcrError`).
    spec : DarkSpec, optional
        What to make; default :class:`DarkSpec` ().
    seed : int
        Seed of everything random in this dark (dataset name, date, cosmic rays, noise).
    dataset : str, optional
        Rootname; default derived from the seed.
    fixed_pattern_seed : int, optional
        Seed of the hot pixels/bad columns (chip ``i`` uses ``(fixed_pattern_seed, i)``);
        default ``seed`` (each dark its own pattern).
    group : str, optional
        Stack group label recorded in the truth/manifest; default from the set-up.
    **overrides
        Fields of :class:`DarkSpec` to replace (``exptime_s=``, ``shape=`` ...); an unknown
        name is a TypeError.

    Returns
    -------
    SyntheticDark
        With empty ``paths``; :attr:`SyntheticDark.dark` gives the
        :class:`~hstcr_common.model.dark.Dark` the pipeline would load from the files.
    """
    spec = with_overrides(spec or DarkSpec(), overrides)
    det = detector_id if isinstance(detector_id, Detector) else get_detector(str(detector_id))
    seed = int(seed)
    facts, (when, integration_s, rule), conditions = _header_facts(det, spec, seed)
    dataset = (dataset or dataset_name(det.dataset_prefix, [seed, 0x5EED])).lower()
    if len(dataset) != 9:
        raise HstcrError(f"dataset name {dataset!r} must have 9 characters")
    fixed_seed = seed if fixed_pattern_seed is None else int(fixed_pattern_seed)
    group = group or f"{det.id}:{CCDAMP.get(det.id, '')}:{facts['exptime']:g}:{fixed_seed}"

    rng = np.random.default_rng([seed, 0xC41])
    chip_spec = ChipSpec(
        shape=spec.shape, exposure_s=integration_s,
        cr_rate_per_s_cm2=spec.cr_rate_per_s_cm2, hot_pixel_fraction=spec.hot_pixel_fraction,
        unflagged_hot_fraction=spec.unflagged_hot_fraction, n_bad_columns=spec.n_bad_columns,
        flag_cosmic_rays=spec.flag_cosmic_rays, flash_e=facts["flashdur"] * FLASH_E_PER_S,
        conditions=conditions)
    chips = [simulate_chip(det, dataclasses.replace(chip_spec, chip_index=index), rng=rng,
                           fixed_pattern_seed=[fixed_seed, index, 0xF1C5])
             for index in range(det.n_chips)]
    # a smaller test frame is honestly labelled a subarray, cut from the middle of the chip's
    # columns (LTV1): the amplifier boundary then falls at its centre, where the readout
    # splits it (equal parts per amplifier), so the product reads the same two amplifiers
    facts["subarray"] = tuple(chips[0].shape) != tuple(det.chip_shape)
    facts["subarray_x0"] = (det.chip_shape[1] - chips[0].shape[1]) // 2 if facts[
        "subarray"] else 0
    elements = orbital_elements(facts["expstart"], np.random.default_rng([seed, 0x0B17]))
    exposure = _exposure_truth(det, spec, facts, chips, elements, dataset=dataset, seed=seed,
                               fixed_seed=fixed_seed, group=group, when=when,
                               integration_s=integration_s, rule=rule)
    return SyntheticDark(dataset=dataset, detector=det, paths={},
                         truth=chip_truth_table(dataset, det, chips), chips=chips,
                         exposure=exposure, facts=facts)


def _header_facts(det: Detector, spec: DarkSpec, seed: int) -> tuple[dict, tuple,
                                                                     DarkConditions]:
    """Check the spec against the detector and resolve every header value once.

    Returns the header facts, (observation datetime, integration time s, its rule) and the
    resolved conditions (their flash level decides FLASHDUR unless the spec gives it).
    """
    if det.kind != "ccd":
        raise HstcrError(f"{det.name}: synthetic darks here are CCD only (IR ramps are "
                         "simulated elsewhere)")
    suffix = (spec.science_suffix or det.science_suffixes[0]).lower()
    allowed = _SUFFIXES[det.id]
    if suffix not in allowed:
        raise HstcrError(f"{det.name}: cannot write a synthetic {suffix!r} product; "
                         f"choose one of {', '.join(allowed)}")
    bunit = (spec.bunit or det.bunit).upper()
    if bunit not in ("ELECTRONS", "COUNTS"):
        raise HstcrError(f"{det.name}: BUNIT {bunit!r} not supported (ELECTRONS or COUNTS)")
    exptime = float(det.typical_exptime_s if spec.exptime_s is None else spec.exptime_s)
    if exptime <= 0:
        raise HstcrError(f"{det.name}: exposure time must be > 0, got {exptime}")
    when = as_utc(spec.date) if spec.date is not None else default_date(det, seed)
    conditions = resolve_conditions(spec.conditions, det, when, spec.condition_overrides)
    if spec.flashdur_s is not None or conditions.flash_e is None:
        flashdur = float(spec.flashdur_s or 0.0)
        if conditions.flash_e is not None:
            # FLASHDUR given: it sets the level
            conditions = dataclasses.replace(conditions, flash_e=None)
    else:
        flashdur = float(conditions.flash_e) / FLASH_E_PER_S
    if flashdur and not det.flashdur_applies:
        raise HstcrError(f"{det.name}: FLASHDUR does not apply to this detector (no post-flash)")
    if suffix == "flc" and conditions.cte_fraction > 0:
        conditions = dataclasses.replace(
            conditions, cte_fraction=conditions.cte_fraction * FLC_CTE_RESIDUAL)
    integration_s, darktime, rule = integration_time(det, exptime, flashdur)
    expstart = mjd_from_datetime(when)
    return {
        # processing date a day after the observation keeps the files deterministic
        "written": (when + dt.timedelta(days=1)).date().isoformat(),
        "gain": float(det.typical_gain),
        "exptime": exptime, "darktime": darktime, "flashdur": flashdur,
        "expstart": expstart, "expend": expstart + (exptime + flashdur) / SECONDS_PER_DAY,
        "date_obs_text": date_obs_text(det, when), "time_obs": when.strftime("%H:%M:%S"),
        "science_suffix": suffix, "bunit": bunit,
    }, (when, integration_s, rule), conditions


def _exposure_truth(det: Detector, spec: DarkSpec, facts: dict, chips: list[ChipTruth],
                    elements: dict, *, dataset: str, seed: int, fixed_seed: int, group: str,
                    when: dt.datetime, integration_s: float, rule: str) -> dict:
    """The exposure-level truth (JSON-serialisable) recorded with a dark and in the manifest."""
    return {
        "dataset": dataset, "instrument": det.id, "seed": seed,
        "fixed_pattern_seed": fixed_seed, "group": group,
        "date_obs": when.isoformat(), "expstart_mjd": facts["expstart"],
        "expend_mjd": facts["expend"],
        "exptime_s": facts["exptime"], "darktime_s": facts["darktime"],
        "flashdur_s": facts["flashdur"],
        "integration_time_s": integration_s, "integration_rule": rule,
        "cr_rate_per_s_cm2": float(spec.cr_rate_per_s_cm2), "gain": facts["gain"],
        "bunit": facts["bunit"],
        "science_suffix": facts["science_suffix"],
        "flag_cosmic_rays": bool(spec.flag_cosmic_rays),
        "conditions": chips[0].conditions.as_dict() if chips else None,
        "area_cm2": float(sum(c.area_cm2 for c in chips)),
        "n_cr": int(sum(len(c.cosmic_rays) for c in chips)),
        "chips": [
            {"chip": layout.name, "chip_index": i, "ccdchip": layout.ccdchip,
             "n_cr": len(c.cosmic_rays), "area_cm2": c.area_cm2,
             "n_hot": int(c.hot_pixels.sum()), "n_unflagged_hot": int(
                 c.unflagged_hot_pixels.sum()),
             "bad_columns": [int(x) for x in c.bad_columns],
             "background_e": c.background_e, "read_noise_e": c.read_noise_e,
             "flash_e": c.flash_e, "amp_offsets_e": list(c.amp_offsets_e),
             "n_telegraph": int(0 if c.telegraph_pixels is None else c.telegraph_pixels.sum()),
             "n_saturated_cr": int(c.cosmic_rays.is_saturated.sum()),
             "n_heavy_ion": int(c.cosmic_rays.is_heavy_ion.sum())}
            for i, (layout, c) in enumerate(zip(det.chips, chips))
        ],
        "orbital_elements": elements,
    }


def write_files(synthetic: SyntheticDark, out_dir) -> dict[str, Path]:
    """Write a simulated dark's FITS files into ``out_dir``; fills and returns its ``paths``."""
    synthetic.paths = write_products(synthetic.detector, synthetic.dataset, synthetic.chips,
                                     synthetic.facts,
                                     synthetic.exposure["orbital_elements"], out_dir)
    return synthetic.paths


def write_dark(detector_id, out_dir, spec: DarkSpec | None = None, *, seed: int,
               dataset: str | None = None, fixed_pattern_seed: int | None = None,
               group: str | None = None, **overrides) -> SyntheticDark:
    """Simulate one dark (:func:`simulate_dark`, same parameters) and write it as MAST-shaped
    FITS files ``<dataset>_<suffix>.fits`` in ``out_dir`` (created if missing).

    Returns
    -------
    SyntheticDark
    """
    synthetic = simulate_dark(detector_id, spec, seed=seed, dataset=dataset,
                              fixed_pattern_seed=fixed_pattern_seed, group=group, **overrides)
    write_files(synthetic, out_dir)
    return synthetic
