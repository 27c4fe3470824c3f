"""hstcr: every cosmic ray in every HST calibration dark, as a Parquet lake you query with SQL.

The notebook entry point::

    import hstcr
    lake = hstcr.open_lake("hstcr-demo/lake")
    lake.sql("SELECT instrument, median(energy_e) FROM cosmic_rays GROUP BY 1").df()

Everything here is a re-export of :mod:`hstcr_common` (the package the CLI and the AWS
Lambdas use), imported on first use so ``import hstcr`` costs almost nothing.
"""

from __future__ import annotations

import importlib

from hstcr_common import __version__

_EXPORTS = {
    "open_lake": "hstcr_common.lake.notebook",
    "OpenLake": "hstcr_common.lake.notebook",
    "open_athena": "hstcr_common.aws",
    "AthenaLake": "hstcr_common.aws",
    "run": "hstcr_common.pipeline",
    "process_item": "hstcr_common.pipeline",
    "items_from_folder": "hstcr_common.pipeline",
    "read_items": "hstcr_common.pipeline",
    "load_dark": "hstcr_common.load",
    "find_cosmic_rays": "hstcr_common.detect",
    "write_sample": "hstcr_common.synthetic",
    "detectors": "hstcr_common.instruments",
    "HstcrError": "hstcr_common.model",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'hstcr' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
