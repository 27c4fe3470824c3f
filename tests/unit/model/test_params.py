"""The parameter objects: one home per default, conversion of CLI values, refusals, hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from hstcr_common.model import (
    METHODS,
    CountParams,
    DqParams,
    HstcrError,
    LabelParams,
    RampParams,
    StackParams,
    ThresholdParams,
    params_hash,
    parse_params,
)

#: what the lake's ``params`` column held for each method's defaults before the objects
STORED_BEFORE = {
    # (+ reject_sharp_clusters, new with issue 13, off by default: the same detection;
    # + spill_correction, new in 0.3.0, on: the energies gain the fitted edge spill, the
    # request's hash is unchanged and the software version re-processes old lakes)
    "threshold": dict(seed_sigma=6.0, grow_sigma=2.0, hot_neighbour_fraction=0.25,
                      hot_neighbour_sigma=3.0, reject_sharp_clusters=False, split=True, min_pixels=2,
                      split_min_dip_sigma=5.0, split_max_saddle_fraction=0.5, halo_radius=1,
                      halo_source_sigma=10.0, halo_connectivity=4, spill_correction=True,
                      correct_coincidences=True, searched_area="detectable"),
    "dq": dict(split=True, min_pixels=2, split_min_dip_sigma=5.0,
               split_max_saddle_fraction=0.5, halo_radius=1, halo_source_sigma=10.0,
               halo_connectivity=4, spill_correction=True, correct_coincidences=True,
               searched_area="detectable"),
    "stack": dict(sigmas=[6.0, 5.0, 4.0], grow_radius=1, grow_sigma=2.0, scale_noise=0.0,
                  split=True, min_pixels=2, split_min_dip_sigma=5.0,
                  split_max_saddle_fraction=0.5, halo_radius=1, halo_source_sigma=10.0,
                  halo_connectivity=4, spill_correction=True, correct_coincidences=True,
                  searched_area="detectable"),
    "ramp": dict(threshold_sigma=5.0, grow_sigma=2.0, calibrate_noise=True,
                 skip_first_difference=False),
    # new with issue 13 (no lake held it before): what it records from now on
    "auto": dict(min_group_size=2, max_group_size=30, exptime_tolerance=0.02,
                 seed_sigma=6.0, grow_sigma=2.0, hot_neighbour_fraction=0.25,
                 hot_neighbour_sigma=3.0, clip_sigma=4.0, telegraph_sigma=5.0, strip_rows=0,
                 pixel_significance=3.0, split=True, min_pixels=2, split_min_dip_sigma=5.0,
                 split_max_saddle_fraction=0.5, halo_radius=1, halo_source_sigma=10.0,
                 halo_connectivity=4, spill_correction=True, correct_coincidences=True,
                 searched_area="detectable"),
}


def _old_hash(method, params):
    """``lake.rows.params_hash`` as it was: the key existing lakes hold."""
    text = json.dumps({"method": method, "params": params or {}}, sort_keys=True,
                      separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("method", METHODS)
def test_defaults_store_what_the_lake_stored_and_hash_as_before(method):
    params = parse_params(method)
    assert params.method == method
    assert json.dumps(params.to_dict(), sort_keys=True) == json.dumps(
        STORED_BEFORE[method], sort_keys=True)
    assert params_hash(params) == _old_hash(method, None) == params_hash(method, None)
    assert params_hash(method, {"seed_sigma": 7}) == _old_hash(method, {"seed_sigma": 7})


def test_values_are_converted_to_the_field_types():
    p = parse_params("threshold", {"seed_sigma": "7", "min_pixels": "3", "split": "false",
                                   "halo_radius": 0, "searched_area": "unmasked"})
    assert p.seed_sigma == 7.0 and isinstance(p.seed_sigma, float)
    assert p.label.min_pixels == 3 and p.label.split is False and p.label.halo_radius == 0
    assert p.count.searched_area == "unmasked"
    assert parse_params("stack", {"sigmas": "6,5,4"}).sigmas == (6.0, 5.0, 4.0)
    assert parse_params("stack", {"sigmas": [7, 5]}).sigmas == (7.0, 5.0)
    assert parse_params("ramp", {"calibrate_noise": "no"}).calibrate_noise is False
    assert parse_params("ramp", {"skip_first_difference": "true"}).skip_first_difference
    # a direct construction is normalised the same way: equal requests, equal objects
    assert ThresholdParams(seed_sigma=7) == parse_params("threshold", {"seed_sigma": "7.0"})
    assert params_hash(ThresholdParams(seed_sigma=7)) != params_hash(ThresholdParams())


def test_unknown_names_and_methods_are_refused_with_the_allowed_names():
    with pytest.raises(HstcrError, match=r"unknown parameter 'seed' for method 'threshold'; "
                                         r"allowed: seed_sigma, grow_sigma, .*searched_area"):
        parse_params("threshold", {"seed": 3})
    with pytest.raises(HstcrError, match="unknown parameter 'seed_sigma' for method 'dq'"):
        parse_params("dq", {"seed_sigma": 3})
    with pytest.raises(HstcrError, match="unknown detection method 'magic'"):
        parse_params("magic")


@pytest.mark.parametrize("method, values, problem", [
    ("threshold", {"seed_sigma": "six"}, "'seed_sigma' must be a number"),
    ("threshold", {"seed_sigma": 0}, "'seed_sigma' must be > 0"),
    ("threshold", {"min_pixels": 0}, "'min_pixels' must be >= 1"),
    ("threshold", {"min_pixels": 2.5}, "'min_pixels' must be a whole number"),
    ("threshold", {"split": "maybe"}, "'split' must be true or false"),
    ("threshold", {"halo_connectivity": 6}, "'halo_connectivity' must be 4 or 8"),
    ("dq", {"searched_area": "everything"}, "'searched_area' must be 'detectable' or"),
    ("stack", {"sigmas": "6,-1"}, "'sigmas' must be > 0"),
    ("ramp", {"threshold_sigma": "nan"}, "'threshold_sigma' must be a finite number"),
])
def test_bad_values_are_refused_naming_parameter_and_method(method, values, problem):
    with pytest.raises(HstcrError, match=f"method '{method}': parameter {problem}"):
        parse_params(method, values)


def test_objects_are_frozen():
    p = parse_params("threshold")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.seed_sigma = 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.label.halo_radius = 0


def test_defaults_have_one_home():
    """Every CCD method labels and counts with the same defaults, LabelParams()'s."""
    for cls in (ThresholdParams, DqParams, StackParams):
        assert cls().label == LabelParams() and cls().count == CountParams()
    assert set(ThresholdParams.names()) >= set(LabelParams.names()) | set(CountParams.names())
    assert RampParams().to_dict() == STORED_BEFORE["ramp"]


def test_detection_records_the_parameter_object(tmp_path):
    import datetime as dt

    from hstcr_common.detect import find_cosmic_rays
    from hstcr_common.instruments import get_detector
    from hstcr_common.model import Chip, Dark
    from hstcr_common.synthetic import simulate_chip

    det = get_detector("stis_ccd")
    t = simulate_chip(det, shape=(64, 64), rng=2)
    dark = Dark(dataset="o1", detector=det,
                chips=[Chip("C0", 1, science=t.science_e, dq=t.dq, gain=det.typical_gain,
                            read_noise_e=t.read_noise_e)],
                date_obs=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
                expstart_mjd=58849.0, expend_mjd=58849.02, exptime_s=t.exposure_s)
    params = ThresholdParams(seed_sigma=7.0)
    cat, summary = find_cosmic_rays(dark, params)
    old_cat, old_summary = find_cosmic_rays(dark, method="threshold", seed_sigma="7")
    assert summary.params == params.to_dict() == old_summary.params
    assert len(cat) == len(old_cat)
