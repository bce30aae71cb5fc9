"""How both engines connect (`backends/http.py`): which CA, which proxy, which errors.

Over real HTTPS from the emulator's test CA, addressed as production addresses buckets
(`<bucket>.oss-cn-hangzhou.emu.test`), both backends must trust exactly the CA bundle
chosen (`ca_file`, else `SSL_CERT_FILE`, else `REQUESTS_CA_BUNDLE`, else certifi's), go
through the proxy the SDK config or the environment names, and fail the same way.
"""

from __future__ import annotations

import select
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest

from osspolicy._internal import errors
from osspolicy._internal.backends import ConnectionConfig
from osspolicy._internal.backends.oss import OssBackend
from osspolicy._internal.backends.oss_aio import AioOssBackend
from osspolicy.emulator import Emulator
from tests.resolver import resolve_to_loopback

#: the transport is what this module tests: `make test` runs it on both engines
pytestmark = pytest.mark.both_engines

ENGINES = {"threads": OssBackend, "aio": AioOssBackend}
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
BUCKET = "conn-1"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name in CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def secure() -> Iterator[Emulator]:
    """An HTTPS emulator with per-region hostnames; one bucket."""
    with (
        resolve_to_loopback("emu.test"),
        Emulator(hostname="oss-{region}.emu.test", tls=True) as emulator,
    ):
        emulator.seed_buckets([BUCKET])
        yield emulator


@pytest.fixture
def keys(secure: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", secure.access_key_id)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", secure.access_key_secret)


@pytest.fixture
def ca(secure: Emulator, tmp_path: Path) -> Path:
    return secure.write_ca(tmp_path / "test-ca.pem")


def _conn(emu: Emulator, **settings: Any) -> ConnectionConfig:
    return ConnectionConfig(region=emu.region, endpoint=emu.endpoint, **settings)


async def _read(engine: str, conn: ConnectionConfig) -> bytes | None:
    backend = ENGINES[engine](conn)
    try:
        return (await backend.get_policy(BUCKET)).body
    finally:
        await backend.aclose()


