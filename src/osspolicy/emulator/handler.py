"""HTTP <-> state: resolve the bucket, verify the signature, inject faults, route, render.

One aiohttp request becomes one `Call` for one operation, found in `ROUTES` by
(scope, method, sub-resource), like moto's `urls.py`. Operations are small functions of
(state, call) returning a `Reply`; an `OssError` from anywhere becomes the service's
XML error. Every request ends as one `RequestLogEntry`.

Before that, a request carrying `Action=AssumeRole` is handed to STS (`sts.py`), and one
carrying an `x-acs-action` header to the Resource Directory's API (`rdmaster.py`). The Host
is read by `hosts.HostMap` (service, `<bucket>.NAME`, which region). A bucket answers only
its owner's keys (403 AccessDenied for another account's), and a per-region host only its
own region's buckets (403 naming the right endpoint).

A scripted `hang` is logged (status null) and then held unanswered until the client hangs
up or the emulator stops; a scripted `trickle` is logged and its body sent a few bytes at
a time (`faults.py`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import itertools
import logging
import secrets
import socket
import struct
import time
from collections.abc import Mapping
from contextlib import suppress
from email.utils import formatdate
from urllib.parse import parse_qsl, unquote

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from osspolicy.emulator import xml
from osspolicy.emulator.auth import Identity, SignedRequest, Verifier
from osspolicy.emulator.faults import LIST_SHAPES, FaultInjector, FaultKind
from osspolicy.emulator.hosts import Addressed, HostMap
from osspolicy.emulator.pop import JSON, PopReply
from osspolicy.emulator.rdmaster import DirectoryService
from osspolicy.emulator.requestlog import RequestLog, RequestLogEntry
from osspolicy.emulator.routes import ROUTES, XML, Call, Reply, list_buckets_shaped, unsupported
from osspolicy.emulator.state import EC, EmulatorState, OssError
from osspolicy.emulator.sts import StsService, is_sts_request

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

FORM = "application/x-www-form-urlencoded"
LIST_PARAMS = frozenset({"prefix", "marker", "max-keys", "delimiter", "encoding-type"})
PRESIGN_PARAMS = frozenset({"x-oss-signature", "Signature", "OSSAccessKeyId"})
CNAME_CANDIDATES = 10_000
#: how often a held (`hang`) request looks whether its client is still there
_HANG_POLL_S = 0.05
#: a trickled body is sent in this many writes per second (one byte each at the least)
_TRICKLE_WRITES_PER_S = 10
#: the longest `x-acs-action` the request log keeps
_ACTION_LOGGED = 64


# --- request parsing ----------------------------------------------------------------------


def _split_target(raw_path: str) -> tuple[str | None, str | None, tuple[tuple[str, str], ...]]:
    """(path bucket or None, key or None, decoded query pairs) of a request target."""
    path, _, raw_query = raw_path.partition("?")
    query = tuple(
        (unquote(k), unquote(v))
        for k, _, v in (pair.partition("=") for pair in raw_query.split("&") if pair)
    )
    segment, _, rest = path[1:].partition("/")
    if segment:
        return unquote(segment), unquote(rest) or None, query
    return None, unquote(path[1:]) or None, query


def parse_target(
    raw_path: str, host: str, hosts: HostMap | None = None
) -> tuple[str | None, str | None, tuple[tuple[str, str], ...]]:
    """(bucket, key, decoded query pairs): path style first, then the Host (§1, `hosts`)."""
    bucket, key, query = _split_target(raw_path)
    if bucket is None:
        bucket = (hosts or HostMap()).resolve(host).bucket
    return bucket, key, query


def _check_content_md5(headers: Mapping[str, str], body: bytes) -> None:
    """A Content-MD5 must be the base64 of the body's 16-byte MD5 (400 InvalidDigest)."""
    value = headers.get("content-md5")
    if value is None:
        return
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise OssError("InvalidDigest", "The Content-MD5 you specified was invalid.", status=400)
    if digest != hashlib.md5(body, usedforsecurity=False).digest():
        raise OssError(
            "InvalidDigest",
            "The Content-MD5 you specified did not match what we received.",
            status=400,
            ec=EC["BadDigest"],
        )


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
    __slots__ = (
        "access_key_id",
        "action",
        "bucket",
        "bytes_per_s",
        "fault",
        "ordinal",
        "region",
        "subresource",
    )

    def __init__(self) -> None:
        self.action: str | None = None
        self.bucket: str | None = None
        self.subresource = ""
        self.access_key_id: str | None = None
        self.region: str | None = None
        self.fault: FaultKind | None = None
        self.ordinal: int | None = None
        self.bytes_per_s = 0.0


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
        hosts: HostMap | None = None,
        sts: StsService | None = None,
        directory: DirectoryService | None = None,
    ) -> None:
        self.state = state
        self.verifier = verifier
        self.faults = faults
        self.log = log
        self.latency_s = latency_s
        self.hosts = hosts or HostMap()
        self.sts = sts
        self.directory = directory
        self.in_flight = 0
        self.peak_in_flight = 0
        #: set when the emulator stops: held and trickled requests end
        self.closing = False
        #: how far the emulator's clock runs ahead of this machine's (its Date headers,
        #: the RequestTimeTooSkewed check): a client with a wrong clock, played
        self.clock_offset_s = 0.0
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
            body = await _read_body(request)
            answer = self._rpc(request, body, record, request_id)
            if answer is not None:
                error_code = answer.error_code
                record.access_key_id = answer.access_key_id
                reply = Reply(answer.status, answer.body, JSON)
            else:
                reply = self._serve(request, body, record)
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
                request.headers.get("Host"),
                record.action,
            )
        )
        if reply is None:
            if record.fault == "hang":
                await self._hold(request)
            _reset_connection(request)
            reply = Reply(500)  # never delivered: the connection is gone
        headers = self._headers(request_id, reply)
        if record.fault == "trickle" and reply.body:
            return await self._trickle(request, reply, headers, record.bytes_per_s)
        return web.Response(status=reply.status, body=reply.body or None, headers=headers)

    def _headers(self, request_id: str, reply: Reply) -> dict[str, str]:
        """The answer's headers: the request id, its content type, its own, and (with a
        clock offset) the Date of the emulator's clock."""
        headers = {"x-oss-request-id": request_id, "Server": "AliyunOSS"}
        if self.clock_offset_s:
            headers["Date"] = formatdate(time.time() + self.clock_offset_s, usegmt=True)
        if reply.content_type:
            headers["Content-Type"] = reply.content_type
        headers.update(reply.headers)
        return headers

    async def _hold(self, request: web.BaseRequest) -> None:
        """A `hang`: answer nothing until the client hangs up or the emulator stops."""
        while not self.closing:
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            await asyncio.sleep(_HANG_POLL_S)

    async def _trickle(
        self, request: web.BaseRequest, reply: Reply, headers: dict[str, str], bytes_per_s: float
    ) -> web.StreamResponse:
        """A `trickle`: the whole answer, its body sent at `bytes_per_s`."""
        body = reply.body
        response = web.StreamResponse(status=reply.status, headers=headers)
        response.content_length = len(body)
        chunk = max(1, int(bytes_per_s / _TRICKLE_WRITES_PER_S))
        with suppress(ConnectionError):  # the client gave up: nothing more to send
            await response.prepare(request)
            for start in range(0, len(body), chunk):
                if self.closing:
                    break
                await response.write(body[start : start + chunk])
                await asyncio.sleep(chunk / bytes_per_s)
            else:
                await response.write_eof()
        return response

    def _serve(self, request: web.BaseRequest, body: bytes, record: _Record) -> Reply | None:
        """The reply to one request, or None when the connection is to be reset.

        Order: resolve the bucket (path, Host, else cname trial), verify the signature,
        check the V4 region, decide the fault (authenticated requests only), route.
        """
        method = request.method
        bucket, key, query = _split_target(request.raw_path)
        addressed = self.hosts.resolve(request.headers.get("Host", ""))
        if bucket is None:
            bucket = addressed.bucket
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
        identity = self.verifier.verify(signed, now=time.time() + self.clock_offset_s)
        record.access_key_id, record.region = identity.access_key_id, identity.region
        self._check_endpoint(addressed, bucket)
        self._check_region(identity, bucket)
        self._check_owner(identity, bucket, method, subresource, key)
        _check_content_md5(headers, body)
        record.ordinal, fault = self.faults.decide(method, bucket or "", subresource)
        record.fault = None if fault is None else fault.kind
        if fault is not None and fault.kind == "error":
            raise OssError(fault.code, fault.message, status=fault.status, ec=fault.ec)
        if fault is not None and fault.kind in {"reset", "hang"}:
            return None  # a hang is held unanswered by the caller
        if fault is not None and fault.kind == "trickle":
            record.bytes_per_s = fault.bytes_per_s
            fault = None  # served as usual; the caller sends the body slowly
        scope = "service" if bucket is None else "bucket"
        operation = None if key else ROUTES.get((scope, method, subresource))
        if operation is None:
            raise unsupported(scope, method, subresource, key)
        params = {k: v for k, v in query if k in LIST_PARAMS}
        call = Call(bucket or "", params, body, identity.region, identity.account_id, headers)
        if fault is None:
            return operation(self.state, call)
        if fault.kind in LIST_SHAPES:  # a ListBuckets answer that lies (scripted for it only)
            return list_buckets_shaped(self.state, call, fault.kind)
        with suppress(OssError):  # an `after` fault loses the response, whatever it was
            operation(self.state, call)
        return None

    def _rpc(
        self, request: web.BaseRequest, body: bytes, record: _Record, request_id: str
    ) -> PopReply | None:
        """The answer of STS or the directory's API, or None for an OSS request."""
        sts_params = self._sts_params(request, body)
        if sts_params is not None and self.sts is not None:
            record.action = "AssumeRole"
            return self.sts.handle(request.method, sts_params, request_id)
        action = request.headers.get("x-acs-action")
        if action is None or self.directory is None:
            return None
        record.action = action[:_ACTION_LOGGED]
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        return self.directory.handle(request.method, request.raw_path, headers, body, request_id)

    def _sts_params(self, request: web.BaseRequest, body: bytes) -> dict[str, str] | None:
        """The STS RPC parameters (query, and a form body), or None if not an STS call."""
        form = request.method == "POST" and request.content_type == FORM
        if not form and "AssumeRole" not in request.raw_path:
            return None  # the common case, decided without parsing the query
        params = dict(request.query)
        if form:
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return params if is_sts_request(params) else None

    def _check_endpoint(self, addressed: Addressed, bucket: str | None) -> None:
        """A per-region host serves only its region's buckets (the service's 403)."""
        if addressed.region is None or bucket is None:
            return
        region = self.state.find_region(bucket)
        if region is None or region == addressed.region:
            return
        endpoint = self.hosts.host_for(region)
        raise OssError(
            "AccessDenied",
            "The bucket you are attempting to access must be addressed using the specified "
            "endpoint. Please send all future requests to this endpoint.",
            status=403,
            ec=EC["WrongEndpoint"],
            extra={"Bucket": bucket, "Endpoint": endpoint},
        )

    def _check_owner(
        self,
        identity: Identity,
        bucket: str | None,
        method: str,
        subresource: str,
        key: str | None,
    ) -> None:
        """Another account's bucket is 403 AccessDenied (no cross-account grants modelled)."""
        if bucket is None or (method, subresource, key) == ("PUT", "", None):
            return
        owner = self.state.find_owner(bucket)
        if owner is not None and owner != identity.account_id:
            raise OssError("AccessDenied", "You have no right to access this bucket.", status=403)

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
