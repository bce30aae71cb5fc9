"""The emulator's lifecycle: `Emulator` in a background thread (tests) or the foreground (CLI).

One asyncio event loop serves every connection (aiohttp's low-level server, HTTP/1.1
keep-alive), so hundreds of connections can wait on injected latency without a thread
each. In a thread the loop is the emulator's own; in the foreground (`serve_forever`)
it runs until SIGINT or SIGTERM and then returns normally.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self

from aiohttp import web

from osspolicy.emulator.auth import (
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    KeyPair,
    KeyStore,
    Verifier,
)
from osspolicy.emulator.faults import FaultInjector, FaultKind
from osspolicy.emulator.handler import OssHandler, RequestLog, RequestLogEntry
from osspolicy.emulator.state import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    EmulatorState,
    PolicySource,
)

__all__ = ("Emulator", "resolve_key_pair")

_SHUTDOWN_TIMEOUT_S = 2.0
_BACKLOG = 1024


def resolve_key_pair(access_key_id: str | None, access_key_secret: str | None) -> KeyPair:
    """The pair given, else OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET, else the demo pair."""
    if (access_key_id is None) != (access_key_secret is None):
        raise ValueError("give both access_key_id and access_key_secret, or neither")
    if access_key_id is not None and access_key_secret is not None:
        return KeyPair(access_key_id, access_key_secret)
    env_id = os.environ.get("OSS_ACCESS_KEY_ID")
    env_secret = os.environ.get("OSS_ACCESS_KEY_SECRET")
    if env_id and env_secret:
        return KeyPair(env_id, env_secret)
    return KeyPair(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET)


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _connect_host(bound: str) -> str:
    """The URL host a client should dial for a socket bound to IP `bound`.

    An IP, never a name: the Python SDK then uses path-style addressing, which needs no
    DNS for `<bucket>.<host>`. The wildcard addresses map to loopback.
    """
    address = ipaddress.ip_address(bound.split("%", 1)[0])
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return str(address) if address.version == 4 else f"[{address}]"


class Emulator:
    """An OSS-compatible server for bucket-policy work; real SDKs talk to it over HTTP.

    Use as a context manager (or `start()`/`stop()`); `endpoint` is the URL to give the
    SDK. The key pair comes from the arguments, else `OSS_ACCESS_KEY_ID` /
    `OSS_ACCESS_KEY_SECRET`, else the documented demo pair; the secret never appears in
    a repr, the request log or any output.
    """

    def __init__(  # noqa: PLR0917 - the documented signature, mirrored by the CLI flags
        self,
        port: int = 0,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        latency_ms: float = 0.0,
        fault_rate: float = 0.0,
        fault_after_rate: float = 0.0,
        fault_seed: int = 0,
        max_buckets: int | None = None,
        host: str = "127.0.0.1",
        *,
        log_limit: int | None = 100_000,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be within 0-65535, got {port}")
        if max_buckets is not None and max_buckets < 0:
            raise ValueError(f"max_buckets must not be negative, got {max_buckets}")
        self._pair = resolve_key_pair(access_key_id, access_key_secret)
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._url_host = "127.0.0.1"
        self.state = EmulatorState(region=region, account_id=account_id, max_buckets=max_buckets)
        self._faults = FaultInjector(fault_rate, fault_after_rate, fault_seed)
        self._log = RequestLog(log_limit)
        self._handler = OssHandler(
            self.state, Verifier(KeyStore([self._pair])), self._faults, self._log
        )
        self.set_latency(latency_ms)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.ServerRunner | None = None

    def __repr__(self) -> str:
        where = self.endpoint if self._port is not None else "not started"
        return (
            f"Emulator({where}, region={self.region!r}, "
            f"access_key_id={self.access_key_id!r}, buckets={len(self.state)})"
        )

    # -- identity and address

    @property
    def endpoint(self) -> str:
        """`http://HOST:PORT`, once started."""
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self._url_host}:{self._port}"

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def access_key_id(self) -> str:
        return self._pair.access_key_id

    @property
    def access_key_secret(self) -> str:
        return self._pair.access_key_secret

    @property
    def region(self) -> str:
        return self.state.region

    @property
    def account_id(self) -> str:
        return self.state.account_id

    # -- lifecycle

    def start(self) -> Self:
        """Serve in a background thread with its own event loop; returns when listening."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already started")
        sock = _bind(self._host, self._requested_port)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="oss-emulator", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start_serving(sock), loop).result()
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            sock.close()
            raise
        self._loop, self._thread = loop, thread
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket, then end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._stop_serving(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = None
        self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve in the foreground until SIGINT or SIGTERM, then return (the CLI's mode).

        `on_ready(endpoint)` runs once the socket is listening.
        """
        if self._thread is not None:
            raise RuntimeError("the emulator is already started")
        sock = _bind(self._host, self._requested_port)
        asyncio.run(self._serve_until_signalled(sock, on_ready))

    async def _serve_until_signalled(
        self, sock: socket.socket, on_ready: Callable[[str], None] | None
    ) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        try:
            await self._start_serving(sock)
            if on_ready is not None:
                on_ready(self.endpoint)
            await stopping.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            await self._stop_serving()
            self._port = None

    async def _start_serving(self, sock: socket.socket) -> None:
        server = web.Server(self._handler, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        site = web.SockSite(runner, sock, backlog=_BACKLOG)
        await site.start()
        self._runner = runner
        bound = sock.getsockname()
        self._url_host, self._port = _connect_host(str(bound[0])), int(bound[1])

    async def _stop_serving(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        current = asyncio.current_task()
        others = [task for task in asyncio.all_tasks() if task is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    # -- state, log and knobs

    def seed_buckets(
        self,
        names: Iterable[str],
        *,
        policy: PolicySource = None,
        region: str | None = None,
        block_public_access: bool = True,
    ) -> None:
        """Create many buckets without HTTP (100k in seconds); see `EmulatorState.seed`."""
        self.state.seed(
            names, policy=policy, region=region, block_public_access=block_public_access
        )

    @property
    def request_log(self) -> list[RequestLogEntry]:
        """A snapshot of the request log, oldest first."""
        return self._log.snapshot()

    def clear_log(self) -> None:
        self._log.clear()

    @property
    def in_flight(self) -> int:
        return self._handler.in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most requests being served at once since start (or `reset_peak`)."""
        return self._handler.peak_in_flight

    def reset_peak(self) -> None:
        self._handler.peak_in_flight = self._handler.in_flight

    def set_latency(self, ms: float) -> None:
        """Delay every request by `ms` milliseconds (an asyncio sleep, no thread)."""
        if ms < 0:
            raise ValueError(f"latency must not be negative, got {ms}")
        self._handler.latency_s = ms / 1000.0

    def set_faults(self, rate: float = 0.0, after_rate: float = 0.0, seed: int = 0) -> None:
        """Random faults from now on; the per-key ordinals restart from zero."""
        self._faults.configure(rate, after_rate, seed)

    def clear_scripted_faults(self) -> None:
        """Forget every scripted fault not spent yet (the cause of a failure is fixed)."""
        self._faults.clear_scripts()

    def script_fault(
        self,
        method: str,
        bucket: str | None = None,
        subresource: str | None = None,
        *,
        count: int = 1,
        status: int = 503,
        code: str = "ServiceUnavailable",
        kind: FaultKind = "error",
        skip: int = 0,
    ) -> None:
        """Fail `count` matching requests after the first `skip`; None matches any, ""
        no sub-resource (or, as `bucket`, a service-level request: `script_fault("GET",
        "", "")` is ListBuckets only).

        kind "error" answers `status`/`code` and changes nothing; "reset" drops the
        connection and changes nothing; "after" applies the change, then drops it.
        """
        self._faults.script(
            method,
            bucket,
            subresource,
            count=count,
            status=status,
            code=code,
            kind=kind,
            skip=skip,
        )
