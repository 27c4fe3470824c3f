"""The truth table of synthetic darks: one row per injected cosmic ray, plus exposure truth.

CCD and IR darks share one format (:data:`TRUTH_SCHEMA`; IR rows add ``read_index`` and
``arrival_time_s``, :data:`RAMP_TRUTH_SCHEMA`).  ``energy_e`` is the charge deposited (what a
perfect detector would report, the sum of ``pixels``); ``energy_observed_e`` is what the frame
holds of it in those pixels after bleeding, CTE trails and the A/D limit (equal to
``energy_e`` in ideal darks and IR ramps), and ``saturated`` says a pixel of it is flagged
saturated, so scoring can report both.  The hot pixels of a CCD dark have a truth table of
their own (:data:`HOT_PIXEL_SCHEMA`, :func:`hot_pixel_table`), so a false detection can be
traced to the hot, clustered or telegraph pixel it came from.  A truth Parquet file carries the
exposure-level truth as JSON in its schema metadata (``hstcr.truth.exposures``);
:func:`exposures_table` flattens it to one row per chip.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..model import HstcrError
from ..instruments import Detector
from ..lake import PIXEL
from .chip import ChipTruth
from .ramp import RampTruth

TRUTH_SCHEMA = pa.schema([
    pa.field("dataset", pa.string(), nullable=False),
    pa.field("instrument", pa.string(), nullable=False),
    pa.field("chip", pa.string(), nullable=False),
    pa.field("chip_index", pa.int16(), nullable=False),
    pa.field("cr_id", pa.int32(), nullable=False),          # 1..n within the chip
    pa.field("energy_e", pa.float32(), nullable=False),     # sum of the pixels' e
    pa.field("n_pixels", pa.int32(), nullable=False),
    pa.field("x0", pa.float32(), nullable=False),
    pa.field("y0", pa.float32(), nullable=False),
    pa.field("x1", pa.float32(), nullable=False),
    pa.field("y1", pa.float32(), nullable=False),
    pa.field("energy_observed_e", pa.float32(), nullable=False),  # in the frame's pixels
    pa.field("saturated", pa.bool_(), nullable=False),
    pa.field("heavy_ion", pa.bool_(), nullable=False),
    pa.field("pixels", pa.list_(PIXEL), nullable=False),
])

HOT_PIXEL_SCHEMA = pa.schema([
    pa.field("dataset", pa.string(), nullable=False),
    pa.field("instrument", pa.string(), nullable=False),
    pa.field("chip", pa.string(), nullable=False),
    pa.field("chip_index", pa.int16(), nullable=False),
    pa.field("x", pa.int16(), nullable=False),
    pa.field("y", pa.int16(), nullable=False),
    pa.field("level_e", pa.float32(), nullable=False),       # expected extra e- in this dark
    pa.field("rate_e_per_s", pa.float32(), nullable=False),  # this dark's extra dark rate
    pa.field("flagged", pa.bool_(), nullable=False),         # hot-pixel bit set in DQ
    pa.field("telegraph", pa.bool_(), nullable=False),
    pa.field("telegraph_high", pa.bool_(), nullable=False),  # at its high level in this dark
    pa.field("cluster_id", pa.int32(), nullable=False),      # 0: isolated
])

TRUTH_EXPOSURES_SCHEMA = pa.schema([
    pa.field("dataset", pa.string(), nullable=False),
    pa.field("instrument", pa.string(), nullable=False),
    pa.field("chip", pa.string(), nullable=False),
    pa.field("chip_index", pa.int16(), nullable=False),
    pa.field("group", pa.string(), nullable=False),
    pa.field("seed", pa.int64(), nullable=False),
    pa.field("date_obs", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("exptime_s", pa.float64(), nullable=False),
    pa.field("integration_time_s", pa.float64(), nullable=False),
    pa.field("cr_rate_per_s_cm2", pa.float64(), nullable=False),
    pa.field("area_cm2", pa.float64(), nullable=False),
    pa.field("n_cr", pa.int32(), nullable=False),
    pa.field("n_hot", pa.int32(), nullable=False),
    pa.field("n_unflagged_hot", pa.int32(), nullable=False),
    pa.field("background_e", pa.float64(), nullable=False),
    pa.field("read_noise_e", pa.float64(), nullable=False),
    pa.field("gain", pa.float64(), nullable=False),
    pa.field("bunit", pa.string(), nullable=False),
])


RAMP_TRUTH_SCHEMA = (TRUTH_SCHEMA.append(pa.field("read_index", pa.int16(), nullable=False))
                     .append(pa.field("arrival_time_s", pa.float32(), nullable=False)))


def _pixel_lists(offsets: np.ndarray, x: np.ndarray, y: np.ndarray, e: np.ndarray) -> pa.Array:
    """The ``pixels`` column: one list of (x, y, e) per cosmic ray, from flat arrays + offsets."""
    pixels = pa.StructArray.from_arrays(
        [pa.array(x, pa.int16()), pa.array(y, pa.int16()), pa.array(e, pa.float32())],
        fields=list(PIXEL))
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32), pa.int32()), pixels)


def chip_truth_table(dataset: str, detector: Detector, chips: list[ChipTruth]) -> pa.Table:
    """One row per injected cosmic ray of every chip of a CCD dark (no loop over cosmic rays)."""
    cols = {name: [] for name in TRUTH_SCHEMA.names if name != "pixels"}
    offsets, xs, ys, es = [np.zeros(1, np.int64)], [], [], []
    shift = 0
    for index, (layout, chip) in enumerate(zip(detector.chips, chips)):
        cr = chip.cosmic_rays
        n = len(cr)
        cols["dataset"].append(np.full(n, dataset, dtype=object))
        cols["instrument"].append(np.full(n, detector.id, dtype=object))
        cols["chip"].append(np.full(n, layout.name, dtype=object))
        cols["chip_index"].append(np.full(n, index, dtype=np.int16))
        for name in ("cr_id", "energy_e", "n_pixels", "x0", "y0", "x1", "y1"):
            cols[name].append(getattr(cr, name))
        cols["energy_observed_e"].append(cr.observed_energy)
        cols["saturated"].append(cr.is_saturated)
        cols["heavy_ion"].append(cr.is_heavy_ion)
        offsets.append(cr.pixel_offsets[1:] + shift)
        shift += int(cr.pixel_offsets[-1])
        xs.append(cr.pixel_x)
        ys.append(cr.pixel_y)
        es.append(cr.pixel_e)
    pixel_lists = _pixel_lists(np.concatenate(offsets),
                               np.concatenate(xs or [np.zeros(0, np.int16)]),
                               np.concatenate(ys or [np.zeros(0, np.int16)]),
                               np.concatenate(es or [np.zeros(0, np.float32)]))
    arrays = []
    for f in TRUTH_SCHEMA:
        if f.name == "pixels":
            arrays.append(pixel_lists.cast(f.type))
        else:
            values = np.concatenate(cols[f.name]) if cols[f.name] else np.zeros(0)
            arrays.append(pa.array(values, f.type))
    return pa.Table.from_arrays(arrays, schema=TRUTH_SCHEMA)


def ramp_truth_table(dataset: str, detector: Detector, truth: RampTruth) -> pa.Table:
    """The truth of one IR ramp (:data:`RAMP_TRUTH_SCHEMA`, one row per cosmic ray, no loop)."""
    n = len(truth)
    ends = truth.ends if truth.ends is not None else np.full((n, 4), np.nan, np.float32)
    columns = {
        "dataset": pa.array([dataset] * n, pa.string()),
        "instrument": pa.array([detector.id] * n, pa.string()),
        "chip": pa.array([detector.chips[0].name] * n, pa.string()),
        "chip_index": pa.array(np.zeros(n, np.int16)),
        "cr_id": pa.array(np.arange(1, n + 1, dtype=np.int32)),
        "energy_e": pa.array(truth.energy_e, pa.float32()),
        "n_pixels": pa.array(truth.n_pixels, pa.int32()),
        "x0": pa.array(ends[:, 0], pa.float32()), "y0": pa.array(ends[:, 1], pa.float32()),
        "x1": pa.array(ends[:, 2], pa.float32()), "y1": pa.array(ends[:, 3], pa.float32()),
        "energy_observed_e": pa.array(truth.energy_e, pa.float32()),
        "saturated": pa.array(np.zeros(n, bool)), "heavy_ion": pa.array(np.zeros(n, bool)),
        "pixels": _pixel_lists(truth.pixel_offsets, truth.pixel_x, truth.pixel_y,
                               truth.pixel_e),
        "read_index": pa.array(truth.read_index, pa.int16()),
        "arrival_time_s": pa.array(truth.arrival_time_s.astype(np.float32), pa.float32()),
    }
    return pa.Table.from_arrays([columns[f.name].cast(f.type) for f in RAMP_TRUTH_SCHEMA],
                                schema=RAMP_TRUTH_SCHEMA)


def hot_pixel_table(dataset: str, detector: Detector, chips: list[ChipTruth]) -> pa.Table:
    """One row per hot pixel of every chip of a CCD dark (:data:`HOT_PIXEL_SCHEMA`, no loop
    over pixels): position, this dark's level, DQ flag, telegraph state, cluster."""
    parts = []
    for index, (layout, chip) in enumerate(zip(detector.chips, chips)):
        y, x = np.nonzero(chip.hot_pixels)
        n = y.size
        level = chip.hot_pixel_e[y, x]
        telegraph = (np.zeros(n, bool) if chip.telegraph_pixels is None
                     else chip.telegraph_pixels[y, x])
        high = np.zeros(n, bool) if chip.telegraph_high is None else chip.telegraph_high[y, x]
        cluster = (np.zeros(n, np.int32) if chip.hot_cluster_id is None
                   else chip.hot_cluster_id[y, x])
        rate = level / np.float32(chip.exposure_s) if chip.exposure_s > 0 else level * 0
        columns = {
            "dataset": pa.array([dataset] * n, pa.string()),
            "instrument": pa.array([detector.id] * n, pa.string()),
            "chip": pa.array([layout.name] * n, pa.string()),
            "chip_index": pa.array(np.full(n, index, np.int16)),
            "x": pa.array(x.astype(np.int16)), "y": pa.array(y.astype(np.int16)),
            "level_e": pa.array(level.astype(np.float32)),
            "rate_e_per_s": pa.array(rate.astype(np.float32)),
            "flagged": pa.array(~chip.unflagged_hot_pixels[y, x]),
            "telegraph": pa.array(telegraph), "telegraph_high": pa.array(high),
            "cluster_id": pa.array(cluster.astype(np.int32)),
        }
        parts.append(pa.Table.from_arrays([columns[f.name] for f in HOT_PIXEL_SCHEMA],
                                          schema=HOT_PIXEL_SCHEMA))
    return pa.concat_tables(parts) if parts else HOT_PIXEL_SCHEMA.empty_table()


