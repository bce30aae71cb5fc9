"""Emulator capacity: is the emulator ever the bottleneck?

Run `python -m benchmarks.emulator_capacity`: loopback only, bounded in time (well under
60 s). It starts `osspolicy emulator` in its own process with 100,000 seeded buckets, then
measures:

1. throughput: several client processes send GetBucketPolicy requests, V4-signed
   beforehand by the SDK's own signer, over keep-alive connections; requests/s and the
   server process's CPU per request (utime+stime from /proc/<pid>/stat);
2. ListBuckets: the time of a 1,000-bucket page at 100,000 buckets;
3. concurrency: 256 connections against injected latency; the peak number of requests
   the server held in flight (an in-process `Emulator`, whose counter is readable).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from alibabacloud_oss_v2.credentials import Credentials
from alibabacloud_oss_v2.signer import SignerV4
from alibabacloud_oss_v2.types import HttpRequest, SigningContext

AK = "LTAI5tBenchmarkKeyId"
SK = "BenchmarkSecretValue123"
REGION = "cn-hangzhou"
BUCKETS = 100_000
POLICY = (
    b'{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:GetObject"],'
    b'"Principal":["20214760404935"],"Resource":["acs:oss:*:174649585760:bench/*"]}]}'
)


def presign(endpoint: str, method: str, path: str, bucket: str | None, body: bytes = b"") -> bytes:
    """The raw HTTP/1.1 request, signed now by the SDK's V4 signer."""
    request = HttpRequest(method, endpoint + path, headers={}, body=body)
    ctx = SigningContext(
        product="oss",
        region=REGION,
        bucket=bucket,
        request=request,
        credentials=Credentials(AK, SK),
    )
    query = urlsplit(path).query
    ctx.sub_resource = [pair.partition("=")[0] for pair in query.split("&") if pair]
    SignerV4().sign(ctx)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {urlsplit(endpoint).netloc}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length) if length else b""


@dataclass(frozen=True)
class Load:
    """What every client process sends: pre-signed requests over `connections` sockets."""

    host: str
    port: int
    requests: list[bytes]
    connections: int
    seconds: float


async def _drive(load: Load, gate: Gate) -> tuple[int, int]:
    """Connect, wait for the gate, keep every connection busy for `seconds`: (ok, errors)."""
    streams = [await asyncio.open_connection(load.host, load.port) for _ in range(load.connections)]
    await asyncio.get_running_loop().run_in_executor(None, gate.wait_open)
    deadline = time.perf_counter() + load.seconds
    counts = [0, 0]

    async def worker(index: int) -> None:
        reader, writer = streams[index]
        i = index
        while time.perf_counter() < deadline:
            status, _ = await _exchange(reader, writer, load.requests[i % len(load.requests)])
            counts[0 if status == 200 else 1] += 1
            i += load.connections
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(worker(i) for i in range(load.connections)))
    return counts[0], counts[1]


class Gate:
    """Client processes report ready, then all start together when the parent opens it."""

    def __init__(self, ctx: mp.context.SpawnContext) -> None:
        self.ready = ctx.Queue()
        self.results = ctx.Queue()
        self.event = ctx.Event()

    def wait_open(self) -> None:
        self.ready.put(os.getpid())
        self.event.wait()


def _client_process(load: Load, gate: Gate) -> None:
    gate.results.put(asyncio.run(_drive(load, gate)))


