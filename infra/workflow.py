"""The Step Functions workflow: plan -> Distributed Map over the manifest -> summarize.

The Amazon States Language definition is built here as plain JSON (:func:`build_definition`)
with ``${...}`` placeholders that CloudFormation fills from ``DefinitionSubstitutions``; the
same JSON is what the moto test executes.

::

    Plan (Lambda: MAST -> runs/<run_id>/manifest.jsonl)
      -> AnyDarks? --no--> Summarize
      -> ProcessDarks: Distributed Map, ItemReader = the JSONL manifest in S3,
             child workflows EXPRESS, one item = one dark (dq/threshold) or one group (stack),
             optional ItemBatcher, MaxConcurrency, ToleratedFailurePercentage,
             Lambda retries with full-jitter exponential backoff, ResultWriter -> runs/map-results/
      -> Summarize (Lambda: counts, failures, runs/<run_id>/results.parquet)
      -> Failed? (the map exceeded its tolerated failures) -> Fail | Succeed
"""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .functions import Functions
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


def lambda_retry(max_attempts: int = 6) -> list[dict]:
    """Retry transient Lambda errors: 2 s, 4 s, 8 s ... capped at 60 s, full jitter."""
    return [{
        "ErrorEquals": LAMBDA_TRANSIENT_ERRORS,
        "IntervalSeconds": 2,
        "MaxAttempts": max_attempts,
        "BackoffRate": 2.0,
        "MaxDelaySeconds": 60,
        "JitterStrategy": "FULL",
    }]


def _invoke(function_placeholder: str) -> dict:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${" + function_placeholder + "}", "Payload.$": "$"},
        "Retry": lambda_retry(),
    }


def build_definition(*, max_concurrency: int = 500, items_per_batch: int = 0,
                     tolerated_failure_percentage: float = 5.0) -> dict:
    """The state machine's ASL definition (a dict; placeholders ``${...}`` see :data:`SUBSTITUTIONS`).

    Parameters
    ----------
    max_concurrency : int
        Child workflows running at once (each one Lambda invocation); 0 lets Step Functions
        decide (up to 10,000).
    items_per_batch : int
        0: one item per child (no ItemBatcher).  >0: ItemBatcher with that many items per
        invocation (amortises the Lambda cold start for small darks).
    tolerated_failure_percentage : float
        Percentage of failed items (Lambda errors after retries, not failed darks: those are
        ``failures`` rows and succeed) before the map fails.
    """
    process = _invoke("ProcessDarkFunctionArn")
    process.update({"OutputPath": "$.Payload", "End": True})
    item_processor = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
        "StartAt": "ProcessDark",
        "States": {"ProcessDark": process},
    }
    run_settings = {
        "run_id.$": "$.plan.run_id",
        "method.$": "$.plan.method",
        "params.$": "$.plan.params",
        "reprocess.$": "$.plan.reprocess",
    }
    map_state = {
        "Type": "Map",
        "Comment": "One child per manifest line: a dark (dq, threshold) or a group of darks (stack)",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSONL"},
            "Parameters": {"Bucket.$": "$.plan.bucket", "Key.$": "$.plan.key"},
        },
        "ItemSelector": {"item.$": "$$.Map.Item.Value", **run_settings},
        "ItemProcessor": item_processor,
        "MaxConcurrency": int(max_concurrency),
        # a float: the same number, and the form every ASL parser accepts
        "ToleratedFailurePercentage": float(tolerated_failure_percentage),
        "ResultWriter": {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "${LakeBucket}", "Prefix": MAP_RESULTS_PREFIX},
        },
        "ResultPath": "$.map",
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.map_error", "Next": "Summarize"}],
        "Next": "Summarize",
    }
    if items_per_batch > 0:
        map_state["ItemSelector"] = {"item.$": "$$.Map.Item.Value"}
        map_state["ItemBatcher"] = {"MaxItemsPerBatch": int(items_per_batch), "BatchInput": run_settings}

    plan = _invoke("PlanFunctionArn")
    plan["Parameters"] = {
        "FunctionName": "${PlanFunctionArn}",
        "Payload": {"request.$": "$", "execution_name.$": "$$.Execution.Name"},
    }
    plan.update({
        "ResultSelector": {
            "run_id.$": "$.Payload.run_id", "bucket.$": "$.Payload.bucket", "key.$": "$.Payload.key",
            "n_items.$": "$.Payload.n_items", "method.$": "$.Payload.method",
            "params.$": "$.Payload.params", "reprocess.$": "$.Payload.reprocess",
        },
        "ResultPath": "$.plan",
        "Next": "AnyDarks",
    })
    summarize = _invoke("SummarizeFunctionArn")
    summarize.update({"ResultSelector": {"summary.$": "$.Payload"}, "ResultPath": "$.summary",
                      "Next": "MapFailed"})
    return {
        "Comment": "hstcr: every cosmic ray in HST darks -- plan, one Lambda per dark, summarize",
        "StartAt": "Plan",
        "States": {
            "Plan": plan,
            "AnyDarks": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.plan.n_items", "NumericGreaterThan": 0, "Next": "ProcessDarks"}],
                "Default": "Summarize",
            },
            "ProcessDarks": map_state,
            "Summarize": summarize,
            "MapFailed": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.map_error", "IsPresent": True, "Next": "TooManyFailures"}],
                "Default": "Done",
            },
            "TooManyFailures": {"Type": "Fail", "Error": "hstcr.TooManyFailures",
                                "Cause": "The Distributed Map exceeded its tolerated failure percentage"},
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
                 max_concurrency: int = 500, items_per_batch: int = 0,
                 tolerated_failure_percentage: float = 5.0, xray: bool = True) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.definition = build_definition(max_concurrency=max_concurrency,
                                           items_per_batch=items_per_batch,
                                           tolerated_failure_percentage=tolerated_failure_percentage)
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
            iam.PolicyStatement(sid="WatchMapChildren",
                                actions=["states:DescribeExecution", "states:StopExecution"],
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
        acknowledge(policy, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
               f"execution:{self.state_machine_name}/*]",
            "A Distributed Map starts, describes and stops child executions of this state machine "
                   "only; their names are generated.")
        # CDK's logging/X-Ray grants for state machines use Resource::* (the APIs have no ARNs)
        acknowledge(role, "AwsSolutions-IAM5[Resource::*]",
            "CloudWatch Logs delivery and X-Ray APIs used by Step Functions logging/tracing "
                   "do not support resource-level permissions.")

