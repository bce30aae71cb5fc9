"""The endpoint the SDK is given per signing region (contracts §10)."""

from __future__ import annotations

from alibabacloud_oss_v2 import endpoints

from osspolicy._internal.backends import ConnectionConfig
from osspolicy._internal.backends.oss import sdk_config
from osspolicy._internal.connection import Connection, endpoint_for


def test_an_endpoint_template_is_expanded_for_each_signing_region() -> None:
    """`{region}` in the endpoint becomes the client's signing region."""
    conn = ConnectionConfig(region="cn-hangzhou", endpoint="http://oss-{region}.emu.test:9000")
    cfg = sdk_config(conn, "cn-shanghai", credentials=None, http_client=None)
    assert cfg.endpoint == "http://oss-cn-shanghai.emu.test:9000"


def test_without_an_endpoint_the_sdk_derives_the_manifests_default() -> None:
    """No endpoint: the SDK derives one from the region, the same URL as the manifest's
    documented default."""
    cfg = sdk_config(ConnectionConfig(region="cn-beijing"), "cn-beijing", None, None)
    assert cfg.endpoint is None
    default = endpoint_for(Connection(region="cn-beijing"), "cn-beijing")
    assert endpoints.from_region("cn-beijing", disable_ssl=False, etype="") == default


def test_the_internal_default_is_the_sdks_internal_endpoint() -> None:
    """`network: internal` gives the same URL as the SDK's own internal endpoint."""
    connection = Connection(region="cn-beijing", network="internal")
    sdk_internal = endpoints.from_region("cn-beijing", disable_ssl=False, etype="internal")
    assert endpoint_for(connection, "cn-beijing") == sdk_internal
