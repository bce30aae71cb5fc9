"""What both SDK clients share: the requests we send, how answers are read, how errors map.

The blocking `oss.Client` and the async `oss.aio.AsyncClient` both take an SDK
`OperationInput` in `invoke_operation`, so the requests are built here once, and both
backends only differ in how they await the call. Building the input ourselves also gives
the policy bytes exactly as the service sent them (no decode/encode round trip).

`map_oss_errors()` is the one place SDK exceptions become `osspolicy._internal.errors`: a table by
the service's EC (a finer code, e.g. an expired security token), then by service code,
then by HTTP status; an unknown code becomes a PermanentError carrying it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from xml.etree import ElementTree as ET

import alibabacloud_oss_v2 as oss
from alibabacloud_oss_v2 import exceptions as sdk_errors
from alibabacloud_oss_v2 import serde
from alibabacloud_oss_v2.types import CaseInsensitiveDict, OperationInput

from ..errors import (
    AccessDenied,
    BackendError,
    ClockSkewed,
    CredentialsError,
    CredentialsExpired,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidPolicyDocument,
    NetworkError,
    NoSuchBucket,
    NoSuchBucketPolicy,
    PermanentError,
    ServerError,
    SignatureDoesNotMatch,
    Throttled,
    Timeout,
)
from ..redact import redact_text
from . import BucketEntry, BucketPage
from .netcause import network_cause

__all__ = (
    "EMPTY_MD5",
    "ERROR_CODES",
    "ERROR_ECS",
    "bucket_page",
    "credentials_reason",
    "delete_policy_input",
    "get_block_public_access_input",
    "get_policy_input",
    "list_buckets_input",
    "map_oss_errors",
    "put_policy_input",
    "read_block_public_access",
    "refresh_failed",
    "request_id_of",
    "translate",
)

#: Content-MD5 of an empty body, as the SDK sends it on GETs
EMPTY_MD5 = "1B2M2Y8AsgTpgAmY7PhCfg=="

#: every service code of oss_wire_spec.md §3, and the class a failure with it becomes
ERROR_CODES: dict[str, type[BackendError]] = {
    "NoSuchBucket": NoSuchBucket,
    "NoSuchBucketPolicy": NoSuchBucketPolicy,
    "AccessDenied": AccessDenied,
    "PermanentRedirect": PermanentError,
    "InvalidPolicyDocument": InvalidPolicyDocument,
    "InvalidArgument": InvalidArgument,
    "SignatureDoesNotMatch": SignatureDoesNotMatch,
    "InvalidAccessKeyId": InvalidAccessKeyId,
    "RequestTimeTooSkewed": ClockSkewed,
    "TooManyBuckets": PermanentError,
    "InternalError": ServerError,
    "ServiceUnavailable": Throttled,
    "QpsLimitExceeded": Throttled,
    "Throttling": Throttled,
    "SlowDown": Throttled,
}


#: service ECs that decide the class whatever the code says (contracts §10: a 403 for an
#: expired token is answered by fetching fresh credentials and retrying)
ERROR_ECS: dict[str, type[BackendError]] = {
    "0002-00000007": CredentialsExpired,
}
#: the credentials library puts whole response bodies after "result:"; never shown
_RESULT = re.compile(r",?\s*result:.*", re.DOTALL)
#: a URL's query (a credentials URI may carry a token in it)
_QUERY = re.compile(r"\?[^\s'\")]+")
_REASON_MAX = 300


def credentials_reason(exc: BaseException) -> str:
    """One line saying why credentials could not be fetched, never a secret: the
    library's message up to any response body it quotes, URLs without their userinfo
    and query (`redact.redact_text`), cut to a readable length."""
    inner: BaseException = exc
    while isinstance(inner, sdk_errors.BaseError) and isinstance(
        inner.kwargs.get("error"), BaseException
    ):
        inner = inner.kwargs["error"]
    text = str(getattr(inner, "message", None) or inner) or type(inner).__name__
    text = " ".join(_QUERY.sub("?…", redact_text(_RESULT.sub("", text))).split())
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 1] + "…"


def refresh_failed(exc: BaseException) -> CredentialsExpired:
    """A credentials refresh that failed (STS, metadata or URI unreachable): the accounts'
    credentials were resolved before any request, so this is transient for the bucket,
    retried like a network error (`error_code: CredentialsFetchError`, contracts §14)."""
    return CredentialsExpired(
        f"fresh credentials could not be fetched: {credentials_reason(exc)}",
        code="CredentialsFetchError",
    )


def _class_for(code: str | None, status: int, ec: str | None = None) -> type[BackendError]:
    if ec and ec in ERROR_ECS:
        return ERROR_ECS[ec]
    if code and code in ERROR_CODES:
        return ERROR_CODES[code]
    if status in {429, 503}:
        return Throttled
    if status >= 500:
        return ServerError
    return PermanentError


def _timeout_in(exc: BaseException | None) -> bool:
    while exc is not None:
        if "timeout" in type(exc).__name__.lower() or "timed out" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _clock_offset(error: Any) -> float | None:
    """How far the service's clock is ahead of ours: its answer's Date (the SDK's
    `timestamp`) less our clock now, to the second; None without a Date."""
    stamp: Any = getattr(error, "timestamp", None)
    try:
        return float(round(stamp.timestamp() - time.time()))
    except (AttributeError, TypeError, ValueError, OverflowError):
        return None


def translate(exc: BaseException) -> BackendError | CredentialsError:
    """Our error for any exception an SDK call raised."""
    inner: Any = exc.unwrap() if isinstance(exc, sdk_errors.OperationError) else exc
    if isinstance(inner, sdk_errors.ServiceError):
        status = int(inner.status_code or 0)
        code = inner.code or f"HTTP{status}"
        cls = _class_for(inner.code, status, inner.ec)
        error = cls(
            inner.message or f"HTTP {status}",
            code=code,
            request_id=inner.request_id or None,
            status=status,
            ec=inner.ec or None,
        )
        if isinstance(error, ClockSkewed):
            error.offset_s = _clock_offset(inner)
        return error
    if isinstance(inner, sdk_errors.CredentialsFetchError):
        return refresh_failed(inner)
    if isinstance(inner, sdk_errors.CredentialsEmptyError):
        return CredentialsError(
            "no access key found",
            place="environment",
            hint="set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET",
        )
    if isinstance(inner, sdk_errors.RequestError | sdk_errors.ResponseError):
        cause = inner.unwrap()
        if _timeout_in(cause):
            return Timeout(f"timed out: {type(cause).__name__}")
        error = NetworkError(f"no response: {type(cause).__name__}: {cause}")
        error.cause = network_cause(inner)
        return error
    return PermanentError(f"{type(inner).__name__}: {inner}", code="ClientError")


@contextmanager
def map_oss_errors() -> Iterator[None]:
    """Translate anything the SDK raises inside the block into our error tree."""
    try:
        yield
    except sdk_errors.BaseError as exc:
        raise translate(exc) from exc


def _bucket_input(
    op_name: str, method: str, bucket: str, sub: str, body: bytes | None = None
) -> Any:
    headers = CaseInsensitiveDict({"Content-Type": "application/xml"})
    if body is None and method != "PUT":
        headers["Content-MD5"] = EMPTY_MD5
    return OperationInput(
        op_name=op_name,
        method=method,
        headers=headers,
        parameters={sub: ""},
        body=body,
        bucket=bucket,
        op_metadata={"sub-resource": [sub]},
    )


def get_policy_input(bucket: str) -> Any:
    """GetBucketPolicy, as the SDK's own get_bucket_policy sends it."""
    return _bucket_input("GetBucketPolicy", "GET", bucket, "policy")


