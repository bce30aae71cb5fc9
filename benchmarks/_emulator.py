"""The emulator in its own process, driven over a pipe.

A benchmark must measure the client alone: an emulator in the client's process would
share its interpreter lock with the SDK's threads and its CPU time with the client's
rusage. So the `Emulator` runs in a spawned child; the parent seeds buckets, changes the
latency and reads the peak of requests in flight and the child's CPU time by message.

`hostname` and `tls` give the production shape (contracts §13): the emulator serves
`oss-{region}.emu.test` over HTTPS from a test CA, so the SDK addresses every bucket as
its own host. The parent writes `ca_bundle` (certifi's bundle with the test CA added:
what a client verifies against in production, plus the private CA) and resolves
`*.emu.test` to 127.0.0.1 itself (`resolving()`) and in the processes it starts (`env()`).

Buckets are seeded by prefix and count (the child builds the names with `bucket_names`,
as the parent does), so 100,000 names never cross the pipe. The request log is off
(`log_limit=0`) unless a section counts calls by it (`log_limit`, `actions()`): it adds
to the emulator's work per request. `resource_directory` (the emulator's mapping of a
directory file) makes it play a Resource Directory, its members' buckets seeded there.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import certifi
from tests.resolver import resolve_to_loopback, subprocess_env

from osspolicy.emulator import Emulator

__all__ = ("ACCOUNT_ID", "PRODUCTION_HOSTNAME", "EmulatorProcess", "PolicyMaker", "bucket_names")

#: the account the emulator plays (the baseline's ${account_id})
ACCOUNT_ID = "1234567890123456"
#: a bucket's seeded policy, by name (None: no policy); must be picklable (module level)
PolicyMaker = Callable[[str], bytes | None]
_START_TIMEOUT_S = 60.0
#: the production shape's hostname: a host per region, `<bucket>.` before it
PRODUCTION_HOSTNAME = "oss-{region}.emu.test"
_TEST_DOMAIN = "emu.test"


def bucket_names(prefix: str, count: int) -> list[str]:
    """The names `seed(prefix, count, ...)` creates, in order."""
    return [f"{prefix}{i:06d}" for i in range(count)]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _every_bucket(emulator: Emulator) -> Iterator[str]:
    """Every bucket's name, of every account, a ListBuckets page at a time."""
    marker = ""
    while True:
        page = emulator.state.list_buckets("", marker, 1000)
        yield from (bucket.name for bucket in page.buckets)
        if not page.is_truncated:
            return
        marker = page.next_marker


def _actions(emulator: Emulator) -> dict[str, Any]:
    """The request log's calls by `action` (OSS calls: `None`), and the arrival of the
    first and last AssumeRole and of the first OSS call (seconds of the wall clock)."""
    counts: dict[str | None, int] = {}
    assume: list[float] = []
    first_oss: float | None = None
    for entry in emulator.request_log:
        counts[entry.action] = counts.get(entry.action, 0) + 1
        if entry.action == "AssumeRole":
            assume.append(entry.time)
        elif entry.action is None and first_oss is None:
            first_oss = entry.time
    return {
        "counts": counts,
        "assume": (min(assume), max(assume)) if assume else None,
        "first_oss": first_oss,
    }


def _serve(
    conn: Connection,
    latency_ms: float,
    hostname: str | None,
    tls: bool,
    *,
    directory: dict[str, Any] | None = None,
    log_limit: int = 0,
) -> None:
    """The child: one emulator, answering the parent's messages until 'stop'."""
    with Emulator(
        latency_ms=latency_ms,
        account_id=None if directory is not None else ACCOUNT_ID,
        log_limit=log_limit,
        hostname=hostname,
        tls=tls,
        resource_directory=directory,
    ) as emulator:
        conn.send(
            (
                emulator.endpoint,
                emulator.region,
                emulator.access_key_id,
                emulator.access_key_secret,
                emulator.ca_pem if tls else None,
            )
        )
        while True:
            command, *args = conn.recv()
            reply: Any = None
            if command == "stop":
                break
            if command == "seed":
                prefix, count, policy = args
                emulator.seed_buckets(bucket_names(prefix, count), policy=policy)
            elif command == "latency":
                emulator.set_latency(args[0])
            elif command == "reset_peak":
                emulator.reset_peak()
                reply = _cpu_seconds()
            elif command == "peak":
                reply = emulator.peak_in_flight
            elif command == "cpu":
                reply = _cpu_seconds()
            elif command == "policies":
                for name in _every_bucket(emulator):
                    if (body := args[0](name)) is not None:
                        emulator.state.put_policy(name, body)
            elif command == "actions":
                reply = _actions(emulator)
            elif command == "clear_log":
                emulator.clear_log()
            conn.send(reply)


