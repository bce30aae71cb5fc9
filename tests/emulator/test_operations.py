"""Each supported operation, driven by the real Python SDK over real HTTP."""

from __future__ import annotations

import alibabacloud_oss_v2 as oss
import pytest

from osspolicy.emulator import Emulator
from tests.emulator.conftest import (
    PRIVATE_POLICY,
    PUBLIC_POLICY,
    make_client,
    raw_request,
    service_error,
)

BUCKET = "examplebucket"


@pytest.fixture
def bucket(emu: Emulator) -> str:
    emu.seed_buckets([BUCKET])
    return BUCKET


def _open_bpa(client: oss.Client, bucket: str) -> None:
    client.put_bucket_public_access_block(
        oss.PutBucketPublicAccessBlockRequest(
            bucket=bucket,
            public_access_block_configuration=oss.PublicAccessBlockConfiguration(
                block_public_access=False
            ),
        )
    )


def test_put_bucket_policy_answers_200_with_an_empty_body(client, bucket):
    """PutBucketPolicy answers 200 with no body."""
    result = client.put_bucket_policy(
        oss.PutBucketPolicyRequest(bucket=bucket, body=PRIVATE_POLICY)
    )
    assert (result.status_code, result.headers.get("Content-Length")) == (200, "0")


def test_get_bucket_policy_returns_the_bytes_exactly_as_put(client, bucket):
    """GetBucketPolicy returns the stored document byte for byte, as application/json."""
    odd = (
        '{ "Statement":[{"Effect":"Deny","Action":"oss:*","Principal":"1","Resource":"*"}],'
        '\n "Version" : "1" }'
    )
    client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=bucket, body=odd))
    result = client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=bucket))
    assert (result.body, result.headers["Content-Type"]) == (odd, "application/json")


def test_get_bucket_policy_without_a_policy_is_404_no_such_bucket_policy(client, bucket):
    """GetBucketPolicy on a bucket without a policy is 404 NoSuchBucketPolicy (0030-00000006)."""
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=bucket))
    error = service_error(excinfo)
    assert (error.status_code, error.code, error.ec) == (404, "NoSuchBucketPolicy", "0030-00000006")


def test_delete_bucket_policy_answers_204_and_removes_the_policy(emu, client, bucket):
    """DeleteBucketPolicy answers 204 and the bucket then has no policy."""
    client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=bucket, body=PRIVATE_POLICY))
    result = client.delete_bucket_policy(oss.DeleteBucketPolicyRequest(bucket=bucket))
    assert (result.status_code, emu.state.get_policy(bucket)) == (204, None)


def test_delete_bucket_policy_without_a_policy_answers_204(client, bucket):
    """Deleting a policy that does not exist is not an error: 204."""
    result = client.delete_bucket_policy(oss.DeleteBucketPolicyRequest(bucket=bucket))
    assert result.status_code == 204


def test_policy_status_is_not_public_without_a_policy(client, bucket):
    """GetBucketPolicyStatus says IsPublic false when the bucket has no policy."""
    result = client.get_bucket_policy_status(oss.GetBucketPolicyStatusRequest(bucket=bucket))
    assert result.policy_status.is_public is False


def test_policy_status_is_public_for_an_anonymous_grant(client, bucket):
    """With BPA off, a Principal "*" Allow makes GetBucketPolicyStatus say IsPublic true."""
    _open_bpa(client, bucket)
    client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=bucket, body=PUBLIC_POLICY))
    result = client.get_bucket_policy_status(oss.GetBucketPolicyStatusRequest(bucket=bucket))
    assert result.policy_status.is_public is True


def test_new_buckets_have_block_public_access_on(client):
    """A bucket created by PutBucket has Block Public Access on, as on the real service."""
    client.put_bucket(oss.PutBucketRequest(bucket="fresh-bucket"))
    result = client.get_bucket_public_access_block(
        oss.GetBucketPublicAccessBlockRequest(bucket="fresh-bucket")
    )
    assert result.public_access_block_configuration.block_public_access is True


def test_public_policy_with_block_public_access_on_is_403_access_denied(emu, client, bucket):
    """Putting a public policy while BPA is on is 403 AccessDenied and stores nothing."""
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=bucket, body=PUBLIC_POLICY))
    error = service_error(excinfo)
    assert (error.status_code, error.code, emu.state.get_policy(bucket)) == (
        403,
        "AccessDenied",
        None,
    )


def test_put_public_access_block_off_allows_a_public_policy(client, bucket):
    """After PutBucketPublicAccessBlock(false) a public policy is accepted."""
    _open_bpa(client, bucket)
    result = client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=bucket, body=PUBLIC_POLICY))
    assert result.status_code == 200


def test_get_public_access_block_reports_the_setting(client, bucket):
    """GetBucketPublicAccessBlock reports what PutBucketPublicAccessBlock set."""
    _open_bpa(client, bucket)
    result = client.get_bucket_public_access_block(
        oss.GetBucketPublicAccessBlockRequest(bucket=bucket)
    )
    assert result.public_access_block_configuration.block_public_access is False


