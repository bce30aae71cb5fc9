"""Hostnames and virtual-host addressing, with test names resolved to 127.0.0.1.

`tests/resolver.py` maps `*.emu.test` to loopback in process (sync and async SDK) and,
through `tests/sitecustomize`, in a subprocess.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import alibabacloud_oss_v2 as oss
import alibabacloud_oss_v2.aio as oss_aio
import pytest

from osspolicy.emulator import Emulator
from osspolicy.emulator.hosts import Addressed, HostMap, validate_hostname
from tests.emulator.conftest import AK, PRIVATE_POLICY, SK, make_client
from tests.resolver import resolve_to_loopback, subprocess_env


@pytest.fixture
def named():
    with Emulator(access_key_id=AK, access_key_secret=SK, hostname="emu.test") as emulator:
        yield emulator


@pytest.fixture
def regional():
    with Emulator(
        access_key_id=AK, access_key_secret=SK, hostname="oss-{region}.emu.test"
    ) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _resolver():
    with resolve_to_loopback("emu.test"):
        yield


def test_the_endpoint_is_printed_with_the_hostname(named):
    """With hostname emu.test the endpoint is http://emu.test:PORT."""
    assert named.endpoint == f"http://emu.test:{named.port}"


def test_a_region_hostname_prints_the_default_regions_endpoint(regional):
    """With oss-{region}.emu.test the endpoint is --region's host."""
    assert regional.endpoint == f"http://oss-cn-hangzhou.emu.test:{regional.port}"


def test_list_buckets_through_a_hostname_endpoint_lists_buckets(regional):
    """ListBuckets to oss-cn-hangzhou.emu.test is the service, not a bucket of that name."""
    regional.seed_buckets(["app-logs"])
    result = make_client(regional).list_buckets(oss.ListBucketsRequest())
    assert [b.name for b in result.buckets] == ["app-logs"]


def test_list_buckets_through_an_oss_hostname_without_hostname_flag():
    """Without --hostname, a Host oss-<region>.<domain> is still the service (the old bug)."""
    with Emulator(access_key_id=AK, access_key_secret=SK) as emu:
        emu.seed_buckets(["app-logs"])
        endpoint = f"http://oss-cn-hangzhou.emu.test:{emu.port}"
        client = make_client(emu, endpoint=endpoint)
        names = [b.name for b in client.list_buckets(oss.ListBucketsRequest()).buckets]
        policy = client.get_bucket_public_access_block(
            oss.GetBucketPublicAccessBlockRequest(bucket="app-logs")
        )
    assert (names, policy.status_code) == (["app-logs"], 200)


def test_the_sdk_addresses_buckets_as_virtual_hosts(named):
    """The SDK sends bucket calls to <bucket>.emu.test, and they reach that bucket."""
    client = make_client(named)
    client.put_bucket(oss.PutBucketRequest(bucket="vhost-bucket"))
    client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket="vhost-bucket", body=PRIVATE_POLICY))
    hosts = {e.host for e in named.request_log}
    assert (named.state.get_policy("vhost-bucket"), hosts) == (
        PRIVATE_POLICY.encode(),
        {f"vhost-bucket.emu.test:{named.port}"},
    )


def test_the_async_sdk_reaches_virtual_hosts_too(named):
    """The async client (aiohttp) resolves and addresses <bucket>.emu.test as well."""
    named.seed_buckets(["async-bucket"])

    async def run() -> int:
        config = oss.config.load_default()
        config.credentials_provider = oss.credentials.StaticCredentialsProvider(AK, SK)
        config.region, config.endpoint = named.region, named.endpoint
        config.retryer = oss.retry.NopRetryer()
        async with oss_aio.AsyncClient(config) as client:
            result = await client.get_bucket_info(oss.GetBucketInfoRequest(bucket="async-bucket"))
            return int(result.status_code)

    assert (asyncio.run(run()), named.request_log[-1].host) == (
        200,
        f"async-bucket.emu.test:{named.port}",
    )


def test_a_bucket_of_another_region_is_served_at_its_own_host(regional):
    """A cn-shanghai bucket is reached through oss-cn-shanghai.emu.test."""
    regional.seed_buckets(["sh-bucket"], region="cn-shanghai")
    client = make_client(
        regional, region="cn-shanghai", endpoint=regional.endpoint_for("cn-shanghai")
    )
    result = client.get_bucket_public_access_block(
        oss.GetBucketPublicAccessBlockRequest(bucket="sh-bucket")
    )
    assert result.status_code == 200


