"""The thread backend's HTTP transport: urllib3 directly, `requests` behind a proxy.

Both transports must look the same to the rest of osspolicy: the same bytes, the same
errors (a read timeout is a `Timeout`, a dropped or refused connection a
`NetworkError`), so the one mapping in `wire.py` and the one retry layer apply.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from alibabacloud_oss_v2.transport import RequestsHttpClient

from osspolicy import errors
from osspolicy.backends import ConnectionConfig
from osspolicy.backends.oss import OssBackend, thread_http_client
from osspolicy.backends.transport import Urllib3HttpClient
from osspolicy.emulator import Emulator

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator() as emulator:
        monkeypatch.setenv("OSS_ACCESS_KEY_ID", emulator.access_key_id)
        monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emulator.access_key_secret)
        emulator.seed_buckets(["tr-1"])
        yield emulator


def backend(emu: Emulator, *, read_timeout_s: float = 20.0) -> OssBackend:
    conn = ConnectionConfig(region=emu.region, endpoint=emu.endpoint, read_timeout_s=read_timeout_s)
    return OssBackend(conn)


def test_urllib3_without_a_proxy_variable() -> None:
    """No proxy configured: the SDK gets our urllib3 transport (a third less CPU)."""
    assert isinstance(thread_http_client(ConnectionConfig(region="cn-hangzhou")), Urllib3HttpClient)


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "http_proxy", "NO_PROXY"])
def test_requests_when_a_proxy_variable_is_set(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """A proxy variable set (either case): the SDK's requests transport, which honours it."""
    monkeypatch.setenv(name, "http://proxy.example:3128")
    client = thread_http_client(ConnectionConfig(region="cn-hangzhou"))
    assert isinstance(client, RequestsHttpClient)


@pytest.mark.asyncio
async def test_policy_bytes_round_trip_unchanged(emu: Emulator) -> None:
    """Put, get, delete: the bytes the service keeps and returns are exactly ours."""
    body = b'{"Version":"1","Statement":[{"Effect":"Deny","Principal":["*"],'
    body += b'"Action":["oss:*"],"Resource":["acs:oss:*:*:tr-1/*"]}]}\n\t '
    oss = backend(emu)
    try:
        put = await oss.put_policy("tr-1", body)
        read = await oss.get_policy("tr-1")
        kept = emu.state.get_policy("tr-1")
        await oss.delete_policy("tr-1")
        gone = await oss.get_policy("tr-1")
    finally:
        await oss.aclose()
    assert kept == body
    assert read.body == body
    assert put.request_id
    assert read.request_id
    assert gone.body is None


@pytest.mark.asyncio
async def test_a_read_timeout_is_a_timeout(emu: Emulator) -> None:
    """An answer slower than read_timeout_s is a `Timeout` (transient: retried)."""
    emu.set_latency(500)
    oss = backend(emu, read_timeout_s=0.05)
    try:
        with pytest.raises(errors.Timeout):
            await oss.get_policy("tr-1")
    finally:
        await oss.aclose()


@pytest.mark.asyncio
async def test_a_dropped_connection_is_a_network_error(emu: Emulator) -> None:
    """The service hanging up without an answer is a `NetworkError` (retried)."""
    emu.script_fault("GET", "tr-1", "policy", kind="reset")
    oss = backend(emu)
    try:
        with pytest.raises(errors.NetworkError):
            await oss.get_policy("tr-1")
        assert (await oss.get_policy("tr-1")).body is None  # the pool recovers
    finally:
        await oss.aclose()


@pytest.mark.asyncio
async def test_a_refused_connection_is_a_network_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody listening: a `NetworkError`, not a crash."""
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "LTAI5tSomeKeyId")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "some-secret")
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = ConnectionConfig(region="cn-hangzhou", endpoint=f"http://127.0.0.1:{port}")
    oss = OssBackend(conn)
    try:
        with pytest.raises(errors.NetworkError) as caught:
            await oss.get_policy("tr-1")
    finally:
        await oss.aclose()
    assert not isinstance(caught.value, errors.Timeout)
