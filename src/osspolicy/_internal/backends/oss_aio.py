"""The aio backend (`engine: aio`): the SDK's async client on the job's own event loop.

`alibabacloud_oss_v2.aio.AsyncClient` has no bucket-policy methods in SDK 1.4.1, but its
`invoke_operation` takes the same `OperationInput`s the blocking client gets, so this
backend shares every request and every answer reader with the thread backend
(`SdkBackend`, `wire.py`) and only awaits the call differently: no thread, no GIL
hand-off, about half the CPU per call.

One aiohttp `ClientSession` is shared by one SDK client per (account, signing region).
Its connector (`http_aio.BoundedConnector`) allows as many connections in use as workers
(aiohttp's default is 100 whatever the SDK's `max_connections` says) and as many idle
ones, whatever the number of bucket hosts; it verifies certificates with the backend's
SSL context (`http.ssl_context`: `ca_file`, `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`,
certifi). The session is made on the first call, inside the running event loop. The
environment is read for proxies only when a proxy variable is set, as in the thread
backend, and aiohttp's own resend of a request on a dropped connection is off. Timeouts
are the SDK's (connect and socket read); the SDK's retryer is off (`NopRetryer`):
`retry.py` is the one retry layer. A call in flight is shielded from cancellation like
a thread call, so both engines record the same answers on Ctrl-C.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import anyio
from alibabacloud_oss_v2.aio import AsyncClient
from alibabacloud_oss_v2.aio.transport import AioHttpClient

from ..errors import CredentialsExpired
from ..stopping import current_call
from . import ConnectionConfig
from .credentials import OffLoopCredentials
from .http import proxy_configured, ssl_context
from .http_aio import BoundedConnector
from .oss import SdkBackend, call_timed_out, interrupted, sdk_config
from .wire import map_oss_errors, refresh_failed

__all__ = ("AioOssBackend",)


async def _refresh(credentials: OffLoopCredentials, *, force: bool = False) -> None:
    """`credentials.refresh()`; a refresh that fails is the bucket's transient
    `CredentialsFetchError`, as the thread engine's SDK client reports it (contracts §14),
    never the credentials library's own exception."""
    try:
        await credentials.refresh(force=force)
    except Exception as exc:  # the library raises its own exceptions, or ValueError
        raise refresh_failed(exc) from None


class AioOssBackend(SdkBackend):
    """`Backend` over `alibabacloud_oss_v2.aio.AsyncClient` (aiohttp), no threads."""

    def __init__(
        self, conn: ConnectionConfig, *, credentials: Any | Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(conn, credentials)
        # the async client asks for credentials on the event loop: they are fetched in a
        # worker thread instead (contracts §10)
        self._off_loop = {a: OffLoopCredentials(p) for a, p in self._credentials.items()}
        self._credentials = self._off_loop
        # made now: a CA bundle that cannot be read stops the job before any request
        self._ssl = ssl_context(conn)
        self._session: aiohttp.ClientSession | None = None
        self._http: Any = None

    def _http_client(self) -> Any:
        """The SDK's aiohttp transport over our session, made in the running loop."""
        if self._http is None:
            workers = self._conn.max_connections
            connector = BoundedConnector(
                limit=workers, limit_per_host=0, max_idle=workers, ssl=self._ssl
            )
            session = aiohttp.ClientSession(connector=connector, trust_env=proxy_configured())
            # aiohttp resends an idempotent request (GET, PUT, DELETE) once when a kept-alive
            # connection drops: a second request that no attempt count or rate limit would
            # see. Off, as aiohttp's own test client does: retry.py is the one retry layer.
            session._retry_connection = False  # noqa: SLF001
            self._session = session
            self._http = AioHttpClient(
                session=self._session,
                connect_timeout=self._conn.connect_timeout_s,
                readwrite_timeout=self._conn.read_timeout_s,
                proxy_host=self._conn.proxy_host,
            )
        return self._http

    def _new_client(self, region: str, credentials: Any) -> Any:
        cfg = sdk_config(self._conn, region, credentials, self._http_client())
        return AsyncClient(cfg)

    async def _invoke(self, where: tuple[str, str | None], op_input: Any) -> Any:
        client = self._client(where)
        credentials = self._off_loop[where[0]]
        await _refresh(credentials)
        seconds = self._conn.call_timeout_s
        try:
            with anyio.CancelScope(shield=True) as scope, map_oss_errors():
                scope.deadline = anyio.current_time() + seconds  # the attempt as a whole
                if (call := current_call()) is not None:
                    call.on_abandon(scope.cancel)
                return await client.invoke_operation(op_input)
        except CredentialsExpired:
            await _refresh(credentials, force=True)  # the retry signs with fresh ones
            raise
        # the scope was cancelled: by the stop, or by its deadline
        raise interrupted() if call is not None and call.abandoned else call_timed_out(seconds)

    async def aclose(self) -> None:
        """Close the HTTP session (the SDK clients own nothing else)."""
        session, self._session = self._session, None
        self._http = None
        self._clients.clear()
        if session is not None:
            with anyio.CancelScope(shield=True):
                await session.close()
