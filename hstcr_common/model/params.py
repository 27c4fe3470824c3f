"""Every detection parameter and its default, in one frozen object per method.

A method's parameters are one immutable value (the idea of stcal's ``JumpData``): built once
from CLI or event values by :func:`parse_params`, checked when built, passed whole to the
detection functions, recorded in the lake (:meth:`to_dict`) and hashed for resumability
(:func:`params_hash`).  The dataclasses below are the only place a default is written.

==========  =========================================================================
method      object
==========  =========================================================================
``auto``    :class:`AutoParams` (grouping, :class:`ReferenceParams`, label, count)
``dq``      :class:`DqParams` (labelling and counting only)
threshold   :class:`ThresholdParams`
``stack``   :class:`StackParams`
``ramp``    :class:`RampParams` (IR ramps: jumps are labelled per read difference)
==========  =========================================================================

Parameter names are flat: ``parse_params("threshold", {"seed_sigma": "7", "halo_radius":
"0"})`` routes ``halo_radius`` to the method's :class:`LabelParams`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Union

from .constants import METHODS, truthy
from .errors import HstcrError

#: words :func:`parse_params` reads as False (the True ones are :func:`truthy`'s)
_FALSE_WORDS = ("0", "false", "no", "off")
#: rules of :func:`hstcr_common.detect.searched_pixel_count`
SEARCHED_AREA_RULES = ("detectable", "unmasked")


def _bad(name: str, rule: str, value: object) -> HstcrError:
    return HstcrError(f"parameter {name!r} must be {rule}, got {value!r}", stage="detect")


def _to_float(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise _bad(name, "a number", value)
    try:
        out = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise _bad(name, "a number", value) from None
    if not math.isfinite(out):
        raise _bad(name, "a finite number", value)
    return out


def _to_int(name: str, value: object) -> int:
    number = _to_float(name, value)
    if number != int(number):
        raise _bad(name, "a whole number", value)
    return int(number)


def _to_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        if truthy(value):
            return True
        if value.strip().lower() in _FALSE_WORDS:
            return False
    raise _bad(name, "true or false", value)


def _to_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise _bad(name, "a string", value)
    return value.strip()


def _to_floats(name: str, value: object) -> tuple[float, ...]:
    if isinstance(value, str):
        value = [v for v in value.replace(" ", "").split(",") if v]
    elif not isinstance(value, (list, tuple)):
        value = [value]
    out = tuple(_to_float(name, v) for v in value)
    if not out:
        raise _bad(name, "one or more numbers", value)
    return out


def _converter(default: object):
    """The conversion of a field, from the type of its default."""
    if isinstance(default, bool):
        return _to_bool
    if isinstance(default, int):
        return _to_int
    if isinstance(default, float):
        return _to_float
    if isinstance(default, str):
        return _to_str
    if isinstance(default, tuple):
        return _to_floats
    raise TypeError(f"no conversion for a default of type {type(default).__name__}")


def _check(ok: bool, name: str, rule: str, value: object) -> None:
    if not ok:
        raise _bad(name, rule, value)


class _Params:
    """What every parameter object shares: normalised fields, flat names, JSON form."""

    def __post_init__(self) -> None:
        # values given directly (7 for 7.0, "true", [6, 5]) take the field's type, so two
        # equal requests are equal objects with equal JSON and hash
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, _Params):
                continue
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            if isinstance(default, _Params):
                raise _bad(f.name, f"a {type(default).__name__}", value)
            object.__setattr__(self, f.name, _converter(default)(f.name, value))
        self._validate()

    def _validate(self) -> None:
        """Range checks of the fields (each class states its own)."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Flat parameter names, nested groups' included, in declaration order."""
        out = []
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            out += list(default.names()) if isinstance(default, _Params) else [f.name]
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """Every parameter by flat name, JSON-able (tuples as lists): the lake's ``params``."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, _Params):
                out.update(value.to_dict())
            else:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class LabelParams(_Params):
    """How a detection mask becomes labelled cosmic rays (CCD methods).

    Attributes
    ----------
    split : bool
        Split 8-connected components holding several significant local maxima (merged
        cosmic rays; :func:`hstcr_common.measure.split_components`).
    min_pixels : int
        Components of the detection mask with fewer pixels are dropped, before splitting and
        before any halo (pixels, >= 1).  2: a single pixel is a hot pixel or noise, never a
        diffused cosmic ray.  On the synthetic truth (ACS/WFC, STIS, WFPC2) 1, 2 and 3 (the
        2021 study's choice) give the same completeness, purity and rate within 0.1%, while
        4 loses small WFPC2/STIS cosmic rays (rate -1.5%).
    split_min_dip_sigma : float
        A maximum stands alone only if it is this many pixel-noise sigmas above the saddle
        to its higher neighbour (>= 0).
    split_max_saddle_fraction : float
        ... and that saddle is at most this fraction of its peak (0 < f <= 1): a real gap
        between two particles, not a fluctuation along one track.
    halo_radius : int
        Rings of unlabelled neighbours given to every cosmic ray after splitting (pixels,
        >= 0; :func:`hstcr_common.measure.add_halo`): the faint diffusion halo below any
        threshold still holds its charge.  Without it energies come out ~1.5% low.
    halo_source_sigma : float
        The first ring grows only from pixels this many noise sigmas above the background
        (>= 0; 0: from every pixel).  A pixel 10 sigma up spills well under one sigma of
        halo into each neighbour, so rings around fainter pixels add noise, not charge: on
        the synthetic truth 10 cuts the median energy error by ~15% (ACS/WFC 1.73% ->
        1.54%, STIS 2.6% -> 2.2%), while 40 starts to lose halo charge.
    halo_connectivity : {4, 8}
        Neighbours a ring reaches.  4: the side neighbours, which hold most of the diffused
        charge; the diagonal ones add more noise than charge (median energy error on the
        synthetic truth: STIS 2.14% -> 2.00%, WFPC2 2.39% -> 2.22%, ACS/WFC 1.53% -> 1.42%).
    spill_correction : bool
        Add to each energy the charge its edge pixels spill into the free pixels around the
        footprint, with the spill per side neighbour fitted on the chip's isolated cosmic
        rays (:func:`hstcr_common.measure.spill_correction`).  Off, energies are the sums
        of the footprint pixels (``pixels.e``), a few tenths of a percent low in the median
        and ~5% low for compact cosmic rays.
    """

    split: bool = True
    min_pixels: int = 2
    split_min_dip_sigma: float = 5.0
    split_max_saddle_fraction: float = 0.5
    halo_radius: int = 1
    halo_source_sigma: float = 10.0
    halo_connectivity: int = 4
    spill_correction: bool = True

    def _validate(self) -> None:
        _check(self.min_pixels >= 1, "min_pixels", ">= 1", self.min_pixels)
        _check(self.split_min_dip_sigma >= 0, "split_min_dip_sigma", ">= 0",
               self.split_min_dip_sigma)
        _check(0 < self.split_max_saddle_fraction <= 1, "split_max_saddle_fraction",
               "in (0, 1]", self.split_max_saddle_fraction)
        _check(self.halo_radius >= 0, "halo_radius", ">= 0", self.halo_radius)
        _check(self.halo_source_sigma >= 0, "halo_source_sigma", ">= 0",
               self.halo_source_sigma)
        _check(self.halo_connectivity in (4, 8), "halo_connectivity", "4 or 8",
               self.halo_connectivity)


@dataclass(frozen=True)
class CountParams(_Params):
    """How cosmic rays are counted and over which area (CCD methods).

    Attributes
    ----------
    correct_coincidences : bool
        Estimate the cosmic rays hidden in unsplit merges with the Boolean model of
        :func:`hstcr_common.detect.coincidence_correction` (``n_cr_corrected``).
    searched_area : {"detectable", "unmasked"}
        The rate's area (:func:`hstcr_common.detect.searched_pixel_count`): ``detectable``
        also counts a bad pixel with an unmasked 8-neighbour (a cosmic ray landing there is
        still seen); ``unmasked`` counts only pixels not masked.
    """

    correct_coincidences: bool = True
    searched_area: str = "detectable"

    def _validate(self) -> None:
        _check(self.searched_area in SEARCHED_AREA_RULES, "searched_area",
               " or ".join(repr(r) for r in SEARCHED_AREA_RULES), self.searched_area)


@dataclass(frozen=True)
class DqParams(_Params):
    """Method ``dq``: the product's cosmic-ray DQ bit, labelled and counted.

    Unflagged hot pixels inside flagged footprints are masked with the hot-pixel test of
    :class:`ThresholdParams` at its defaults.

    Attributes
    ----------
    label : LabelParams
    count : CountParams
    """

    method: ClassVar[str] = "dq"
    label: LabelParams = field(default_factory=LabelParams)
    count: CountParams = field(default_factory=CountParams)


@dataclass(frozen=True)
class ThresholdParams(_Params):
    """Method ``threshold``: hysteresis thresholding of one dark.

    Attributes
    ----------
    seed_sigma : float
        A cosmic ray needs at least one pixel this many pixel-noise sigmas above the chip
        background (> 0).
    grow_sigma : float
        Its 8-connected pixels down to this many sigmas belong to it (> 0).
    hot_neighbour_fraction : float
        Unflagged hot-pixel test (:func:`hstcr_common.detect.find_spikes`): a pixel above
        ``seed_sigma`` is a hot pixel when its eight neighbours together hold less than this
        fraction of its charge (>= 0); charge diffusion always puts about as much of a
        cosmic ray's charge around its brightest pixel as in it.
    hot_neighbour_sigma : float
        ... or less than this many noise sigmas x sqrt(8) (>= 0), for faint hot pixels.
    reject_sharp_clusters : bool
        Also reject small components (pairs, clusters of hot pixels, their CTE trails) whose
        edge holds no diffused charge (:func:`hstcr_common.detect.hotpixels.sharp_components`).
        It lifts purity on darks with many unflagged hot pixels, but also removes faint
        compact cosmic rays landing on a pixel corner, which matter most on the
        small-charge detectors: on realistic STIS/CCD darks it costs 2.5 % of the rate
        (1.148 against 1.177 CR/s/cm2), so an explicit ``threshold`` leaves it off and the
        default method's no-group fallback (late-mission darks alone) turns it on.
    label : LabelParams
    count : CountParams
    """

    method: ClassVar[str] = "threshold"
    seed_sigma: float = 6.0
    grow_sigma: float = 2.0
    hot_neighbour_fraction: float = 0.25
    hot_neighbour_sigma: float = 3.0
    reject_sharp_clusters: bool = False
    label: LabelParams = field(default_factory=LabelParams)
    count: CountParams = field(default_factory=CountParams)

    def _validate(self) -> None:
        _check(self.seed_sigma > 0, "seed_sigma", "> 0", self.seed_sigma)
        _check(self.grow_sigma > 0, "grow_sigma", "> 0", self.grow_sigma)
        _check(self.hot_neighbour_fraction >= 0, "hot_neighbour_fraction", ">= 0",
               self.hot_neighbour_fraction)
        _check(self.hot_neighbour_sigma >= 0, "hot_neighbour_sigma", ">= 0",
               self.hot_neighbour_sigma)


@dataclass(frozen=True)
class StackParams(_Params):
    """Method ``stack``: crrej-style rejection across a group of darks of one set-up.

    Attributes
    ----------
    sigmas : tuple of float
        Rejection thresholds against the per-pixel reference (noise sigmas, each > 0), one
        iteration each; (6, 5, 4) as the ACS/STIS pipelines.  From a string: ``"6,5,4"``.
    grow_radius : int
        Neighbours of a hit within this radius (pixels, >= 0) are hits too when above
        ``grow_sigma``.
    grow_sigma : float
        Threshold of those neighbours (noise sigmas, > 0).
    scale_noise : float
        Extra noise proportional to the reference (crrej's ``scalense``), fraction (>= 0).
    label : LabelParams
    count : CountParams
    """

    method: ClassVar[str] = "stack"
    sigmas: tuple[float, ...] = (6.0, 5.0, 4.0)
    grow_radius: int = 1
    grow_sigma: float = 2.0
    scale_noise: float = 0.0
    label: LabelParams = field(default_factory=LabelParams)
    count: CountParams = field(default_factory=CountParams)

    def _validate(self) -> None:
        _check(all(s > 0 for s in self.sigmas), "sigmas", "> 0", self.sigmas)
        _check(self.grow_radius >= 0, "grow_radius", ">= 0", self.grow_radius)
        _check(self.grow_sigma > 0, "grow_sigma", "> 0", self.grow_sigma)
        _check(self.scale_noise >= 0, "scale_noise", ">= 0", self.scale_noise)


@dataclass(frozen=True)
class ReferenceParams(_Params):
    """Detection of one dark against its group's reference (:mod:`hstcr_common.detect.reference`).

    Attributes
    ----------
    seed_sigma : float
        A cosmic ray needs a pixel this many sigmas above the reference, the sigma being the
        pixel's own noise (read noise, Poisson of background + reference, and the
        reference's uncertainty) (> 0).
    grow_sigma : float
        Its 8-connected pixels down to this many sigmas belong to it (> 0).
    hot_neighbour_fraction, hot_neighbour_sigma : float
        Spike test on the residual (:func:`hstcr_common.detect.find_spikes`): a seed pixel
        whose neighbours hold less than this fraction of its excess (or this many noise
        sigmas x sqrt(8)) is a new hot pixel or a telegraph pixel, not a cosmic ray (>= 0).
    clip_sigma : float
        Building the reference, a dark's pixel further than this many sigmas from the
        group's per-pixel median (minimum for 2 darks) is left out of the reference (a
        cosmic ray in that dark) (> 0).
    telegraph_sigma : float
        A pixel whose spread between the darks (MAD x 1.4826) exceeds this many noise sigmas
        is a telegraph pixel: it never seeds a cosmic ray, only joins one grown from beside it
        (> 0; groups of >= 4 darks).
    strip_rows : int
        Rows read at a time from every dark while building the reference (>= 0; 0: as many
        as fit 32 MB of the group's float32 rows).  Does not change the result.
    pixel_significance : float
        A pixel's own reference value (the other darks' mean) is used only where it departs
        from the reference's smooth map by more than this many of its own noise sigmas (a hot,
        warm or cold pixel, a CTE tail); elsewhere the smooth map is used, which has no noise
        of its own.  Subtracting the mean of 2 other darks everywhere adds half a dark's
        noise variance to every pixel of every footprint (>= 0; 0: always the pixel's own).
    """

    seed_sigma: float = 6.0
    grow_sigma: float = 2.0
    hot_neighbour_fraction: float = 0.25
    hot_neighbour_sigma: float = 3.0
    clip_sigma: float = 4.0
    telegraph_sigma: float = 5.0
    strip_rows: int = 0
    pixel_significance: float = 3.0

    def _validate(self) -> None:
        for name in ("seed_sigma", "grow_sigma", "clip_sigma", "telegraph_sigma"):
            _check(getattr(self, name) > 0, name, "> 0", getattr(self, name))
        for name in ("hot_neighbour_fraction", "hot_neighbour_sigma", "strip_rows",
                     "pixel_significance"):
            _check(getattr(self, name) >= 0, name, ">= 0", getattr(self, name))


@dataclass(frozen=True)
class AutoParams(_Params):
    """Method ``auto`` (the default): darks grouped by set-up, each searched against its group's
    reference; a dark with no group by ``threshold`` at its defaults.

    Groups (:func:`hstcr_common.detect.plan_groups`) share detector, CCDAMP, gain, FLASHDUR,
    EXPTIME within ``exptime_tolerance`` and time (anneal cycle when the items carry one,
    else calendar month), as the 2021 study's CR-rejection groups did.

    Attributes
    ----------
    min_group_size : int
        Fewest darks that make a reference (>= 2); smaller groups fall back to ``threshold``.
    max_group_size : int
        Larger groups are split in time order into near-equal groups (>= min_group_size).
    exptime_tolerance : float
        EXPTIMEs within this fraction of each other group together (>= 0).
    reference : ReferenceParams
    label : LabelParams
    count : CountParams
    """

    method: ClassVar[str] = "auto"
    min_group_size: int = 2
    max_group_size: int = 30
    exptime_tolerance: float = 0.02
    reference: ReferenceParams = field(default_factory=ReferenceParams)
    label: LabelParams = field(default_factory=LabelParams)
    count: CountParams = field(default_factory=CountParams)

    def _validate(self) -> None:
        _check(self.min_group_size >= 2, "min_group_size", ">= 2", self.min_group_size)
        _check(self.max_group_size >= self.min_group_size, "max_group_size",
               ">= min_group_size", self.max_group_size)
        _check(self.exptime_tolerance >= 0, "exptime_tolerance", ">= 0", self.exptime_tolerance)


@dataclass(frozen=True)
class RampParams(_Params):
    """Method ``ramp``: jumps between the reads of an IR ramp.

    Attributes
    ----------
    threshold_sigma : float
        Seed threshold on a read difference's excess over the pixel's own accumulation, in
        units of the difference's modelled sigma (> 0).
    grow_sigma : float
        Pixels of the same difference touching a seed join it down to this (> 0).
    calibrate_noise : bool
        Rescale the noise model by the measured / expected robust scatter of the residuals,
        so a header read noise that is off does not change the false-alarm rate.
    skip_first_difference : bool
        Do not search the zeroth-to-first-read difference (detectors with a reset anomaly).
    """

    method: ClassVar[str] = "ramp"
    threshold_sigma: float = 5.0
    grow_sigma: float = 2.0
    calibrate_noise: bool = True
    skip_first_difference: bool = False

    def _validate(self) -> None:
        _check(self.threshold_sigma > 0, "threshold_sigma", "> 0", self.threshold_sigma)
        _check(self.grow_sigma > 0, "grow_sigma", "> 0", self.grow_sigma)


#: the parameters of any method
MethodParams = Union[AutoParams, DqParams, ThresholdParams, StackParams, RampParams]

#: method name -> its parameter class
PARAMS_BY_METHOD: dict[str, type] = {
    cls.method: cls for cls in (AutoParams, ThresholdParams, DqParams, StackParams, RampParams)}
assert tuple(sorted(PARAMS_BY_METHOD)) == tuple(sorted(METHODS))


def _build(cls: type, values: dict[str, object]) -> _Params:
    """``cls`` from flat values: a nested group takes the names it declares."""
    kwargs: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if isinstance(default, _Params):
            own = {k: values[k] for k in type(default).names() if k in values}
            kwargs[f.name] = _build(type(default), own)
        elif f.name in values:
            kwargs[f.name] = values[f.name]
    return cls(**kwargs)


def parse_params(method: str, values: Mapping[str, object] | None = None) -> MethodParams:
    """The parameter object of ``method`` from CLI or event values.

    Parameters
    ----------
    method : str
        One of :data:`hstcr_common.model.METHODS`.
    values : mapping, optional
        Flat parameter names to values, typed (``7``, ``[6, 5, 4]``, ``True``) or strings
        (``"7"``, ``"6,5,4"``, ``"true"``); each is converted to its field's type.  Names
        not given keep their defaults.

    Returns
    -------
    AutoParams, DqParams, ThresholdParams, StackParams or RampParams

    Raises
    ------
    HstcrError
        An unknown method, an unknown parameter name, or a value of the wrong type or out
        of range; the message names the parameter, the method and its allowed names.
    """
    try:
        cls = PARAMS_BY_METHOD[method]
    except (KeyError, TypeError):
        raise HstcrError(f"unknown detection method {method!r}; known: {', '.join(METHODS)}",
                         stage="detect") from None
    values = dict(values or {})
    allowed = cls.names()
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise HstcrError(f"unknown parameter {', '.join(map(repr, unknown))} for method "
                         f"{method!r}; allowed: {', '.join(allowed)}", stage="detect")
    try:
        return _build(cls, values)
    except HstcrError as exc:
        raise HstcrError(f"method {method!r}: {exc.problem} (parameters of {method!r}: "
                         f"{', '.join(allowed)})", stage="detect") from None


def params_hash(params: MethodParams | str, values: Mapping[str, object] | None = None) -> str:
    """Resumability key of a detection request: a short hash of method + parameters.

    ``params_hash(params)`` hashes the method and the parameters that differ from their
    defaults, as JSON with sorted keys; ``params_hash(method, values)`` hashes the method
    and ``values`` as given (the form of callers holding the request's raw values).  Both
    give the same key for a default request (``{"method": ..., "params": {}}``), so lakes
    written before the parameter objects existed still resume.

    Returns
    -------
    str
        16 hex digits.
    """
    if isinstance(params, str):
        method, request = params, dict(values or {})
    else:
        if values:
            raise TypeError("params_hash(params) takes no values: they are in the object")
        method = params.method
        defaults = type(params)().to_dict()
        request = {k: v for k, v in params.to_dict().items() if v != defaults[k]}
    text = json.dumps({"method": method, "params": request}, sort_keys=True,
                      separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
