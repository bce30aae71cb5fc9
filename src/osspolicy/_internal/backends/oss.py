"""The thread backend: the SDK's blocking client, each call in a worker thread.

One HTTP transport, the SDK's own `RequestsHttpClient` with its pools sized to the
worker count (`http.py`: CAs, proxies, at most 2 x concurrency connections open), is
shared by one SDK client per (account, signing region). Calls reach threads through
`anyio.to_thread.run_sync` with a `CapacityLimiter` of ours sized to the worker count
(anyio's default limiter is 40 and shared with everything else in the process).

The wait for a thread's answer is shielded from cancellation: a stop waits for calls in
flight and their results still get returned and recorded (a cancellation lands at the
caller's next checkpoint). Only the job's stop abandons a call (`stopping.py`, after
`timeouts.stop_grace_s`): the wait ends (Interrupted) and the call's socket is shut down,
so its thread ends too. Connect and read timeouts live in the SDK's config; the attempt
as a whole is bounded by `timeouts.call_s` at each socket read (`deadline.py`), past
which it is a transient Timeout. The SDK's retryer is off (`NopRetryer`): `retry.py` is
the one retry layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import alibabacloud_oss_v2 as oss
import anyio
import anyio.to_thread

from ..connection import expand_endpoint
from ..errors import BackendError, Interrupted, NoSuchBucketPolicy, Timeout
from ..results import DEFAULT_ACCOUNT
from ..stopping import current_call
from . import BucketPage, ConnectionConfig, PolicyRead, Reply
from .deadline import CallDeadline
from .http import requests_http_client
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
    "call_timed_out",
    "credentials_from_env",
    "interrupted",
    "sdk_config",
)


def credentials_from_env() -> Any:
    """The SDK's environment credentials provider; a missing key is a CredentialsError.

    What a backend uses when given no provider. A job's accounts get theirs from
    `credentials.account_provider` (any type of contracts §10, resolved before use).
    """
    with map_oss_errors():
        return oss.credentials.EnvironmentVariableCredentialsProvider()


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
    cfg.proxy_host = conn.proxy_host  # the SDK's own settings; our transports honour them
    cfg.insecure_skip_verify = conn.insecure_skip_verify
    cfg.http_client = http_client
    return cfg


def call_timed_out(seconds: float) -> Timeout:
    """The error of an attempt that outlasted `timeouts.call_s` (transient: retried)."""
    return Timeout(f"no whole answer within timeouts.call_s ({seconds:g} s)")


def interrupted() -> Interrupted:
    """The error of a call abandoned at a stop."""
    return Interrupted(
        "abandoned when the job stopped; the request may or may not have taken effect"
    )


def _call(client: Any, op_input: Any, deadline: CallDeadline) -> Any:
    """One blocking SDK call, run in a worker thread, its sockets bounded by `deadline`;
    SDK errors leave it as ours (any error past the deadline: Timeout)."""
    try:
        with map_oss_errors():
            return deadline.run(client.invoke_operation, op_input)
    except BackendError as exc:
        if deadline.expired and not deadline.abandoned:
            raise call_timed_out(deadline.seconds) from exc
        raise


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
    """`Backend` over `alibabacloud_oss_v2.Client`, blocking calls run in worker threads."""

    def __init__(
        self, conn: ConnectionConfig, *, credentials: Any | Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(conn, credentials)
        self._http, self._session = requests_http_client(conn)
        # as many threads as connections: a call never waits for a connection
        self._limiter = anyio.CapacityLimiter(conn.max_connections)

    def _new_client(self, region: str, credentials: Any) -> Any:
        return oss.Client(sdk_config(self._conn, region, credentials, self._http))

    async def _invoke(self, where: tuple[str, str | None], op_input: Any) -> Any:
        client = self._client(where)
        deadline = CallDeadline(self._conn.call_timeout_s)
        # the wait for the thread is shielded, its answer kept; only a stop abandons it
        with anyio.CancelScope(shield=True) as scope:
            if (call := current_call()) is not None:
                call.on_abandon(deadline.abandon)
                call.on_abandon(scope.cancel)
            return await anyio.to_thread.run_sync(
                _call, client, op_input, deadline, limiter=self._limiter, abandon_on_cancel=True
            )
        raise interrupted()  # the scope was cancelled: the stop abandoned the call

    async def aclose(self) -> None:
        """Close the HTTP pools (a call abandoned at a stop finds its connection shut)."""
        self._clients.clear()
        self._session.close()
