"""The one door to the SDK: every SDK failure becomes one of our errors, once."""

from __future__ import annotations

import pytest
import requests
from alibabacloud_oss_v2 import exceptions as sdk

from osspolicy._internal import errors
from osspolicy._internal.backends.wire import (
    ERROR_CODES,
    bucket_page,
    credentials_reason,
    map_oss_errors,
    translate,
)

#: every code of oss_wire_spec.md §3 with its status, and whether it must be retried
SPEC_CODES = [
    ("NoSuchBucket", 404, errors.NoSuchBucket, False),
    ("NoSuchBucketPolicy", 404, errors.NoSuchBucketPolicy, False),
    ("InvalidPolicyDocument", 400, errors.InvalidPolicyDocument, False),
    ("AccessDenied", 403, errors.AccessDenied, False),
    ("PermanentRedirect", 403, errors.PermanentError, False),
    ("InvalidArgument", 400, errors.InvalidArgument, False),
    ("SignatureDoesNotMatch", 403, errors.SignatureDoesNotMatch, False),
    ("InvalidAccessKeyId", 403, errors.InvalidAccessKeyId, False),
    ("RequestTimeTooSkewed", 403, errors.ClockSkewed, True),
    ("TooManyBuckets", 400, errors.PermanentError, False),
    ("InternalError", 500, errors.ServerError, True),
    ("ServiceUnavailable", 503, errors.Throttled, True),
]


def service_error(code: str | None, status: int, ec: str = "0000") -> sdk.OperationError:
    inner = sdk.ServiceError(
        status_code=status,
        code=code,
        message=f"{code} happened",
        request_id="RID1",
        ec=ec,
        timestamp="",
        request_target="GET http://127.0.0.1/b/?policy",
    )
    return sdk.OperationError(name="GetBucketPolicy", error=inner)


@pytest.mark.parametrize(("code", "status", "cls", "transient"), SPEC_CODES)
def test_every_spec_code_is_classified(
    code: str, status: int, cls: type[errors.BackendError], transient: bool
) -> None:
    """Each service code of the wire spec maps to its class, transient exactly when the
    service means 'try again'; code, status and request id are kept."""
    mapped = translate(service_error(code, status))
    assert type(mapped) is cls
    assert isinstance(mapped, errors.TransientError) is transient
    assert isinstance(mapped, errors.BackendError)
    assert (mapped.code, mapped.status, mapped.request_id) == (code, status, "RID1")


def test_the_table_covers_the_spec() -> None:
    """No code of the spec is left to the status fallback."""
    assert {code for code, *_ in SPEC_CODES} <= set(ERROR_CODES)


def test_an_unknown_code_is_a_permanent_error_carrying_the_code() -> None:
    """A code we have never seen fails the bucket with that code, without retries."""
    mapped = translate(service_error("BrandNewCode", 409))
    assert type(mapped) is errors.PermanentError
    assert mapped.code == "BrandNewCode"


@pytest.mark.parametrize(("status", "cls"), [(502, errors.ServerError), (429, errors.Throttled)])
def test_unknown_codes_with_retryable_statuses_are_transient(
    status: int, cls: type[errors.BackendError]
) -> None:
    """An unnamed 5xx is a server error and a 429 is throttling: both retried."""
    assert type(translate(service_error(None, status))) is cls


def test_connection_errors_are_network_errors() -> None:
    """A refused or reset connection (no response) is a transient NetworkError."""
    exc = sdk.OperationError(
        name="GetBucketPolicy",
        error=sdk.RequestError(error=requests.exceptions.ConnectionError("reset by peer")),
    )
    assert type(translate(exc)) is errors.NetworkError


def test_read_timeouts_are_timeouts() -> None:
    """A read timeout is a transient Timeout."""
    exc = sdk.OperationError(
        name="GetBucketPolicy",
        error=sdk.ResponseError(error=requests.exceptions.ReadTimeout("read timed out")),
    )
    assert type(translate(exc)) is errors.Timeout


def test_missing_credentials_are_a_config_error() -> None:
    """No access key in the environment is bad input (exit 2), not a bucket failure."""
    exc = sdk.OperationError(name="GetBucketPolicy", error=sdk.CredentialsEmptyError())
    mapped = translate(exc)
    assert isinstance(mapped, errors.CredentialsError)
    assert "OSS_ACCESS_KEY_ID" in str(mapped)


def test_map_oss_errors_translates_and_chains() -> None:
    """Inside map_oss_errors an SDK error comes out as ours, the original as __cause__."""
    original = service_error("NoSuchBucket", 404)
    with pytest.raises(errors.NoSuchBucket) as info, map_oss_errors():
        raise original
    assert info.value.__cause__ is original


