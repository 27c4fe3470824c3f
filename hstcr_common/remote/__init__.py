"""Reading files where they live: local, S3, HTTPS; MAST discovery."""

from __future__ import annotations

import importlib

# name -> submodule: imported on first use, so a package costs nothing until a name
# from it is needed (the Lambda worker never pays for DuckDB or matplotlib) and no
# import order can form a cycle.
_EXPORTS = {
    "BACKOFF_BASE_S": "retry",
    "BACKOFF_CAP_S": "retry",
    "CONNECT_TIMEOUT_S": "clients",
    "DEFAULT_PAGESIZE": "mast",
    "DEFAULT_RETRIES": "retry",
    "DarkFiles": "dark_files",
    "EXTRA_MAST_NAMES": "mast",
    "FRAME_BYTES_PER_PIXEL": "mast",
    "FULL_FRAME_FRACTION": "mast",
    "HttpReader": "readers",
    "LocalReader": "readers",
    "MAST_BUCKET_REGION": "clients",
    "MAST_DOWNLOAD_URL": "locations",
    "MAST_RETRIES": "mast",
    "MAST_TIMEOUT_S": "mast",
    "MAST_READ_ATTEMPTS": "clients",
    "MAX_ATTEMPTS": "clients",
    "MonthPlan": "mast",
    "OBS_COLUMNS": "mast",
    "PRODUCT_BATCH": "mast",
    "PRODUCT_COLUMNS": "mast",
    "RAMP_FRAME_SUFFIXES": "mast",
    "READ_THROUGH_GAP": "readers",
    "READ_TIMEOUT_S": "clients",
    "ROLES": "dark_files",
    "RangeReader": "readers",
    "S3Reader": "readers",
    "S3_BUCKET": "locations",
    "S3_PREFIX": "locations",
    "SCIENCE_EXTNAMES": "dark_files",
    "aws_client": "clients",
    "backoff_delay": "retry",
    "build_items": "mast",
    "dark_criteria": "mast",
    "date_to_mjd": "mast",
    "endpoint_url": "clients",
    "fetch_dark_files": "dark_files",
    "frame_suffixes": "mast",
    "full_frame_min_bytes": "mast",
    "http_session": "clients",
    "mast_instrument_names": "mast",
    "mast_s3_client": "clients",
    "mast_url": "locations",
    "month_is_active": "mast",
    "month_range": "mast",
    "month_window": "mast",
    "parse_month": "mast",
    "plan_darks": "mast",
    "plan_months": "mast",
    "query_month": "mast",
    "read_location": "readers",
    "reader_for": "readers",
    "region": "clients",
    "s3_filesystem": "clients",
    "s3_key": "locations",
    "s3_location": "locations",
    "split_s3": "locations",
    "summary": "mast",
    "summary_path": "mast",
    "wanted_suffixes": "mast",
    "with_retries": "retry",
    "with_timeouts": "clients",
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
