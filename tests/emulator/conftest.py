"""Shared helpers for the emulator tests: a running emulator and real SDK clients for it."""

from __future__ import annotations

import datetime as dt
import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import alibabacloud_oss_v2 as oss
import pytest
from alibabacloud_oss_v2.credentials import Credentials
from alibabacloud_oss_v2.signer import SignerV1, SignerV4
from alibabacloud_oss_v2.types import HttpRequest, SigningContext

from osspolicy.emulator import Emulator

AK = "LTAI5tTestAccessKeyId"
SK = "TestAccessKeySecret123"
REGION = "cn-hangzhou"

PRIVATE_POLICY = json.dumps(
    {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["oss:GetObject", "oss:ListObjects"],
                "Principal": ["20214760404935"],
                "Resource": ["acs:oss:*:174649585760:examplebucket/*"],
            }
        ],
    }
)
PUBLIC_POLICY = json.dumps(
    {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["oss:GetObject"],
                "Principal": ["*"],
                "Resource": ["acs:oss:*:174649585760:examplebucket/public/*"],
            }
        ],
    }
)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(access_key_id=AK, access_key_secret=SK, region=REGION) as emulator:
        yield emulator


def make_client(
    emu: Emulator,
    *,
    access_key_id: str = AK,
    secret: str = SK,
    region: str = REGION,
    signature_version: str | None = None,
    retry: bool = False,
    endpoint: str | None = None,
) -> oss.Client:
    """A real SDK client for the emulator; the SDK's retryer is off unless `retry`."""
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(access_key_id, secret)
    cfg.region = region
    cfg.endpoint = endpoint or emu.endpoint
    if signature_version:
        cfg.signature_version = signature_version
    if not retry:
        cfg.retryer = oss.retry.NopRetryer()
    return oss.Client(cfg)


@pytest.fixture
def client(emu: Emulator) -> oss.Client:
    return make_client(emu)


def service_error(excinfo: pytest.ExceptionInfo[oss.exceptions.OperationError]) -> object:
    """The SDK's ServiceError behind an OperationError."""
    return excinfo.value.unwrap()


def raw_request(
    emu: Emulator,
    method: str,
    path: str,
    *,
    bucket: str | None,
    host: str | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    signing_time: dt.datetime | None = None,
    region: str = REGION,
    version: str = "v4",
    sign: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    """Send one request signed by the SDK's own signer, over a plain HTTP connection.

    For what the SDK's client refuses to send (invalid names, a skewed clock, a chosen
    Host header); `path` includes the query.
    """
    url = f"{emu.endpoint}{path}"
    request = HttpRequest(method, url, headers=dict(headers or {}), body=body)
    if sign:
        ctx = SigningContext(
            product="oss",
            region=region,
            bucket=bucket,
            request=request,
            credentials=Credentials(AK, SK),
            signing_time=signing_time,
        )
        query = urlsplit(url).query
        ctx.sub_resource = [pair.partition("=")[0] for pair in query.split("&") if pair]
        (SignerV4() if version == "v4" else SignerV1()).sign(ctx)
    parts = urlsplit(emu.endpoint)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        send_headers = dict(request.headers.items())
        send_headers["Host"] = host or parts.netloc
        connection.request(method, path, body=body or None, headers=send_headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()
