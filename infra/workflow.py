"""The Step Functions workflow: plan -> Distributed Map over the manifest -> summarize.

The Amazon States Language definition is built here as plain JSON (:func:`build_definition`)
with ``${...}`` placeholders that CloudFormation fills from ``DefinitionSubstitutions``; the
same JSON is what the moto test executes.

::

    Plan (Lambda: MAST -> runs/<run_id>/manifest.jsonl, and for method auto the group
          references to build, runs/<run_id>/references.jsonl)
      -> AnyReferences? --no--> AnyDarks
      -> BuildReferences: Distributed Map over references.jsonl, one EXPRESS child per group
             (process_dark with a "kind": "reference" item: reads the group's darks once,
             the group's reference into lake/references/, a receipt into
             runs/<run_id>/references/, then searches the darks against it while its time
             allows, each with its result receipt; groups are split by the plan to fit one
             child, hstcr_common.aws.plan.MAX_REFERENCE_GROUP).  Every failure is tolerated:
             a group whose reference is missing has its darks searched alone (threshold),
             each saying why in `exposures`.
      -> RemainingDarks (Lambda plan: the manifest less the darks the reference children
             searched, runs/<run_id>/remaining.jsonl; the plan's key and n_items point to it)
      -> AnyDarks? --no--> Summarize
      -> ProcessDarks: Distributed Map, ItemReader = the JSONL manifest in S3,
             child workflows EXPRESS, one item = one dark (auto/dq/threshold) or one group (stack),
             optional ItemBatcher (bounded so a batch fits the child's time limit),
             MaxConcurrencyPath (the plan's max_concurrency: `hstcr aws submit` caps it below
             the account's Lambda concurrency), ToleratedFailurePercentage,
             Lambda retries with full-jitter exponential backoff, ResultWriter -> runs/map-results/
      -> Summarize (Lambda: reads the ResultWriter files of both maps; runs/<run_id>/results.parquet)
      -> Done

Recovery: the Map has no Catch.  A map over its failure budget fails the execution *at the
Map state*, so ``RedriveExecution`` (``hstcr aws redrive``) restarts the Map Run's failed
children only (what succeeded is not run again) and then goes on to Summarize.  A Catch
leading to a Fail state would make a redrive restart at that Fail state, doing nothing.

Time limits: an EXPRESS child stops at 5 minutes, retries included, so the worker's Lambda
timeout plus the longest retry wait (:func:`child_worst_case_s`) must stay below
:data:`EXPRESS_CHILD_LIMIT_S` with room (:data:`CHILD_BUDGET_FRACTION`), and a batch may hold
only as many darks as fit the Lambda timeout (:func:`max_items_per_batch`).
"""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, RemovalPolicy, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .functions import WORKER_TIMEOUT_S, Functions
from .lake import RUNS_PREFIX, Lake
from .nag import acknowledge

#: Map results (ResultWriter) go under this prefix of the bucket.
MAP_RESULTS_PREFIX = f"{RUNS_PREFIX}/map-results"

#: Lambda errors worth retrying: throttling and transient service faults.
LAMBDA_TRANSIENT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
]

SUBSTITUTIONS = ("PlanFunctionArn", "ProcessDarkFunctionArn", "SummarizeFunctionArn", "LakeBucket")


#: An EXPRESS child workflow's hard limit (s): Step Functions stops it after 5 minutes.
EXPRESS_CHILD_LIMIT_S = 300
#: A child must finish within this fraction of the Express limit in the worst case
#: (Lambda timeout + every retry wait): 20 % of the limit is left as room.
CHILD_BUDGET_FRACTION = 0.8
#: Upper bound of one dark's Lambda time (s) used to size batches: the measured worst case
#: (ACS/WFC, WFC3/UVIS at 1769-2048 MB: 3.5 s processing + S3 read, docs/aws.md) times ~3.
DARK_SECONDS_BOUND = 12.0
#: Retry of transient Lambda errors in a child: waits 2, 4, 8, 16, 16 s at most.
RETRY_ATTEMPTS = 5
RETRY_INTERVAL_S = 2
RETRY_BACKOFF = 2.0
RETRY_MAX_DELAY_S = 16