def test_another_regions_host_gets_403_naming_the_right_endpoint(regional):
    """A cn-shanghai bucket asked at the cn-hangzhou host is 403 AccessDenied with its Endpoint."""
    regional.seed_buckets(["sh-bucket"], region="cn-shanghai")
    client = make_client(regional)
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket="sh-bucket"))
    error = excinfo.value.unwrap()
    assert (error.status_code, error.code, error.error_fileds.get("Endpoint")) == (
        403,
        "AccessDenied",
        "oss-cn-shanghai.emu.test",
    )
    assert "must be addressed using the specified endpoint" in error.message


def test_path_style_to_the_ip_keeps_working(regional):
    """Path-style requests to 127.0.0.1 are served as before, whatever the hostname."""
    regional.seed_buckets(["ip-bucket"], region="cn-shanghai")
    client = make_client(
        regional, region="cn-shanghai", endpoint=f"http://127.0.0.1:{regional.port}"
    )
    result = client.get_bucket_public_access_block(
        oss.GetBucketPublicAccessBlockRequest(bucket="ip-bucket")
    )
    assert result.status_code == 200


def test_a_subprocess_resolves_test_names_through_sitecustomize(named):
    """With tests/sitecustomize on PYTHONPATH, a child process reaches emu.test names."""
    named.seed_buckets(["child-bucket"])
    script = textwrap.dedent(
        f"""
        import alibabacloud_oss_v2 as oss
        cfg = oss.config.load_default()
        cfg.credentials_provider = oss.credentials.StaticCredentialsProvider({AK!r}, {SK!r})
        cfg.region, cfg.endpoint = "cn-hangzhou", {named.endpoint!r}
        client = oss.Client(cfg)
        client.get_bucket_info(oss.GetBucketInfoRequest(bucket="child-bucket"))
        print(*[b.name for b in client.list_buckets(oss.ListBucketsRequest()).buckets])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env("emu.test"),
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "child-bucket"), result.stderr


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("emu.test", Addressed(None)),
        ("emu.test:9000", Addressed(None)),
        ("logs.emu.test:9000", Addressed("logs")),
        ("a.b.emu.test", Addressed("a")),
        ("127.0.0.1:9000", Addressed(None)),
        ("[::1]:9000", Addressed(None)),
        ("localhost:9000", Addressed(None)),
        ("oss-cn-hangzhou.aliyuncs.com", Addressed(None)),
        ("logs.oss-cn-hangzhou.aliyuncs.com", Addressed("logs")),
        ("oss-logs.oss-cn-hangzhou.aliyuncs.com", Addressed("oss-logs")),
    ],
)
def test_host_map_reads_hosts_against_a_plain_name(host, expected):
    """NAME is the service, <bucket>.NAME a bucket; other hosts keep the historical reading."""
    assert HostMap("emu.test").resolve(host) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("oss-cn-shanghai.emu.test:1", Addressed(None, "cn-shanghai")),
        ("b1.oss-ap-southeast-1.emu.test", Addressed("b1", "ap-southeast-1")),
        ("127.0.0.1", Addressed(None)),
    ],
)
def test_host_map_reads_the_region_of_a_region_name(host, expected):
    """With {region}, the host says its region, for service and bucket hosts alike."""
    assert HostMap("oss-{region}.emu.test").resolve(host) == expected


def test_certificate_names_cover_each_regions_host_and_its_buckets():
    """certificate_names lists NAME and *.NAME per region."""
    names = HostMap("oss-{region}.emu.test").certificate_names(["cn-hangzhou", "cn-shanghai"])
    assert names == [
        "oss-cn-hangzhou.emu.test",
        "*.oss-cn-hangzhou.emu.test",
        "oss-cn-shanghai.emu.test",
        "*.oss-cn-shanghai.emu.test",
    ]


@pytest.mark.parametrize("name", ["localhost", "emu", "{region}.{region}.test", "bad_name.test"])
def test_a_hostname_needs_two_valid_labels(name):
    """A one-label name, two {region}s or an invalid label is a ValueError."""
    with pytest.raises(ValueError, match="two labels"):
        validate_hostname(name)
