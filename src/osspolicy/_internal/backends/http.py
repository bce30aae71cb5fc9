"""How both engines connect: which CAs they trust, which proxy they use, how many sockets.

Production addresses every bucket as its own host (`<bucket>.oss-<region>.aliyuncs.com`)
over TLS, so a job of N buckets talks to N hosts. Whatever N, each engine keeps

    open connections <= 2 x concurrency   (<= concurrency in use, <= concurrency idle)

- `engine: threads`: the SDK's own `RequestsHttpClient` over a `requests` session whose
  adapter keeps the pools of the `concurrency` most recently used hosts, each at most
  `concurrency` connections, and closes an evicted pool (its idle connections at once,
  a busy one when it comes back; urllib3 2 leaves that to the garbage collector). A
  bucket is one worker's at a time, so a bucket host's pool holds one connection: at
  most `concurrency` idle ones in all; with a single host (an IP endpoint, path-style)
  the one pool holds them all, `concurrency` at most.
- `engine: aio`: aiohttp's connector limits the connections in use to `concurrency` but
  keeps every idle one until its keep-alive (15 s) expires: 3,000 bucket hosts left 3,000
  sockets open ("Too many open files" under `ulimit -n 1024`). `BoundedConnector`
  (`http_aio.py`, imported by the aio engine alone, so a thread job never loads aiohttp)
  closes the least recently used idle connection as soon as more than `concurrency` are
  idle.

On the thread engine every socket is bounded by its call's deadline (`deadline.py`):
each read and write waits at most the time left of `timeouts.call_s`, the connect too,
and an abandoned call's socket is shut down.

Certificates are verified against one CA bundle, the first of: `connection.ca_file`,
`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, certifi's (what the SDK's requests transport
uses), loaded once per backend into one `ssl.SSLContext` that all its connections share
(the SDK's requests transport loads the bundle again for every new connection).
The SDK config's `insecure_skip_verify` switches verification off (the SDK's own aiohttp
transport ignores it; ours does not), and its `proxy_host` is sent with every request.
The standard proxy variables (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, either
case) are read only when one is set: both `requests` and aiohttp otherwise scan the
environment (and ~/.netrc) on every request. A lone `NO_PROXY` changes nothing else.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import certifi
import requests
import requests.adapters
from alibabacloud_oss_v2.transport import RequestsHttpClient
from urllib3.exceptions import ClosedPoolError
from urllib3.util.retry import Retry

from ..errors import ConfigError
from . import ConnectionConfig
from .deadline import POOL_CLASSES, DeadlineSSLSocket, current_deadline

__all__ = (
    "ca_bundle",
    "proxy_configured",
    "requests_http_client",
    "ssl_context",
)

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def proxy_configured() -> bool:
    """Whether any proxy variable is set (either case): only then do the HTTP clients
    read the environment."""
    return any(os.environ.get(name) or os.environ.get(name.upper()) for name in _PROXY_VARIABLES)


def ca_bundle(ca_file: Path | None) -> tuple[str, str]:
    """The CA bundle to verify against and where it came from: `ca_file`, else
    `SSL_CERT_FILE`, else `REQUESTS_CA_BUNDLE`, else certifi's."""
    if ca_file is not None:
        return str(ca_file), "connection.ca_file"
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        if value := os.environ.get(name):
            return value, name
    return certifi.where(), "certifi"


def ssl_context(conn: ConnectionConfig) -> ssl.SSLContext:
    """The client SSL context of a backend: the CA bundle of `ca_bundle`, or no
    verification at all with `insecure_skip_verify`. A bundle that cannot be read is a
    ConfigError naming where it came from."""
    if conn.insecure_skip_verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    path, source = ca_bundle(conn.ca_file)
    try:
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"the CA bundle {path} cannot be read: {exc}",
            place=source,
            hint="give a PEM file of CA certificates",
        ) from exc


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter with our SSL context on every pool (through a proxy too), pools
    for the `pools` most recently used hosts, `pools` connections each, no retries."""

    def __init__(self, context: ssl.SSLContext, pools: int) -> None:
        self._context = context
        no_retries = Retry(total=False, redirect=False, raise_on_status=False)
        super().__init__(pool_connections=pools, pool_maxsize=pools, max_retries=no_retries)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs.setdefault("ssl_context", self._context)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        _close_evicted_pools(self.poolmanager)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        known = proxy in self.proxy_manager
        proxy_kwargs.setdefault("ssl_context", self._context)
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not known:
            _close_evicted_pools(manager)
            manager.pool_classes_by_scheme = POOL_CLASSES
        return manager

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)
        # requests names certifi's bundle (or REQUESTS_CA_BUNDLE) on every new connection,
        # and urllib3 then loads it into the context again: a whole bundle parsed per
        # connection, which is per bucket when every bucket is its own host. Our context
        # already holds the bundle `ca_bundle` chose.
        conn.ca_certs = conn.ca_cert_dir = None

    def send(  # noqa: PLR0917 - requests' signature
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        # with the environment read, requests turns REQUESTS_CA_BUNDLE into `verify=PATH`
        # and would load it into the context again for every connection: our context
        # already holds the bundle `ca_bundle` chose; only `False` (skip) means anything
        verify = verify is not False
        deadline = current_deadline()
        if deadline is not None and isinstance(timeout, tuple):  # the connect within it too
            left = max(deadline.left(), 0.001)
            connect = timeout[0]
            timeout = (left if connect is None else min(connect, left), timeout[1])
        try:
            return super().send(request, stream, timeout, verify, cert, proxies)
        except requests.ConnectionError as exc:
            if not isinstance(exc.args[0] if exc.args else None, ClosedPoolError):
                raise
        # the host's pool was evicted (and closed) between being found and used: nothing
        # was sent, so sending again (to a new pool) is no retry
        return super().send(request, stream, timeout, verify, cert, proxies)


def _close_pool(pool: Any) -> None:
    pool.close()


def _close_evicted_pools(manager: Any) -> None:
    """Close a host's pool when the manager evicts it from its most-recently-used set.

    urllib3 2 drops an evicted pool without closing it: its connections stay open until
    the garbage collector finds them, hundreds of sockets when every bucket is a host.
    A closed pool closes its idle connections at once and a busy one when it comes back.
    """
    manager.pools.dispose_func = _close_pool


def requests_http_client(conn: ConnectionConfig) -> tuple[RequestsHttpClient, requests.Session]:
    """The thread engine's transport: the SDK's `RequestsHttpClient` on a session of
    ours (closed by the caller), pools sized to the workers, the SDK config's proxy and
    verification settings honoured."""
    session = requests.Session()
    session.trust_env = proxy_configured()
    context = ssl_context(conn)
    context.sslsocket_class = DeadlineSSLSocket  # each read bounded by its call's deadline
    adapter = _Adapter(context, conn.max_connections)
    for prefix in ("http://", "https://"):
        session.mount(prefix, adapter)
    client = RequestsHttpClient(
        session=session,
        connect_timeout=conn.connect_timeout_s,
        readwrite_timeout=conn.read_timeout_s,
        max_connections=conn.max_connections,
        insecure_skip_verify=conn.insecure_skip_verify,
        # the SDK turns a str into {"http://": ..., "https://": ...}, keys requests never
        # looks up (it wants "http", "https"): the SDK's proxy setting would be ignored
        proxy_host={"http": conn.proxy_host, "https": conn.proxy_host} if conn.proxy_host else None,
    )
    return client, session
