"""The thread backend: the SDK's blocking client, each call in a worker thread of ours.

One HTTP pool sized to the worker count (urllib3 directly, `transport.py`; the SDK's
`requests` transport when a proxy variable is set) is shared by one SDK client per
signing region. Calls reach threads through our own `ThreadPoolExecutor`
(as many threads as connections) and are awaited with `asyncio.wrap_future`: one queue
put and one wake-up of the event loop per call, which measured about 15% less CPU per
call than `anyio.to_thread.run_sync` (its per-call checkpoints, context copy and
limiter bookkeeping run on the event loop, which competes for the GIL with the workers).

Calls are not abandoned on cancellation: a thread cannot be stopped, so the wait for
its answer is shielded; Ctrl-C waits for in-flight calls and their results still get
returned and recorded (the cancellation lands at the caller's next checkpoint). Timeouts
live in the SDK's config. The SDK's retryer is off (`NopRetryer`): `retry.py` is the one
retry layer. The engine needs asyncio (as anyio's default backend, and aiohttp, do).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import alibabacloud_oss_v2 as oss
import anyio

from ..errors import NoSuchBucketPolicy
from ..manifest import expand_endpoint
from ..results import DEFAULT_ACCOUNT
from . import BucketPage, ConnectionConfig, PolicyRead, Reply
from .transport import Urllib3HttpClient
from .wire import (
    bucket_page,
    delete_policy_input,
    get_block_public_access_input,
    get_policy_input,
    list_buckets_input,
    map_oss_errors,
    put_policy_input,
    read_block_public_access,
    request_id_of,
)

__all__ = (
    "OssBackend",
    "SdkBackend",
    "credentials_from_env",
    "proxy_configured",
    "sdk_config",
    "thread_http_client",
)

#: how long `_start_threads` waits for the pool's threads to be up
_THREAD_START_TIMEOUT_S = 10.0
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def credentials_from_env() -> Any:
    """The SDK's environment credentials provider; a missing key is a CredentialsError.

    What a backend uses when given no provider. A job's accounts get theirs from
    `credentials.account_provider` (any type of contracts §10, resolved before use).
    """
    with map_oss_errors():
        return oss.credentials.EnvironmentVariableCredentialsProvider()


def proxy_configured() -> bool:
    """Whether any proxy variable is set (either case): only then do the HTTP clients
    read the environment (requests otherwise scans it for proxies on every call)."""
    return any(os.environ.get(name) or os.environ.get(name.upper()) for name in _PROXY_VARIABLES)


def thread_http_client(conn: ConnectionConfig) -> Any:
    """The blocking client's transport: urllib3 directly (`transport.py`, a third less
    CPU per call than `requests`), or the SDK's `requests` transport when a proxy
    variable is set, since requests honours them."""
    if not proxy_configured():
        return Urllib3HttpClient(
            max_connections=conn.max_connections,
            connect_timeout_s=conn.connect_timeout_s,
            read_timeout_s=conn.read_timeout_s,
        )
    # its own session (closed by close()), pool sized, no retries of its own
    return oss.transport.RequestsHttpClient(
        max_connections=conn.max_connections,
        connect_timeout=conn.connect_timeout_s,
        readwrite_timeout=conn.read_timeout_s,
    )


def sdk_config(conn: ConnectionConfig, region: str, credentials: Any, http_client: Any) -> Any:
    """The SDK Config for one signing region: our timeouts, our pool, its retryer off.

    The endpoint is `conn.endpoint` with `{region}` expanded to `region`; without one
    the SDK derives the region's public endpoint itself (the same URL as the manifest's
    default). A bare host is given https, as the SDK itself would.
    """
    cfg = oss.config.load_default()
    cfg.credentials_provider = credentials
    cfg.region = region
    if conn.endpoint:
        cfg.endpoint = expand_endpoint(conn.endpoint, region)
    cfg.connect_timeout = conn.connect_timeout_s
    cfg.readwrite_timeout = conn.read_timeout_s
    cfg.retryer = oss.retry.NopRetryer()
    cfg.http_client = http_client
    return cfg


def _start_threads(pool: ThreadPoolExecutor, count: int) -> None:
    """Start all `count` threads of `pool` now rather than one per early call.

    `ThreadPoolExecutor` starts a thread inside `submit`, and `Thread.start` waits until
    the new thread runs: under the GIL, the first wave of calls would otherwise leave
    the event loop one thread at a time (measured: 49-54 of 64 calls in flight at 50 ms
    latency, 64 with the threads started up front).
    """
    ready = threading.Barrier(count + 1)
    for _ in range(count):  # each task holds its thread, so each submit starts a new one
        pool.submit(ready.wait, _THREAD_START_TIMEOUT_S)
    with contextlib.suppress(threading.BrokenBarrierError):  # slow start: threads still come
        ready.wait(_THREAD_START_TIMEOUT_S)


def _call(client: Any, op_input: Any) -> Any:
    """One blocking SDK call, run in a worker thread; SDK errors leave it as ours."""
    with map_oss_errors():
        return client.invoke_operation(op_input)


class SdkBackend:
    """The `Backend` operations over an SDK client's `invoke_operation`, for both engines.

    Subclasses say how a client is made for a signing region (`_new_client`) and how
    one call is awaited (`_invoke`); the requests and the reading of the answers are
    the same for the blocking and the async client (`wire.py`).
    """

    def __init__(self, conn: ConnectionConfig, credentials: Any | Mapping[str, Any] | None) -> None:
        self._conn = conn
        if credentials is None:
            credentials = credentials_from_env()
        #: account name -> its SDK credentials provider
        self._credentials: Mapping[str, Any] = (
            credentials if isinstance(credentials, Mapping) else {DEFAULT_ACCOUNT: credentials}
        )
        self._clients: dict[tuple[str, str], Any] = {}

    def _new_client(self, region: str, credentials: Any) -> Any:
        raise NotImplementedError

    async def _invoke(self, where: tuple[str, str | None], op_input: Any) -> Any:
        raise NotImplementedError

    def _client(self, where: tuple[str, str | None]) -> Any:
        """The SDK client of an (account, signing region): made once, shared by every
        worker, all on one HTTP pool."""
        account, region = where
        key = (account, region or self._conn.region)
        client = self._clients.get(key)
        if client is None:
            credentials = self._credentials.get(account)
            if credentials is None:
                raise ValueError(f"no credentials for account {account!r}")
            client = self._new_client(key[1], credentials)
            self._clients[key] = client
        return client

    async def get_policy(
        self, bucket: str, region: str | None = None, *, account: str = DEFAULT_ACCOUNT
    ) -> PolicyRead:
        """GetBucketPolicy; NoSuchBucketPolicy becomes `body=None`."""
        try:
            output = await self._invoke((account, region), get_policy_input(bucket))
        except NoSuchBucketPolicy as exc:
            return PolicyRead(body=None, request_id=exc.request_id)
        return PolicyRead(body=output.http_response.content, request_id=request_id_of(output))

    async def put_policy(
        self,
        bucket: str,
        body: bytes,
        region: str | None = None,
        *,
        account: str = DEFAULT_ACCOUNT,
    ) -> Reply:
        """PutBucketPolicy, body byte for byte."""
        output = await self._invoke((account, region), put_policy_input(bucket, body))
        return Reply(request_id=request_id_of(output))

    async def delete_policy(
        self, bucket: str, region: str | None = None, *, account: str = DEFAULT_ACCOUNT
    ) -> Reply:
        """DeleteBucketPolicy."""
        output = await self._invoke((account, region), delete_policy_input(bucket))
        return Reply(request_id=request_id_of(output))

    async def get_block_public_access(
        self, bucket: str, region: str | None = None, *, account: str = DEFAULT_ACCOUNT
    ) -> bool:
        """GetBucketPublicAccessBlock."""
        output = await self._invoke((account, region), get_block_public_access_input(bucket))
        return read_block_public_access(output)

    async def list_buckets_page(
        self, prefix: str, marker: str, max_keys: int, *, account: str = DEFAULT_ACCOUNT
    ) -> BucketPage:
        """One ListBuckets page of `account`, signed with the connection's region."""
        output = await self._invoke((account, None), list_buckets_input(prefix, marker, max_keys))
        return bucket_page(output)


class OssBackend(SdkBackend):
    """`Backend` over `alibabacloud_oss_v2.Client`, blocking calls run in our threads."""

    def __init__(
        self, conn: ConnectionConfig, *, credentials: Any | Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(conn, credentials)
        self._http = thread_http_client(conn)
        # as many threads as connections: a call never waits for a thread, nor a thread
        # for a connection
        self._threads = ThreadPoolExecutor(
            max_workers=conn.max_connections, thread_name_prefix="osspolicy-oss"
        )
        _start_threads(self._threads, conn.max_connections)

    def _new_client(self, region: str, credentials: Any) -> Any:
        return oss.Client(sdk_config(self._conn, region, credentials, self._http))

    async def _invoke(self, where: tuple[str, str | None], op_input: Any) -> Any:
        future = self._threads.submit(_call, self._client(where), op_input)
        # shielded: the thread runs to the end anyway, so its answer is always awaited
        with anyio.CancelScope(shield=True):
            return await asyncio.wrap_future(future)

    def _close(self) -> None:
        self._threads.shutdown(wait=True)
        self._http.close()

    async def aclose(self) -> None:
        """Stop the threads (after the calls in flight) and close the HTTP pool."""
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._close)
