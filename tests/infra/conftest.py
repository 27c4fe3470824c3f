"""Fixtures for the AWS tests: one CDK synth per session, and a moto server that executes the
synthesized state machine with Lambda invocations routed to the real handlers in-process."""

from __future__ import annotations

import importlib
import json
import os
import socket
import traceback
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def synth(tmp_path_factory):
    """``(template dict, validation report dict, assertions.Template)`` of the stack, synthesized
    once with placeholder assets and the cdk-nag AwsSolutions checks."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from infra.app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    context["hstcr:assets"] = "placeholder"  # no layer build for template tests
    app, stack = build_app(cdk.App(outdir=str(outdir), context=context))
    error = None
    try:
        app.synth()
    except Exception as err:  # noqa: BLE001 - cdk-nag failures surface in the report test
        error = err
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    template = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return {"template": template, "report": report, "error": error, "stack": stack,
            "assertions": Template.from_json(template), "outdir": outdir}


# --------------------------------------------------------------------------- moto

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _patch_moto_jsonl(monkeypatch):
    """moto's ItemReader knows InputType CSV and JSON; AWS also reads JSONL (one item per
    line), which the manifest is.  Teach moto JSONL the way AWS documents it."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader import item_reader_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_output_transformer.transformer_json import (
        ResourceOutputTransformerJson,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.reader_config import input_type

    original_init = input_type.InputType.__init__

    def init(self, input_type: str):
        if input_type == "JSONL":
            self.input_type_value = "JSONL"
        else:
            original_init(self, input_type)

    class JsonLines(ResourceOutputTransformerJson):
        def _eval_body(self, env):
            reader_config = env.stack.pop()
            text = env.stack.pop()
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
            env.stack.append(items[: reader_config["MaxItemsValue"]])

    original_factory = item_reader_decl.resource_output_transformer_for

    def factory(input_type):
        return JsonLines() if input_type.input_type_value == "JSONL" else original_factory(input_type)

    monkeypatch.setattr(input_type.InputType, "__init__", init)
    monkeypatch.setattr(item_reader_decl, "resource_output_transformer_for", factory)


def _patch_moto_result_writer(monkeypatch):
    """moto's ResultWriter writes a manifest listing no result files.  Write what AWS writes:
    ``SUCCEEDED_0.json``, a JSON array of child records whose ``Output`` is the child's
    output as a JSON string, listed in ``manifest.json``.  (moto keeps no record of failed
    children, so no ``FAILED_<n>.json`` is emulated; unit tests cover that shape.)"""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
        resource_eval_s3,
    )

    Eval = resource_eval_s3.ResourceEvalS3

    def put_object(env, resource_runtime_part, state_credentials):
        parameters = env.stack.pop()
        outputs = env.stack.pop()
        s3 = Eval._get_s3_client(resource_runtime_part=resource_runtime_part, state_credentials=state_credentials)
        record = env.map_run_record_pool_manager.get_all().pop()
        prefix = parameters["Prefix"].rstrip("/") + "/" if parameters["Prefix"] else ""
        folder = prefix + record.map_run_arn.split(":")[-1]
        records = [{"ExecutionArn": f"{record.map_run_arn}:{i}", "Name": str(i), "Status": "SUCCEEDED",
                    "Input": "{}", "Output": json.dumps(out), "RedriveCount": 0}
                   for i, out in enumerate(outputs if isinstance(outputs, list) else [])]
        files = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        if records:
            body = json.dumps(records).encode()
            s3.put_object(Bucket=parameters["Bucket"], Key=f"{folder}/SUCCEEDED_0.json", Body=body)
            files["SUCCEEDED"].append({"Key": f"{folder}/SUCCEEDED_0.json", "Size": len(body)})
        key = f"{folder}/manifest.json"
        s3.put_object(Bucket=parameters["Bucket"], Key=key, Body=json.dumps(
            {"DestinationBucket": parameters["Bucket"], "MapRunArn": record.map_run_arn, "ResultFiles": files}).encode())
        env.stack.append({"MapRunArn": record.map_run_arn,
                          "ResultWriterDetails": {"Bucket": parameters["Bucket"], "Key": key}})

    monkeypatch.setattr(Eval, "_handle_put_object", staticmethod(put_object))


def _route_lambda_to_handlers(monkeypatch, handlers: dict[str, str], calls: list):
    """moto's Lambda (no Docker) only echoes; route invocations of our functions to the
    real handlers (``functions.<module>.handler``) in this process, errors included."""
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda_simple.models import LambdaSimpleBackend

    original = LambdaBackend.invoke

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        name = function_name.split(":function:")[-1].split(":")[0]
        if name not in handlers:
            return original(self, function_name, qualifier, body, headers, response_headers)
        module = importlib.import_module(handlers[name])
        event = json.loads(body) if body else {}
        calls.append((name, event))
        try:
            result = module.handler(event, None)
        except Exception as err:  # the Lambda runtime's "Unhandled" error shape
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorMessage": str(err), "errorType": type(err).__name__,
                               "stackTrace": traceback.format_exc().splitlines()}).encode()
        return json.dumps(result, default=str).encode()

    monkeypatch.setattr(LambdaBackend, "invoke", invoke)
    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)  # the no-Docker backend


@pytest.fixture
def moto_server(monkeypatch):
    """A moto server (threaded, in-process) that executes state machines; boto3 and pyarrow
    both reach it through ``AWS_ENDPOINT_URL``.  Yields ``{"endpoint", "calls", "handlers"}``."""
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_S3": endpoint,
        "HSTCR_S3_SIGNED": "1",
        "MOTO_PORT": str(port),  # moto's state-machine interpreter calls services here
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
    monkeypatch.setitem(default_user_config, "lambda", {"use_docker": False})
    _patch_moto_jsonl(monkeypatch)
    _patch_moto_result_writer(monkeypatch)
    handlers: dict[str, str] = {}
    calls: list = []
    _route_lambda_to_handlers(monkeypatch, handlers, calls)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield {"endpoint": endpoint, "calls": calls, "handlers": handlers}
    finally:
        # moto's backends are process-global: leave nothing for the next test
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        server.stop()
        # clients cached by hstcr_common.remote.clients point at this server
        from hstcr_common.remote import clients

        clients._cache.clear()


@pytest.fixture
def fake_aws_env(monkeypatch):
    """Fake credentials and region, and no endpoint override: boto3 talks to moto's mock."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
