"""HTTP <-> state: resolve the bucket, verify the signature, inject faults, route, render.

One aiohttp request becomes one `Call` for one operation, found in `ROUTES` by
(scope, method, sub-resource), like moto's `urls.py`. Operations are small functions of
(state, call) returning a `Reply`; an `OssError` from anywhere becomes the service's
XML error. Every request ends as one `RequestLogEntry`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from urllib.parse import unquote

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from osspolicy.emulator import xml
from osspolicy.emulator.auth import Identity, SignedRequest, Verifier
from osspolicy.emulator.faults import FaultInjector, FaultKind
from osspolicy.emulator.state import EC, EmulatorState, OssError

__all__ = (
    "ROUTES",
    "Call",
    "OssHandler",
    "Reply",
    "RequestLog",
    "RequestLogEntry",
    "parse_target",
    "subresource_of",
)

_logger = logging.getLogger(__name__)

XML = "application/xml"
LIST_PARAMS = frozenset({"prefix", "marker", "max-keys", "delimiter", "encoding-type"})
PRESIGN_PARAMS = frozenset({"x-oss-signature", "Signature", "OSSAccessKeyId"})
CNAME_CANDIDATES = 10_000


@dataclass(frozen=True, slots=True)
class RequestLogEntry:
    """One request as the emulator saw it (never the secret).

    `time` is when the request arrived (wall clock, before any injected latency): the
    instant a service's throttling counts. `status` is None when no response was sent (a
    `reset` or `after` fault); `ordinal` counts the earlier authenticated requests with
    the same (method, bucket, sub-resource), the key the fault decision hashes.
    """

    time: float
    method: str
    bucket: str | None
    subresource: str
    status: int | None
    request_id: str
    region: str | None
    access_key_id: str | None
    fault: FaultKind | None
    error_code: str | None = None
    ordinal: int | None = None


class RequestLog:
    """The newest `limit` entries, appended by the server, read from any thread."""

    def __init__(self, limit: int | None = 100_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[RequestLogEntry] = deque(maxlen=limit)

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, entry: RequestLogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def snapshot(self) -> list[RequestLogEntry]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated request, as an operation needs it."""

    bucket: str
    params: Mapping[str, str]
    body: bytes
    region: str | None


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
    prefix, marker = call.params.get("prefix", ""), call.params.get("marker", "")
    max_keys = _max_keys(call.params.get("max-keys"))
    page = state.list_buckets(prefix, marker, max_keys)
    body = xml.list_buckets_xml(
        page, prefix=prefix, marker=marker, max_keys=max_keys, owner_id=state.account_id
    )
    return Reply(200, body, XML)


def _put_bucket(state: EmulatorState, call: Call) -> Reply:
    state.create_bucket(call.bucket, call.region)
    return Reply(200, headers=(("Location", f"/{call.bucket}"),))


def _delete_bucket(state: EmulatorState, call: Call) -> Reply:
    state.delete_bucket(call.bucket)
    return Reply(204)


