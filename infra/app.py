"""CDK entry point (``cdk.json``: ``python -m infra.app``).

Context (``cdk deploy -c key=value``):

- ``hstcr:stackName`` (default ``hstcr``)
- ``hstcr:region`` (default: ``CDK_DEFAULT_REGION``, the CLI's region, else us-east-1) and
  ``hstcr:allowOtherRegion`` (false): the stack refuses any region but us-east-1 unless allowed
- ``hstcr:assets``: ``build`` (default: build/reuse ``layers/build``) or ``placeholder``
  (template tests: a tiny stand-in directory for every asset); env ``HSTCR_CDK_ASSETS``
  overrides
- ``hstcr:maxConcurrency`` (500), ``hstcr:itemsPerBatch`` (0 = one dark per invocation),
  ``hstcr:toleratedFailurePercentage`` (5), ``hstcr:xray`` (true),
  ``hstcr:workerMemoryMb`` (1769: one vCPU, ``infra.functions.WORKER_MEMORY_MB``), ``hstcr:bytesScannedCutoff`` (10 GiB)
"""

from __future__ import annotations

import os

import aws_cdk as cdk

from hstcr_common.model import truthy

from .functions import WORKER_MEMORY_MB, AssetPaths
from .stack import HOME_REGION, HstcrStack


S3_LOGS_BY_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"


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
    # S3 server access logs are granted by a bucket policy, not the legacy LogDeliveryWrite ACL
    # (cfn-lint W3045): the stack relies on it, with or without cdk.json
    if app.node.try_get_context(S3_LOGS_BY_POLICY) is None:
        app.node.set_context(S3_LOGS_BY_POLICY, True)
    assets_mode = os.environ.get("HSTCR_CDK_ASSETS") or _context(app, "assets", "build")
    assets = AssetPaths.placeholder() if assets_mode == "placeholder" else AssetPaths.built()
    region = _context(app, "region", None) or os.environ.get("CDK_DEFAULT_REGION") or HOME_REGION
    stack = HstcrStack(
        app, _context(app, "stackName", "hstcr"), assets=assets,
        env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=region),
        allow_other_region=_context(app, "allowOtherRegion", False, bool),
        max_concurrency=_context(app, "maxConcurrency", 500, int),
        items_per_batch=_context(app, "itemsPerBatch", 0, int),
        tolerated_failure_percentage=_context(app, "toleratedFailurePercentage", 5.0, float),
        xray=_context(app, "xray", True, bool),
        worker_memory_mb=_context(app, "workerMemoryMb", WORKER_MEMORY_MB, int),
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
