"""The lake's tables as pyarrow schemas: the one source of truth.

The embedded writer, DuckDB views, the Glue tables (infra/) and the tests all read these.
Partition columns (``instrument``, ``year``, ``month``) live in the path
``<root>/<table>/instrument=<id>/year=<yyyy>/month=<mm>/<dataset>.parquet`` and are *not*
stored in the files; :data:`PARTITION_KEYS` lists them with their types.

Every column carries its description and unit in the field metadata (``description``,
``unit``): they travel inside each Parquet file, become the Glue column comments, and
``docs/columns.md`` is generated from them (:func:`data_dictionary`).
"""

from __future__ import annotations

import pyarrow as pa



def column(name: str, type_: pa.DataType, unit: str, description: str, *, nullable: bool = True) -> pa.Field:
    """A lake column with its unit (``""`` when dimensionless) and description."""
    return pa.field(name, type_, nullable=nullable,
                    metadata={"description": description, "unit": unit})


def _required(name, type_, unit, description):
    return column(name, type_, unit, description, nullable=False)


PARTITION_KEYS: list[tuple[str, pa.DataType]] = [
    ("instrument", pa.string()),
    ("year", pa.int32()),
    ("month", pa.int32()),
]

#: descriptions of the partition columns (in the path, not in the files)
PARTITION_DESCRIPTIONS = {
    "instrument": ("", "detector id: acs_wfc, acs_hrc, stis_ccd, wfc3_uvis, wfpc2, wfc3_ir, nicmos_nic1..3"),
    "year": ("", "year of the exposure start (UTC)"),
    "month": ("", "month of the exposure start (UTC), 1-12"),
}

PIXEL = pa.struct([
    column("x", pa.int16(), "pixel", "column in the chip frame (the array as read; for a subarray its own frame, full chip: + exposures.subarray_x0), 0-based"),
    column("y", pa.int16(), "pixel", "row in the chip frame (the array as read; for a subarray its own frame, full chip: + exposures.subarray_y0), 0-based"),
    column("e", pa.float32(), "e-", "charge in this pixel, local background removed"),
])

TRACK_POINT = pa.struct([
    column("time", pa.timestamp("us", tz="UTC"), "UTC", "time of this point (one per minute of the exposure, ends included)"),
    column("latitude_deg", pa.float32(), "deg", "HST geodetic latitude, WGS84"),
    column("longitude_deg", pa.float32(), "deg", "HST longitude east, in [-180, 180)"),
    column("altitude_km", pa.float32(), "km", "HST altitude above the WGS84 ellipsoid"),
    column("b_nt", pa.float32(), "nT", "IGRF magnetic field strength |B| at HST"),
    column("geomag_latitude_deg", pa.float32(), "deg", "geomagnetic (IGRF dipole) latitude of HST"),
])