def lambda_retry(max_attempts: int = RETRY_ATTEMPTS, max_delay_s: int = RETRY_MAX_DELAY_S) -> list[dict]:
    """Retry transient Lambda errors: 2 s, 4 s, 8 s ... capped at ``max_delay_s``, full jitter."""
    return [{
        "ErrorEquals": LAMBDA_TRANSIENT_ERRORS,
        "IntervalSeconds": RETRY_INTERVAL_S,
        "MaxAttempts": max_attempts,
        "BackoffRate": RETRY_BACKOFF,
        "MaxDelaySeconds": max_delay_s,
        "JitterStrategy": "FULL",
    }]


def retry_waits_s(retry: dict) -> float:
    """Longest total wait (s) of one Retry rule: every attempt waiting its full delay."""
    waits, delay = 0.0, float(retry["IntervalSeconds"])
    for _ in range(int(retry["MaxAttempts"])):
        waits += min(delay, float(retry.get("MaxDelaySeconds", delay)))
        delay *= float(retry.get("BackoffRate", 2.0))
    return waits


def child_worst_case_s(worker_timeout_s: float = WORKER_TIMEOUT_S) -> float:
    """Longest an EXPRESS child can run: one full Lambda invocation plus every retry wait.

    The retried errors (throttling, Lambda service faults) are answered when the invocation
    starts, so at most one attempt runs to the Lambda timeout.
    """
    return worker_timeout_s + sum(retry_waits_s(r) for r in lambda_retry())


