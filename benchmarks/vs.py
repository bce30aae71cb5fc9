"""osspolicy's engines against what users write today, over the same GetBucketPolicy calls.

Every variant reads the policies of the same seeded buckets (each has one, so every call
is a 200) from the emulator in its own process with 50 ms latency, and keeps the
answers in memory (no files: the full jobs are `jobs.py`'s):

- `sequential loop`: a `for` loop over `client.get_bucket_policy(...)`, SDK defaults;
- `ThreadPoolExecutor, SDK pool`: `pool.map` over the same calls with `c` threads and the
  SDK's default HTTP pool (20 connections; the threads beyond it open and drop a
  connection per call);
- `ThreadPoolExecutor, pool = c`: the same script with the SDK's pool sized to the
  threads (`RequestsHttpClient(max_connections=c)`): the tuned, harder baseline;
- `engine: threads` / `engine: aio`: osspolicy's `Engine` with `c` workers, a `Tries`
  per call (the one retry layer) and `OssBackend` / `AioOssBackend`.

With `production=True` the same comparison runs in the production shape (contracts §13,
design.md): the emulator serves `oss-{region}.emu.test` over TLS, so every bucket is its
own host (a new connection and TLS handshake per call, as in production), and the test
CA (with certifi's bundle, `_emulator.py`) is passed as a user passes a private CA: the
scripts through `REQUESTS_CA_BUNDLE`, which the SDK's requests transport reads, the
engines through `connection.ca_file`. The sequential loop and the SDK-pool script are
left out there: they measure nothing the tuned script does not.

Each cell warms up first (two rounds of `c` calls: connections opened, lazy imports
done), then makes `rounds * c` calls (`rounds * latency` of work at the ideal; fewer
rounds where that would pass `max_calls`, so the CPU-bound cells stay short). Every call
is timed with `perf_counter` around it; CPU is this process's rusage (user + system,
every thread), so the emulator's work is never counted.

ideal = concurrency / latency (calls/s); of ideal = throughput / ideal;
CPU ceiling = 1 / (CPU seconds per call): the calls/s one core could do at that cost;
of CPU ceiling = throughput * CPU per call: the cores busy (1.0 = one core, the most a
GIL-bound client gets).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

import alibabacloud_oss_v2 as oss
import anyio

from osspolicy._internal.backends import ConnectionConfig, PolicyRead
from osspolicy._internal.backends.oss import OssBackend
from osspolicy._internal.backends.oss_aio import AioOssBackend
from osspolicy._internal.engine import Engine
from osspolicy._internal.retry import RetryConfig, Tries

from ._emulator import EmulatorProcess
from ._policies import own_policy
from ._report import Table, cpu_seconds, percentile, ratio

__all__ = (
    "AIO",
    "SEQUENTIAL",
    "THREADS",
    "TPE_DEFAULT",
    "TPE_TUNED",
    "Cell",
    "VsResult",
    "run_vs",
)

SEQUENTIAL = "sequential loop (SDK defaults)"
TPE_DEFAULT = "ThreadPoolExecutor, SDK pool (20)"
TPE_TUNED = "ThreadPoolExecutor, pool = c"
THREADS = "osspolicy engine: threads"
AIO = "osspolicy engine: aio"
#: the buckets every variant reads, round-robin
BUCKETS = 10_000
LATENCY_MS = 50.0
WARMUP_ROUNDS = 2
#: cells from this concurrency on are CPU-bound, hence noisy: they run `repeats` times
REPEAT_FROM = 64


@dataclass(frozen=True, slots=True)
class Cell:
    """One variant at one concurrency: what it did and what it cost."""

    variant: str
    concurrency: int
    calls: int
    wall_s: float
    cpu_s: float
    p50_s: float
    p99_s: float
    latency_s: float
    peak_in_flight: int
    emulator_cpu_s: float

    @property
    def throughput(self) -> float:
        """Calls per second."""
        return ratio(self.calls, self.wall_s)

    @property
    def ideal(self) -> float:
        """concurrency / latency: the calls/s if every slot were always waiting on OSS."""
        return self.concurrency / self.latency_s

    @property
    def cpu_per_call(self) -> float:
        """CPU seconds of this process per call."""
        return ratio(self.cpu_s, self.calls)

    @property
    def cpu_ceiling(self) -> float:
        """1 / CPU per call: the calls/s one core could do at that cost."""
        return ratio(1.0, self.cpu_per_call)

    @property
    def of_cpu_ceiling(self) -> float:
        """throughput * CPU per call: the cores this process kept busy."""
        return self.throughput * self.cpu_per_call


@dataclass(frozen=True, slots=True)
class VsResult:
    """Every cell of the comparison, and its table."""

    cells: tuple[Cell, ...]
    table: Table

    def get(self, variant: str, concurrency: int) -> Cell | None:
        """The cell of `variant` at `concurrency`, if it was measured."""
        for cell in self.cells:
            if cell.variant == variant and cell.concurrency == concurrency:
                return cell
        return None


@dataclass(frozen=True, slots=True)
class _Timed:
    """What the measured phase of a cell returns to `_measure`; the emulator's side
    (peak in flight, CPU) is added by `_observed`."""

    wall_s: float
    cpu_s: float
    latencies: Sequence[float]
    peak_in_flight: int = 0
    emulator_cpu_s: float = 0.0


def _observed(emu: EmulatorProcess, emulator_cpu_start: float, timed: _Timed) -> _Timed:
    """`timed` with the emulator's peak in flight and CPU since `emulator_cpu_start`
    (what `reset_peak` returned right before the phase)."""
    return dataclasses.replace(
        timed,
        peak_in_flight=emu.peak_in_flight(),
        emulator_cpu_s=emu.cpu_seconds() - emulator_cpu_start,
    )


def _names(names: Sequence[str], start: int, count: int) -> list[str]:
    """`count` bucket names round-robin from `start`."""
    return [names[(start + i) % len(names)] for i in range(count)]


# -- what users write today: the SDK's blocking client


def _sdk_client(emu: EmulatorProcess, pool: int | None) -> Any:
    """`oss.Client` the way the SDK's README sets it up; `pool` sizes its HTTP pool."""
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.EnvironmentVariableCredentialsProvider()
    cfg.region = emu.region
    cfg.endpoint = emu.endpoint
    if pool is not None:
        cfg.http_client = oss.transport.RequestsHttpClient(max_connections=pool)
    return oss.Client(cfg)