@pytest.mark.parametrize("code", ["InvalidAccessKeyId", "AccessDenied", "SecurityTokenExpired"])
def test_an_expired_security_token_is_retried_with_fresh_credentials(code: str) -> None:
    """A 403 with EC 0002-00000007 is CredentialsExpired, whatever its code: transient, so
    the retry signs again and the SDK asks the credentials provider for fresh ones."""
    mapped = translate(service_error(code, 403, ec="0002-00000007"))
    assert type(mapped) is errors.CredentialsExpired
    assert isinstance(mapped, errors.TransientError)
    assert (mapped.code, mapped.ec) == (code, "0002-00000007")


class LibraryError(Exception):
    """Shaped like the credentials library's exception: a `message`, no args."""

    def __init__(self, message: str) -> None:
        self.message = message


def test_a_failed_refresh_is_transient_and_shows_no_response_body() -> None:
    """Credentials that cannot be fetched during a job (resolved before it) are retried;
    the message drops the response body and URL queries the library quotes."""
    cause = LibraryError(
        "error refreshing credentials from http://h/c?token=t0k, http_code=500, "
        'result: {"AccessKeySecret": "s3cr3t"}'
    )
    exc = sdk.OperationError(name="GetBucketPolicy", error=sdk.CredentialsFetchError(error=cause))
    mapped = translate(exc)
    assert type(mapped) is errors.CredentialsExpired
    assert mapped.code == "CredentialsFetchError"
    assert "s3cr3t" not in str(mapped)
    assert "t0k" not in str(mapped)
    assert "http_code=500" in str(mapped)


def test_a_credentials_reason_is_one_short_line() -> None:
    """Whatever the library says, the reason is one line of at most 300 characters."""
    reason = credentials_reason(LibraryError("a\nb " * 400))
    assert "\n" not in reason
    assert len(reason) <= 300


# -- ListBuckets answers, read without the SDK's model (issue 15: its per-bucket strptime)


class _Answer:
    """What `bucket_page` reads of an SDK OperationOutput: the body and the headers."""

    def __init__(self, content: bytes) -> None:
        self.http_response = type("Response", (), {"content": content})()
        self.headers = {"x-oss-request-id": "RID9"}


def _list_xml(buckets: str, *, truncated: bool, next_marker: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult>'
        "<Prefix>b</Prefix><Marker></Marker><MaxKeys>2</MaxKeys>"
        f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
        f"<NextMarker>{next_marker}</NextMarker>"
        "<Owner><ID>1234</ID><DisplayName>1234</DisplayName></Owner>"
        f"<Buckets>{buckets}</Buckets></ListAllMyBucketsResult>"
    ).encode()


_TWO = (
    "<Bucket><CreationDate>2026-01-01T00:00:00.000Z</CreationDate><Location>oss-cn-beijing"
    "</Location><Name>b-1</Name><Region>cn-beijing</Region></Bucket>"
    "<Bucket><Location>oss-cn-hangzhou</Location><Name>b-2</Name></Bucket>"
)


def test_a_list_page_gives_names_regions_owner_and_the_next_marker() -> None:
    """Region from `Region`, else from `Location` without `oss-`; the owner's id; the
    marker to go on with while the page is truncated."""
    page = bucket_page(_Answer(_list_xml(_TWO, truncated=True, next_marker="b-2")))
    assert [(b.name, b.region) for b in page.buckets] == [
        ("b-1", "cn-beijing"),
        ("b-2", "cn-hangzhou"),
    ]
    assert (page.next_marker, page.owner_id) == ("b-2", "1234")


def test_the_last_page_has_no_next_marker() -> None:
    """As the SDK's paginator reads it: no marker once IsTruncated is false, whatever
    NextMarker says; an account without buckets is one such page, empty."""
    last = bucket_page(_Answer(_list_xml(_TWO, truncated=False, next_marker="x")))
    assert last.next_marker is None
    empty = bucket_page(_Answer(_list_xml("", truncated=False)))
    assert (empty.buckets, empty.next_marker) == ((), None)


def test_a_truncated_page_without_next_marker_is_a_transient_error() -> None:
    """IsTruncated true with no NextMarker gives no way on the service vouched for: a
    ServerError with the answer's request id (retried, then the listing fails), never a
    guess after the page's last name and never the end of the listing (contracts §14)."""
    for buckets in (_TWO, ""):
        with pytest.raises(errors.ServerError, match="no NextMarker") as caught:
            bucket_page(_Answer(_list_xml(buckets, truncated=True)))
        assert caught.value.request_id == "RID9"


@pytest.mark.parametrize(
    "content",
    [b"", b" \n", b"<ListAllMyBucketsResult><Buckets>", b"<Error/>"],
    ids=["empty", "blank", "torn", "foreign"],
)
def test_a_garbled_list_answer_is_a_transient_error_with_its_request_id(content: bytes) -> None:
    """An empty, torn or foreign answer is retried (then the listing fails, named), never
    read as an empty page (contracts §14)."""
    with pytest.raises(errors.ServerError) as caught:
        bucket_page(_Answer(content))
    assert caught.value.request_id == "RID9"