def max_items_per_batch(worker_timeout_s: float = WORKER_TIMEOUT_S,
                        dark_seconds: float = DARK_SECONDS_BOUND) -> int:
    """Darks one batched invocation may hold: as many as fit the Lambda timeout at
    :data:`DARK_SECONDS_BOUND` each."""
    return max(1, int(worker_timeout_s // dark_seconds))


def _invoke(function_placeholder: str) -> dict:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${" + function_placeholder + "}", "Payload.$": "$"},
        "Retry": lambda_retry(),
    }


def _item_reader(key_path: str) -> dict:
    return {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSONL"},
        "Parameters": {"Bucket.$": "$.plan.bucket", "Key.$": key_path},
    }


def _result_writer() -> dict:
    return {"Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "${LakeBucket}", "Prefix": MAP_RESULTS_PREFIX}}


def build_definition(*, items_per_batch: int = 0, tolerated_failure_percentage: float = 5.0,
                     worker_timeout_s: float = WORKER_TIMEOUT_S) -> dict:
    """The state machine's ASL definition (a dict; placeholders ``${...}`` see :data:`SUBSTITUTIONS`).

    The Map's concurrency is read from the plan (``MaxConcurrencyPath: $.plan.max_concurrency``):
    the stack's ``hstcr:maxConcurrency`` unless ``hstcr aws submit`` capped it lower.

    Parameters
    ----------
    items_per_batch : int
        0: one item per child (no ItemBatcher).  >0: ItemBatcher with that many items per
        invocation (amortises the Lambda cold start for small darks); at most
        :func:`max_items_per_batch` so a batch fits the child's time limit.
    tolerated_failure_percentage : float
        Percentage of failed items (Lambda errors after retries, not failed darks: those are
        ``failures`` rows and succeed) before the map fails.
    worker_timeout_s : float
        The ``process_dark`` Lambda timeout (s), checked against the Express child limit.

    Raises
    ------
    ValueError
        When a child could outlive the Express limit or a batch could not fit.
    """
    worst = child_worst_case_s(worker_timeout_s)
    if worst > CHILD_BUDGET_FRACTION * EXPRESS_CHILD_LIMIT_S:
        raise ValueError(f"a child could run {worst:.0f} s (Lambda timeout {worker_timeout_s:.0f} s + "
                         f"retry waits); EXPRESS children stop at {EXPRESS_CHILD_LIMIT_S} s")
    if items_per_batch > max_items_per_batch(worker_timeout_s):
        raise ValueError(f"items_per_batch={items_per_batch}: at most {max_items_per_batch(worker_timeout_s)} "
                         f"darks of {DARK_SECONDS_BOUND:.0f} s fit a {worker_timeout_s:.0f} s invocation")
    def processor(state_name: str) -> dict:
        process = _invoke("ProcessDarkFunctionArn")
        process.update({"OutputPath": "$.Payload", "End": True})
        return {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                "StartAt": state_name, "States": {state_name: process}}

    run_settings = {
        "run_id.$": "$.plan.run_id",
        "method.$": "$.plan.method",
        "params.$": "$.plan.params",
        "reprocess.$": "$.plan.reprocess",
    }
    map_state = {
        "Type": "Map",
        "Comment": "One child per manifest line: a dark (auto, dq, threshold) or a group of darks (stack)",
        "ItemReader": _item_reader("$.plan.key"),
        "ItemSelector": {"item.$": "$$.Map.Item.Value", **run_settings},
        "ItemProcessor": processor("ProcessDark"),
        "MaxConcurrencyPath": "$.plan.max_concurrency",
        # a float: the same number, and the form every ASL parser accepts
        "ToleratedFailurePercentage": float(tolerated_failure_percentage),
        "ResultWriter": _result_writer(),
        "ResultPath": "$.map",
        # no Catch: a failed Map fails the execution here, where a redrive resumes it
        "Next": "Summarize",
    }
    references_state = {
        "Type": "Map",
        "Comment": "Method auto: one child per group builds its reference; a failed one only "
                   "sends its darks to threshold",
        "ItemReader": _item_reader("$.plan.references_key"),
        "ItemSelector": {"item.$": "$$.Map.Item.Value", **run_settings},
        "ItemProcessor": processor("BuildReference"),
        "MaxConcurrencyPath": "$.plan.max_concurrency",
        "ToleratedFailurePercentage": 100.0,
        "ResultWriter": _result_writer(),
        "ResultPath": "$.references",
        "Next": "RemainingDarks",
    }
    if items_per_batch > 0:
        map_state["ItemSelector"] = {"item.$": "$$.Map.Item.Value"}
        map_state["ItemBatcher"] = {"MaxItemsPerBatch": int(items_per_batch), "BatchInput": run_settings}

    plan_fields = {
        "run_id.$": "$.Payload.run_id", "bucket.$": "$.Payload.bucket", "key.$": "$.Payload.key",
        "n_items.$": "$.Payload.n_items", "n_items_planned.$": "$.Payload.n_items_planned",
        "method.$": "$.Payload.method",
        "references_key.$": "$.Payload.references_key", "n_groups.$": "$.Payload.n_groups",
        "n_darks.$": "$.Payload.n_darks",
        "params.$": "$.Payload.params", "reprocess.$": "$.Payload.reprocess",
        "max_concurrency.$": "$.Payload.max_concurrency",
    }
    plan = _invoke("PlanFunctionArn")
    plan["Parameters"] = {
        "FunctionName": "${PlanFunctionArn}",
        "Payload": {"request.$": "$", "execution_name.$": "$$.Execution.Name"},
    }
    plan.update({"ResultSelector": plan_fields, "ResultPath": "$.plan", "Next": "AnyReferences"})
    # method auto: the darks the reference children searched leave the manifest (the plan
    # function writes runs/<run_id>/remaining.jsonl and answers the plan with it)
    remaining = _invoke("PlanFunctionArn")
    remaining["Parameters"] = {"FunctionName": "${PlanFunctionArn}", "Payload": {"remaining.$": "$"}}
    remaining.update({"ResultSelector": plan_fields, "ResultPath": "$.plan", "Next": "AnyDarks"})
    summarize = _invoke("SummarizeFunctionArn")
    summarize.update({"ResultSelector": {"summary.$": "$.Payload"}, "ResultPath": "$.summary",
                      "Next": "Done"})
    return {
        "Comment": "hstcr: every cosmic ray in HST darks -- plan, one Lambda per dark, summarize",
        "StartAt": "Plan",
        "States": {
            "Plan": plan,
            "AnyReferences": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.plan.n_groups", "NumericGreaterThan": 0,
                             "Next": "BuildReferences"}],
                "Default": "AnyDarks",
            },
            "BuildReferences": references_state,
            "RemainingDarks": remaining,
            "AnyDarks": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.plan.n_items", "NumericGreaterThan": 0, "Next": "ProcessDarks"}],
                "Default": "Summarize",
            },
            "ProcessDarks": map_state,
            "Summarize": summarize,
            "Done": {"Type": "Succeed"},
        },
    }


