"""The operations the emulator serves, as a table: (scope, method, sub-resource) -> function.

Like moto's `urls.py` and `responses.py`: each operation is a small function of
(state, call) returning a `Reply`; it raises `OssError` for the service's refusals. The
handler (`handler.py`) resolves, authenticates and builds the `Call`; nothing here sees HTTP.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from osspolicy.emulator import xml
from osspolicy.emulator.bucket_config import malformed_xml, parse_bucket_settings
from osspolicy.emulator.faults import ListShape
from osspolicy.emulator.state import DEFAULT_ACCOUNT_ID, EmulatorState, OssError

__all__ = ("ROUTES", "XML", "Call", "Operation", "Reply", "list_buckets_shaped", "unsupported")

XML = "application/xml"


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated request, as an operation needs it (headers keyed lower-case)."""

    bucket: str
    params: Mapping[str, str]
    body: bytes
    region: str | None
    account_id: str = DEFAULT_ACCOUNT_ID
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer: status, body, content type, extra headers."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


Operation = Callable[[EmulatorState, Call], Reply]


# --- operations ---------------------------------------------------------------------------


def _max_keys(value: str | None) -> int:
    if value is None or value == "":
        return 100
    if not value.isdigit() or not 1 <= int(value) <= 1000:
        raise OssError("InvalidArgument", "max-keys must be between 1 and 1000.", status=400)
    return int(value)


def _list_buckets(state: EmulatorState, call: Call) -> Reply:
    return list_buckets_shaped(state, call, None)


def list_buckets_shaped(state: EmulatorState, call: Call, shape: ListShape | None) -> Reply:
    """ListBuckets, or with `shape` one of the answers that lie (`faults.LIST_SHAPES`)."""
    if shape == "empty":
        return Reply(200, b"", XML)
    prefix, marker = call.params.get("prefix", ""), call.params.get("marker", "")
    max_keys = _max_keys(call.params.get("max-keys"))
    page = state.list_buckets(prefix, marker, max_keys, owner=call.account_id)
    if shape == "no-next-marker":
        page = dataclasses.replace(page, is_truncated=True, next_marker="")
    elif shape == "stuck-marker":
        page = dataclasses.replace(page, is_truncated=True, next_marker=marker)
    elif shape == "overlap" and page.is_truncated and len(page.buckets) > 1:
        page = dataclasses.replace(page, next_marker=page.buckets[-2].name)
    body = xml.list_buckets_xml(
        page, prefix=prefix, marker=marker, max_keys=max_keys, owner_id=call.account_id
    )
    return Reply(200, body, XML)


def _put_bucket(state: EmulatorState, call: Call) -> Reply:
    settings = parse_bucket_settings(call.body, call.headers.get("x-oss-acl"))
    state.create_bucket(call.bucket, call.region, owner=call.account_id, settings=settings)
    return Reply(200, headers=(("Location", f"/{call.bucket}"),))


def _delete_bucket(state: EmulatorState, call: Call) -> Reply:
    state.delete_bucket(call.bucket)
    return Reply(204)


def _get_bucket_info(state: EmulatorState, call: Call) -> Reply:
    info = state.bucket_info(call.bucket)
    body = xml.bucket_info_xml(info, owner_id=info.owner)
    return Reply(200, body, XML)


def _put_bucket_policy(state: EmulatorState, call: Call) -> Reply:
    state.put_policy(call.bucket, call.body)
    return Reply(200)


def _get_bucket_policy(state: EmulatorState, call: Call) -> Reply:
    policy = state.get_policy(call.bucket)
    if policy is None:
        raise OssError("NoSuchBucketPolicy", "The bucket policy does not exist.", status=404)
    return Reply(200, policy, "application/json")


def _delete_bucket_policy(state: EmulatorState, call: Call) -> Reply:
    state.delete_policy(call.bucket)
    return Reply(204)


def _get_bucket_policy_status(state: EmulatorState, call: Call) -> Reply:
    return Reply(200, xml.policy_status_xml(state.policy_is_public(call.bucket)), XML)


def _put_public_access_block(state: EmulatorState, call: Call) -> Reply:
    state.bucket_region(call.bucket)
    try:
        on = xml.parse_public_access_block(call.body)
    except ValueError:
        raise malformed_xml(
            "<PublicAccessBlockConfiguration><BlockPublicAccess>true|false</...>"
        ) from None
    state.set_block_public_access(call.bucket, on)
    return Reply(200)


def _get_public_access_block(state: EmulatorState, call: Call) -> Reply:
    on = state.get_block_public_access(call.bucket)
    return Reply(200, xml.public_access_block_xml(on), XML)


def _delete_public_access_block(state: EmulatorState, call: Call) -> Reply:
    state.set_block_public_access(call.bucket, False)
    return Reply(204)


ROUTES: Mapping[tuple[str, str, str], Operation] = {
    ("service", "GET", ""): _list_buckets,
    ("bucket", "PUT", ""): _put_bucket,
    ("bucket", "DELETE", ""): _delete_bucket,
    ("bucket", "GET", "bucketInfo"): _get_bucket_info,
    ("bucket", "PUT", "policy"): _put_bucket_policy,
    ("bucket", "GET", "policy"): _get_bucket_policy,
    ("bucket", "DELETE", "policy"): _delete_bucket_policy,
    ("bucket", "GET", "policyStatus"): _get_bucket_policy_status,
    ("bucket", "PUT", "publicAccessBlock"): _put_public_access_block,
    ("bucket", "GET", "publicAccessBlock"): _get_public_access_block,
    ("bucket", "DELETE", "publicAccessBlock"): _delete_public_access_block,
}
"""(scope, method, sub-resource) -> operation; scope is "service" (no bucket) or "bucket"."""


def unsupported(scope: str, method: str, subresource: str, key: str | None) -> OssError:
    if key:
        what = f"object operations ({method} of key {key[:80]!r})"
    elif subresource:
        what = f"{method} with sub-resource '{subresource}' on a {scope}"
    else:
        what = f"{method} without a sub-resource on a {scope}"
    supported = ", ".join(
        f"{m} {'?' + s if s else '(' + sc + ')'}" for sc, m, s in sorted(ROUTES, key=str)
    )
    return OssError(
        "NotImplemented",
        f"The OSS emulator does not support {what}. Supported: {supported}.",
        status=400,
        ec="9999-00000008",
    )