def _sequential(client: Any, names: Sequence[str]) -> _Timed:
    """The loop a user writes first."""
    latencies: list[float] = []
    bodies: list[str] = []
    cpu, started = cpu_seconds(), time.perf_counter()
    for name in names:
        call = time.perf_counter()
        result = client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=name))
        latencies.append(time.perf_counter() - call)
        bodies.append(result.body)
    return _Timed(time.perf_counter() - started, cpu_seconds() - cpu, latencies)


def _thread_pool(client: Any, names: Sequence[str], workers: int) -> _Timed:
    """The ThreadPoolExecutor script a user writes next: `pool.map` over the calls."""
    latencies: list[float] = []

    def fetch(name: str) -> str:
        call = time.perf_counter()
        result = client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=name))
        latencies.append(time.perf_counter() - call)  # list.append is atomic
        body: str = result.body
        return body

    cpu, started = cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        bodies = list(pool.map(fetch, names))
    wall, used = time.perf_counter() - started, cpu_seconds() - cpu
    if len(bodies) != len(names):  # pragma: no cover - pool.map raises instead
        raise RuntimeError("the thread pool lost calls")
    return _Timed(wall, used, latencies)


def _script_cell(
    emu: EmulatorProcess, names: Sequence[str], concurrency: int, calls: int, *, pool: int | None
) -> _Timed:
    """Warm up and measure one user-script cell (the sequential loop when `concurrency`
    is 0); the client and its connections are dropped afterwards, as a script's are."""
    client = _sdk_client(emu, pool)
    warmup = _names(names, 0, WARMUP_ROUNDS * max(concurrency, 1))
    work = _names(names, len(warmup), calls)
    try:
        if concurrency == 0:
            _sequential(client, warmup)
            start = emu.reset_peak()
            return _observed(emu, start, _sequential(client, work))
        _thread_pool(client, warmup, concurrency)
        start = emu.reset_peak()
        return _observed(emu, start, _thread_pool(client, work, concurrency))
    finally:
        del client
        gc.collect()  # closes the dropped pool's sockets before the next cell


# -- osspolicy's engines: Engine + Tries + backend, results kept in memory


async def _iterate(names: Sequence[str]) -> AsyncIterator[str]:
    for name in names:
        yield name


