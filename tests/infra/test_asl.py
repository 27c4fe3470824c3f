"""The state machine passes the Amazon States Language validator (``asl-validator`` from npm,
pinned in .ci/run), as synthesized and in its batched form, and the validator does reject a
broken definition (so a pass means something)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VALIDATOR = REPO / "node_modules" / ".bin" / "asl-validator"
#: The version .ci/run installs.
ASL_VALIDATOR_VERSION = "4.0.0"
ARNS = {"PlanFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:hstcr-plan",
        "ProcessDarkFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:hstcr-process",
        "SummarizeFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:hstcr-summarize",
        "LakeBucket": "hstcr-lake"}


def _validate(definition: str, tmp_path: Path) -> subprocess.CompletedProcess:
    if not VALIDATOR.exists():
        pytest.fail(f"asl-validator missing: npm install --no-save asl-validator@{ASL_VALIDATOR_VERSION} "
                    "(.ci/run does)")
    path = tmp_path / "definition.json"
    path.write_text(definition)
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    return subprocess.run([str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_validator_is_the_pinned_version():
    if not VALIDATOR.exists():
        pytest.fail(f"asl-validator missing: npm install --no-save asl-validator@{ASL_VALIDATOR_VERSION}")
    package = json.loads((REPO / "node_modules" / "asl-validator" / "package.json").read_text())
    assert package["version"] == ASL_VALIDATOR_VERSION
    run = (REPO / ".ci" / "run").read_text()
    assert f"asl-validator@{ASL_VALIDATOR_VERSION}" in run


def test_synthesized_definition_is_valid_asl(synth, tmp_path):
    from infra.workflow import substitute

    machine = next(r for r in synth["template"]["Resources"].values()
                   if r["Type"] == "AWS::StepFunctions::StateMachine")
    proc = _validate(substitute(machine["Properties"]["DefinitionString"], ARNS), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is valid" in proc.stdout


def test_batched_definition_is_valid_asl(tmp_path):
    from infra.workflow import build_definition, max_items_per_batch, substitute

    proc = _validate(substitute(build_definition(items_per_batch=max_items_per_batch()), ARNS), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_validator_rejects_a_broken_definition(tmp_path):
    from infra.workflow import build_definition, substitute

    broken = build_definition()
    broken["States"]["ProcessDarks"]["MaxConcurrencyPath"] = 3  # must be a path string
    proc = _validate(substitute(broken, ARNS), tmp_path)
    assert proc.returncode != 0 and "MaxConcurrencyPath" in proc.stdout + proc.stderr
