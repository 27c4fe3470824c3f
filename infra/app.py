"""CDK entry point (``cdk.json``: ``python -m infra.app``).

Context (``cdk deploy -c key=value``):

- ``hstcr:stackName`` (default ``hstcr``)
- ``hstcr:assets``: ``build`` (default: build/reuse ``layers/build``) or ``placeholder``
  (template tests: a tiny stand-in directory for every asset); env ``HSTCR_CDK_ASSETS``
  overrides
- ``hstcr:maxConcurrency`` (500), ``hstcr:itemsPerBatch`` (0 = one dark per invocation),
  ``hstcr:toleratedFailurePercentage`` (5), ``hstcr:xray`` (true),
  ``hstcr:workerMemoryMb`` (2048), ``hstcr:bytesScannedCutoff`` (10 GiB)
"""

from __future__ import annotations

import os

import aws_cdk as cdk

from hstcr_common.model import truthy

from .functions import AssetPaths
from .stack import HstcrStack


def _context(app: cdk.App, key: str, default, cast=str):
    value = app.node.try_get_context(f"hstcr:{key}")
    if value is None:
        return default
    if cast is bool:
        return value if isinstance(value, bool) else truthy(value)
    return cast(value)


def build_app(app: cdk.App | None = None, *, nag: bool = True) -> tuple[cdk.App, HstcrStack]:
    """The app with its one stack (and the cdk-nag AwsSolutions checks unless ``nag=False``)."""
    app = app or cdk.App()
    assets_mode = os.environ.get("HSTCR_CDK_ASSETS") or _context(app, "assets", "build")
    assets = AssetPaths.placeholder() if assets_mode == "placeholder" else AssetPaths.built()
    stack = HstcrStack(
        app, _context(app, "stackName", "hstcr"), assets=assets,
        max_concurrency=_context(app, "maxConcurrency", 500, int),
        items_per_batch=_context(app, "itemsPerBatch", 0, int),
        tolerated_failure_percentage=_context(app, "toleratedFailurePercentage", 5.0, float),
        xray=_context(app, "xray", True, bool),
        worker_memory_mb=_context(app, "workerMemoryMb", 2048, int),
        bytes_scanned_cutoff=_context(app, "bytesScannedCutoff", 10 * 1024**3, int),
        description="hstcr: cosmic rays in HST calibration darks (Lambda per dark, Parquet lake, Athena)",
    )
    if nag:
        from cdk_nag import AwsSolutionsChecks

        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
