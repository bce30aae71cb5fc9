"""Each service error, in the real XML shape, through the real Python SDK over HTTP."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time

import alibabacloud_oss_v2 as oss
import pytest

from osspolicy.emulator import Emulator, handler
from tests.emulator.conftest import AK, PRIVATE_POLICY, make_client, raw_request, service_error

BUCKET = "examplebucket"


@pytest.fixture
def bucket(emu: Emulator) -> str:
    emu.seed_buckets([BUCKET])
    return BUCKET


def _policy(**overrides: object) -> str:
    statement = {
        "Effect": "Allow",
        "Action": ["oss:GetObject"],
        "Principal": ["20214760404935"],
        "Resource": ["acs:oss:*:174649585760:examplebucket/*"],
    }
    doc: dict[str, object] = {"Version": "1", "Statement": [statement]}
    doc.update(overrides)
    return json.dumps(doc)


def test_missing_bucket_is_404_no_such_bucket_with_its_ec(client):
    """Any operation on a missing bucket is 404 NoSuchBucket, EC 0015-00000101."""
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket="no-such-bucket"))
    error = service_error(excinfo)
    assert (error.status_code, error.code, error.ec) == (404, "NoSuchBucket", "0015-00000101")


def test_error_responses_are_xml_with_request_id_and_ec_headers(client):
    """Errors carry Content-Type application/xml, x-oss-request-id and x-oss-ec headers."""
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket="no-such-bucket"))
    error = service_error(excinfo)
    headers = error.headers
    assert (headers["Content-Type"], headers["x-oss-ec"], headers["x-oss-request-id"]) == (
        "application/xml",
        error.ec,
        error.request_id,
    )


def test_error_body_has_every_element_of_the_service_shape(client):
    """The <Error> body holds Code, Message, RequestId, HostId, BucketName, EC, RecommendDoc."""
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket="no-such-bucket"))
    fields = service_error(excinfo).error_fileds
    assert set(fields) >= {
        "Code",
        "Message",
        "RequestId",
        "HostId",
        "BucketName",
        "EC",
        "RecommendDoc",
    }


@pytest.mark.parametrize(
    ("body", "ec"),
    [
        pytest.param("{not json", "0030-00000005", id="not-json"),
        pytest.param(b'{"Version":"1","Statement":["\xff"]}', "0030-00000004", id="not-utf8"),
        pytest.param(_policy(Version="2"), "0030-00000002", id="version-2"),
        pytest.param(_policy(Version=1), "0030-00000005", id="version-number"),
        pytest.param(json.dumps({"Version": "1"}), "0030-00000005", id="no-statement"),
        pytest.param(_policy(Statement=[]), "0030-00000005", id="empty-statement"),
        pytest.param(
            _policy(Statement=[{**json.loads(_policy())["Statement"][0], "Effect": "Maybe"}]),
            "0030-00000005",
            id="unknown-effect",
        ),
        pytest.param(_policy(Sid="x" * 4096), "0030-00000003", id="value-over-4095-bytes"),
        pytest.param(_policy(Padding=["y" * 4000] * 5), "0030-00000001", id="body-16k"),
    ],
)
def test_invalid_policy_document_is_400_with_the_ec_of_its_cause(client, bucket, body, ec):
    """A policy the service refuses is 400 InvalidPolicyDocument with the EC of its cause."""
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=bucket, body=body))
    error = service_error(excinfo)
    assert (error.status_code, error.code, error.ec) == (400, "InvalidPolicyDocument", ec)


def test_wrong_secret_is_403_signature_does_not_match_and_not_retried(emu, bucket):
    """A wrong secret is 403 SignatureDoesNotMatch, sent once even by the default retryer."""
    client = make_client(emu, secret="not-the-secret", retry=True)
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=bucket))
    error = service_error(excinfo)
    assert (error.status_code, error.code, len(emu.request_log)) == (
        403,
        "SignatureDoesNotMatch",
        1,
    )


def test_unknown_access_key_is_403_invalid_access_key_id_and_not_retried(emu, bucket):
    """An unknown access key id is 403 InvalidAccessKeyId, sent once by the default retryer."""
    client = make_client(emu, access_key_id="LTAI5tNobodyKnowsThis", retry=True)
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=bucket))
    error = service_error(excinfo)
    assert (error.status_code, error.code, error.ec, len(emu.request_log)) == (
        403,
        "InvalidAccessKeyId",
        "0002-00000902",
        1,
    )


def test_v1_wrong_secret_is_403_signature_does_not_match(emu, bucket):
    """V1 signatures are verified too: a wrong secret is 403 SignatureDoesNotMatch."""
    client = make_client(emu, secret="not-the-secret", signature_version="v1")
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=bucket))
    assert service_error(excinfo).code == "SignatureDoesNotMatch"


def test_wrong_signing_region_is_400_invalid_argument(emu, bucket):
    """A V4 scope region that is not the bucket's is 400 InvalidArgument, EC 0002-00000226."""
    client = make_client(emu, region="cn-shanghai")
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=bucket))
    error = service_error(excinfo)
    assert (error.status_code, error.code, error.ec, error.message) == (
        400,
        "InvalidArgument",
        "0002-00000226",
        "Invalid signing region in Authorization header.",
    )


def test_request_time_too_skewed_beyond_15_minutes(emu, bucket):
    """A request signed 20 minutes ago is 403 RequestTimeTooSkewed."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    status, _, body = raw_request(
        emu, "GET", f"/{bucket}/?policy=", bucket=bucket, signing_time=past
    )
    assert (status, b"<Code>RequestTimeTooSkewed</Code>" in body) == (403, True)


def test_request_time_within_15_minutes_is_accepted(emu, bucket):
    """A request signed 10 minutes ago is still served."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    status, _, _ = raw_request(
        emu, "GET", f"/{bucket}/?policyStatus=", bucket=bucket, signing_time=past
    )
    assert status == 200


