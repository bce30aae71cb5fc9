"""The causes of "no response" that retrying cannot fix are named at the one mapping
boundary (`backends.wire.translate`), read from what the real SDK raises over a real
socket: refused, a name that does not resolve, an https endpoint speaking plain HTTP."""

from __future__ import annotations

import socket

import alibabacloud_oss_v2 as oss
import pytest
import requests
from alibabacloud_oss_v2 import exceptions as sdk

from osspolicy._internal import errors
from osspolicy._internal.backends.wire import translate
from osspolicy.emulator import Emulator


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cause_of_get(endpoint: str, emu: Emulator) -> str | None:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        emu.access_key_id, emu.access_key_secret
    )
    cfg.region = emu.region
    cfg.endpoint = endpoint
    cfg.retry_max_attempts = 1
    client = oss.Client(cfg)
    with pytest.raises(sdk.BaseError) as info:
        client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket="app-logs"))
    error = translate(info.value)
    assert isinstance(error, errors.NetworkError)
    return error.cause


def test_a_refused_connection_is_named_refused(oss_emulator: Emulator) -> None:
    """The SDK's call to a port nothing listens on maps to NetworkError cause `refused`."""
    assert _cause_of_get(f"http://127.0.0.1:{_closed_port()}", oss_emulator) == "refused"


def test_https_to_a_plain_http_endpoint_is_named_plain_http(oss_emulator: Emulator) -> None:
    """https:// to the plain-HTTP emulator maps to NetworkError cause `plain_http`."""
    https = oss_emulator.endpoint.replace("http://", "https://")
    assert _cause_of_get(https, oss_emulator) == "plain_http"


def test_a_name_that_does_not_resolve_is_named_dns(oss_emulator: Emulator) -> None:
    """A host under `.invalid` (never resolves) maps to NetworkError cause `dns`."""
    assert _cause_of_get("http://no-such-host.invalid", oss_emulator) == "dns"


def test_a_reset_connection_has_no_cause() -> None:
    """A reset (worth retrying) carries no cause: it is no pre-flight failure."""
    exc = sdk.OperationError(
        name="GetBucketPolicy",
        error=sdk.RequestError(error=requests.exceptions.ConnectionError("reset by peer")),
    )
    error = translate(exc)
    assert isinstance(error, errors.NetworkError)
    assert error.cause is None


def test_a_certificate_not_trusted_is_named_tls() -> None:
    """An HTTPS emulator whose test CA the client does not trust: the SDK keeps only the
    SSL error's words (no ssl.SSLError in the chain), and they still name it `tls`."""
    with Emulator(tls=True) as emu:
        assert _cause_of_get(emu.endpoint, emu) == "tls"