COSMIC_RAYS = pa.schema(
    [
        _required("dataset", pa.string(), "", "MAST dataset name (9 characters, lower case)"),
        _required("chip", pa.string(), "", "chip name: WFC1/WFC2, UVIS1/UVIS2, HRC, CCD (STIS), PC1/WF2/WF3/WF4, IR, NIC1-3"),
        _required("cr_id", pa.int32(), "", "cosmic-ray number, 1.. within the dark (unique over its chips)"),
        _required("method", pa.string(), "", "detection method used for this dark: dq, threshold, stack or ramp"),
        _required("n_pixels", pa.int32(), "pixel", "pixels in the footprint: the detected core (n_core_pixels) plus the 1-pixel halo ring grown around it (4-connected) to collect the charge below the detection threshold; the ring roughly doubles small cosmic rays (median ~14 px for a ~7 px core on ACS/WFC), so use n_core_pixels for the size of the cosmic ray itself"),
        column("n_core_pixels", pa.int32(), "pixel", "pixels of the detected core (above the detection threshold, after splitting merged cosmic rays), before the halo ring is added; null when the method does not record it"),
        _required("energy_e", pa.float32(), "e-", "total charge of the cosmic ray, local background removed (IR: the jump in the ramp); CCDs: the footprint's pixels plus the charge its edge spills into the free pixels around it, fitted per chip (exposures.energy_spill_fraction), so it exceeds the sum of pixels.e by that; a lower bound when saturated is true"),
        column("energy_kev", pa.float32(), "keV", "energy deposited: energy_e x the detector material's mean energy per electron-hole pair (instruments.toml ev_per_electron: 3.65 eV silicon CCDs; 2.4 eV NICMOS HgCdTe, measured by Bruce et al. 2012); null for WFC3/IR, whose HgCdTe pair energy is not known well enough"),
        column("saturated", pa.bool_(), "", "the footprint holds a saturated (full-well or A-to-D) pixel, so energy_e is a lower bound; null when the method does not record it"),
        _required("peak_e", pa.float32(), "e-", "charge of the brightest pixel"),
        _required("x_centroid", pa.float32(), "pixel", "charge-weighted centroid column, 0-based, chip frame (the array as read: a subarray's own frame; full chip: + exposures.subarray_x0)"),
        _required("y_centroid", pa.float32(), "pixel", "charge-weighted centroid row, 0-based, chip frame (the array as read: a subarray's own frame; full chip: + exposures.subarray_y0)"),
        _required("ixx", pa.float32(), "pixel^2", "charge-weighted second moment along x about the centroid"),
        _required("iyy", pa.float32(), "pixel^2", "charge-weighted second moment along y about the centroid"),
        _required("ixy", pa.float32(), "pixel^2", "charge-weighted cross moment about the centroid"),
        _required("width_sigma", pa.float32(), "pixel", "width: sqrt((ixx + iyy) / 2)"),
        _required("symmetry", pa.float32(), "", "elongation from the eigenvalues of the moments: 0 round .. 1 a line"),
        _required("x_min", pa.int16(), "pixel", "bounding box: first column"),
        _required("x_max", pa.int16(), "pixel", "bounding box: last column"),
        _required("y_min", pa.int16(), "pixel", "bounding box: first row"),
        _required("y_max", pa.int16(), "pixel", "bounding box: last row"),
        _required("n_merged", pa.int16(), "", "parts the merged blob this cosmic ray came from was split into (1: not merged)"),
        column("read_index", pa.int16(), "", "IR ramps: the read in which the jump happened (1-based); null for CCDs"),
        column("arrival_time_s", pa.float32(), "s", "IR ramps: arrival time since the exposure start; null for CCDs"),
        _required("pixels", pa.list_(PIXEL), "", "every pixel of the footprint: list of {x, y, e}"),
    ]
)