async def _engine_run(
    backend: OssBackend | AioOssBackend, names: Sequence[str], workers: int
) -> _Timed:
    """Drive `names` through an `Engine` of `workers`; every read timed and kept."""
    retry = RetryConfig()
    latencies: list[float] = []
    reads: list[PolicyRead] = []

    async def work(name: str) -> PolicyRead:
        tries = Tries(retry)
        call = time.perf_counter()
        read = await tries(backend.get_policy, name)
        latencies.append(time.perf_counter() - call)
        return read

    async def sink(batch: Sequence[PolicyRead]) -> None:
        reads.extend(batch)

    def skip(name: str) -> PolicyRead:
        raise RuntimeError(f"{name} skipped: the engine was never stopped")

    engine = Engine[str, PolicyRead](workers)
    cpu, started = cpu_seconds(), time.perf_counter()
    await engine.run(_iterate(names), work, sink, skip)
    wall, used = time.perf_counter() - started, cpu_seconds() - cpu
    if len(reads) != len(names) or any(read.body is None for read in reads):
        raise RuntimeError("the engine lost calls or read an empty policy")
    return _Timed(wall, used, latencies)


def _engine_cell(
    emu: EmulatorProcess, names: Sequence[str], concurrency: int, calls: int, *, aio: bool
) -> _Timed:
    """Warm up and measure one engine cell, on one backend sized to the workers."""
    conn = ConnectionConfig(
        region=emu.region,
        endpoint=emu.endpoint,
        max_connections=concurrency,
        ca_file=emu.ca_bundle,
    )

    async def run() -> _Timed:
        backend = AioOssBackend(conn) if aio else OssBackend(conn)
        try:
            await _engine_run(backend, _names(names, 0, WARMUP_ROUNDS * concurrency), concurrency)
            # blocking pipe round trips to the emulator: nothing is in flight here
            start = emu.reset_peak()
            work = _names(names, WARMUP_ROUNDS * concurrency, calls)
            return _observed(emu, start, await _engine_run(backend, work, concurrency))
        finally:
            await backend.aclose()

    return anyio.run(run)