def test_delete_public_access_block_answers_204_and_turns_it_off(emu, client, bucket):
    """DeleteBucketPublicAccessBlock answers 204 and leaves Block Public Access off."""
    result = client.delete_bucket_public_access_block(
        oss.DeleteBucketPublicAccessBlockRequest(bucket=bucket)
    )
    assert (result.status_code, emu.state.get_block_public_access(bucket)) == (204, False)


def test_put_bucket_creates_the_bucket_in_the_v4_scope_region(emu):
    """A V4 PutBucket creates the bucket in its signing region (here cn-shanghai)."""
    shanghai = make_client(emu, region="cn-shanghai")
    shanghai.put_bucket(oss.PutBucketRequest(bucket="sh-bucket", acl="private"))
    assert emu.state.bucket_region("sh-bucket") == "cn-shanghai"


def test_put_bucket_with_v1_uses_the_emulator_region(emu):
    """A V1 PutBucket (no region in its signature) creates the bucket in --region."""
    make_client(emu, signature_version="v1").put_bucket(oss.PutBucketRequest(bucket="v1-bucket"))
    assert emu.state.bucket_region("v1-bucket") == "cn-hangzhou"


def test_get_bucket_info_describes_the_bucket(emu, client, bucket):
    """GetBucketInfo returns the name, location, owner and BPA setting."""
    info = client.get_bucket_info(oss.GetBucketInfoRequest(bucket=bucket)).bucket_info
    assert (info.name, info.location, info.owner.id, info.block_public_access) == (
        bucket,
        "oss-cn-hangzhou",
        emu.account_id,
        True,
    )


def test_delete_bucket_answers_204_and_forgets_policy_and_settings(emu, client, bucket):
    """DeleteBucket answers 204; a bucket re-created under the name starts afresh."""
    _open_bpa(client, bucket)
    client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=bucket, body=PUBLIC_POLICY))
    result = client.delete_bucket(oss.DeleteBucketRequest(bucket=bucket))
    client.put_bucket(oss.PutBucketRequest(bucket=bucket))
    assert (result.status_code, emu.state.get_policy(bucket)) == (204, None)
    assert emu.state.get_block_public_access(bucket) is True


def test_list_buckets_lists_every_region(emu, client):
    """ListBuckets is account-wide: buckets of every region, each with its Region."""
    emu.seed_buckets(["hz-one"])
    emu.seed_buckets(["sh-one"], region="cn-shanghai")
    buckets = client.list_buckets(oss.ListBucketsRequest()).buckets
    assert {(b.name, b.region, b.location) for b in buckets} == {
        ("hz-one", "cn-hangzhou", "oss-cn-hangzhou"),
        ("sh-one", "cn-shanghai", "oss-cn-shanghai"),
    }


def test_list_buckets_paginator_returns_each_of_2500_buckets_once(emu, client):
    """The SDK paginator (limit 300) walks 2,500 buckets and sees each exactly once, sorted."""
    names = [f"page-{i:05d}" for i in range(2500)]
    emu.seed_buckets(reversed(names))
    seen = [
        b.name
        for page in client.list_buckets_paginator(limit=300).iter_page(oss.ListBucketsRequest())
        for b in page.buckets
    ]
    assert seen == names


def test_list_buckets_applies_prefix_and_marker(emu, client):
    """ListBuckets returns only names with the prefix and after the marker."""
    emu.seed_buckets(["aa-1", "ab-1", "ab-2", "ab-3", "ac-1"])
    result = client.list_buckets(oss.ListBucketsRequest(prefix="ab-", marker="ab-1"))
    assert [b.name for b in result.buckets] == ["ab-2", "ab-3"]


def test_list_buckets_pages_100_by_default(emu, client):
    """Without max-keys a page holds 100 buckets and says it is truncated at the 100th."""
    emu.seed_buckets(f"dflt-{i:03d}" for i in range(150))
    result = client.list_buckets(oss.ListBucketsRequest())
    assert (len(result.buckets), result.is_truncated, result.next_marker) == (
        100,
        True,
        "dflt-099",
    )


def test_list_buckets_page_over_100k_buckets_starts_after_the_marker(emu, client):
    """At 100,000 buckets a 1,000-key page holds exactly the 1,000 names after the marker."""
    emu.seed_buckets(f"big-{i:06d}" for i in range(100_000))
    result = client.list_buckets(oss.ListBucketsRequest(marker="big-050000", max_keys=1000))
    names = [b.name for b in result.buckets]
    assert (names[0], names[-1], len(names)) == ("big-050001", "big-051000", 1000)


def test_v1_signed_requests_are_accepted(emu, bucket):
    """A V1-signing client (signature_version='v1') can put and get a policy."""
    v1 = make_client(emu, signature_version="v1")
    v1.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=bucket, body=PRIVATE_POLICY))
    assert v1.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=bucket)).body == PRIVATE_POLICY


def test_virtual_host_style_takes_the_bucket_from_the_host(emu, bucket):
    """`PUT /?policy=` with Host `<bucket>.oss-cn-hangzhou.aliyuncs.com` reaches that bucket."""
    host = f"{bucket}.oss-cn-hangzhou.aliyuncs.com"
    status, _, _ = raw_request(
        emu, "PUT", "/?policy=", bucket=bucket, host=host, body=PRIVATE_POLICY.encode()
    )
    assert (status, emu.state.get_policy(bucket)) == (200, PRIVATE_POLICY.encode())