def test_unsigned_request_is_403_access_denied(emu, bucket):
    """A request without an Authorization header is 403 AccessDenied."""
    status, headers, body = raw_request(
        emu, "GET", f"/{bucket}/?policy=", bucket=bucket, sign=False
    )
    assert (status, headers["x-oss-ec"], b"<Code>AccessDenied</Code>" in body) == (
        403,
        "0003-00000001",
        True,
    )


def test_invalid_bucket_name_is_400_invalid_bucket_name(emu):
    """PutBucket with a name that breaks the naming rules is 400 InvalidBucketName."""
    status, _, body = raw_request(emu, "PUT", "/Bad_Name/", bucket="Bad_Name")
    assert (status, b"<Code>InvalidBucketName</Code>" in body, emu.state.bucket_names()) == (
        400,
        True,
        [],
    )


def test_too_many_buckets_once_the_quota_is_reached():
    """With max_buckets=2 the third PutBucket is 400 TooManyBuckets."""
    with Emulator(access_key_id=AK, access_key_secret="s3cret", max_buckets=2) as emu:
        client = make_client(emu, secret="s3cret")
        for name in ("quota-1", "quota-2"):
            client.put_bucket(oss.PutBucketRequest(bucket=name))
        with pytest.raises(oss.exceptions.OperationError) as excinfo:
            client.put_bucket(oss.PutBucketRequest(bucket="quota-3"))
    error = service_error(excinfo)
    assert (error.status_code, error.code) == (400, "TooManyBuckets")


def test_no_bucket_quota_by_default(emu, client):
    """Without max_buckets, PutBucket keeps succeeding past the service's 100 per region."""
    emu.seed_buckets(f"many-{i:03d}" for i in range(100))
    result = client.put_bucket(oss.PutBucketRequest(bucket="one-more"))
    assert result.status_code == 200


def test_creating_an_existing_bucket_is_409_bucket_already_exists(client, bucket):
    """PutBucket on an existing name is 409 BucketAlreadyExists, not a silent 200."""
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.put_bucket(oss.PutBucketRequest(bucket=bucket))
    assert (service_error(excinfo).status_code, service_error(excinfo).code) == (
        409,
        "BucketAlreadyExists",
    )


def test_unsupported_sub_resource_is_a_400_naming_it(client, bucket):
    """A sub-resource the emulator does not serve (GET ?acl) is a 400 whose message names it."""
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.get_bucket_acl(oss.GetBucketAclRequest(bucket=bucket))
    error = service_error(excinfo)
    assert (error.status_code, error.code, "'acl'" in error.message) == (
        400,
        "NotImplemented",
        True,
    )


def test_unsupported_write_is_a_400_not_a_silent_200(emu, client, bucket):
    """A write to an unsupported sub-resource (PUT ?acl) is refused with 400 and changes nothing."""
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.put_bucket_acl(oss.PutBucketAclRequest(bucket=bucket, acl="public-read"))
    assert (service_error(excinfo).status_code, emu.state.get_block_public_access(bucket)) == (
        400,
        True,
    )


def test_object_operations_are_a_400(client, bucket):
    """Object-level requests (GetObject) are a 400 NotImplemented, never a 5xx."""
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.get_object(oss.GetObjectRequest(bucket=bucket, key="some/key.txt"))
    assert (service_error(excinfo).status_code, service_error(excinfo).code) == (
        400,
        "NotImplemented",
    )


def test_malformed_public_access_block_body_is_400_malformed_xml(emu, bucket):
    """A PutBucketPublicAccessBlock body that is not the expected XML is 400 MalformedXML."""
    status, _, body = raw_request(
        emu, "PUT", f"/{bucket}/?publicAccessBlock=", bucket=bucket, body=b"<nope/>"
    )
    assert (status, b"<Code>MalformedXML</Code>" in body) == (400, True)


def test_deterministic_errors_are_never_retried_by_the_sdk(emu, bucket):
    """A policy refusal is a 4xx the default retryer does not repeat: one request logged."""
    client = make_client(emu, retry=True)
    with pytest.raises(oss.exceptions.OperationError):
        client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=bucket, body="{not json"))
    assert [e.status for e in emu.request_log] == [400]


def test_private_policy_is_accepted_under_block_public_access(client, bucket):
    """A policy granting one named account is not public, so BPA lets it through."""
    result = client.put_bucket_policy(
        oss.PutBucketPolicyRequest(bucket=bucket, body=PRIVATE_POLICY)
    )
    assert result.status_code == 200


def test_an_emulator_bug_answers_500_internal_error_in_xml(emu, client, bucket, monkeypatch):
    """If an operation itself fails unexpectedly, the answer is still the service's XML 500."""

    def broken(state, call):
        raise RuntimeError("boom")

    monkeypatch.setitem(handler.ROUTES, ("bucket", "GET", "policyStatus"), broken)
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.get_bucket_policy_status(oss.GetBucketPolicyStatusRequest(bucket=bucket))
    error = service_error(excinfo)
    assert (error.status_code, error.code) == (500, "InternalError")


def test_a_client_hanging_up_mid_body_is_logged_quietly(emu, caplog):
    """A PUT whose client disconnects before its body arrives is a log entry without a
    response, not an emulator error (no ERROR log, no 500)."""
    host, port = emu.endpoint.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"PUT /bucket-x/?policy= HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: 100\r\n\r\n" + b"{" * 10
        )
    deadline = time.monotonic() + 5
    while not emu.request_log and time.monotonic() < deadline:
        time.sleep(0.01)
    (entry,) = emu.request_log
    assert entry.status is None
    assert entry.error_code is None
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