def _get_bucket_info(state: EmulatorState, call: Call) -> Reply:
    body = xml.bucket_info_xml(state.bucket_info(call.bucket), owner_id=state.account_id)
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
        raise OssError(
            "MalformedXML",
            "The XML you provided was not well-formed: expected "
            "<PublicAccessBlockConfiguration><BlockPublicAccess>true|false</...>.",
            status=400,
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


def _unsupported(scope: str, method: str, subresource: str, key: str | None) -> OssError:
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


# --- request parsing ----------------------------------------------------------------------


def _host_bucket(host: str) -> str | None:
    """The bucket in a virtual-host Host header (its first label), or None."""
    if host.startswith("["):
        return None
    name = host.partition(":")[0]
    if "." not in name or name.replace(".", "").isdigit():
        return None
    return name.partition(".")[0] or None


def parse_target(
    raw_path: str, host: str
) -> tuple[str | None, str | None, tuple[tuple[str, str], ...]]:
    """(bucket, key, decoded query pairs): path style first, then the Host label (§1)."""
    path, _, raw_query = raw_path.partition("?")
    query = tuple(
        (unquote(k), unquote(v))
        for k, _, v in (pair.partition("=") for pair in raw_query.split("&") if pair)
    )
    segment, _, rest = path[1:].partition("/")
    if segment:
        return unquote(segment), unquote(rest) or None, query
    return _host_bucket(host), unquote(path[1:]) or None, query


def subresource_of(query: tuple[tuple[str, str], ...]) -> str:
    """The one sub-resource named by the query ("" for none); parameters don't count."""
    names = {k for k, _ in query if k not in LIST_PARAMS}
    if not names:
        return ""
    if names & PRESIGN_PARAMS:
        raise OssError(
            "InvalidArgument",
            "The OSS emulator does not support presigned URLs (query-string signatures); "
            "sign with the Authorization header.",
            status=400,
        )
    if len(names) > 1:
        raise OssError(
            "InvalidArgument",
            f"The request names several sub-resources ({', '.join(sorted(names))}).",
            status=400,
        )
    return names.pop()


# --- the handler --------------------------------------------------------------------------


class _Record:
    __slots__ = ("access_key_id", "bucket", "fault", "ordinal", "region", "subresource")

    def __init__(self) -> None:
        self.bucket: str | None = None
        self.subresource = ""
        self.access_key_id: str | None = None
        self.region: str | None = None
        self.fault: FaultKind | None = None
        self.ordinal: int | None = None


class OssHandler:
    """The aiohttp low-level handler: one coroutine call per request, no thread each."""

    def __init__(
        self,
        state: EmulatorState,
        verifier: Verifier,
        faults: FaultInjector,
        log: RequestLog,
        *,
        latency_s: float = 0.0,
    ) -> None:
        self.state = state
        self.verifier = verifier
        self.faults = faults
        self.log = log
        self.latency_s = latency_s
        self.in_flight = 0
        self.peak_in_flight = 0
        self._id_prefix = secrets.token_hex(6).upper()
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"OssHandler(state={self.state!r}, latency_s={self.latency_s})"

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        arrived = time.time()
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        request_id = f"{self._id_prefix}{next(self._ids):012X}"
        record = _Record()
        reply: Reply | None
        error_code: str | None = None
        try:
            if self.latency_s > 0:
                await asyncio.sleep(self.latency_s)
            reply = self._serve(request, await _read_body(request), record)
        except OssError as exc:
            error_code = exc.code
            record.access_key_id = record.access_key_id or exc.extra.get("OSSAccessKeyId")
            reply = self._error_reply(exc, record, request_id)
        except _ClientGone:  # the client hung up mid-request: nothing to answer, no bug
            reply = None
        except Exception as exc:  # a bug must still answer in the service's shape
            _logger.exception("emulator failed on %s %s", request.method, request.path)
            error_code = "InternalError"
            internal = OssError(
                "InternalError", f"The emulator failed: {type(exc).__name__}.", status=500
            )
            reply = self._error_reply(internal, record, request_id)
        finally:
            self.in_flight -= 1
        self.log.append(
            RequestLogEntry(
                arrived,
                request.method,
                record.bucket,
                record.subresource,
                None if reply is None else reply.status,
                request_id,
                record.region,
                record.access_key_id,
                record.fault,
                error_code,
                record.ordinal,
            )
        )
        if reply is None:
            _reset_connection(request)
            reply = Reply(500)  # never delivered: the connection is gone
        headers = {"x-oss-request-id": request_id, "Server": "AliyunOSS"}
        if reply.content_type:
            headers["Content-Type"] = reply.content_type
        headers.update(reply.headers)
        return web.Response(status=reply.status, body=reply.body or None, headers=headers)

    def _serve(self, request: web.BaseRequest, body: bytes, record: _Record) -> Reply | None:
        """The reply to one request, or None when the connection is to be reset.

        Order: resolve the bucket (path, Host, else cname trial), verify the signature,
        check the V4 region, decide the fault (authenticated requests only), route.
        """
        method = request.method
        bucket, key, query = parse_target(request.raw_path, request.headers.get("Host", ""))
        record.bucket = bucket
        subresource = record.subresource = subresource_of(query)
        headers = {name.lower(): value for name, value in request.headers.items()}
        signed = SignedRequest(method, bucket, key, query, headers)
        if bucket is None and (subresource or method != "GET"):
            candidates = self.state.bucket_names()[:CNAME_CANDIDATES]
            found = self.verifier.find_bucket(signed, candidates)
            if found is not None:
                bucket = record.bucket = found
                signed = SignedRequest(method, found, key, query, headers)
        identity = self.verifier.verify(signed)
        record.access_key_id, record.region = identity.access_key_id, identity.region
        self._check_region(identity, bucket)
        record.ordinal, fault = self.faults.decide(method, bucket or "", subresource)
        record.fault = None if fault is None else fault.kind
        if fault is not None and fault.kind == "error":
            raise OssError(fault.code, fault.message, status=fault.status, ec=fault.ec)
        if fault is not None and fault.kind == "reset":
            return None
        scope = "service" if bucket is None else "bucket"
        operation = None if key else ROUTES.get((scope, method, subresource))
        if operation is None:
            raise _unsupported(scope, method, subresource, key)
        params = {k: v for k, v in query if k in LIST_PARAMS}
        call = Call(bucket or "", params, body, identity.region)
        if fault is None:
            return operation(self.state, call)
        with suppress(OssError):  # an `after` fault loses the response, whatever it was
            operation(self.state, call)
        return None

    def _check_region(self, identity: Identity, bucket: str | None) -> None:
        if identity.version != "v4" or bucket is None:
            return
        region = self.state.find_region(bucket)
        if region is not None and region != identity.region:
            raise OssError(
                "InvalidArgument",
                "Invalid signing region in Authorization header.",
                status=400,
                ec=EC["InvalidSigningRegion"],
            )

    def _error_reply(self, exc: OssError, record: _Record, request_id: str) -> Reply:
        bucket = record.bucket
        region = (bucket and self.state.find_region(bucket)) or self.state.region
        host_id = f"{bucket}.oss-{region}.aliyuncs.com" if bucket else f"oss-{region}.aliyuncs.com"
        body = xml.error_xml(
            exc.code,
            exc.message,
            request_id=request_id,
            host_id=host_id,
            ec=exc.ec,
            bucket=bucket,
            extra=exc.extra,
        )
        return Reply(exc.status, body, XML, (("x-oss-ec", exc.ec),))


class _ClientGone(Exception):
    """The client went away while its request body was being read."""


async def _read_body(request: web.BaseRequest) -> bytes:
    if not request.body_exists:
        return b""
    try:
        return await request.read()
    except (ConnectionError, aiohttp.ClientError, HttpProcessingError) as exc:
        raise _ClientGone from exc
    except web.HTTPRequestEntityTooLarge:
        raise OssError(
            "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.", status=400
        ) from None


def _reset_connection(request: web.BaseRequest) -> None:
    """Drop the connection with a TCP reset (SO_LINGER 0), sending no response."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
