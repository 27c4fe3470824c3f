"""Turn one processed dark into the lake's rows (pyarrow tables), without per-CR loops.

* :func:`cosmic_rays_table` - one row per cosmic ray, pixel lists as ``list<struct>`` built
  straight from the catalogue's flat arrays and offsets (Arrow's own list layout);
* :func:`exposures_table` - one row per dark: times, rate, HST track;
* :func:`failures_table` - one row per dark that could not be processed.

Every table is returned with exactly the schema in :mod:`hstcr_common.lake.schemas` (partition
columns excluded: they live in the path).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa

from .. import __version__
from ..model import CosmicRayCatalog, DetectionSummary
from ..model import redact
from ..instruments import detectors
from ..model import HstcrError
from .schemas import COSMIC_RAYS, EXPOSURES, FAILURES, PIXEL, TRACK_POINT

SOFTWARE_VERSION = __version__
#: default of :func:`cosmic_rays_table`'s ``kev_per_electron``: the material of the detector
#: the chip names belong to
FROM_CHIPS = "from_chips"


def kev_per_electron_of_chips(chip_names) -> float | None:
    """keV per electron of the detector whose chips these are (chip names are unique in the
    instrument table: ``IR`` is WFC3/IR, ``NIC2`` NICMOS/NIC2, ``CCD`` STIS ...).

    Raises
    ------
    HstcrError
        Names that belong to no detector, or to several.
    """
    names = set(chip_names)
    found = {d.id: d for d in detectors().values() for c in d.chips if c.name in names}
    if len(found) != 1:
        raise HstcrError(f"chips {sorted(names)} belong to {len(found)} detectors "
                         f"({', '.join(found) or 'none'}): pass kev_per_electron")
    return next(iter(found.values())).kev_per_electron


# Columns are built from their buffers: ``pa.array`` (on numpy arrays and Python lists alike)
# and ``DataType.to_pandas_dtype`` import pandas whenever it is installed, ~0.4 s of every cold
# start of a worker that never uses it.  ``Array.from_buffers`` over numpy memory does not.

#: numpy dtype of each fixed-width Arrow type the lake's schemas use
_NUMPY_OF = {pa.bool_(): np.bool_, pa.int16(): np.int16, pa.int32(): np.int32,
             pa.int64(): np.int64, pa.float32(): np.float32, pa.float64(): np.float64}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICROSECOND = dt.timedelta(microseconds=1)


def _validity(null: np.ndarray | None) -> tuple[pa.Buffer | None, int]:
    """Arrow validity bitmap (bit set = valid, least significant bit first) and null count of
    a boolean null mask; no bitmap when nothing is null."""
    if null is None:
        return None, 0
    null = np.asarray(null, dtype=bool)
    n_null = int(np.count_nonzero(null))
    if n_null == 0:
        return None, 0
    return pa.py_buffer(np.packbits(~null, bitorder="little")), n_null


def numeric_array(values, dtype, *, null=None, type: pa.DataType | None = None) -> pa.Array:
    """A fixed-width Arrow array over a numpy column, without ``pa.array``.

    Parameters
    ----------
    values : array_like
        One-dimensional values (converted to ``dtype``; bools are bit-packed).
    dtype : numpy dtype
        Storage type of the column.
    null : array of bool, optional
        True where the value is null.
    type : pyarrow.DataType, optional
        Arrow type sharing ``dtype``'s layout (e.g. ``timestamp("us", tz="UTC")`` over
        int64 microseconds); default ``pa.from_numpy_dtype(dtype)``.
    """
    a = np.ascontiguousarray(np.asarray(values, dtype=dtype).reshape(-1))
    if a.dtype == np.bool_:
        data = pa.py_buffer(np.packbits(a, bitorder="little"))
    else:
        data = pa.py_buffer(a)
    validity, n_null = _validity(null)
    return pa.Array.from_buffers(type or pa.from_numpy_dtype(a.dtype), a.size, [validity, data],
                                 null_count=n_null)


def string_array(values) -> pa.Array:
    """A UTF-8 Arrow string array of Python strings (None -> null), without ``pa.array``."""
    encoded = [b"" if v is None else v.encode("utf-8") for v in values]
    n = len(encoded)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=n), out=offsets[1:])
    validity, n_null = _validity(np.fromiter((v is None for v in values), dtype=bool, count=n))
    return pa.Array.from_buffers(pa.string(), n, [validity, pa.py_buffer(offsets),
                                                  pa.py_buffer(b"".join(encoded))],
                                 null_count=n_null)


def indexed_strings(names: list[str], index) -> pa.Array:
    """``names[i]`` for each ``i`` of ``index`` as a UTF-8 Arrow string array, from buffers
    (a dictionary array cast to strings imports ``pyarrow.compute``: ~50 ms of every cold
    start, for a column of four-letter chip names)."""
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    encoded = [name.encode("utf-8") for name in names]
    size = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    first = np.cumsum(size) - size                  # where each name starts in ``joined``
    joined = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    length = size[index]
    offsets = np.zeros(index.size + 1, dtype=np.int64)
    np.cumsum(length, out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError("string column over 2 GB")
    # byte k of row r is byte (k - offsets[r]) of its name
    row = np.repeat(np.arange(index.size), length)
    data = joined[first[index][row] + np.arange(offsets[-1]) - offsets[:-1][row]]
    return pa.Array.from_buffers(pa.string(), index.size,
                                 [None, pa.py_buffer(offsets.astype(np.int32)),
                                  pa.py_buffer(data)])


def _repeat_string(value: str, n: int) -> pa.Array:
    """``n`` copies of one string without building ``n`` Python objects."""
    data = value.encode("utf-8")
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(data))
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets),
                                                  pa.py_buffer(data * n)])


def _microseconds(value) -> int:
    """Microseconds since 1970-01-01 UTC of a datetime (naive = UTC) or numpy datetime64."""
    return (_utc(value) - _EPOCH) // _MICROSECOND


def value_array(value, type: pa.DataType) -> pa.Array:
    """One value as a length-1 array of ``type`` (None -> null): what
    ``pa.array([value], type)`` gives for the lake's string, bool, integer, float and UTC
    timestamp columns, without importing pandas."""
    if value is None:
        return pa.nulls(1, type)
    if type == pa.string():
        return string_array([value])
    if pa.types.is_timestamp(type):
        return numeric_array([_microseconds(value)], np.int64, type=type)
    if type not in _NUMPY_OF:
        raise TypeError(f"no buffer layout for {type}")
    if type != pa.bool_() and isinstance(value, (bool, np.bool_)):
        raise TypeError(f"a bool for a {type} column")
    if pa.types.is_integer(type) and isinstance(value, (float, np.floating)):
        raise TypeError(f"a float for a {type} column")  # numpy would truncate it
    return numeric_array([value], _NUMPY_OF[type])


def row_table(row: dict, schema: pa.Schema, arrays: dict[str, pa.Array] | None = None) -> pa.Table:
    """A one-row table of ``schema`` from ``row`` (field name -> Python value); ``arrays``
    gives ready-made length-1 arrays for the fields that are not plain values (lists)."""
    arrays = arrays or {}
    return pa.Table.from_arrays(
        [arrays[f.name] if f.name in arrays else value_array(row[f.name], f.type)
         for f in schema], schema=schema)


def energy_kev_array(energy_e: np.ndarray, kev_per_electron: float | None) -> pa.Array:
    """``energy_kev`` (float32 keV): electrons x the detector material's keV per electron, all
    null where the table has no trusted pair energy (``Detector.kev_per_electron`` None)."""
    n = len(energy_e)
    if kev_per_electron is None:
        return pa.nulls(n, pa.float32())
    return numeric_array(np.asarray(energy_e, np.float64) * kev_per_electron, np.float32)


def cosmic_rays_table(catalog: CosmicRayCatalog, chip_names: list[str], dataset: str,
                      method: str, *, kev_per_electron: float | None | str = FROM_CHIPS
                      ) -> pa.Table:
    """The ``cosmic_rays`` rows of one dark.

    Parameters
    ----------
    catalog : CosmicRayCatalog
        The dark's cosmic rays (all chips).
    chip_names : list of str
        ``Dark.chips[i].name``; ``catalog.chip_index`` indexes it.
    dataset : str
        Rootname of the dark.
    method : str
        Detection method that produced the catalogue.
    kev_per_electron : float, None or ``"from_chips"``
        keV per electron of the detector's material (``Detector.kev_per_electron``: silicon
        3.65e-3, NICMOS HgCdTe 2.4e-3); None leaves ``energy_kev`` null (WFC3/IR).  Default:
        the value of the detector ``chip_names`` belong to
        (:func:`kev_per_electron_of_chips`).

    Returns
    -------
    pyarrow.Table
        ``len(catalog)`` rows with schema :data:`hstcr_common.lake.schemas.COSMIC_RAYS`
        (zero rows for a dark without cosmic rays).
    """
    n = len(catalog)
    if isinstance(kev_per_electron, str):
        kev_per_electron = kev_per_electron_of_chips(chip_names)
    chip = indexed_strings(list(chip_names), catalog.chip_index)
    pixel_struct = pa.StructArray.from_arrays(
        [numeric_array(catalog.pixel_x, np.int16),
         numeric_array(catalog.pixel_y, np.int16),
         numeric_array(catalog.pixel_e, np.float32)],
        fields=list(PIXEL),
    )
    pixels = pa.ListArray.from_arrays(numeric_array(catalog.pixel_offsets, np.int32), pixel_struct)

    def col(name, dtype):
        return numeric_array(getattr(catalog, name), dtype)

    def optional(name, dtype, null_value):
        values = getattr(catalog, name)
        if values is None:
            return pa.nulls(n, pa.from_numpy_dtype(dtype))
        values = np.asarray(values, dtype=dtype)
        if values.dtype.kind == "b":
            return numeric_array(values, dtype)
        mask = np.isnan(values) if values.dtype.kind == "f" else values == null_value
        return numeric_array(values, dtype, null=mask)

    columns = {
        "dataset": _repeat_string(dataset, n),
        "chip": chip,
        "cr_id": col("cr_id", np.int32),
        "method": _repeat_string(method, n),
        "n_pixels": col("n_pixels", np.int32),
        "n_core_pixels": optional("n_core_pixels", np.int32, -1),
        "energy_e": col("energy_e", np.float32),
        "energy_kev": energy_kev_array(catalog.energy_e, kev_per_electron),
        "saturated": optional("saturated", np.bool_, None),
        "peak_e": col("peak_e", np.float32),
        "x_centroid": col("x_centroid", np.float32),
        "y_centroid": col("y_centroid", np.float32),
        "ixx": col("ixx", np.float32),
        "iyy": col("iyy", np.float32),
        "ixy": col("ixy", np.float32),
        "width_sigma": col("width_sigma", np.float32),
        "symmetry": col("symmetry", np.float32),
        "x_min": col("x_min", np.int16),
        "x_max": col("x_max", np.int16),
        "y_min": col("y_min", np.int16),
        "y_max": col("y_max", np.int16),
        "n_merged": col("n_merged", np.int16),
        "read_index": optional("read_index", np.int16, -1),
        "arrival_time_s": optional("arrival_time_s", np.float32, None),
        "pixels": pixels,
    }
    return pa.Table.from_arrays([columns[f.name] for f in COSMIC_RAYS],
                                schema=COSMIC_RAYS)


def track_array(track) -> pa.Array:
    """A :class:`hstcr_common.ephemeris.orbit.Track` as one ``list<TRACK_POINT>`` value (length 1)."""
    time = np.asarray(track.time).astype("datetime64[us]").astype(np.int64)
    points = pa.StructArray.from_arrays(
        [numeric_array(time, np.int64, type=pa.timestamp("us", tz="UTC")),
         numeric_array(track.latitude_deg, np.float32),
         numeric_array(track.longitude_deg, np.float32),
         numeric_array(track.altitude_km, np.float32),
         numeric_array(track.b_nt, np.float32),
         numeric_array(track.geomag_latitude_deg, np.float32)],
        fields=list(TRACK_POINT),
    )
    return pa.ListArray.from_arrays(numeric_array([0, len(points)], np.int32), points)


def _utc(value) -> dt.datetime:
    """A timezone-aware UTC datetime from a datetime or numpy datetime64."""
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[us]").item()
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _finite_or_none(x):
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def exposures_table(dark, summary: DetectionSummary, timing, track=None, track_note: str = "",
                    *, method: str, params_key: str,
                    processed_at: dt.datetime | None = None) -> pa.Table:
    """The one ``exposures`` row of a dark.

    Parameters
    ----------
    dark : Dark
        The loaded dark.
    summary : DetectionSummary
        Counts and searched area from detection.
    timing : ExposureTiming
        Times and integration time (s) from :func:`hstcr_common.ephemeris.timing.exposure_timing`.
    track : Track or None
        HST positions through the exposure; None when there was no support file.
    track_note : str
        Why ``track`` is None (or a note on how it was made).
    method : str
        Detection method actually used (``ramp`` for IR).
    params_key : str
        :func:`hstcr_common.model.params_hash` of the request (resumability key).
    processed_at : datetime, optional
        Defaults to now (UTC).

    Returns
    -------
    pyarrow.Table
        One row, schema :data:`hstcr_common.lake.schemas.EXPOSURES`.  ``rate_cr_s_cm2`` is
        ``n_cr / (integration_time_s * searched_area_cm2)`` in CR/s/cm2; the 2021 rule's
        rate uses ``timing.integration_time_2021_s``.
    """
    integration = float(timing.integration_time_s)
    integration_2021 = float(timing.integration_time_2021_s)
    area = float(summary.searched_area_cm2)
    exposure = integration * area
    rate = summary.n_cr / exposure if exposure > 0 else float("nan")
    rate_corr = summary.n_cr_corrected / exposure if exposure > 0 else float("nan")
    exposure_2021 = integration_2021 * area
    rate_2021 = (summary.n_cr_corrected / exposure_2021 if exposure_2021 > 0
                 else float("nan"))
    gain = np.mean([c.gain for c in dark.chips]) if dark.chips else None
    origin = dark.subarray_origin if dark.subarray else None
    row = {
        "dataset": dark.dataset,
        "detector": dark.detector.name,
        "n_chips": len(dark.chips),
        "science_suffix": dark.science_suffix or "",
        "cte_corrected": dark.cte_corrected,
        "subarray": bool(dark.subarray),
        "subarray_name": (dark.subarray_name or None) if dark.subarray else None,
        "aperture": dark.aperture or None,
        "subarray_x0": None if origin is None else int(origin[0]),
        "subarray_y0": None if origin is None else int(origin[1]),
        "date_obs": _utc(timing.date_obs),
        "expstart_mjd": float(timing.expstart_mjd),
        "expend_mjd": float(timing.expend_mjd),
        "expstart": _utc(timing.expstart),
        "expend": _utc(timing.expend),
        "exptime_s": float(timing.exptime_s),
        "darktime_s": _finite_or_none(timing.darktime_s),
        "flashdur_s": _finite_or_none(timing.flashdur_s),
        "integration_time_s": integration,
        "integration_rule": str(timing.integration_rule),
        "integration_time_2021_s": integration_2021,
        "readout_time_s": float(timing.readout_time_s),
        "short_exposure": bool(timing.short_exposure),
        "ccdamp": dark.ccdamp or None,
        "gain": _finite_or_none(gain),
        "method": method,
        "method_reason": summary.method_reason or None,
        "group_size": int(summary.group_size),
        "params": json.dumps(summary.params, sort_keys=True, default=str),
        "params_hash": params_key,
        "n_cr": int(summary.n_cr),
        "n_cr_split": int(summary.n_cr_split),
        "n_cr_corrected": float(summary.n_cr_corrected),
        "occupancy": _finite_or_none(summary.occupancy),
        "n_saturated": int(summary.n_saturated),
        "energy_spill_fraction": _finite_or_none(summary.spill_fraction),
        "searched_pixels": int(summary.searched_pixels),
        "searched_area_cm2": area,
        "rate_cr_s_cm2": rate,
        "rate_corrected_cr_s_cm2": rate_corr,
        "rate_2021_cr_s_cm2": rate_2021,
        "mean_latitude_deg": _finite_or_none(track.mean_latitude_deg) if track is not None else None,
        "mean_longitude_deg": _finite_or_none(track.mean_longitude_deg) if track is not None else None,
        "mean_altitude_km": _finite_or_none(track.mean_altitude_km) if track is not None else None,
        "min_b_nt": _finite_or_none(track.min_b_nt) if track is not None else None,
        "track_note": track_note or None,
        "source": dark.source or dark.dataset,
        "software_version": SOFTWARE_VERSION,
        "processed_at": processed_at or dt.datetime.now(dt.timezone.utc),
    }
    track_type = EXPOSURES.field("track").type
    return row_table(row, EXPOSURES, {"track": track_array(track) if track is not None
                                      else pa.nulls(1, track_type)})


def failures_table(dataset: str, stage: str, error: BaseException, *, source: str | None = None,
                   method: str | None = None, failed_at: dt.datetime | None = None) -> pa.Table:
    """The one ``failures`` row of a dark that could not be processed.

    The message is the exception text, which for :class:`~hstcr_common.model.errors.HstcrError`
    names the file and the problem.
    """
    row = {
        "dataset": dataset,
        "stage": getattr(error, "stage", None) or stage,
        "error_type": type(error).__name__,
        "message": redact(str(error)) or type(error).__name__,  # no presigned URL secrets
        "source": source,
        "method": method,
        "software_version": SOFTWARE_VERSION,
        "failed_at": failed_at or dt.datetime.now(dt.timezone.utc),
    }
    return row_table(row, FAILURES)