# -- which CA


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.asyncio
async def test_the_ca_is_taken_from_ca_file(secure: Emulator, ca: Path, engine: str) -> None:
    """`connection.ca_file` naming the test CA: the request verifies and is answered."""
    assert await _read(engine, _conn(secure, ca_file=ca)) is None


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
@pytest.mark.asyncio
async def test_without_ca_file_the_ca_is_taken_from_the_environment(
    secure: Emulator, ca: Path, engine: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ca_file: SSL_CERT_FILE, or REQUESTS_CA_BUNDLE, naming the test CA is used."""
    monkeypatch.setenv(variable, str(ca))
    assert await _read(engine, _conn(secure)) is None


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.asyncio
async def test_ca_file_wins_over_the_environment(
    secure: Emulator, ca: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SSL_CERT_FILE naming certifi's bundle (no test CA) does not override ca_file."""
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    assert await _read(engine, _conn(secure, ca_file=ca)) is None


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.asyncio
async def test_a_client_without_the_ca_fails_verification(secure: Emulator, engine: str) -> None:
    """With certifi's bundle only, the test CA's certificate is refused: a NetworkError
    saying the certificate failed verification."""
    with pytest.raises(errors.NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
        await _read(engine, _conn(secure))


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.asyncio
async def test_insecure_skip_verify_switches_verification_off(
    secure: Emulator, engine: str
) -> None:
    """The SDK config's insecure_skip_verify is honoured by both transports."""
    assert await _read(engine, _conn(secure, insecure_skip_verify=True)) is None


@pytest.mark.parametrize("engine", ENGINES)
def test_an_unreadable_ca_bundle_is_a_config_error_naming_its_source(
    tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SSL_CERT_FILE naming no file stops the backend before any request (exit 2)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "LTAI5tSomeKeyId")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "some-secret")
    with pytest.raises(errors.ConfigError, match=r"^SSL_CERT_FILE: the CA bundle"):
        ENGINES[engine](ConnectionConfig(region="cn-hangzhou"))


# -- which proxy


class ConnectProxy(socketserver.ThreadingTCPServer):
    """A small HTTP CONNECT proxy on 127.0.0.1 that records each tunnel's target."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.targets: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Tunnel(socketserver.BaseRequestHandler):
    server: ConnectProxy

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        if method != "CONNECT":
            self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        self.server.targets.append(target)
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _relay(self.request, upstream)


def _relay(a: socket.socket, b: socket.socket) -> None:
    while True:
        readable, _, _ = select.select([a, b], [], [])
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            (b if sock is a else a).sendall(data)


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    server = ConnectProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _bucket_host(emu: Emulator) -> str:
    return f"{BUCKET}.oss-{emu.region}.emu.test:{emu.port}"


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.asyncio
async def test_https_proxy_is_used(
    secure: Emulator,
    ca: Path,
    proxy: ConnectProxy,
    engine: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTPS_PROXY set: the request goes through a CONNECT tunnel to the bucket's host."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    assert await _read(engine, _conn(secure, ca_file=ca)) is None
    assert proxy.targets == [_bucket_host(secure)]


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.asyncio
async def test_the_sdk_proxy_setting_is_used(
    secure: Emulator, ca: Path, proxy: ConnectProxy, engine: str
) -> None:
    """The SDK config's proxy_host, no variable set: the request goes through it."""
    assert await _read(engine, _conn(secure, ca_file=ca, proxy_host=proxy.url)) is None
    assert proxy.targets == [_bucket_host(secure)]


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.asyncio
async def test_no_proxy_exempts_a_host_from_https_proxy(
    secure: Emulator,
    ca: Path,
    proxy: ConnectProxy,
    engine: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTPS_PROXY with NO_PROXY covering the emulator's domain: sent directly."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "emu.test")
    assert await _read(engine, _conn(secure, ca_file=ca)) is None
    assert proxy.targets == []


@pytest.mark.usefixtures("keys")
@pytest.mark.asyncio
async def test_a_lone_no_proxy_does_not_change_the_transport(
    secure: Emulator, ca: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_PROXY alone: the thread backend keeps the same transport and pools, and the
    request is answered."""
    plain = OssBackend(_conn(secure, ca_file=ca))
    monkeypatch.setenv("NO_PROXY", "example.com")
    with_no_proxy = OssBackend(_conn(secure, ca_file=ca))
    try:
        assert type(with_no_proxy._http) is type(plain._http)
        assert (await with_no_proxy.get_policy(BUCKET)).body is None
    finally:
        await plain.aclose()
        await with_no_proxy.aclose()


# -- the same errors from both transports (plain HTTP)


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator() as emulator:
        monkeypatch.setenv("OSS_ACCESS_KEY_ID", emulator.access_key_id)
        monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emulator.access_key_secret)
        emulator.seed_buckets([BUCKET])
        yield emulator


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.asyncio
async def test_policy_bytes_round_trip_unchanged(emu: Emulator, engine: str) -> None:
    """Put, get, delete: the bytes the service keeps and returns are exactly ours."""
    body = b'{"Version":"1","Statement":[{"Effect":"Deny","Principal":["*"],'
    body += b'"Action":["oss:*"],"Resource":["acs:oss:*:*:conn-1/*"]}]}\n\t '
    backend = ENGINES[engine](_conn(emu))
    try:
        put = await backend.put_policy(BUCKET, body)
        read = await backend.get_policy(BUCKET)
        kept = emu.state.get_policy(BUCKET)
        await backend.delete_policy(BUCKET)
        gone = await backend.get_policy(BUCKET)
    finally:
        await backend.aclose()
    assert (kept, read.body, gone.body) == (body, body, None)
    assert put.request_id
    assert read.request_id


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.asyncio
async def test_a_read_timeout_is_a_timeout(emu: Emulator, engine: str) -> None:
    """An answer slower than read_timeout_s is a `Timeout` (transient: retried)."""
    emu.set_latency(500)
    backend = ENGINES[engine](_conn(emu, read_timeout_s=0.05))
    try:
        with pytest.raises(errors.Timeout):
            await backend.get_policy(BUCKET)
    finally:
        await backend.aclose()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.asyncio
async def test_a_dropped_connection_is_a_network_error(emu: Emulator, engine: str) -> None:
    """The service hanging up without an answer is a `NetworkError` (retried), and the
    next call on the same backend is answered."""
    emu.script_fault("GET", BUCKET, "policy", kind="reset")
    backend = ENGINES[engine](_conn(emu))
    try:
        with pytest.raises(errors.NetworkError):
            await backend.get_policy(BUCKET)
        assert (await backend.get_policy(BUCKET)).body is None
    finally:
        await backend.aclose()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.asyncio
async def test_a_refused_connection_is_a_network_error(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody listening: a `NetworkError` that is not a `Timeout`."""
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "LTAI5tSomeKeyId")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "some-secret")
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = ENGINES[engine](
        ConnectionConfig(region="cn-hangzhou", endpoint=f"http://127.0.0.1:{port}")
    )
    try:
        with pytest.raises(errors.NetworkError) as caught:
            await backend.get_policy(BUCKET)
    finally:
        await backend.aclose()
    assert not isinstance(caught.value, errors.Timeout)