def _run_load(load: Load, processes: int, pid: int | None = None) -> dict[str, float]:
    """Run client processes against the server; requests/s and (given pid) its CPU/request."""
    ctx = mp.get_context("spawn")
    gate = Gate(ctx)
    workers = [ctx.Process(target=_client_process, args=(load, gate)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for _ in workers:
        gate.ready.get(timeout=60)
    cpu_before = _cpu_seconds(pid) if pid else 0.0
    started = time.perf_counter()
    gate.event.set()
    results = [gate.results.get(timeout=load.seconds + 60) for _ in workers]
    elapsed = time.perf_counter() - started
    cpu_after = _cpu_seconds(pid) if pid else 0.0
    for worker in workers:
        worker.join()
    ok, errors = sum(r[0] for r in results), sum(r[1] for r in results)
    total = ok + errors
    return {
        "requests": total,
        "errors": errors,
        "rps": total / elapsed,
        "cpu_ms": (cpu_after - cpu_before) * 1000 / max(total, 1),
    }


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:  # noqa: PTH123 - a /proc read, not a project file
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_cli() -> tuple[subprocess.Popen[str], str, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "osspolicy.emulator.command",
            "--seed-buckets", f"bench-:{BUCKETS}",
            "--access-key-id", AK, "--access-key-secret", SK, "--region", REGION,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    endpoint = proc.stdout.readline().strip()
    if not endpoint.startswith("http://"):
        proc.kill()
        raise SystemExit("the emulator did not print its endpoint")
    return proc, endpoint, time.perf_counter() - started


async def _one_by_one(host: str, port: int, requests: list[bytes]) -> list[float]:
    reader, writer = await asyncio.open_connection(host, port)
    times = []
    for raw in requests:
        started = time.perf_counter()
        status, body = await _exchange(reader, writer, raw)
        times.append(time.perf_counter() - started)
        if status != 200 or body.count(b"<Bucket>") != 1000:
            raise SystemExit(f"ListBuckets page failed: {status}")
    writer.close()
    await writer.wait_closed()
    return times


def _throughput(
    endpoint: str, pid: int, processes: int, connections: int, seconds: float
) -> dict[str, float]:
    host, port = urlsplit(endpoint).hostname or "", urlsplit(endpoint).port or 0
    names = [f"bench-{i:05d}" for i in range(64)]
    puts = [presign(endpoint, "PUT", f"/{n}/?policy=", n, POLICY) for n in names]
    asyncio.run(_put_all(host, port, puts))
    gets = [presign(endpoint, "GET", f"/{n}/?policy=", n) for n in names]
    return _run_load(Load(host, port, gets, connections, seconds), processes, pid)


async def _put_all(host: str, port: int, puts: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    for raw in puts:
        status, body = await _exchange(reader, writer, raw)
        if status != 200:
            raise SystemExit(f"PutBucketPolicy failed: {status} {body[:200]!r}")
    writer.close()
    await writer.wait_closed()


def _list_pages(endpoint: str, pid: int) -> dict[str, float]:
    host, port = urlsplit(endpoint).hostname or "", urlsplit(endpoint).port or 0
    pages = [
        presign(endpoint, "GET", f"/?marker=bench-{i * 4000:05d}&max-keys=1000", None)
        for i in range(20)
    ]
    cpu_before = _cpu_seconds(pid)
    times = asyncio.run(_one_by_one(host, port, pages))
    cpu = _cpu_seconds(pid) - cpu_before
    return {"median_ms": statistics.median(times) * 1000, "cpu_ms": cpu * 1000 / len(pages)}


def _peak_in_flight(connections: int, latency_ms: float) -> dict[str, float]:
    from osspolicy.emulator import Emulator  # noqa: PLC0415 - only this phase runs in-process

    with Emulator(access_key_id=AK, access_key_secret=SK, latency_ms=latency_ms) as emu:
        names = [f"lat-{i:04d}" for i in range(connections)]
        emu.seed_buckets(names, policy=POLICY)
        gets = [presign(emu.endpoint, "GET", f"/{n}/?policy=", n) for n in names]
        cpu_before, started = time.process_time(), time.perf_counter()
        load = _run_load(Load("127.0.0.1", emu.port, gets, connections // 4, 2.0), 4)
        load["busy"] = (time.process_time() - cpu_before) / (time.perf_counter() - started)
        load["peak"] = emu.peak_in_flight
        load["ideal_rps"] = connections / (latency_ms / 1000)
        return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput window")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--connections", type=int, default=16, help="connections per process")
    args = parser.parse_args()

    proc, endpoint, startup = _start_cli()
    try:
        load = _throughput(endpoint, proc.pid, args.processes, args.connections, args.seconds)
        pages = _list_pages(endpoint, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    peak = _peak_in_flight(256, 100.0)

    rows = [
        ("CLI start with 100,000 seeded buckets", f"{startup:.2f} s"),
        (
            f"GetBucketPolicy, {args.processes}x{args.connections} keep-alive connections",
            (
                f"{load['rps']:,.0f} req/s ({load['requests']:,.0f} requests, "
                f"{load['errors']:.0f} errors)"
            ),
        ),
        ("server CPU per signed request", f"{load['cpu_ms']:.3f} ms"),
        ("ListBuckets page (1,000 of 100,000)", f"{pages['median_ms']:.1f} ms median"),
        ("  server CPU per page", f"{pages['cpu_ms']:.1f} ms"),
        (
            "peak in flight, 256 connections, 100 ms latency",
            (
                f"{peak['peak']:.0f} (served {peak['rps']:,.0f} of an ideal "
                f"{peak['ideal_rps']:,.0f} req/s; server CPU busy {peak['busy']:.0%})"
            ),
        ),
        ("emulator exit code on SIGTERM", str(code)),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)}  value")
    print(f"{'-' * width}  {'-' * 40}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
