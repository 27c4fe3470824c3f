"""The one stack: lake + functions + workflow + dashboard and alarms, pinned to us-east-1,
every resource tagged for cost allocation, with cdk-nag acknowledgements where justified."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack, Tags, Token
from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from hstcr_common.aws import METRICS_NAMESPACE

from .functions import WORKER_MEMORY_MB, AssetPaths, Functions
from .lake import Lake
from .workflow import Workflow

#: Where MAST's open-data bucket ``stpubdata`` lives: reading ~100 MB per dark from another
#: region costs inter-region transfer (more than the compute) and is slower.
HOME_REGION = "us-east-1"
#: Cost-allocation tags on every taggable resource (activate ``Project`` in the Billing
#: console to see the stack's cost in Cost Explorer).
TAGS = {"Project": "hstcr", "CostCenter": "hstcr"}
#: Failed-darks alarm: more than this fraction of a 15-minute window's darks failed.
FAILED_DARKS_FRACTION = 0.05


class RegionError(ValueError):
    """The stack was asked to synthesize outside :data:`HOME_REGION` without being allowed."""


class HstcrStack(Stack):
    """Everything ``hstcr aws`` needs.

    Parameters
    ----------
    assets : AssetPaths
        Layer and code directories (:meth:`AssetPaths.built` to deploy,
        :meth:`AssetPaths.placeholder` for template tests).
    max_concurrency : int
        The Map's default concurrency (the plan passes it on; ``hstcr aws submit`` may cap it).
    items_per_batch, tolerated_failure_percentage, xray
        See :func:`infra.workflow.build_definition`.
    worker_memory_mb : int
        Memory of ``process_dark`` (MB).
    bytes_scanned_cutoff : int
        Athena's per-query limit (bytes).
    allow_other_region : bool
        Synthesize outside us-east-1 (context ``hstcr:allowOtherRegion=true``); otherwise a
        stack whose ``env`` is another region, or no region at all, raises :class:`RegionError`.
    """

    def __init__(self, scope: Construct, construct_id: str, *, assets: AssetPaths,
                 max_concurrency: int = 500, items_per_batch: int = 0,
                 tolerated_failure_percentage: float = 5.0, xray: bool = True,
                 worker_memory_mb: int = WORKER_MEMORY_MB, bytes_scanned_cutoff: int = 10 * 1024**3,
                 allow_other_region: bool = False, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if not allow_other_region and (Token.is_unresolved(self.region) or self.region != HOME_REGION):
            where = "no region (environment-agnostic)" if Token.is_unresolved(self.region) else self.region
            raise RegionError(
                f"hstcr deploys to {HOME_REGION}, where MAST's stpubdata bucket is; this stack was asked "
                f"for {where}. Deploy with AWS_REGION/CDK_DEFAULT_REGION={HOME_REGION} (or "
                f"-c hstcr:region={HOME_REGION}), or pass -c hstcr:allowOtherRegion=true to accept "
                "cross-region reads of every dark.")
        for key, value in TAGS.items():
            Tags.of(self).add(key, value)
        self.lake = Lake(self, "Lake", bytes_scanned_cutoff=bytes_scanned_cutoff)
        self.functions = Functions(self, "Functions", lake=self.lake, assets=assets,
                                   worker_memory_mb=worker_memory_mb, max_concurrency=max_concurrency)
        self.workflow = Workflow(self, "Workflow", lake=self.lake, functions=self.functions,
                                 items_per_batch=items_per_batch,
                                 tolerated_failure_percentage=tolerated_failure_percentage, xray=xray)
        self.dashboard, self.alarms = self._observability()
        # `hstcr aws` finds everything through these outputs
        CfnOutput(self, "StateMachineArn", value=self.workflow.state_machine.state_machine_arn)
        CfnOutput(self, "LakeBucketName", value=self.lake.bucket.bucket_name)
        CfnOutput(self, "LakeRoot", value=self.lake.lake_root)
        CfnOutput(self, "GlueDatabase", value=self.lake.database_name)
        CfnOutput(self, "AthenaWorkGroup", value=self.lake.workgroup_name)
        CfnOutput(self, "MaxConcurrency", value=str(int(max_concurrency)))
        CfnOutput(self, "DashboardUrl", value=(
            f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#dashboards:name={self.dashboard_name}"))

    @property
    def dashboard_name(self) -> str:
        return f"{self.stack_name}-hstcr"

    def _dark_metric(self, name: str, statistic: str = "Sum", period_min: int = 5) -> cw.Metric:
        """One of the workers' EMF metrics (:mod:`hstcr_common.aws.observe`)."""
        return cw.Metric(namespace=METRICS_NAMESPACE, metric_name=name, dimensions_map={"service": "hstcr"},
                         statistic=statistic, period=Duration.minutes(period_min))

    def _observability(self) -> tuple[cw.Dashboard, dict[str, cw.Alarm]]:
        """A dashboard of the run (darks, cosmic rays, time per dark, Lambda and Map health)
        and two alarms: failed darks, failed executions."""
        machine = self.workflow.state_machine
        worker = self.functions.process_dark
        done, failed, skipped = (self._dark_metric(n, period_min=15) for n in
                                 ("DarksDone", "DarksFailed", "DarksSkipped"))
        failed_fraction = cw.MathExpression(
            expression="IF(done + failed + skipped > 0, failed / (done + failed + skipped), 0)",
            using_metrics={"done": done, "failed": failed, "skipped": skipped},
            label="fraction of darks failed", period=Duration.minutes(15))
        alarms = {
            "darks": cw.Alarm(
                self, "FailedDarksAlarm", metric=failed_fraction, threshold=FAILED_DARKS_FRACTION,
                evaluation_periods=1, comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"More than {FAILED_DARKS_FRACTION:.0%} of the darks of a 15-minute window "
                                  "became failures rows (hstcr aws status; the failures table says why)."),
            "executions": cw.Alarm(
                self, "FailedExecutionsAlarm", metric=machine.metric_failed(period=Duration.minutes(5)),
                threshold=0, evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description="An hstcr run failed (the Map exceeded its tolerated failures or a "
                                  "function failed): hstcr aws status <arn>, then hstcr aws redrive <arn>."),
        }
        dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=self.dashboard_name)
        dashboard.add_widgets(
            cw.GraphWidget(title="Darks per 5 minutes", width=12, stacked=True,
                           left=[self._dark_metric(n) for n in ("DarksDone", "DarksSkipped", "DarksFailed")]),
            cw.GraphWidget(title="Cosmic rays per 5 minutes", width=12, left=[self._dark_metric("CosmicRays")]),
        )
        dashboard.add_widgets(
            cw.GraphWidget(title="Seconds per dark (p50, p99)", width=8,
                           left=[self._dark_metric("Seconds", "p50"), self._dark_metric("Seconds", "p99")]),
            cw.GraphWidget(title="process_dark: errors, throttles", width=8,
                           left=[worker.metric_errors(), worker.metric_throttles()]),
            cw.GraphWidget(title="process_dark: duration p99 (ms) and concurrency", width=8,
                           left=[worker.metric_duration(statistic="p99")],
                           right=[worker.metric("ConcurrentExecutions", statistic="Maximum")]),
        )
        dashboard.add_widgets(
            cw.GraphWidget(title="Executions", width=12,
                           left=[machine.metric_started(), machine.metric_succeeded(), machine.metric_failed()]),
            cw.AlarmStatusWidget(title="Alarms", width=12, alarms=list(alarms.values())),
        )
        return dashboard, alarms
