"""The lake's tables as pyarrow schemas: the one source of truth.

The embedded writer, DuckDB views, the Glue tables (infra/) and the tests all read these.
Partition columns (``instrument``, ``year``, ``month``) live in the path
``<root>/<table>/instrument=<id>/year=<yyyy>/month=<mm>/<dataset>.parquet`` and are *not*
stored in the files; :data:`PARTITION_KEYS` lists them with their types.
"""

from __future__ import annotations

import pyarrow as pa

PARTITION_KEYS: list[tuple[str, pa.DataType]] = [
    ("instrument", pa.string()),
    ("year", pa.int32()),
    ("month", pa.int32()),
]

PIXEL = pa.struct([("x", pa.int16()), ("y", pa.int16()), ("e", pa.float32())])

TRACK_POINT = pa.struct(
    [
        ("time", pa.timestamp("us", tz="UTC")),
        ("latitude_deg", pa.float32()),    # geodetic, WGS84
        ("longitude_deg", pa.float32()),   # [-180, 180)
        ("altitude_km", pa.float32()),     # above the WGS84 ellipsoid
        ("b_nt", pa.float32()),            # IGRF |B| at HST (nT)
        ("geomag_latitude_deg", pa.float32()),
    ]
)

COSMIC_RAYS = pa.schema(
    [
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("chip", pa.string(), nullable=False),        # chip name: WFC1, PC1, CCD ...
        pa.field("cr_id", pa.int32(), nullable=False),        # 1.. per dark (unique over chips)
        pa.field("method", pa.string(), nullable=False),
        pa.field("n_pixels", pa.int32(), nullable=False),
        pa.field("energy_e", pa.float32(), nullable=False),   # electrons, background removed
        pa.field("energy_kev", pa.float32(), nullable=False), # 3.65 eV per electron-hole pair
        pa.field("peak_e", pa.float32(), nullable=False),
        pa.field("x_centroid", pa.float32(), nullable=False), # pixels, 0-based, chip frame
        pa.field("y_centroid", pa.float32(), nullable=False),
        pa.field("ixx", pa.float32(), nullable=False),        # pixel^2, intensity weighted
        pa.field("iyy", pa.float32(), nullable=False),
        pa.field("ixy", pa.float32(), nullable=False),
        pa.field("width_sigma", pa.float32(), nullable=False),# sqrt((Ixx+Iyy)/2), pixels
        pa.field("symmetry", pa.float32(), nullable=False),   # 0 round .. 1 line
        pa.field("x_min", pa.int16(), nullable=False),
        pa.field("x_max", pa.int16(), nullable=False),
        pa.field("y_min", pa.int16(), nullable=False),
        pa.field("y_max", pa.int16(), nullable=False),
        pa.field("n_merged", pa.int16(), nullable=False),     # >1: a split-off part of a merged blob
        pa.field("read_index", pa.int16()),                    # IR: read where the jump happened
        pa.field("arrival_time_s", pa.float32()),              # IR: since exposure start
        pa.field("pixels", pa.list_(PIXEL), nullable=False),
    ]
)

EXPOSURES = pa.schema(
    [
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("detector", pa.string(), nullable=False),      # e.g. ACS/WFC
        pa.field("n_chips", pa.int16(), nullable=False),
        pa.field("science_suffix", pa.string(), nullable=False),
        pa.field("date_obs", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("expstart_mjd", pa.float64(), nullable=False),
        pa.field("expend_mjd", pa.float64(), nullable=False),
        pa.field("expstart", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("expend", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("exptime_s", pa.float64(), nullable=False),
        pa.field("darktime_s", pa.float64()),
        pa.field("flashdur_s", pa.float64()),
        pa.field("integration_time_s", pa.float64(), nullable=False),
        pa.field("integration_rule", pa.string(), nullable=False),
        pa.field("ccdamp", pa.string()),
        pa.field("gain", pa.float32()),
        pa.field("method", pa.string(), nullable=False),
        pa.field("params", pa.string(), nullable=False),          # JSON of the detection parameters
        pa.field("params_hash", pa.string(), nullable=False),     # resumability key with software_version
        pa.field("n_cr", pa.int32(), nullable=False),
        pa.field("n_cr_split", pa.int32(), nullable=False),       # detections produced by splitting merged blobs
        pa.field("n_cr_corrected", pa.float64(), nullable=False), # coincidence-corrected count
        pa.field("searched_pixels", pa.int64(), nullable=False),
        pa.field("searched_area_cm2", pa.float64(), nullable=False),
        pa.field("rate_cr_s_cm2", pa.float64(), nullable=False),
        pa.field("rate_corrected_cr_s_cm2", pa.float64(), nullable=False),
        pa.field("mean_latitude_deg", pa.float32()),
        pa.field("mean_longitude_deg", pa.float32()),
        pa.field("mean_altitude_km", pa.float32()),
        pa.field("min_b_nt", pa.float32()),
        pa.field("track", pa.list_(TRACK_POINT)),                  # null when no support file
        pa.field("track_note", pa.string()),                       # why the track is null
        pa.field("source", pa.string(), nullable=False),
        pa.field("software_version", pa.string(), nullable=False),
        pa.field("processed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

FAILURES = pa.schema(
    [
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),     # plan, fetch, load, detect, orbit, write
        pa.field("error_type", pa.string(), nullable=False),
        pa.field("message", pa.string(), nullable=False),   # names the file and the problem
        pa.field("source", pa.string()),
        pa.field("method", pa.string()),
        pa.field("software_version", pa.string(), nullable=False),
        pa.field("failed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "cosmic_rays": COSMIC_RAYS,
    "exposures": EXPOSURES,
    "failures": FAILURES,
}