EXPOSURES = pa.schema(
    [
        _required("dataset", pa.string(), "", "MAST dataset name (9 characters, lower case)"),
        _required("detector", pa.string(), "", "detector name, e.g. ACS/WFC"),
        _required("n_chips", pa.int16(), "", "chips searched"),
        _required("science_suffix", pa.string(), "", "product searched: flt, flc, crj, raw, c0m or ima (flc preferred where it exists: ACS/WFC, WFC3/UVIS)"),
        column("cte_corrected", pa.bool_(), "", "the product was corrected for charge-transfer inefficiency (flc, or PCTECORR = COMPLETE); when false, CTE losses bias energies low and widths high (1.4-2.2% and ~4% on synthetic late-mission ACS/WFC darks with CTE trails, issue 13); null for IR arrays (no charge transfer)"),
        _required("subarray", pa.bool_(), "", "the dark is a subarray (SUBARRAY=T or smaller than the full chip): searched area and pixel coordinates are those of the subarray"),
        column("subarray_name", pa.string(), "", "subarray readout: SUBTYPE (WFC3/IR SQ64SUB..SQ512SUB), else APERTURE (ACS, WFC3), else rows x columns; null for a full frame"),
        column("aperture", pa.string(), "", "APERTURE keyword of the exposure"),
        column("subarray_x0", pa.int32(), "pixel", "column of the subarray's pixel 0 in the full chip's science frame (from LTV1: x_full = x + subarray_x0); null for a full frame or when the header does not say"),
        column("subarray_y0", pa.int32(), "pixel", "row of the subarray's pixel 0 in the full chip's science frame (from LTV2: y_full = y + subarray_y0); null for a full frame or when the header does not say"),
        _required("date_obs", pa.timestamp("us", tz="UTC"), "UTC", "date of the observation (DATE-OBS/TIME-OBS)"),
        _required("expstart_mjd", pa.float64(), "d", "exposure start, MJD (EXPSTART)"),
        _required("expend_mjd", pa.float64(), "d", "exposure end, MJD (EXPEND)"),
        _required("expstart", pa.timestamp("us", tz="UTC"), "UTC", "exposure start"),
        _required("expend", pa.timestamp("us", tz="UTC"), "UTC", "exposure end"),
        _required("exptime_s", pa.float64(), "s", "exposure time (EXPTIME)"),
        column("darktime_s", pa.float64(), "s", "dark time (DARKTIME) when the header has it"),
        column("flashdur_s", pa.float64(), "s", "post-flash duration (FLASHDUR) when the header has it"),
        _required("integration_time_s", pa.float64(), "s", "time the detector collected cosmic rays (see integration_rule)"),
        _required("integration_rule", pa.string(), "", "how integration_time_s was found: DARKTIME, EXPTIME+FLASHDUR+readout, ..."),
        _required("integration_time_2021_s", pa.float64(), "s", "integration time by the 2021 study's rule for every dark: EXPTIME + FLASHDUR (post-flashed detectors) + readout_time_s, whatever the header holds"),
        _required("readout_time_s", pa.float64(), "s", "readout time assumed for this exposure (instrument table; WFPC2 30 s up to EXPTIME 180 s, else 60 s)"),
        _required("short_exposure", pa.bool_(), "", "EXPTIME shorter than the readout time: the readout dominates the integration time, so the rate rests mostly on the assumed readout"),
        column("ccdamp", pa.string(), "", "amplifiers read out (CCDAMP)"),
        column("gain", pa.float32(), "e-/DN", "gain used (mean over the amplifiers)"),
        _required("method", pa.string(), "", "detection method used for this dark: dq, threshold, stack or ramp"),
        column("method_reason", pa.string(), "", "why this method was used for this dark (the reference group it was searched against, or why it fell back to a single-dark method)"),
        _required("group_size", pa.int16(), "", "darks in the group whose reference this dark was searched against (1: one dark alone)"),
        _required("params", pa.string(), "", "JSON of the detection parameters"),
        _required("params_hash", pa.string(), "", "hash of method + parameters: with software_version, the key that makes a rerun skip this dark"),
        _required("n_cr", pa.int32(), "", "cosmic rays found (rows in cosmic_rays)"),
        _required("n_cr_split", pa.int32(), "", "of n_cr, detections made by splitting merged blobs"),
        _required("n_cr_corrected", pa.float64(), "", "coincidence-corrected count: n_cr plus the expected number hidden by overlaps, from the measured occupancy"),
        column("occupancy", pa.float64(), "", "fraction of the searched pixels inside a cosmic-ray footprint: the input of the coincidence correction; null when not computed"),
        _required("n_saturated", pa.int32(), "", "of n_cr, cosmic rays holding a saturated pixel (their energy is a lower bound)"),
        column("energy_spill_fraction", pa.float64(), "", "charge added to the energies for what the footprints' edges spill into the free pixels around them, over the summed footprint charge; the spill per side neighbour is fitted on the dark's isolated cosmic rays; null when not applied (IR ramps, spill_correction off)"),
        _required("searched_pixels", pa.int64(), "pixel", "pixels searched (bad pixels excluded)"),
        _required("searched_area_cm2", pa.float64(), "cm2", "area searched"),
        _required("rate_cr_s_cm2", pa.float64(), "CR/s/cm2", "n_cr / integration_time_s / searched_area_cm2 (a lower bound: overlapping cosmic rays count once)"),
        _required("rate_corrected_cr_s_cm2", pa.float64(), "CR/s/cm2", "n_cr_corrected / integration_time_s / searched_area_cm2: the headline rate"),
        _required("rate_2021_cr_s_cm2", pa.float64(), "CR/s/cm2", "n_cr_corrected / integration_time_2021_s / searched_area_cm2: the headline rate on the 2021 study's time scale, to compare with its tables"),
        column("mean_latitude_deg", pa.float32(), "deg", "mean geodetic latitude of HST over the exposure"),
        column("mean_longitude_deg", pa.float32(), "deg", "circular mean longitude of HST over the exposure"),
        column("mean_altitude_km", pa.float32(), "km", "mean altitude of HST over the exposure"),
        column("min_b_nt", pa.float32(), "nT", "lowest IGRF |B| along the track (low: the South Atlantic Anomaly)"),
        column("track", pa.list_(TRACK_POINT), "", "position of HST every minute of the exposure (null when no support file)"),
        column("track_note", pa.string(), "", "why the track is null (no or bad support file)"),
        _required("source", pa.string(), "", "the science file read (local path or s3:// / https:// location)"),
        _required("software_version", pa.string(), "", "hstcr version that wrote the row"),
        _required("processed_at", pa.timestamp("us", tz="UTC"), "UTC", "when the row was written"),
    ]
)