def calls_per_cell(concurrency: int, rounds: int, max_calls: int) -> int:
    """`rounds` rounds of `concurrency` calls, fewer rounds if that exceeds `max_calls`."""
    return concurrency * max(1, min(rounds, max_calls // concurrency))


def _measure(
    emu: EmulatorProcess, names: Sequence[str], variant: str, concurrency: int, calls: int
) -> Cell:
    if variant == SEQUENTIAL:
        timed = _script_cell(emu, names, 0, calls, pool=None)
    elif variant == TPE_DEFAULT:
        timed = _script_cell(emu, names, concurrency, calls, pool=None)
    elif variant == TPE_TUNED:
        timed = _script_cell(emu, names, concurrency, calls, pool=concurrency)
    else:
        timed = _engine_cell(emu, names, concurrency, calls, aio=variant == AIO)
    return Cell(
        variant=variant,
        concurrency=concurrency,
        calls=calls,
        wall_s=timed.wall_s,
        cpu_s=timed.cpu_s,
        p50_s=percentile(timed.latencies, 0.50),
        p99_s=percentile(timed.latencies, 0.99),
        latency_s=emu.latency_ms / 1000,
        peak_in_flight=timed.peak_in_flight,
        emulator_cpu_s=timed.emulator_cpu_s,
    )


def plan(concurrencies: Sequence[int], *, production: bool = False) -> list[tuple[str, int]]:
    """The cells, in the order they run: each variant at each concurrency it has."""
    if production:
        return [(v, c) for v in (TPE_TUNED, THREADS, AIO) for c in concurrencies]
    cells: list[tuple[str, int]] = [(SEQUENTIAL, 1)]
    cells += [(TPE_DEFAULT, c) for c in concurrencies if c > 20]  # equal to tuned up to 20
    for variant in (TPE_TUNED, THREADS, AIO):
        cells += [(variant, c) for c in concurrencies]
    return cells


def _table(
    cells: Sequence[Cell],
    rounds: int,
    max_calls: int,
    buckets: int,
    repeats: int,
    *,
    production: bool = False,
) -> Table:
    latency_ms = cells[0].latency_s * 1000 if cells else LATENCY_MS
    best_of = f", best of {repeats} runs where c >= {REPEAT_FROM}" if repeats > 1 else ""
    shape = (
        "production shape (TLS, a host per bucket): "
        if production
        else "vs what users write today: "
    )
    table = Table(
        f"{shape}GetBucketPolicy, {buckets:,} buckets, "
        f"{latency_ms:.0f} ms latency, {rounds} rounds of c calls per cell "
        f"(at most {max_calls:,} calls){best_of}",
        (
            "variant",
            "c",
            "calls",
            "calls/s",
            "x script" if production else "x seq",
            "of ideal",
            "p50 ms",
            "p99 ms",
            "CPU ms/call",
            "CPU ceiling/s",
            "of CPU ceil",
            "peak",
        ),
    )
    sequential = next((c.throughput for c in cells if c.variant == SEQUENTIAL), 0.0)
    script = {c.concurrency: c.throughput for c in cells if c.variant == TPE_TUNED}
    for cell in cells:
        # production: against the tuned script at the same c; else the sequential loop
        base = script.get(cell.concurrency, 0.0) if production else sequential
        table.add(
            cell.variant,
            str(cell.concurrency),
            f"{cell.calls:,}",
            f"{cell.throughput:,.0f}",
            f"{ratio(cell.throughput, base):.2f}x"
            if production
            else f"{ratio(cell.throughput, base):.1f}x",
            f"{ratio(cell.throughput, cell.ideal):.0%}",
            f"{cell.p50_s * 1000:.1f}",
            f"{cell.p99_s * 1000:.1f}",
            f"{cell.cpu_per_call * 1000:.3f}",
            f"{cell.cpu_ceiling:,.0f}",
            f"{cell.of_cpu_ceiling:.0%}",
            str(cell.peak_in_flight),
        )
    busiest = max(cells, key=lambda cell: ratio(cell.emulator_cpu_s, cell.wall_s), default=None)
    if production:
        table.notes.append(
            "x script = calls/s over the ThreadPoolExecutor script (pool = c) at the same c; "
            "every call is a new host: a TCP connect and a TLS handshake."
        )
    table.notes.append(
        "ideal = c / latency; of ideal = calls/s / ideal; CPU ceiling = 1 / CPU per call "
        "(calls/s one core could do);"
    )
    table.notes.append(
        "of CPU ceil = calls/s x CPU per call (cores busy in this process); peak = most "
        "requests the emulator served at once."
    )
    if busiest is not None:
        share = ratio(busiest.emulator_cpu_s, busiest.wall_s)
        table.notes.append(
            f"The emulator process (its own core) was at most {share:.0%} busy "
            f"({busiest.variant}, c={busiest.concurrency})."
        )
    return table


def run_vs(
    concurrencies: Sequence[int],
    rounds: int,
    max_calls: int,
    *,
    repeats: int = 1,
    buckets: int = BUCKETS,
    production: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> VsResult:
    """Seed `buckets` with policies, then measure every cell of `plan(concurrencies)`
    (in the production shape with `production=True`).

    The CPU-bound cells (c >= `REPEAT_FROM`) run `repeats` times, in turns (every such
    cell once, then again), and keep their best run: on a shared machine a neighbour's
    burst costs one run of one variant, not the comparison.
    """
    best: dict[tuple[str, int], Cell] = {}
    with EmulatorProcess(latency_ms=LATENCY_MS, production=production) as emu:
        names = emu.seed("vs-", buckets, own_policy)
        env = emu.env()  # the SDK reads the key pair from there
        if emu.ca_bundle is not None:  # as a user of the SDK's requests transport passes a CA
            env["REQUESTS_CA_BUNDLE"] = str(emu.ca_bundle)
        with patch.dict(os.environ, env), emu.resolving():
            cells = plan(concurrencies, production=production)
            turns = [cells] + [[c for c in cells if c[1] >= REPEAT_FROM]] * (repeats - 1)
            for turn, turn_cells in enumerate(turns, 1):
                for variant, concurrency in turn_cells:
                    calls = calls_per_cell(concurrency, rounds, max_calls)
                    cell = _measure(emu, names, variant, concurrency, calls)
                    progress(
                        f"{variant}, c={concurrency} (run {turn}): "
                        f"{cell.throughput:,.0f} calls/s in {cell.wall_s:.1f} s"
                    )
                    kept = best.get((variant, concurrency))
                    if kept is None or cell.throughput > kept.throughput:
                        best[(variant, concurrency)] = cell
    measured = tuple(best.values())  # in plan order: the first turn ran every cell
    table = _table(measured, rounds, max_calls, buckets, repeats, production=production)
    return VsResult(measured, table)
