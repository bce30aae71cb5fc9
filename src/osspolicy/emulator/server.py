"""The emulator's lifecycle: `Emulator` in a background thread (tests) or the foreground (CLI).

One asyncio event loop serves every connection (aiohttp's low-level server, HTTP/1.1
keep-alive), so hundreds of connections can wait on injected latency without a thread
each. In a thread the loop is the emulator's own; in the foreground (`serve_forever`)
it runs until SIGINT or SIGTERM and then returns normally.

It plays one or more accounts (`accounts=`, the first the default owner), or a Resource
Directory of them (`resource_directory=`, `directory.py`), answers STS AssumeRole and the
directory's listings (`rdmaster.py`) on the same port, serves a hostname with
virtual-host addressing (`hostname=`, optionally per region with `{region}`), HTTPS from a
test CA (`tls=True`), and appends its request log to a JSON-lines file
(`request_log_path=`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from aiohttp import web

from osspolicy._internal.keys import AccessKey
from osspolicy.emulator.accounts import Account
from osspolicy.emulator.auth import (
    KeyStore,
    Verifier,
)
from osspolicy.emulator.directory import (
    DirectorySource,
    ResourceDirectory,
    directory_accounts,
    load_directory,
)
from osspolicy.emulator.faults import FaultInjector, FaultKind, parse_list_fault
from osspolicy.emulator.handler import OssHandler
from osspolicy.emulator.hosts import KNOWN_REGIONS, HostMap
from osspolicy.emulator.rdmaster import DirectoryService
from osspolicy.emulator.requestlog import RequestLog, RequestLogEntry
from osspolicy.emulator.sockets import BACKLOG, bind_listening, connect_host
from osspolicy.emulator.state import (
    DEFAULT_REGION,
    EmulatorState,
    PolicySource,
)
from osspolicy.emulator.sts import DEFAULT_STS_DURATION_S, StsService
from osspolicy.emulator.tls import TestCA

__all__ = ("Emulator",)

_SHUTDOWN_TIMEOUT_S = 2.0


class Emulator:
    """An OSS-compatible server for bucket-policy work; real SDKs talk to it over HTTP(S).

    Use as a context manager (or `start()`/`stop()`); `endpoint` is the URL to give the
    SDK. The key pair comes from the arguments, else `OSS_ACCESS_KEY_ID` /
    `OSS_ACCESS_KEY_SECRET`, else the documented demo pair; or `accounts` gives several
    (`Account`s or `"ID:AK:SECRET"` specs, the first the default owner). Secrets never
    appear in a repr, the request log or any output.

    `hostname` (two labels or more, may hold `{region}`) is what `endpoint` is printed
    with; `tls=True` serves HTTPS from a test CA (`ca_pem`, `write_ca`); STS AssumeRole
    issues keys valid `sts_duration_s`; `clock` (seconds since the epoch) decides when
    they expire; `request_log_path` also appends each log entry to that file as JSON.

    `list_page_size` caps every ListBuckets page (paging with a few buckets);
    `list_fault` (`SHAPE[:AFTER]`, see `faults.py`) makes every ListBuckets answer after
    the first AFTER lie in that shape: an empty body, no NextMarker, a NextMarker that
    does not advance, or pages that overlap. `clock_offset_s` runs its clock that far
    ahead of this machine's (`set_clock_offset`).

    `resource_directory` (a YAML file's path, a mapping of the same keys, or a
    `ResourceDirectory`; see `directory.py`) plays a Resource Directory: each member is
    an account (with its key pair if it has one; its buckets seeded), the directory's
    listings are answered to the management account, and AssumeRole into a member is
    allowed only for a role it has, from the management account. Alone it gives the
    accounts, the management account first; with `accounts` (or a key pair) those come
    first and the members after. A bad directory raises DirectoryFileError (a ValueError).
    """

    def __init__(  # noqa: PLR0917 - the documented signature, mirrored by the CLI flags
        self,
        port: int = 0,
        region: str = DEFAULT_REGION,
        account_id: str | None = None,
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
        accounts: Sequence[Account | str] | None = None,
        hostname: str | None = None,
        tls: bool = False,
        sts_duration_s: float = DEFAULT_STS_DURATION_S,
        request_log_path: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] | None = None,
        list_page_size: int | None = None,
        list_fault: str | None = None,
        clock_offset_s: float = 0.0,
        resource_directory: DirectorySource | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be within 0-65535, got {port}")
        if max_buckets is not None and max_buckets < 0:
            raise ValueError(f"max_buckets must not be negative, got {max_buckets}")
        directory = None if resource_directory is None else load_directory(resource_directory)
        self._directory = directory
        self._accounts = directory_accounts(
            accounts, account_id, access_key_id, access_key_secret, directory
        )
        self._account_ids = frozenset(a.account_id for a in self._accounts).union(
            () if directory is None else (m.account_id for m in directory.members)
        )
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._url_host = "127.0.0.1"
        self._hosts = HostMap(hostname)
        self._tls = TestCA(self._hosts.certificate_names((*KNOWN_REGIONS, region))) if tls else None
        self.state = EmulatorState(
            region=region,
            account_id=self._accounts[0].account_id,
            max_buckets=max_buckets,
            list_page_size=list_page_size,
        )
        self._faults = FaultInjector(fault_rate, fault_after_rate, fault_seed)
        if list_fault is not None:
            shape, after = parse_list_fault(list_fault)
            self._faults.script("GET", "", "", kind=shape, skip=after, count=None)
        self._log = RequestLog(
            log_limit, path=None if request_log_path is None else Path(request_log_path)
        )
        keys = KeyStore([a.key_pair for a in self._accounts], clock=clock or time.time)
        self._keys = keys
        self._handler = OssHandler(
            self.state,
            Verifier(keys),
            self._faults,
            self._log,
            hosts=self._hosts,
            sts=StsService(
                keys, lambda: self._account_ids, duration_s=sts_duration_s, directory=directory
            ),
            directory=DirectoryService(keys, directory),
        )
        self.set_latency(latency_ms)
        self.set_clock_offset(clock_offset_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.ServerRunner | None = None
        for owner, seed in () if directory is None else directory.seeds():
            self.seed_buckets(seed.names(), region=seed.region, account_id=owner)

    def __repr__(self) -> str:
        where = self.endpoint if self._port is not None else "not started"
        return (
            f"Emulator({where}, region={self.region!r}, "
            f"access_key_id={self.access_key_id!r}, buckets={len(self.state)})"
        )

    # -- identity and address

    @property
    def endpoint(self) -> str:
        """`http(s)://HOST:PORT` once started; HOST is the hostname (`--region`'s) or the IP."""
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{self._url_host}:{self._port}"

    @property
    def hostname(self) -> str | None:
        """NAME as given (lower-cased; may hold `{region}`), or None."""
        return self._hosts.hostname

    def endpoint_for(self, region: str) -> str:
        """The endpoint of `region`'s host (NAME with `{region}`), else `endpoint`."""
        if not self._hosts.per_region:
            return self.endpoint
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{self._hosts.host_for(region)}:{self.port}"

    @property
    def tls(self) -> bool:
        return self._tls is not None

    @property
    def ca_pem(self) -> bytes:
        """The test CA's certificate (PEM) that a client must trust; only with `tls=True`."""
        if self._tls is None:
            raise RuntimeError("the emulator serves plain HTTP: start it with tls=True")
        return self._tls.ca_pem

    def write_ca(self, path: str | os.PathLike[str]) -> Path:
        """Write the test CA's certificate (PEM) to `path`; only with `tls=True`."""
        if self._tls is None:
            raise RuntimeError("the emulator serves plain HTTP: start it with tls=True")
        return self._tls.write_ca(path)

    @property
    def accounts(self) -> tuple[Account, ...]:
        """The accounts it plays with a key pair, the default owner first (a directory's
        members without one are played too: `account_ids`)."""
        return self._accounts

    @property
    def account_ids(self) -> frozenset[str]:
        """Every account it plays: those of `accounts` and the directory's members."""
        return self._account_ids

    @property
    def resource_directory(self) -> ResourceDirectory | None:
        """The Resource Directory it plays, or None."""
        return self._directory

    def account_of_key(self, access_key_id: str) -> str | None:
        """The account id a key acts as: an account's own key, or an STS temporary key
        (`STS.`...) issued for a role of that account; None for a key it does not know.

        How a test maps the request log's `access_key_id` to its account.
        """
        pair = self._keys.get(access_key_id)
        return None if pair is None else pair.account_id

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def access_key_id(self) -> str:
        """The default account's access key id."""
        return self._accounts[0].access_key_id

    @property
    def access_key_secret(self) -> str:
        return self._accounts[0].access_key_secret

    @property
    def env(self) -> dict[str, str]:
        """The default account's key pair as the SDK's environment variables
        (`OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET`), with `OSS_REGION` and, once
        started, `OSS_ENDPOINT`: `os.environ.update(emu.env)`, or a subprocess's env."""
        env = {
            "OSS_ACCESS_KEY_ID": self.access_key_id,
            "OSS_ACCESS_KEY_SECRET": self.access_key_secret,
            "OSS_REGION": self.region,
        }
        if self._port is not None:
            env["OSS_ENDPOINT"] = self.endpoint
        return env

    @property
    def credentials(self) -> AccessKey:
        """The default account's key pair as the object a job takes (`credentials=`)."""
        return AccessKey(self.access_key_id, self.access_key_secret)

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
        sock = bind_listening(self._host, self._requested_port)
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
        sock = bind_listening(self._host, self._requested_port)
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
        self._log.open()
        server = web.Server(self._handler, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        context = None if self._tls is None else self._tls.server_context()
        site = web.SockSite(runner, sock, backlog=BACKLOG, ssl_context=context)
        await site.start()
        self._runner = runner
        bound = sock.getsockname()
        self._url_host, self._port = connect_host(str(bound[0])), int(bound[1])
        if self._hosts.hostname is not None:
            self._url_host = self._hosts.host_for(self.region)
            if ":" in self._url_host:
                self._url_host = f"[{self._url_host}]"

    async def _stop_serving(self) -> None:
        self._handler.closing = True  # held (hang) and trickled requests end now
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._log.close()
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
        account_id: str | None = None,
    ) -> None:
        """Create many buckets without HTTP (100k in seconds); see `EmulatorState.seed`.

        `account_id` (one of `account_ids`) owns them; the default account otherwise.
        """
        if account_id is not None and account_id not in self._account_ids:
            raise ValueError(
                f"account {account_id!r} is not one of the emulator's accounts "
                f"({', '.join(a.account_id for a in self._accounts)})"
            )
        self.state.seed(
            names,
            policy=policy,
            region=region,
            block_public_access=block_public_access,
            owner=account_id,
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

    def set_clock_offset(self, seconds: float) -> None:
        """Run the emulator's clock `seconds` ahead of this machine's (negative: behind),
        as the service's would be to a client with a wrong clock: its answers' Date says
        so, and a request signed more than 15 minutes off gets RequestTimeTooSkewed."""
        self._handler.clock_offset_s = float(seconds)

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
        count: int | None = 1,
        status: int = 503,
        code: str = "ServiceUnavailable",
        kind: FaultKind = "error",
        skip: int = 0,
        bytes_per_s: float = 1.0,
    ) -> None:
        """Fail `count` matching requests (None: every one) after the first `skip`; None
        matches any, "" no sub-resource (or, as `bucket`, a service-level request:
        `script_fault("GET", "", "")` is ListBuckets only).

        kind "error" answers `status`/`code` and changes nothing; "reset" drops the
        connection and changes nothing; "after" applies the change, then drops it; a
        listing shape (`empty`, `no-next-marker`, `stuck-marker`, `overlap`; ListBuckets
        only) answers 200 with a page that lies that way; "hang" reads the request and
        never answers (nothing changed; the connection is held until the client hangs
        up); "trickle" serves it and sends the response body at `bytes_per_s`
        (`script_fault("GET", None, "policy", kind="trickle", count=None)`: every
        GetBucketPolicy answer trickles).
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
            bytes_per_s=bytes_per_s,
        )
