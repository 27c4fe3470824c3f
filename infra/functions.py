"""The three Lambda functions (plan, process_dark, summarize), their layers and least-privilege roles.

Architecture: arm64 (Graviton2): ~20 % cheaper per GB-second than x86_64 and as fast or
faster for numpy/scipy work; every wheel of the worker set ships aarch64 builds.  Runtime:
Python 3.12 (see ``layers/build.py``).

IAM, per function (each has its own role, no managed policies):

- ``plan``: write ``runs/*`` (the manifest); its MAST query is HTTPS to mast.stsci.edu.
- ``process_dark``: read ``arn:aws:s3:::stpubdata/hst/public/*`` (MAST's open-data bucket,
  read-only) and read/write/delete only under ``lake/*`` (a re-processed dark replaces its
  files; a fixed dark removes its stale failure file); read and write its receipts under
  ``runs/*/results/*`` (a retry finds what this run already did) and the group reference
  receipts under ``runs/*/references/*`` (method ``auto``: the reference itself is a lake
  object, ``lake/references/``); list only with prefixes ``lake/`` and ``runs/``.
- ``summarize``: read and write ``runs/*`` (the Map's ResultWriter files, the summary).
- each: create streams in and put events to its own log group only.

Time limits: ``process_dark`` runs inside an EXPRESS child workflow (5 minutes, retries
included): its timeout is :data:`WORKER_TIMEOUT_S` (``infra.workflow.child_worst_case_s``
checks the sum with the retry waits).  ``plan`` and ``summarize`` run in the Standard parent.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from hstcr_common.aws import ENV_MAX_CONCURRENCY, METRICS_NAMESPACE
from hstcr_common.aws.plan import MAX_REFERENCE_GROUP
from hstcr_common.model import ENV_LAKE, ENV_RUNS, ENV_S3_SIGNED
from hstcr_common.pipeline.cores import ONE_THREAD_ENVIRONMENT
from hstcr_common.pipeline.memory import MALLOC_ENVIRONMENT

from .lake import LAKE_PREFIX, RUNS_PREFIX, Lake
from .nag import acknowledge

REPO = Path(__file__).resolve().parents[1]
PLACEHOLDER_ASSET = Path(__file__).resolve().parent / "placeholder_asset"

#: MAST's public HST data in the AWS Open Data bucket (read-only for the worker).
STPUBDATA_BUCKET = "stpubdata"
STPUBDATA_PREFIX = "hst/public"

#: ``process_dark``'s timeout (s): one dark takes 1-4 s at 1769 MB (docs/aws.md); 180 s plus
#: the child's retry waits (46 s at most) stays under 80 % of the EXPRESS child's 300 s.
WORKER_TIMEOUT_S = 180
#: SCI + DQ of the largest CCD dark, as the partial reader fetches it (ACS/WFC, WFC3/UVIS:
#: two 2051 x 4096 chips of float32 + int16), MB
LARGEST_STAGED_DARK_MB = 101
#: ``process_dark``'s ephemeral storage (/tmp): a reference child keeps its group's darks
#: there between the build and their searches (``hstcr_common.aws.run_reference_item``),
#: at most the plan's largest group, plus 512 MB for astropy's cache and the runtime
WORKER_EPHEMERAL_MB = 1024 * math.ceil((MAX_REFERENCE_GROUP * LARGEST_STAGED_DARK_MB + 512) / 1024)
#: ``process_dark``'s memory (MB): one vCPU's worth of CPU time, the most a search can use.
#: Lambda's CPU share grows with memory and reaches one full vCPU at 1,769 MB; a dark is
#: searched on one thread (BLAS starts none: hstcr_common.pipeline.cores; measured CPU / wall
#: 0.99-1.00 for a search, a reference build and a group's searches), so above this the
#: extra share goes unused and only the GB-s grow (2048 MB cost 16 % more per dark).  Peak
#: memory is ~0.8 GB (an ACS/WFC reference child: build, then its darks' searches).
WORKER_MEMORY_MB = 1769
#: ``summarize`` reads the ResultWriter files of up to ~100,000 darks (~1 KB each) in memory.
SUMMARIZE_MEMORY_MB = 2048

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64


@dataclass(frozen=True)
class AssetPaths:
    """Directories of the Lambda assets: the worker layer, the plan layer, the handler code."""

    worker_layer: Path
    plan_layer: Path
    function_code: Path

    @classmethod
    def built(cls) -> "AssetPaths":
        """What ``python layers/build.py`` produced (building it first when missing)."""
        import importlib.util

        spec = importlib.util.spec_from_file_location("hstcr_layer_build", REPO / "layers" / "build.py")
        build = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(spec.name, build)  # dataclasses look their module up
        spec.loader.exec_module(build)
        base = build.BUILD / f"{build.TARGET_ARCH}-py{build.TARGET_PYTHON}"
        paths = cls(base / "layer", base / "plan-layer", build.BUILD / "function")
        if not all(p.is_dir() for p in (paths.worker_layer, paths.plan_layer)):
            build.build_layer()
            build.build_plan_layer()
        build.build_function_code()  # always fresh: it is the code being deployed
        return paths

    @classmethod
    def placeholder(cls) -> "AssetPaths":
        """A tiny directory standing in for every asset (template tests, no layer build)."""
        return cls(PLACEHOLDER_ASSET, PLACEHOLDER_ASSET, PLACEHOLDER_ASSET)


class Functions(Construct):
    """The plan, process_dark and summarize Lambda functions.

    Parameters
    ----------
    lake : Lake
        Where results go (bucket, ``lake/`` and ``runs/`` prefixes).
    assets : AssetPaths
        Layer and code directories.
    worker_memory_mb : int
        Memory of ``process_dark`` (CPU share scales with it).
    worker_timeout_s : int
        Time limit of one ``process_dark`` invocation (s); it runs in an EXPRESS child.
    max_concurrency : int
        The Map's default concurrency, given to ``plan`` (``hstcr aws submit`` may cap it).
    """

    def __init__(self, scope: Construct, construct_id: str, *, lake: Lake, assets: AssetPaths,
                 worker_memory_mb: int = WORKER_MEMORY_MB, worker_timeout_s: int = WORKER_TIMEOUT_S,
                 max_concurrency: int = 500,
                 log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH) -> None:
        super().__init__(scope, construct_id)
        self.worker_timeout_s = worker_timeout_s
        stack = Stack.of(self)
        bucket = lake.bucket

        self.worker_layer = lambda_.LayerVersion(
            self, "WorkerLayer", code=lambda_.Code.from_asset(str(assets.worker_layer)),
            compatible_runtimes=[RUNTIME], compatible_architectures=[ARCHITECTURE],
            description="hstcr worker set: numpy scipy astropy pyarrow pandas ppigrf (trimmed)",
        )
        self.plan_layer = lambda_.LayerVersion(
            self, "PlanLayer", code=lambda_.Code.from_asset(str(assets.plan_layer)),
            compatible_runtimes=[RUNTIME], compatible_architectures=[ARCHITECTURE],
            description="hstcr plan: astroquery and its pure-Python dependencies",
        )
        code = lambda_.Code.from_asset(str(assets.function_code))
        environment = {
            ENV_LAKE: lake.lake_root,
            ENV_RUNS: lake.runs_root,
            ENV_S3_SIGNED: "1",           # read stpubdata with the role (its read-only grant)
            "XDG_CACHE_HOME": "/tmp",     # astropy writes its config/cache: /tmp is writable
            "XDG_CONFIG_HOME": "/tmp",
            "POWERTOOLS_SERVICE_NAME": "hstcr",
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            # a warm worker reuses the last dark's memory instead of faulting in new pages,
            # Arrow's buffers included (hstcr_common.pipeline.memory)
            **MALLOC_ENVIRONMENT,
            # BLAS threads would only spin beside the search (hstcr_common.pipeline.cores)
            **ONE_THREAD_ENVIRONMENT,
        }

        lake_objects = bucket.arn_for_objects(f"{LAKE_PREFIX}/*")
        runs_objects = bucket.arn_for_objects(f"{RUNS_PREFIX}/*")
        receipts = bucket.arn_for_objects(f"{RUNS_PREFIX}/*/results/*")
        # method auto: a reference child's receipt, read by the dark children of its group
        reference_receipts = bucket.arn_for_objects(f"{RUNS_PREFIX}/*/references/*")

        def make(name: str, handler: str, *, memory: int, timeout: Duration, layers, description: str,
                 statements: list[iam.PolicyStatement], wildcard_reasons: dict[str, str],
                 extra_environment: dict[str, str] | None = None, ephemeral_mb: int = 512):
            log_group = logs.LogGroup(self, f"{name}Logs", retention=log_retention,
                                      removal_policy=RemovalPolicy.DESTROY)
            role = iam.Role(self, f"{name}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                            description=f"hstcr {name} function (least privilege)")
            policy = iam.Policy(self, f"{name}Policy", statements=[
                iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                    resources=[f"{log_group.log_group_arn}"]),
                *statements,
            ])
            policy.attach_to_role(role)
            fn = lambda_.Function(
                self, name, runtime=RUNTIME, architecture=ARCHITECTURE, handler=handler, code=code,
                layers=layers, memory_size=memory, timeout=timeout, role=role, log_group=log_group,
                environment={**environment, **(extra_environment or {})}, description=description,
                tracing=lambda_.Tracing.ACTIVE, ephemeral_storage_size=Size.mebibytes(ephemeral_mb),
            )
            # the policy must exist before the function runs (DependsOn the policy only: the role is
            # already a GetAtt dependency)
            fn.node.default_child.add_resource_dependency(policy.node.default_child)
            for finding, reason in wildcard_reasons.items():
                acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)
            # X-Ray write access CDK adds for Tracing.ACTIVE (xray:PutTraceSegments on *)
            acknowledge(role, "AwsSolutions-IAM5[Resource::*]",
                         "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level scoping.")
            acknowledge(fn, "AwsSolutions-L1",
                         "Python 3.12 is the newest runtime every wheel of the worker set is pinned and "
                         "tested for; the layer is built for it (layers/build.py).")
            return fn

        lake_reason = ("Objects under the lake prefix only: one Parquet file per dark and table, keys "
                       "are data-dependent (instrument/year/month/dataset).")
        runs_reason = "Objects under the runs/ prefix only: per-run manifests, results and summaries."
        bucket_arn_token = f"<{stack.get_logical_id(bucket.node.default_child)}.Arn>"

        self.plan = make(
            "Plan", "functions.plan.handler", memory=1024, timeout=Duration.minutes(15),
            layers=[self.worker_layer, self.plan_layer],
            description="hstcr plan: MAST query -> manifest JSONL in S3",
            statements=[iam.PolicyStatement(actions=["s3:PutObject", "s3:GetObject"], resources=[runs_objects])],
            wildcard_reasons={f"Resource::{bucket_arn_token}/{RUNS_PREFIX}/*": runs_reason},
            extra_environment={ENV_MAX_CONCURRENCY: str(int(max_concurrency))},
        )
        self.process_dark = make(
            "ProcessDark", "functions.process_dark.handler", memory=worker_memory_mb,
            timeout=Duration.seconds(worker_timeout_s), layers=[self.worker_layer],
            ephemeral_mb=WORKER_EPHEMERAL_MB,
            description="hstcr process_dark: one dark, stack group or group reference from stpubdata -> the lake",
            statements=[
                iam.PolicyStatement(
                    sid="ReadMastOpenData", actions=["s3:GetObject"],
                    resources=[f"arn:{stack.partition}:s3:::{STPUBDATA_BUCKET}/{STPUBDATA_PREFIX}/*"]),
                iam.PolicyStatement(
                    sid="ListLakeAndRuns", actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{LAKE_PREFIX}/*", f"{RUNS_PREFIX}/*"]}}),
                iam.PolicyStatement(
                    sid="WriteLake", actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                              "s3:AbortMultipartUpload"],
                    resources=[lake_objects]),
                iam.PolicyStatement(sid="RunReceipts", actions=["s3:GetObject", "s3:PutObject"],
                                    resources=[receipts]),
                # group references themselves go to <lake>/references/ (WriteLake covers them)
                iam.PolicyStatement(sid="ReferenceReceipts", actions=["s3:GetObject", "s3:PutObject"],
                                    resources=[reference_receipts]),
            ],
            wildcard_reasons={
                f"Resource::arn:<AWS::Partition>:s3:::{STPUBDATA_BUCKET}/{STPUBDATA_PREFIX}/*":
                    "Read-only access to MAST's public HST archive (AWS Open Data bucket stpubdata); "
                    "any dark may be requested.",
                f"Resource::{bucket_arn_token}/{LAKE_PREFIX}/*": lake_reason,
                f"Resource::{bucket_arn_token}/{RUNS_PREFIX}/*/results/*":
                    "Per-dark receipts under runs/<run_id>/results/ only; keys carry run id and dataset.",
                f"Resource::{bucket_arn_token}/{RUNS_PREFIX}/*/references/*":
                    "Per-group reference receipts under runs/<run_id>/references/ only; keys carry "
                    "run id and group.",
            },
        )
        self.summarize = make(
            "Summarize", "functions.summarize.handler", memory=SUMMARIZE_MEMORY_MB, timeout=Duration.minutes(15),
            layers=[self.worker_layer],
            description="hstcr summarize: counts, failures and a Parquet table of the run",
            statements=[
                iam.PolicyStatement(sid="ReadWriteRuns", actions=["s3:GetObject", "s3:PutObject"],
                                    resources=[runs_objects]),
            ],
            wildcard_reasons={f"Resource::{bucket_arn_token}/{RUNS_PREFIX}/*": runs_reason},
        )
        self.all = [self.plan, self.process_dark, self.summarize]
