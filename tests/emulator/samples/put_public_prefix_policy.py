# Copied unchanged from "Bucket policy (Python SDK V2)", Alibaba Cloud OSS documentation
# (last updated Feb 27, 2026): the client initialization followed by one sample.
# ruff: noqa: I001, Q000 - the page's code, kept exactly as published
# fmt: off

import argparse
import json
import alibabacloud_oss_v2 as oss

parser = argparse.ArgumentParser(description="bucket policy sample")
parser.add_argument('--region', help='The region in which the bucket is located.', required=True)
parser.add_argument('--bucket', help='The name of the bucket.', required=True)
parser.add_argument('--endpoint', help='The endpoint that other services can use to access OSS.')

args = parser.parse_args()

# Load access credentials from environment variables.
credentials_provider = oss.credentials.EnvironmentVariableCredentialsProvider()

cfg = oss.config.load_default()
cfg.credentials_provider = credentials_provider
cfg.region = args.region
if args.endpoint is not None:
    cfg.endpoint = args.endpoint

client = oss.Client(cfg)

policy = {
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "oss:GetObject"
            ],
            "Principal": [
                "*"
            ],
            "Resource": [
                "acs:oss:*:174649585760xxxx:examplebucket/public/*"
            ]
        }
    ]
}

result = client.put_bucket_policy(oss.PutBucketPolicyRequest(
    bucket=args.bucket,
    body=json.dumps(policy),
))

print(f'status code: {result.status_code}, request id: {result.request_id}')