@dataclass
class EmulatorProcess:
    """An `Emulator` in a spawned child process; a context manager.

    `endpoint`, `region` and the key pair are known once entered. The secret is kept out
    of the repr and is only handed on through `env()`, never printed. With
    `production=True` it serves `PRODUCTION_HOSTNAME` over TLS; `ca_bundle` is then the
    file to verify against.
    """

    latency_ms: float = 50.0
    production: bool = False
    resource_directory: dict[str, Any] | None = field(default=None, repr=False)
    log_limit: int = 0
    ca_bundle: Path | None = None
    endpoint: str = ""
    region: str = ""
    access_key_id: str = ""
    access_key_secret: str = field(default="", repr=False)
    _conn: Connection | None = field(default=None, repr=False)
    _process: multiprocessing.process.BaseProcess | None = field(default=None, repr=False)
    _folder: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def __enter__(self) -> Self:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        hostname = PRODUCTION_HOSTNAME if self.production else None
        process = context.Process(
            target=_serve,
            args=(child, self.latency_ms, hostname, self.production),
            kwargs={"directory": self.resource_directory, "log_limit": self.log_limit},
            daemon=True,
        )
        process.start()
        self._conn, self._process = parent, process
        # the child's first message, or its exit (a failed start) if that comes first
        wait([parent, process.sentinel], _START_TIMEOUT_S)
        if not parent.poll():
            self._shutdown()
            raise RuntimeError(f"the emulator process did not start (exit {process.exitcode})")
        self.endpoint, self.region, self.access_key_id, self.access_key_secret, ca = parent.recv()
        if ca is not None:
            self._folder = tempfile.TemporaryDirectory(prefix="osspolicy-bench-ca-")
            self.ca_bundle = Path(self._folder.name) / "ca-bundle.pem"
            self.ca_bundle.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + ca)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            self._conn.send(("stop",))
        self._shutdown()

    def _shutdown(self) -> None:
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        if self._conn is not None:
            self._conn.close()
        if self._folder is not None:
            self._folder.cleanup()
        self._conn = self._process = self._folder = None

    def _ask(self, *message: object) -> Any:
        if self._conn is None:
            raise RuntimeError("the emulator process is not running")
        self._conn.send(message)
        return self._conn.recv()

    def seed(self, prefix: str, count: int, policy: PolicyMaker | bytes | None) -> list[str]:
        """Create `count` buckets named `prefix` + 6 digits; return their names."""
        self._ask("seed", prefix, count, policy)
        return bucket_names(prefix, count)

    def seed_policies(self, policy: PolicyMaker) -> None:
        """Give every bucket of every account `policy(name)` (None: none)."""
        self._ask("policies", policy)

    def actions(self) -> dict[str, Any]:
        """What the request log holds (`log_limit` > 0): calls by `action` (None: OSS),
        and the arrival of the first and last AssumeRole and of the first OSS call."""
        return dict(self._ask("actions"))

    def clear_log(self) -> None:
        self._ask("clear_log")

    def set_latency(self, ms: float) -> None:
        """Delay every request by `ms` from now on."""
        self.latency_ms = ms
        self._ask("latency", ms)

    def reset_peak(self) -> float:
        """Start counting the peak of requests in flight again; the emulator's CPU
        seconds at that moment (`cpu_seconds`), to measure from there."""
        return float(self._ask("reset_peak"))

    def peak_in_flight(self) -> int:
        """The most requests the emulator served at once since the last reset."""
        return int(self._ask("peak"))

    def cpu_seconds(self) -> float:
        """The emulator process's CPU time so far (user + system)."""
        return float(self._ask("cpu"))

    def env(self) -> dict[str, str]:
        """This process's environment plus the emulator's key pair, for the SDK; in the
        production shape, resolving its hostnames to 127.0.0.1 too."""
        env = subprocess_env(_TEST_DOMAIN) if self.production else dict(os.environ)
        env["OSS_ACCESS_KEY_ID"] = self.access_key_id
        env["OSS_ACCESS_KEY_SECRET"] = self.access_key_secret
        return env

    @contextlib.contextmanager
    def resolving(self) -> Iterator[None]:
        """In this process, its hostnames resolve to 127.0.0.1 (production shape only)."""
        with resolve_to_loopback(_TEST_DOMAIN) if self.production else contextlib.nullcontext():
            yield
