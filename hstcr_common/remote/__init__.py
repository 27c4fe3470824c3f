"""Reading files where they live: local, S3, HTTPS; MAST discovery."""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
_EXPORTS = {
    "BACKOFF_BASE_S": "sources",
    "BACKOFF_CAP_S": "sources",
    "BLOCK": "sources",
    "CARD": "sources",
    "CONNECT_TIMEOUT_S": "clients",
    "DEFAULT_PAGESIZE": "mast",
    "DEFAULT_RETRIES": "sources",
    "DEFAULT_TIMEOUT_S": "sources",
    "DarkFiles": "sources",
    "EXTRA_MAST_NAMES": "mast",
    "FIRST_CHUNK": "sources",
    "FRAME_BYTES_PER_PIXEL": "mast",
    "FULL_FRAME_FRACTION": "mast",
    "HEADER_CHUNK": "sources",
    "HduSpan": "sources",
    "HttpReader": "sources",
    "LocalReader": "sources",
    "MAST_BUCKET_REGION": "clients",
    "MAST_DOWNLOAD_URL": "sources",
    "MAST_RETRIES": "mast",
    "MAX_ATTEMPTS": "clients",
    "MAX_HEADER_BYTES": "sources",
    "MJD_UNIX_EPOCH": "mast",
    "MonthPlan": "mast",
    "OBS_COLUMNS": "mast",
    "PRODUCT_BATCH": "mast",
    "PRODUCT_COLUMNS": "mast",
    "RAMP_FRAME_SUFFIXES": "mast",
    "READ_THROUGH_GAP": "sources",
    "READ_TIMEOUT_S": "clients",
    "ROLES": "sources",
    "RangeReader": "sources",
    "S3Reader": "sources",
    "S3_BUCKET": "sources",
    "S3_PREFIX": "sources",
    "S3_REGION": "sources",
    "SCIENCE_EXTNAMES": "sources",
    "SMALL_OBJECT": "sources",
    "aws_client": "clients",
    "backoff_delay": "sources",
    "build_items": "mast",
    "dark_criteria": "mast",
    "data_size": "sources",
    "date_to_mjd": "mast",
    "delete_downloads": "sources",
    "endpoint_url": "clients",
    "fetch_dark_files": "sources",
    "frame_suffixes": "mast",
    "full_frame_min_bytes": "mast",
    "http_session": "sources",
    "iter_hdus": "sources",
    "mast_instrument_names": "mast",
    "mast_s3_client": "clients",
    "mast_url": "sources",
    "month_is_active": "mast",
    "month_range": "mast",
    "month_window": "mast",
    "open_location": "sources",
    "parse_header_cards": "sources",
    "parse_month": "mast",
    "plan_darks": "mast",
    "plan_months": "mast",
    "query_month": "mast",
    "read_fits_hdus": "sources",
    "read_location": "sources",
    "reader_for": "sources",
    "region": "clients",
    "s3_client": "sources",
    "s3_filesystem": "clients",
    "s3_key": "sources",
    "s3_location": "sources",
    "scan_hdus": "sources",
    "summary": "mast",
    "summary_path": "mast",
    "wanted_suffixes": "mast",
    "with_retries": "sources",
    "write_summary": "mast",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
