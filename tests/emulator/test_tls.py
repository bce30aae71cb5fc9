"""HTTPS from a test CA: the real SDK trusts it the way a user trusts a private CA.

Sync client: `REQUESTS_CA_BUNDLE` (requests honours it when verifying). Async client: an
aiohttp session whose SSL context loads the CA file, given to the SDK's `AioHttpClient`
(aiohttp builds its default context at import, so `SSL_CERT_FILE` set later is not read).
"""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import alibabacloud_oss_v2 as oss
import alibabacloud_oss_v2.aio as oss_aio
import pytest
from alibabacloud_oss_v2.aio.transport import AioHttpClient

from osspolicy.emulator import Emulator
from tests.emulator.conftest import AK, PRIVATE_POLICY, SK, make_client
from tests.resolver import resolve_to_loopback


@pytest.fixture(scope="module")
def secure():
    """One HTTPS emulator with per-region hostnames (a CA is made once per module)."""
    with Emulator(
        access_key_id=AK, access_key_secret=SK, hostname="oss-{region}.emu.test", tls=True
    ) as emulator:
        yield emulator


@pytest.fixture
def ca_file(secure, tmp_path):
    return secure.write_ca(tmp_path / "ca.pem")


@pytest.fixture(autouse=True)
def _resolver():
    with resolve_to_loopback("emu.test"):
        yield


def test_the_endpoint_is_https(secure):
    """With tls=True the endpoint is https://NAME:PORT."""
    assert secure.endpoint == f"https://oss-cn-hangzhou.emu.test:{secure.port}"


def test_the_sync_sdk_trusts_the_ca_through_requests_ca_bundle(secure, ca_file, monkeypatch):
    """With REQUESTS_CA_BUNDLE naming the CA, the SDK puts and reads a policy over HTTPS."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    secure.seed_buckets(["tls-bucket"])
    client = make_client(secure)
    client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket="tls-bucket", body=PRIVATE_POLICY))
    result = client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket="tls-bucket"))
    assert result.body == PRIVATE_POLICY


def test_the_certificate_covers_every_regions_bucket_hosts(secure, ca_file, monkeypatch):
    """A cn-shanghai bucket's host (<bucket>.oss-cn-shanghai.emu.test) verifies too."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    secure.seed_buckets(["sh-tls"], region="cn-shanghai")
    client = make_client(secure, region="cn-shanghai", endpoint=secure.endpoint_for("cn-shanghai"))
    result = client.get_bucket_info(oss.GetBucketInfoRequest(bucket="sh-tls"))
    assert result.bucket_info.name == "sh-tls"


def test_the_async_sdk_trusts_the_ca_through_its_session(secure, ca_file):
    """The async client, on a session whose SSL context loads the CA, lists buckets."""
    secure.seed_buckets(["async-tls"])

    async def run() -> list[str]:
        context = ssl.create_default_context(cafile=str(ca_file))
        config = oss.config.load_default()
        config.credentials_provider = oss.credentials.StaticCredentialsProvider(AK, SK)
        config.region, config.endpoint = secure.region, secure.endpoint
        config.retryer = oss.retry.NopRetryer()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
            config.http_client = AioHttpClient(session=session)
            async with oss_aio.AsyncClient(config) as client:
                result = await client.list_buckets(oss.ListBucketsRequest(prefix="async-"))
        return [b.name for b in result.buckets]

    assert asyncio.run(run()) == ["async-tls"]


def test_a_client_without_the_ca_fails_certificate_verification(secure, monkeypatch):
    """Without the CA, the SDK's request fails on certificate verification."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        make_client(secure).list_buckets(oss.ListBucketsRequest())
    assert "CERTIFICATE_VERIFY_FAILED" in str(excinfo.value)


def test_the_ca_pem_is_a_certificate(secure, tmp_path):
    """ca_pem is a PEM certificate, and write_ca writes exactly it."""
    path = secure.write_ca(tmp_path / "written.pem")
    assert (secure.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----"), path.read_bytes()) == (
        True,
        secure.ca_pem,
    )


def test_plain_http_has_no_ca():
    """Without tls=True, asking for the CA is a RuntimeError saying how to get one."""
    with pytest.raises(RuntimeError, match="tls=True"):
        _ = Emulator().ca_pem
