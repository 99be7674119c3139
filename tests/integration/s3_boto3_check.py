#!/usr/bin/python3
"""s3_boto3_check.py: cross-checks celeriac's S3 client with boto3 (Debian python3-boto3).

Run by tests/integration/test_s3.c as
    s3_boto3_check.py BUCKET OURS_KEY OURS_SHA256 THEIRS_KEY
with the stack's AWS_ENDPOINT_URL_S3 / AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_REGION in the environment. It reads OURS_KEY (written by celeriac) and checks its
SHA-256, then writes THEIRS_KEY with boto3 and prints "WROTE:<body>" so the C test can
read it back with celeriac. Path-style addressing, like the C client on custom endpoints.
Exits non-zero with a message on any mismatch.
"""
import hashlib
import os
import sys

import boto3
from botocore.config import Config


def main() -> int:
    bucket, ours, ours_sha, theirs = sys.argv[1:5]
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )
    body = s3.get_object(Bucket=bucket, Key=ours)["Body"].read()
    got = hashlib.sha256(body).hexdigest()
    if got != ours_sha:
        print(f"sha256 of {ours!r} read by boto3 is {got}, celeriac wrote {ours_sha}")
        return 1
    head = s3.head_object(Bucket=bucket, Key=ours)
    if head["ContentLength"] != len(body):
        print(f"boto3 HEAD length {head['ContentLength']} != {len(body)}")
        return 1
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=ours)
    keys = [o["Key"] for o in listed.get("Contents", [])]
    if ours not in keys and "&" not in ours:
        print(f"boto3 list does not show {ours!r}: {keys!r}")
        return 1
    text = f"written by boto3: key {theirs} \u00e9 + & = %"
    s3.put_object(Bucket=bucket, Key=theirs, Body=text.encode("utf-8"))
    sys.stdout.write("WROTE:" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