def put_policy_input(bucket: str, body: bytes) -> Any:
    """PutBucketPolicy with the body sent byte for byte."""
    return _bucket_input("PutBucketPolicy", "PUT", bucket, "policy", body)


def delete_policy_input(bucket: str) -> Any:
    """DeleteBucketPolicy."""
    return _bucket_input("DeleteBucketPolicy", "DELETE", bucket, "policy")


def get_block_public_access_input(bucket: str) -> Any:
    """GetBucketPublicAccessBlock."""
    return _bucket_input("GetBucketPublicAccessBlock", "GET", bucket, "publicAccessBlock")


def list_buckets_input(prefix: str, marker: str, max_keys: int) -> Any:
    """One ListBuckets page."""
    parameters = {"max-keys": str(max_keys)}
    if prefix:
        parameters["prefix"] = prefix
    if marker:
        parameters["marker"] = marker
    return OperationInput(
        op_name="ListBuckets",
        method="GET",
        headers=CaseInsensitiveDict(
            {"Content-Type": "application/octet-stream", "Content-MD5": EMPTY_MD5}
        ),
        parameters=parameters,
    )


def request_id_of(output: Any) -> str | None:
    """The x-oss-request-id of an SDK OperationOutput."""
    headers = output.headers
    value = headers.get("x-oss-request-id") if headers is not None else None
    return str(value) if value else None