def exposures_table(exposures: list[dict]) -> pa.Table:
    """Exposure-level truth, one row per chip of every dark."""
    rows = []
    for exp in exposures:
        for chip in exp["chips"]:
            rows.append({
                "dataset": exp["dataset"], "instrument": exp["instrument"],
                "chip": chip["chip"], "chip_index": chip["chip_index"], "group": exp["group"],
                "seed": exp["seed"],
                "date_obs": dt.datetime.fromisoformat(exp["date_obs"]),
                "exptime_s": exp["exptime_s"], "integration_time_s": exp["integration_time_s"],
                "cr_rate_per_s_cm2": exp["cr_rate_per_s_cm2"], "area_cm2": chip["area_cm2"],
                "n_cr": chip["n_cr"], "n_hot": chip["n_hot"],
                "n_unflagged_hot": chip["n_unflagged_hot"],
                "background_e": chip["background_e"], "read_noise_e": chip["read_noise_e"],
                "gain": exp["gain"], "bunit": exp["bunit"],
            })
    return pa.Table.from_pylist(rows, schema=TRUTH_EXPOSURES_SCHEMA)


def write_truth(path: Path, table: pa.Table, exposures: list[dict]) -> Path:
    """Write the cosmic-ray truth as Parquet with the exposure truth in the schema metadata."""
    meta = dict(table.schema.metadata or {})
    meta[b"hstcr.truth.exposures"] = json.dumps(exposures).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)
    return Path(path)


def read_truth_exposures(path) -> list[dict]:
    """The exposure-level truth stored in a truth Parquet file's metadata."""
    meta = pq.read_schema(path).metadata or {}
    if b"hstcr.truth.exposures" not in meta:
        raise HstcrError("no hstcr.truth.exposures metadata: not a synthetic truth file",
                         source=str(path))
    return json.loads(meta[b"hstcr.truth.exposures"])
