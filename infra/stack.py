"""The one stack: lake + functions + workflow, with cdk-nag acknowledgements where justified."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from .functions import AssetPaths, Functions
from .lake import Lake
from .workflow import Workflow


class HstcrStack(Stack):
    """Everything ``hstcr aws`` needs.

    Parameters
    ----------
    assets : AssetPaths
        Layer and code directories (:meth:`AssetPaths.built` to deploy,
        :meth:`AssetPaths.placeholder` for template tests).
    max_concurrency, items_per_batch, tolerated_failure_percentage, xray
        See :func:`infra.workflow.build_definition`.
    worker_memory_mb : int
        Memory of ``process_dark`` (MB).
    bytes_scanned_cutoff : int
        Athena's per-query limit (bytes).
    """

    def __init__(self, scope: Construct, construct_id: str, *, assets: AssetPaths,
                 max_concurrency: int = 500, items_per_batch: int = 0,
                 tolerated_failure_percentage: float = 5.0, xray: bool = True,
                 worker_memory_mb: int = 2048, bytes_scanned_cutoff: int = 10 * 1024**3,
                 **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.lake = Lake(self, "Lake", bytes_scanned_cutoff=bytes_scanned_cutoff)
        self.functions = Functions(self, "Functions", lake=self.lake, assets=assets,
                                   worker_memory_mb=worker_memory_mb,
                                   worker_timeout=Duration.minutes(15))
        self.workflow = Workflow(self, "Workflow", lake=self.lake, functions=self.functions,
                                 max_concurrency=max_concurrency, items_per_batch=items_per_batch,
                                 tolerated_failure_percentage=tolerated_failure_percentage, xray=xray)
        # `hstcr aws` finds everything through these outputs
        CfnOutput(self, "StateMachineArn", value=self.workflow.state_machine.state_machine_arn)
        CfnOutput(self, "LakeBucketName", value=self.lake.bucket.bucket_name)
        CfnOutput(self, "LakeRoot", value=self.lake.lake_root)
        CfnOutput(self, "GlueDatabase", value=self.lake.database_name)
        CfnOutput(self, "AthenaWorkGroup", value=self.lake.workgroup_name)