def _text(element: ET.Element | None, path: str) -> str | None:
    found = element.find(path) if element is not None else None
    return found.text if found is not None else None


def bucket_page(output: Any) -> BucketPage:
    """Read a ListBuckets answer (`ListAllMyBucketsResult`, wire spec §2).

    An answer that cannot be believed is a ServerError, retried like a 5xx (contracts
    §14): an empty body, a torn or foreign document, IsTruncated without NextMarker.

    The fields the SDK's XML model reads for us, read directly: the model also parses
    every bucket's CreationDate with `strptime`, which cost more CPU per bucket of a
    discovery backup than its policy file (profiled in issue 15).
    """
    content = output.http_response.content
    request_id = request_id_of(output)
    if not content or not content.strip():  # a 200 that says nothing is no empty account
        raise ServerError("the ListBuckets answer is empty", request_id=request_id)
    try:
        root = ET.fromstring(content)  # noqa: S314 - the service's own answer
    except ET.ParseError as exc:  # a torn answer: worth another try
        raise ServerError(
            f"the ListBuckets answer is not XML ({exc})", request_id=request_id
        ) from exc
    if root.tag != "ListAllMyBucketsResult":
        raise ServerError(
            f"the ListBuckets answer is a {root.tag}, not a ListAllMyBucketsResult",
            request_id=request_id,
        )
    entries = tuple(
        BucketEntry(
            name=_text(bucket, "Name") or "",
            region=_text(bucket, "Region")
            or (_text(bucket, "Location") or "").removeprefix("oss-"),
        )
        for bucket in root.iterfind("Buckets/Bucket")
    )
    truncated = (_text(root, "IsTruncated") or "").strip().lower() == "true"
    next_marker = (_text(root, "NextMarker") or None) if truncated else None
    if truncated and next_marker is None:  # no way on that the service vouched for
        raise ServerError(
            "the ListBuckets answer is truncated but has no NextMarker", request_id=request_id
        )
    return BucketPage(
        buckets=entries,
        next_marker=next_marker,
        owner_id=_text(root, "Owner/ID"),
        request_id=request_id,
    )


def read_block_public_access(output: Any) -> bool:
    """Read a GetBucketPublicAccessBlock answer."""
    result: Any = serde.deserialize_output(
        result=oss.models.GetBucketPublicAccessBlockResult(),
        op_output=output,
        custom_deserializer=[serde.deserialize_output_xmlbody],
    )
    config = result.public_access_block_configuration
    return bool(config is not None and config.block_public_access)
