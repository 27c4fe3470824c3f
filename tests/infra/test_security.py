"""Least privilege, checked on every policy statement of the synthesized template.

* No ``Allow`` uses a ``*`` resource where a narrower one exists: each action granted on
  ``*`` must be in :data:`WILDCARD_RESOURCE_OK`, the actions AWS does not scope to
  resources, each with its reason.  No wildcard actions (``*``, ``s3:*``), no
  ``NotAction``/``NotResource`` in an Allow.
* S3 object grants name a prefix (``lake/``, ``runs/``, ``stpubdata/hst/public/``), never a
  whole bucket; ``s3:ListBucket`` is always limited by an ``s3:prefix`` condition.
* Every bucket blocks public access, is encrypted, and denies any request not over TLS
  (``aws:SecureTransport = false``) on the bucket and its objects.
* Roles trust one AWS service principal each; no function environment holds a secret.

(The lake bucket's own settings and the per-function S3 grants are asserted in
``test_template.py``; this file covers every statement and every bucket.)
"""

from __future__ import annotations

import json
import re

import pytest

#: Actions allowed on ``Resource: "*"``, with why no narrower resource is possible.
WILDCARD_RESOURCE_OK = {
    # X-Ray: "Resource types" is empty for these in the Service Authorization Reference
    # (Actions, resources, and condition keys for AWS X-Ray): only "*" can be granted.
    "xray:PutTraceSegments": "X-Ray supports no resource-level permissions for it (active tracing)",
    "xray:PutTelemetryRecords": "X-Ray supports no resource-level permissions for it (active tracing)",
    "xray:GetSamplingRules": "X-Ray supports no resource-level permissions for it (sampling)",
    "xray:GetSamplingTargets": "X-Ray supports no resource-level permissions for it (sampling)",
    # Step Functions logging to CloudWatch Logs: the state machine role needs the vended-log
    # delivery APIs, which are account-level (Step Functions developer guide, "IAM policies
    # for logging to CloudWatch Logs", documents them with Resource "*").
    "logs:CreateLogDelivery": "vended log delivery API: account-level, not resource-scoped",
    "logs:GetLogDelivery": "vended log delivery API: account-level, not resource-scoped",
    "logs:UpdateLogDelivery": "vended log delivery API: account-level, not resource-scoped",
    "logs:DeleteLogDelivery": "vended log delivery API: account-level, not resource-scoped",
    "logs:ListLogDeliveries": "vended log delivery API: account-level, not resource-scoped",
    "logs:PutResourcePolicy": "CloudWatch Logs resource policies are account-level objects",
    "logs:DescribeResourcePolicies": "CloudWatch Logs resource policies are account-level objects",
    "logs:DescribeLogGroups": "Step Functions lists log groups when it sets up logging (documented with *)",
}

#: S3 prefixes a grant on objects may name (bucket ARN + one of these, or the public data)
OBJECT_PREFIXES = ("/lake/*", "/runs/*", "/runs/*/results/*", "/runs/*/references/*")
PUBLIC_DATA = ":s3:::stpubdata/hst/public/*"


def _as_list(x):
    return x if isinstance(x, list) else [x]


