"""cdk-nag acknowledgements (cdk-nag 3 uses CDK's own ``Validations.of(...).acknowledge``)."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Record that ``rule`` (e.g. ``AwsSolutions-IAM5[Resource::*]``) is accepted on
    ``construct``, with the reason in words (a reviewer reads it in the template metadata)."""
    if not reason.strip():
        raise ValueError(f"an acknowledgement of {rule} needs a reason")
    pack = rule.split("-", 1)[0]
    # the pack-qualified id ("AwsSolutions::AwsSolutions-S1") is what cdk-nag reports, so the
    # acknowledgement shows up (with its reason) in the synthesized validation-report.json
    if "::" not in rule:
        rule = f"{pack}::{rule}"
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))
