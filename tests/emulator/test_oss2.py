"""The emulator driven by oss2 (Alibaba's older Python SDK) and the deviations it found.

oss2 signs V1 (and V4 with `AuthV4`), sends `<BlockPublicAccess>True</...>` capitalised,
a PutBucket body with storage class and redundancy plus an `x-oss-acl` header.
"""

from __future__ import annotations

import base64
import hashlib
import json

import alibabacloud_oss_v2 as oss
import oss2
import pytest

from osspolicy.emulator import Emulator
from tests.emulator.conftest import AK, PRIVATE_POLICY, PUBLIC_POLICY, SK, make_client, raw_request


@pytest.fixture(params=["v1", "v4"])
def auth(request):
    return oss2.Auth(AK, SK) if request.param == "v1" else oss2.AuthV4(AK, SK)


def _bucket(emu: Emulator, auth, name: str) -> oss2.Bucket:
    return oss2.Bucket(auth, emu.endpoint, name, region=emu.region)


def test_oss2_manages_a_bucket_policy_and_block_public_access(emu, auth):
    """oss2 creates a bucket, puts/gets/deletes its policy, switches BPA, lists buckets."""
    bucket = _bucket(emu, auth, "oss2-bucket")
    bucket.create_bucket(oss2.BUCKET_ACL_PRIVATE)
    bucket.put_bucket_public_access_block(False)
    bpa_off = bucket.get_bucket_public_access_block().block_public_access
    bucket.put_bucket_policy(PUBLIC_POLICY)
    got = bucket.get_bucket_policy().policy
    bucket.delete_bucket_policy()
    bucket.put_bucket_public_access_block(True)
    bpa_on = bucket.get_bucket_public_access_block().block_public_access
    service = oss2.Service(auth, emu.endpoint, region=emu.region)
    names = [b.name for b in oss2.BucketIterator(service)]
    assert (bpa_off, json.loads(got), emu.state.get_policy("oss2-bucket"), bpa_on, names) == (
        False,
        json.loads(PUBLIC_POLICY),
        None,
        True,
        ["oss2-bucket"],
    )


def test_oss2_create_bucket_settings_are_kept_and_reported(emu, auth):
    """Storage class, redundancy and ACL of oss2's PutBucket come back in GetBucketInfo."""
    bucket = _bucket(emu, auth, "ia-bucket")
    config = oss2.models.BucketCreateConfig(
        oss2.BUCKET_STORAGE_CLASS_IA, data_redundancy_type=oss2.BUCKET_DATA_REDUNDANCY_TYPE_ZRS
    )
    bucket.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ, config)
    info = bucket.get_bucket_info()
    assert (info.storage_class, info.data_redundancy_type, info.acl.grant) == (
        "IA",
        "ZRS",
        "public-read",
    )


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(
            b"<CreateBucketConfiguration><StorageClass>Gold</StorageClass>"
            b"</CreateBucketConfiguration>",
            {},
            id="storage-class",
        ),
        pytest.param(
            b"<CreateBucketConfiguration><StorageClass>Standard</StorageClass>"
            b"<DataRedundancyType>XRS</DataRedundancyType></CreateBucketConfiguration>",
            {},
            id="redundancy",
        ),
        pytest.param(b"", {"x-oss-acl": "everyone"}, id="acl"),
    ],
)
def test_a_bad_put_bucket_setting_is_400_invalid_argument(emu, body, headers):
    """An unknown storage class, redundancy type or canned ACL is 400 InvalidArgument."""
    status, _, answer = raw_request(
        emu, "PUT", "/bad-settings", bucket="bad-settings", body=body, headers=headers
    )
    assert (status, b"<Code>InvalidArgument</Code>" in answer) == (400, True)
    assert not emu.state.has_bucket("bad-settings")


def test_a_put_bucket_body_that_is_not_its_xml_is_malformed(emu):
    """A PutBucket body that is not <CreateBucketConfiguration> is 400 MalformedXML."""
    status, _, answer = raw_request(
        emu, "PUT", "/odd-body", bucket="odd-body", body=b"<Other>1</Other>"
    )
    assert (status, b"<Code>MalformedXML</Code>" in answer) == (400, True)


def test_v2_sdk_sees_the_default_settings(emu, client):
    """A bucket created without settings is Standard, LRS and private in GetBucketInfo."""
    client.put_bucket(oss.PutBucketRequest(bucket="plain-bucket"))
    info = client.get_bucket_info(oss.GetBucketInfoRequest(bucket="plain-bucket")).bucket_info
    assert (info.storage_class, info.data_redundancy_type, info.acl) == (
        "Standard",
        "LRS",
        "private",
    )


@pytest.mark.parametrize("value", [b"True", b"FALSE", b"true", b"False"])
def test_block_public_access_accepts_the_services_boolean_spellings(emu, value):
    """<BlockPublicAccess> is read case-insensitively: True, FALSE, true, False."""
    emu.seed_buckets(["bpa-bucket"])
    body = b"<PublicAccessBlockConfiguration><BlockPublicAccess>%s</BlockPublicAccess>" % value
    body += b"</PublicAccessBlockConfiguration>"
    status, _, _ = raw_request(
        emu, "PUT", "/bpa-bucket?publicAccessBlock", bucket="bpa-bucket", body=body
    )
    assert (status, emu.state.get_block_public_access("bpa-bucket")) == (
        200,
        value.lower() == b"true",
    )


def _md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


@pytest.mark.parametrize(
    ("content_md5", "ec"),
    [
        pytest.param("not base64!", "0017-00000502", id="malformed"),
        pytest.param(base64.b64encode(b"short").decode(), "0017-00000502", id="too-short"),
        pytest.param(_md5(b"something else"), "0017-00000503", id="mismatch"),
    ],
)
def test_a_wrong_content_md5_is_400_invalid_digest(emu, content_md5, ec):
    """A malformed or mismatching Content-MD5 on a PUT is 400 InvalidDigest; nothing is stored."""
    emu.seed_buckets(["md5-bucket"])
    body = PRIVATE_POLICY.encode()
    status, headers, answer = raw_request(
        emu,
        "PUT",
        "/md5-bucket?policy",
        bucket="md5-bucket",
        body=body,
        headers={"Content-MD5": content_md5},
    )
    assert (status, b"<Code>InvalidDigest</Code>" in answer, headers.get("x-oss-ec")) == (
        400,
        True,
        ec,
    )
    assert emu.state.get_policy("md5-bucket") is None


def test_a_right_content_md5_is_accepted(emu):
    """A PUT whose Content-MD5 is the body's MD5 is served."""
    emu.seed_buckets(["md5-bucket"])
    body = PRIVATE_POLICY.encode()
    status, _, _ = raw_request(
        emu,
        "PUT",
        "/md5-bucket?policy",
        bucket="md5-bucket",
        body=body,
        headers={"Content-MD5": _md5(body)},
    )
    assert (status, emu.state.get_policy("md5-bucket")) == (200, body)


def test_the_v2_sdk_still_lists_through_make_client(emu):
    """make_client (the V2 SDK) and oss2 see the same buckets."""
    _bucket(emu, oss2.Auth(AK, SK), "shared-bucket").create_bucket()
    names = [b.name for b in make_client(emu).list_buckets(oss.ListBucketsRequest()).buckets]
    assert names == ["shared-bucket"]