def _policy_documents(template):
    """(resource id, kind, policy document) for every policy in the template."""
    for rid, res in template["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield rid, "identity", props["PolicyDocument"]
        elif res["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield rid, "identity", policy["PolicyDocument"]
        elif res["Type"] in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            yield rid, "resource", props["PolicyDocument"]


def _statements(template, kind=None):
    for rid, k, doc in _policy_documents(template):
        if kind in (None, k):
            for st in _as_list(doc["Statement"]):
                yield rid, st


def _resource_text(resource) -> str:
    """A resource (string or CloudFormation intrinsic) flattened to text for matching."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and "Fn::Join" in resource:
        return "".join(_resource_text(p) for p in resource["Fn::Join"][1])
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return "{" + ".".join(resource["Fn::GetAtt"]) + "}"
    if isinstance(resource, dict) and "Ref" in resource:
        return "{" + resource["Ref"].replace(":", "-") + "}"  # no colons: ARN fields stay split
    return json.dumps(resource)


def test_template_has_the_expected_policies(synth):
    allows = [(rid, st) for rid, st in _statements(synth["template"], "identity")
              if st["Effect"] == "Allow"]
    assert len(allows) >= 15  # every role's statements are seen (guards a vacuous pass)


def test_no_wildcard_resource_where_a_narrower_one_exists(synth):
    problems, used = [], set()
    for rid, st in _statements(synth["template"], "identity"):
        if st["Effect"] != "Allow":
            continue
        assert "NotAction" not in st and "NotResource" not in st, (rid, st)
        resources = [_resource_text(r) for r in _as_list(st["Resource"])]
        if "*" in resources:
            for action in _as_list(st["Action"]):
                if action in WILDCARD_RESOURCE_OK:
                    used.add(action)
                else:
                    problems.append(f"{rid}: {action} on '*'")
        for text in resources:
            # an ARN whose resource part is only "*" (arn:aws:s3:::*, arn:aws:lambda:r:a:*,
            # ...:function:*) is a "*" in disguise; "<one function's ARN>:*" (its versions) is not
            if re.fullmatch(r"arn:[^:]+:[a-z0-9-]+:[^:]*:[^:]*:(\*|\*/\*|[a-zA-Z-]+[:/]\*)", text):
                problems.append(f"{rid}: resource {text} is service-wide")
    assert not problems, "\n".join(problems)
    print("actions granted on '*' (each one AWS does not scope):",
          {a: WILDCARD_RESOURCE_OK[a] for a in sorted(used)})


def test_no_wildcard_actions(synth):
    for rid, st in _statements(synth["template"], "identity"):
        if st["Effect"] == "Allow":
            for action in _as_list(st["Action"]):
                assert action != "*" and not action.endswith(":*") and "*" not in action, (rid, action)


def test_s3_grants_name_prefixes_not_buckets(synth):
    n = 0
    for rid, st in _statements(synth["template"], "identity"):
        actions = [a for a in _as_list(st["Action"]) if a.startswith("s3:")]
        if st["Effect"] != "Allow" or not actions:
            continue
        for resource in _as_list(st["Resource"]):
            text = _resource_text(resource)
            n += 1
            if actions == ["s3:ListBucket"]:
                # listing names a bucket, so it must be limited to prefixes by a condition
                prefixes = st["Condition"]["StringLike"]["s3:prefix"]
                assert all(p.endswith("/*") and p != "/*" for p in _as_list(prefixes)), (rid, st)
                assert text.startswith("{") and text.endswith(".Arn}"), (rid, text)
            else:
                assert "s3:ListBucket" not in actions, (rid, st)
                assert text.endswith(OBJECT_PREFIXES) or text.endswith(PUBLIC_DATA), (rid, text)
    assert n >= 7  # stpubdata, lake (list, objects), receipts, runs (plan, summarize, state machine)


def test_every_bucket_is_private_encrypted_and_tls_only(synth):
    t = synth["template"]
    buckets = {k: r for k, r in t["Resources"].items() if r["Type"] == "AWS::S3::Bucket"}
    assert len(buckets) >= 2  # the lake and its access-log bucket
    policies = {json.dumps(r["Properties"]["Bucket"]): r["Properties"]["PolicyDocument"]
                for r in t["Resources"].values() if r["Type"] == "AWS::S3::BucketPolicy"}
    for bid, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True}, bid
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], bid
        assert "AccessControl" not in props or props["AccessControl"] == "Private", bid
        doc = policies[json.dumps({"Ref": bid})]
        tls = [s for s in doc["Statement"] if s["Effect"] == "Deny"
               and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
        assert len(tls) == 1, bid
        deny = tls[0]
        assert deny["Principal"] in ({"AWS": "*"}, "*") and _as_list(deny["Action"]) == ["s3:*"], bid
        covered = {_resource_text(r) for r in _as_list(deny["Resource"])}
        assert covered == {f"{{{bid}.Arn}}", f"{{{bid}.Arn}}/*"}, (bid, covered)
        # no bucket policy grants anything to everyone
        for s in doc["Statement"]:
            if s["Effect"] == "Allow":
                assert s.get("Principal") not in ("*", {"AWS": "*"}), (bid, s)


def test_roles_trust_only_their_service(synth):
    roles = {k: r for k, r in synth["template"]["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert roles
    for rid, role in roles.items():
        (st,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert st["Effect"] == "Allow" and st["Action"] == "sts:AssumeRole", rid
        assert set(st["Principal"]) == {"Service"}, rid
        assert st["Principal"]["Service"] in ("lambda.amazonaws.com", "states.amazonaws.com"), rid


@pytest.mark.parametrize("pattern", [r"(?i)secret", r"(?i)password", r"(?i)token", r"(?i)access_?key"])
def test_no_function_environment_holds_a_secret(synth, pattern):
    for rid, res in synth["template"]["Resources"].items():
        if res["Type"] == "AWS::Lambda::Function":
            env = res["Properties"].get("Environment", {}).get("Variables", {})
            assert env, rid
            for key, value in env.items():
                assert not re.search(pattern, key), (rid, key)
                assert not re.search(pattern, json.dumps(value)), (rid, key)
