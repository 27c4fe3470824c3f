"""Find the cosmic rays of one dark: the entry point that picks the method.

Methods (``params.method``)
---------------------------
``auto``
    The default.  A group of darks of one set-up: each dark against the group's reference
    (:func:`hstcr_common.detect.find_cosmic_rays_reference`, planned by ``hstcr run``).
    One dark alone, as here: ``threshold`` at its defaults, and the summary says why.
``threshold``
    One dark alone: hysteresis thresholding (:mod:`.threshold`).
``dq``
    Pixels carrying the product's cosmic-ray DQ bit, minus bad pixels (and minus unflagged
    hot pixels, found as in ``threshold``, so none ends up in a footprint or halo)
    (:mod:`.dq`).
``stack``
    A group of darks: :func:`hstcr_common.detect.find_cosmic_rays_stack`.
``ramp``
    IR ramps: :func:`hstcr_common.detect.find_ir_cosmic_rays`.

After detection every cosmic ray is labelled, split and given its diffusion halo, measured
and counted (:mod:`.catalogue`).  The halo: a ``halo_radius``-pixel ring of free side
(4-connected) neighbours around its pixels above ``halo_source_sigma``
(:func:`hstcr_common.measure.add_halo`), so the faint diffusion halo below the grow threshold
is not left out of its energy (the ring adds zero-mean noise, not bias).  Without it energies
come out ~1.5% low.  What the edge still spills into the free pixels around the footprint is
added from a fit over the chip's isolated cosmic rays (:func:`hstcr_common.measure.spill_correction`:
~0.4% of the charge, more for compact hits and behind them on CTE-trailed chips).  The
background removed from the energies is the chip's *mean* away from
detections (:func:`hstcr_common.measure.background_mean`), not the median used for the
thresholds, which sits a few tenths of an electron high (Poisson skew, faint cosmic-ray
charge) and made energies ~0.4% low.  On the synthetic truth (Fano-noise charge) the median
``|energy/true - 1|`` above 300 e- is ACS/WFC 1.4%, WFC3/UVIS 1.2%, ACS/HRC 1.7%, STIS 2.0%,
WFPC2 2.2%, with a median bias under 0.2%: what is left is pixel noise (read noise + dark)
over the ~12 pixels of a cosmic ray, plus the Fano noise of the charge itself.
"""

from __future__ import annotations

import dataclasses

from ..instruments import Detector
from ..model import DEFAULT_METHOD, Chip, CosmicRayCatalog, Dark, DetectionSummary
from ..model import DqParams, HstcrError, MethodParams, ThresholdParams, parse_params
from .catalogue import ChipDetection, catalog_and_summary
from .dq import require_cr_flags
from .ramp import find_ir_cosmic_rays
from .single import dq_chip, threshold_chip

#: what ``auto`` does with a dark that has no group of its set-up
#: (the strongest single-dark hot-pixel rejection: isolated hot pixels, pairs, clusters and
#: their CTE trails, at a cost of ~2.5 % of the faint compact cosmic rays)
NO_GROUP_PARAMS = ThresholdParams(reject_sharp_clusters=True)
NO_GROUP_REASON = ("no group of the same set-up: threshold with hot-pixel rejection "
                   "(isolated, pairs, clusters, CTE trails)")


def _detect_chip(chip: Chip, detector: Detector,
                 params: ThresholdParams | DqParams) -> ChipDetection:
    """One chip's detection (threshold or dq) against its local background (:mod:`.single`)."""
    if isinstance(params, ThresholdParams):
        return threshold_chip(chip, detector, params)
    return dq_chip(chip, detector)


def _params_of(dark: Dark, params: MethodParams | str | None, method: str | None,
               values: dict) -> MethodParams:
    """The parameter object of a call, built from a method name and values if need be."""
    if params is not None and not isinstance(params, str):
        if method is not None or values:
            raise TypeError("find_cosmic_rays takes a parameter object or a method name "
                            "and values, not both")
        return params
    if isinstance(params, str) and method is not None and method != params:
        raise TypeError(f"find_cosmic_rays: method given twice ({params!r}, {method!r})")
    try:
        return parse_params(params or method or DEFAULT_METHOD, values)
    except HstcrError as exc:
        raise HstcrError(f"{dark.dataset}: {exc.problem}", stage="detect") from None


def find_cosmic_rays(dark: Dark, params: MethodParams | str | None = None, *,
                     method: str | None = None, **values: object) -> tuple[
                         CosmicRayCatalog, DetectionSummary]:
    """Detect, split, and measure the cosmic rays of one dark.

    Parameters
    ----------
    dark : Dark
    params : ThresholdParams, DqParams or RampParams, optional
        The method and every parameter (``stack`` needs a group:
        :func:`find_cosmic_rays_stack`; ``ramp`` is delegated to
        :func:`find_ir_cosmic_rays`).  None: the default method's defaults.
    method : str, optional
    **values
        Instead of ``params``: a method name (as ``params`` or ``method=``) and parameter
        values as the CLI or an event gives them, turned into the parameter object by
        :func:`hstcr_common.model.parse_params`.

    Returns
    -------
    catalog : CosmicRayCatalog
        ``chip_index`` indexes ``dark.chips``; ``cr_id`` 1..n over the dark.
    summary : DetectionSummary
        ``params`` is the parameter object's :meth:`to_dict` (every parameter, defaults
        included).
    """
    params = _params_of(dark, params, method, values)
    if params.method == "auto" and dark.detector.kind == "ccd":
        # one dark has no group to build a reference from: the single-dark method
        # threshold's own defaults, with the labelling and counting asked for
        catalog, summary = find_cosmic_rays(dark, dataclasses.replace(
            NO_GROUP_PARAMS, label=params.label, count=params.count))
        summary.method_reason = NO_GROUP_REASON
        return catalog, summary
    if params.method in ("ramp", "auto"):
        return find_ir_cosmic_rays(dark, params if params.method == "ramp" else None)
    if dark.detector.kind != "ccd":
        raise HstcrError(f"{dark.dataset}: method {params.method!r} is for CCDs; "
                         f"{dark.detector.name} darks use 'ramp'", stage="detect")
    if params.method == "stack":
        raise HstcrError(f"{dark.dataset}: the stack method needs a group of darks "
                         "(find_cosmic_rays_stack)", stage="detect")
    # a chip at a time: each is detected, labelled and measured before the next is detected
    chips = (_detect_chip(chip, dark.detector, params) for chip in dark.chips)
    if params.method == "dq":
        chips = list(chips)     # the cosmic-ray flags are checked over every chip first
        require_cr_flags(dark, [c.mask for c in chips])
    return catalog_and_summary(dark, params.method, chips, params.label, params.count,
                               params.to_dict(), [])
