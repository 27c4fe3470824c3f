"""Small reads and writes of ``s3://bucket/key`` objects: what the three Lambdas exchange.

Every call goes through the one S3 client of the process
(:func:`hstcr_common.remote.aws_client`: botocore standard retries, endpoint from boto3's
own settings, which is how the tests point it at moto).
"""

from __future__ import annotations

import json
import re

from ..model import HstcrError
from ..remote import aws_client

def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``; the key has no leading or trailing slash."""
    m = re.match(r"^s3://([^/]+)/?(.*)$", uri or "")
    if not m:
        raise HstcrError(f"not an s3:// location: {uri!r}")
    return m.group(1), m.group(2).strip("/")


def join(root: str, *parts: str) -> str:
    """``root/part/part``, one slash between parts whatever slashes they carry."""
    return "/".join([root.rstrip("/"), *[p.strip("/") for p in parts if p]])


def put(uri: str, body: bytes, content_type: str = "application/json") -> None:
    """Write one object."""
    bucket, key = split_s3(uri)
    aws_client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def exists(uri: str) -> bool:
    """True when the object exists.

    Asked by listing the exact key (``ListObjectsV2``, ``Prefix`` = the key), not by HEAD: a
    HEAD or GET of a missing key answers 403 instead of 404 unless the caller may list the
    whole bucket, and the functions may list only their own prefixes.
    """
    bucket, key = split_s3(uri)
    page = aws_client("s3").list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(obj["Key"] == key for obj in page.get("Contents", []))


def list_uris(prefix: str) -> list[str]:
    """Every object under the folder ``prefix`` (``s3://bucket/a/b`` lists ``a/b/...``)."""
    bucket, key = split_s3(prefix)
    paginator = aws_client("s3").get_paginator("list_objects_v2")
    return [f"s3://{bucket}/{obj['Key']}"
            for page in paginator.paginate(Bucket=bucket, Prefix=f"{key}/" if key else "")
            for obj in page.get("Contents", [])]


def read_json(uri: str):
    """The parsed JSON body of one object."""
    bucket, key = split_s3(uri)
    return json.loads(aws_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def read_text(uri: str) -> str:
    """The body of one object as text (UTF-8)."""
    bucket, key = split_s3(uri)
    return aws_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