def substitute(definition: dict | str, values: dict[str, str]) -> str:
    """Fill the ``${...}`` placeholders (what CloudFormation does with DefinitionSubstitutions)."""
    text = definition if isinstance(definition, str) else json.dumps(definition)
    for name in SUBSTITUTIONS:
        text = text.replace("${" + name + "}", values[name])
    return text


class Workflow(Construct):
    """The Standard state machine running a whole archive pass (child map runs are Express)."""

    def __init__(self, scope: Construct, construct_id: str, *, lake: Lake, functions: Functions,
                 items_per_batch: int = 0, tolerated_failure_percentage: float = 5.0,
                 xray: bool = True) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.definition = build_definition(items_per_batch=items_per_batch,
                                           tolerated_failure_percentage=tolerated_failure_percentage,
                                           worker_timeout_s=functions.worker_timeout_s)
        self.state_machine_name = f"{stack.stack_name}-darks"
        self.log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_MONTH,
                                       removal_policy=RemovalPolicy.DESTROY)
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
                        description="hstcr state machine: invoke the three functions, read the manifest, "
                                    "write map results, run its own map children")
        machine_arn = stack.format_arn(service="states", resource="stateMachine",
                                       resource_name=self.state_machine_name,
                                       arn_format=ArnFormat.COLON_RESOURCE_NAME)
        executions_arn = stack.format_arn(service="states", resource="execution",
                                          resource_name=f"{self.state_machine_name}/*",
                                          arn_format=ArnFormat.COLON_RESOURCE_NAME)
        runs_objects = lake.bucket.arn_for_objects(f"{RUNS_PREFIX}/*")
        fn_arns = [f.function_arn for f in functions.all]
        policy = iam.Policy(self, "Policy", statements=[
            iam.PolicyStatement(sid="InvokeFunctions", actions=["lambda:InvokeFunction"],
                                resources=fn_arns + [f"{a}:*" for a in fn_arns]),
            iam.PolicyStatement(sid="ManifestAndMapResults",
                                actions=["s3:GetObject", "s3:PutObject", "s3:ListMultipartUploadParts",
                                         "s3:AbortMultipartUpload"],
                                resources=[runs_objects]),
            iam.PolicyStatement(sid="RunMapChildren", actions=["states:StartExecution"],
                                resources=[machine_arn]),
            # RedriveExecution: a redriven parent redrives its Map Run's failed children
            iam.PolicyStatement(sid="WatchMapChildren",
                                actions=["states:DescribeExecution", "states:StopExecution",
                                         "states:RedriveExecution"],
                                resources=[executions_arn]),
        ])
        policy.attach_to_role(role)
        self.state_machine = sfn.StateMachine(
            self, "StateMachine",
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(json.dumps(self.definition, indent=1)),
            definition_substitutions={
                "PlanFunctionArn": functions.plan.function_arn,
                "ProcessDarkFunctionArn": functions.process_dark.function_arn,
                "SummarizeFunctionArn": functions.summarize.function_arn,
                "LakeBucket": lake.bucket.bucket_name,
            },
            role=role,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL,
                                include_execution_data=True),
            tracing_enabled=xray,
        )
        self.state_machine.node.default_child.add_resource_dependency(policy.node.default_child)

        fn_ids = [stack.get_logical_id(f.node.default_child) for f in functions.all]
        bucket_id = stack.get_logical_id(lake.bucket.node.default_child)
        for fn_id in fn_ids:
            acknowledge(policy, f"AwsSolutions-IAM5[Resource::<{fn_id}.Arn>:*]",
                "Invoking any version/alias of the stack's own function (lambda:invoke appends the qualifier).")
        acknowledge(policy, f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{RUNS_PREFIX}/*]",
            "Manifests and map results live under runs/; keys carry the run id.")
        region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
        acknowledge(policy, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:{region}:<AWS::AccountId>:"
               f"execution:{self.state_machine_name}/*]",
            "A Distributed Map starts, describes and stops child executions of this state machine "
                   "only; their names are generated.")
        # CDK's logging/X-Ray grants for state machines use Resource::* (the APIs have no ARNs)
        acknowledge(role, "AwsSolutions-IAM5[Resource::*]",
            "CloudWatch Logs delivery and X-Ray APIs used by Step Functions logging/tracing "
                   "do not support resource-level permissions.")