FAILURES = pa.schema(
    [
        _required("dataset", pa.string(), "", "MAST dataset name (9 characters, lower case)"),
        _required("stage", pa.string(), "", "stage that failed: plan, fetch, load, detect, timing, orbit, rows, write, worker"),
        _required("error_type", pa.string(), "", "exception type"),
        _required("message", pa.string(), "", "what went wrong, naming the file and the problem"),
        column("source", pa.string(), "", "the science file that was being read, when known"),
        column("method", pa.string(), "", "detection method that was asked for"),
        _required("software_version", pa.string(), "", "hstcr version that wrote the row"),
        _required("failed_at", pa.timestamp("us", tz="UTC"), "UTC", "when the failure was recorded"),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "cosmic_rays": COSMIC_RAYS,
    "exposures": EXPOSURES,
    "failures": FAILURES,
}


def field_doc(field: pa.Field) -> tuple[str, str]:
    """(unit, description) of a lake column."""
    meta = field.metadata or {}
    return meta.get(b"unit", b"").decode(), meta.get(b"description", b"").decode()


def _type_name(t: pa.DataType) -> str:
    if pa.types.is_list(t):
        return f"list<{_type_name(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct"
    return str(t)


def data_dictionary() -> str:
    """The data dictionary as Markdown (``docs/columns.md`` is this text)."""
    lines = ["# The lake's columns", "",
             "Generated from `hstcr_common/lake/schemas.py` by `hstcr columns` (the same text is in every",
             "Parquet file's field metadata and in the Glue column comments). Partition columns",
             "(`instrument`, `year`, `month`) are in the path and in every view.", ""]
    for table, schema in TABLES.items():
        lines += [f"## `{table}`", "", "| column | type | unit | description |", "|---|---|---|---|"]
        for f in schema:
            unit, desc = field_doc(f)
            null = "" if f.nullable else " (never null)"
            lines.append(f"| `{f.name}` | {_type_name(f.type)} | {unit} | {desc}{null} |")
            if pa.types.is_list(f.type) and pa.types.is_struct(f.type.value_type):
                for sub in f.type.value_type:
                    u, d = field_doc(sub)
                    lines.append(f"| `{f.name}[].{sub.name}` | {_type_name(sub.type)} | {u} | {d} |")
        for name, (unit, desc) in PARTITION_DESCRIPTIONS.items():
            lines.append(f"| `{name}` | partition | {unit} | {desc} |")
        lines.append("")
    return "\n".join(lines)
