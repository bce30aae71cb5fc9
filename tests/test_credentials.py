"""Credentials glue (contracts §10): each type reaches the credentials library with its keys,
the SDK signs with what it returns, refresh is the library's, failures are one line.

Sources driven by files or the environment run in a subprocess (the library reads its
environment and HOME at import); a credentials URI is served by a tiny HTTP server here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import alibabacloud_oss_v2 as oss
import anyio
import pytest
from alibabacloud_credentials.provider import (
    CLIProfileCredentialsProvider,
    DefaultCredentialsProvider,
    EcsRamRoleCredentialsProvider,
    OIDCRoleArnCredentialsProvider,
    RamRoleArnCredentialsProvider,
    URLCredentialsProvider,
)
from alibabacloud_credentials.provider import ecs_ram_role as ecs_module

from osspolicy._internal.accounts import (
    CredentialsUriCredentials,
    DefaultCredentials,
    EcsRamRoleCredentials,
    EnvCredentials,
    OidcCredentials,
    ProfileCredentials,
    RamRoleArnCredentials,
)
from osspolicy._internal.backends import ConnectionConfig
from osspolicy._internal.backends.credentials import (
    account_provider,
    credentials_provider,
    library_provider,
    resolve_credentials,
)
from osspolicy._internal.backends.oss import OssBackend
from osspolicy._internal.errors import ConfigError, CredentialsError
from osspolicy.emulator import Emulator
from osspolicy.emulator.accounts import Account as EmulatorAccount

from .credentials_uri import CredentialsUri

KEY_ID = "LTAI5tCredGlueTest"
SECRET = "cred-Secret-4b9e2d7a1c"  # a key pair of our own: "no secret in output" means it
ARN = "acs:ram::1234567890123456:role/osspolicy"
SUBPROCESS_TIMEOUT_S = 60.0


# -- a credentials URI --------------------------------------------------------------------------


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """An emulator that knows only this module's key pair."""
    with Emulator(access_key_id=KEY_ID, access_key_secret=SECRET) as emu:
        emu.seed_buckets(["cred-a", "cred-b"])
        yield emu


def list_buckets(emu: Emulator, provider: Any, calls: int = 1) -> int:
    """ListBuckets `calls` times through the thread backend signed by `provider`."""

    async def run() -> int:
        backend = OssBackend(
            ConnectionConfig(region=emu.region, endpoint=emu.endpoint, max_connections=2),
            credentials=provider,
        )
        try:
            pages = [await backend.list_buckets_page("", "", 100) for _ in range(calls)]
        finally:
            await backend.aclose()
        return len(pages[-1].buckets)

    return anyio.run(run)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_credentials_from_a_uri_sign_requests_the_emulator_accepts(emulator: Emulator) -> None:
    """A credentials_uri account's keys and token reach the emulator through the SDK."""
    with CredentialsUri(KEY_ID, SECRET, ttl=timedelta(hours=1), query="t=q1") as server:
        spec = CredentialsUriCredentials(type="credentials_uri", uri=server.uri)
        provider = account_provider("prod", spec)
        assert list_buckets(emulator, provider) == 2
    assert {e.access_key_id for e in emulator.request_log} == {KEY_ID}
    assert {e.status for e in emulator.request_log} == {200}


def test_a_fresh_token_is_fetched_once_and_then_reused(emulator: Emulator) -> None:
    """Nothing asks the URI again while the token is fresh: one fetch for many requests."""
    with CredentialsUri(KEY_ID, SECRET, ttl=timedelta(hours=1), query="t=q1") as server:
        spec = CredentialsUriCredentials(type="credentials_uri", uri=server.uri)
        list_buckets(emulator, account_provider("prod", spec), calls=3)
        assert server.hits == 1


def test_a_token_near_expiry_is_refreshed_before_the_next_request(emulator: Emulator) -> None:
    """A token within the library's 15-minute stale window is fetched again for every
    request: the SDK asks the provider per request, and no layer of ours caches it."""
    with CredentialsUri(KEY_ID, SECRET, ttl=timedelta(minutes=5), query="t=q1") as server:
        spec = CredentialsUriCredentials(type="credentials_uri", uri=server.uri)
        provider = account_provider("prod", spec)
        assert server.hits == 1
        list_buckets(emulator, provider, calls=3)
        assert server.hits == 4


def test_an_unreachable_uri_is_one_line_naming_account_and_source() -> None:
    """A credentials URI that does not answer is a CredentialsError (exit 2) naming the
    account and the URI without its query."""
    uri = f"http://127.0.0.1:{free_port()}/creds?token=abc"
    spec = CredentialsUriCredentials(type="credentials_uri", uri=uri)
    with pytest.raises(CredentialsError) as info:
        account_provider("prod", spec)
    message = str(info.value)
    assert isinstance(info.value, ConfigError)
    assert "\n" not in message
    assert message.startswith("account prod: the credentials of credentials_uri http://127.0.0.1")
    assert "/creds" in message


def test_a_uri_answer_without_success_never_shows_its_body() -> None:
    """A URI that answers without `Code: Success` is refused, and the body it sent (which
    may hold a secret) is not in the message."""
    body = {"Code": "Failed", "AccessKeySecret": SECRET}
    with CredentialsUri(KEY_ID, SECRET, body=body, query="t=q1") as server:
        spec = CredentialsUriCredentials(type="credentials_uri", uri=server.uri)
        with pytest.raises(CredentialsError) as info:
            account_provider("prod", spec)
    assert SECRET not in str(info.value)
    assert "account prod" in str(info.value)


# -- AssumeRole against the emulator's STS (for real: the library's own RPC) ----------------

#: the account a ram_role_arn account reaches, and the account whose keys assume the role
ROLE_ACCOUNT = EmulatorAccount("2000000000000002", "LTAI5tRoleAccountKey", "role-Secret-83be1f")
SOURCE_ACCOUNT = EmulatorAccount("1000000000000001", KEY_ID, SECRET)
ROLE_ARN = f"acs:ram::{ROLE_ACCOUNT.account_id}:role/osspolicy"


@pytest.fixture
def sts_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """Two accounts, a bucket each, tokens living 10 minutes (inside the library's 15-minute
    stale window, so it assumes the role again for every request); this module's key
    pair in OSS_ACCESS_KEY_ID / SECRET as the role's source (`type: env`)."""
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", SECRET)
    monkeypatch.delenv("OSS_SESSION_TOKEN", raising=False)
    with Emulator(accounts=[SOURCE_ACCOUNT, ROLE_ACCOUNT], sts_duration_s=600) as emu:
        emu.seed_buckets(["source-bucket"])
        emu.seed_buckets(["role-bucket-1", "role-bucket-2"], account_id=ROLE_ACCOUNT.account_id)
        yield emu


def role_spec(emu: Emulator, role_arn: str = ROLE_ARN) -> RamRoleArnCredentials:
    return RamRoleArnCredentials(
        type="ram_role_arn",
        role_arn=role_arn,
        source=EnvCredentials(type="env"),
        sts_endpoint=emu.endpoint,
    )


def test_ram_role_arn_signs_as_the_roles_account(sts_emulator: Emulator) -> None:
    """A ram_role_arn account assumes the role with its source's key at the emulator's
    STS, then lists the role account's buckets with an STS. key of that account."""
    provider = account_provider("audit", role_spec(sts_emulator))
    assert list_buckets(sts_emulator, provider) == 2
    assume, listing = sts_emulator.request_log[-2:]
    assert (assume.action, assume.access_key_id, assume.status) == ("AssumeRole", KEY_ID, 200)
    assert listing.access_key_id is not None
    assert listing.access_key_id.startswith("STS.")
    assert sts_emulator.account_of_key(listing.access_key_id) == ROLE_ACCOUNT.account_id


def test_a_token_in_the_stale_window_is_assumed_again_for_every_request(
    sts_emulator: Emulator,
) -> None:
    """With tokens that are stale on arrival, each signed request gets a fresh AssumeRole
    and its own temporary key: refresh during a job is the library's, used at once."""
    provider = account_provider("audit", role_spec(sts_emulator))
    list_buckets(sts_emulator, provider, calls=3)
    log = sts_emulator.request_log
    assert [e.action for e in log] == ["AssumeRole", *["AssumeRole", None] * 3]
    keys = {e.access_key_id for e in log if e.action is None}
    assert len(keys) == 3
    assert {sts_emulator.account_of_key(k) for k in keys if k} == {ROLE_ACCOUNT.account_id}


def test_a_role_the_sts_refuses_is_one_line_naming_the_account_and_role(
    sts_emulator: Emulator,
) -> None:
    """AssumeRole refused by STS (a role of an unknown account) is a CredentialsError
    before any bucket request: one line naming the account and the role, no secret."""
    unknown = "acs:ram::3000000000000003:role/osspolicy"
    with pytest.raises(CredentialsError) as info:
        account_provider("audit", role_spec(sts_emulator, unknown))
    message = str(info.value)
    assert message.startswith(f"account audit: the credentials of ram_role_arn {unknown}")
    assert "\n" not in message
    assert SECRET not in message
    assert [e.action for e in sts_emulator.request_log] == ["AssumeRole"]


# -- env and default with the SDK's variables (read when the provider is made) ------------


def test_default_with_oss_variables_is_the_sdks_environment_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`type: default` with OSS_ACCESS_KEY_ID set is the SDK's own environment provider,
    as before accounts existed."""
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", SECRET)
    provider = credentials_provider(DefaultCredentials(), account="default")
    assert isinstance(provider, oss.credentials.EnvironmentVariableCredentialsProvider)
    resolve_credentials(provider, account="default", source=DefaultCredentials())


def test_env_without_variables_is_one_line_naming_the_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`type: env` without the SDK's variables is a CredentialsError naming the account,
    the source and what to set."""
    monkeypatch.delenv("OSS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("OSS_ACCESS_KEY_SECRET", raising=False)
    with pytest.raises(CredentialsError) as info:
        credentials_provider(EnvCredentials(type="env"), account="ops")
    assert str(info.value).startswith("account ops: the credentials of env (OSS_ACCESS_KEY_ID)")
    assert "set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET" in str(info.value)


def test_credentials_from_the_environment_reach_the_emulator(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`type: env` signs with OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET."""
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", SECRET)
    assert list_buckets(emulator, account_provider("ops", EnvCredentials(type="env"))) == 2


# -- the library's providers, configured with the spec's keys (wiring level) ----------------


def test_a_library_type_is_plugged_in_through_the_function_provider() -> None:
    """Every type but the SDK's variables becomes `CredentialsProviderFunc` over the
    library's client (no request is made to build it)."""
    spec = CredentialsUriCredentials(type="credentials_uri", uri="http://127.0.0.1:1/c")
    provider = credentials_provider(spec, account="prod")
    assert isinstance(provider, oss.credentials.CredentialsProviderFunc)
    assert isinstance(library_provider(spec), URLCredentialsProvider)


def test_ram_role_arn_assumes_the_role_with_its_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wiring level (AssumeRole itself is tested against the emulator's STS): the
    library's RAM role provider gets the ARN, session name, external id, STS endpoint
    and the source type's own provider."""
    spec = RamRoleArnCredentials(
        type="ram_role_arn",
        role_arn=ARN,
        external_id="ext-1",
        sts_endpoint="http://127.0.0.1:9000",
        source=ProfileCredentials(type="profile", profile="base"),
    )
    provider = library_provider(spec)
    assert isinstance(provider, RamRoleArnCredentialsProvider)
    assert provider._role_arn == ARN
    assert provider._role_session_name == "osspolicy"
    assert provider._external_id == "ext-1"
    assert provider._sts_endpoint == "http://127.0.0.1:9000"
    source = provider._credentials_provider
    assert isinstance(source, CLIProfileCredentialsProvider)
    assert source._profile_name == "base"


def test_ram_role_arn_without_a_source_uses_the_default_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Wiring level: no `source` means the default chain (here without OSS variables)."""
    monkeypatch.delenv("OSS_ACCESS_KEY_ID", raising=False)
    monkeypatch.setattr(ecs_module, "BackgroundScheduler", _NoScheduler)
    provider = library_provider(RamRoleArnCredentials(type="ram_role_arn", role_arn=ARN))
    assert isinstance(provider._credentials_provider, DefaultCredentialsProvider)


class _NoScheduler:
    """Stands in for the library's background refresher, so a wiring test starts no thread."""

    def add_job(self, *_: Any, **__: Any) -> None:
        return

    def start(self) -> None:
        return

    def shutdown(self, *_: Any, **__: Any) -> None:
        return


def test_ecs_ram_role_asks_the_metadata_service_for_the_named_role(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Wiring level (no metadata service here): the library's ECS provider gets the role
    name, or none so that it discovers the instance's role."""
    monkeypatch.setattr(ecs_module, "BackgroundScheduler", _NoScheduler)
    named = library_provider(EcsRamRoleCredentials(type="ecs_ram_role", role_name="ops-role"))
    assert isinstance(named, EcsRamRoleCredentialsProvider)
    assert named._role_name == "ops-role"
    discovered = library_provider(EcsRamRoleCredentials(type="ecs_ram_role"))
    assert isinstance(discovered, EcsRamRoleCredentialsProvider)
    assert discovered._role_name is None


def test_oidc_passes_the_librarys_own_keys(tmp_path: Path) -> None:
    """Wiring level (AssumeRoleWithOIDC needs STS): the library's OIDC provider gets the
    role and provider ARNs, the token file and the session name."""
    spec = OidcCredentials(
        type="oidc",
        role_arn=ARN,
        oidc_provider_arn="acs:ram::1234567890123456:oidc-provider/ack-rrsa",
        oidc_token_file_path=tmp_path / "token",
    )
    provider = library_provider(spec)
    assert isinstance(provider, OIDCRoleArnCredentialsProvider)
    assert provider._role_arn == ARN
    assert provider._oidc_provider_arn == "acs:ram::1234567890123456:oidc-provider/ack-rrsa"
    assert provider._oidc_token_file_path == str(tmp_path / "token")
    assert provider._role_session_name == "osspolicy"


def test_an_oidc_token_file_that_is_missing_is_one_line(tmp_path: Path) -> None:
    """Resolving OIDC credentials without the token file fails before any STS request,
    naming the account and the role."""
    spec = OidcCredentials(
        type="oidc",
        role_arn=ARN,
        oidc_provider_arn="acs:ram::1:oidc-provider/x",
        oidc_token_file_path=tmp_path / "missing-token",
    )
    with pytest.raises(CredentialsError) as info:
        account_provider("k8s", spec)
    assert str(info.value).startswith(f"account k8s: the credentials of oidc {ARN}")
    assert "\n" not in str(info.value)


# -- sources read from files and the library's environment: in a subprocess ---------------

PROBE = """
import json, sys
import anyio
from osspolicy._internal.accounts import Account
from osspolicy._internal.backends import ConnectionConfig
from osspolicy._internal.backends.credentials import account_provider
from osspolicy._internal.backends.oss import OssBackend
from osspolicy._internal.errors import ConfigError


account = Account.model_validate(json.loads(sys.argv[1]))
try:
    provider = account_provider(account.name, account.credentials)
except ConfigError as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)

async def main():
    backend = OssBackend(ConnectionConfig(region=sys.argv[3], endpoint=sys.argv[2]),
                         credentials=provider)
    try:
        page = await backend.list_buckets_page("", "", 100)
    finally:
        await backend.aclose()
    print(len(page.buckets))

anyio.run(main)
"""


def probe(account: dict[str, Any], emu: Emulator | None, env: dict[str, str]) -> tuple[int, str]:
    """Resolve `account` in a fresh interpreter with `env` alone (plus PATH), and list the
    emulator's buckets with it: (exit code, stdout + stderr)."""
    endpoint, region = (emu.endpoint, emu.region) if emu else ("http://127.0.0.1:1", "cn-hangzhou")
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(account), endpoint, region],
        env={"PATH": os.environ.get("PATH", ""), "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
        | env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def aliyun_home(tmp_path: Path) -> Path:
    """A HOME whose ~/.aliyun/config.json (the aliyun CLI's format) has an AK profile
    `prod` with this module's key pair."""
    config = {
        "current": "prod",
        "profiles": [
            {
                "name": "prod",
                "mode": "AK",
                "access_key_id": KEY_ID,
                "access_key_secret": SECRET,
                "region_id": "cn-hangzhou",
                "output_format": "json",
                "language": "en",
            }
        ],
    }
    (tmp_path / ".aliyun").mkdir()
    (tmp_path / ".aliyun" / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_a_profile_from_the_aliyun_cli_config_signs_requests(
    emulator: Emulator, tmp_path: Path
) -> None:
    """`type: profile` reads ~/.aliyun/config.json; the emulator accepts its keys."""
    account = {"name": "prod", "credentials": {"type": "profile", "profile": "prod"}}
    code, out = probe(account, emulator, {"HOME": str(aliyun_home(tmp_path))})
    assert (code, out.strip()) == (0, "2")
    assert {e.access_key_id for e in emulator.request_log} == {KEY_ID}


def test_a_missing_profile_is_one_line_without_the_secret(tmp_path: Path) -> None:
    """A profile that the config file does not have: exit 2, one line naming the account
    and the profile, and no secret of the file's other profiles."""
    account = {"name": "stage", "credentials": {"type": "profile", "profile": "stage"}}
    code, out = probe(account, None, {"HOME": str(aliyun_home(tmp_path))})
    assert code == 2
    assert out.strip().startswith("account stage: the credentials of profile 'stage'")
    assert len(out.strip().splitlines()) == 1
    assert SECRET not in out


def test_default_without_oss_variables_is_the_librarys_chain(
    emulator: Emulator, tmp_path: Path
) -> None:
    """`type: default` without OSS_ACCESS_KEY_ID reads the library's chain (here its
    ALIBABA_CLOUD_ACCESS_KEY_ID / SECRET), and the emulator accepts the keys."""
    env = {
        "HOME": str(tmp_path),
        "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
    }
    code, out = probe({"name": "default"}, emulator, env)
    assert (code, out.strip()) == (0, "2")
    assert {e.access_key_id for e in emulator.request_log} == {KEY_ID}


def test_default_with_nothing_configured_is_one_line(tmp_path: Path) -> None:
    """No variable, no profile, no metadata service: exit 2, one line naming the
    account `default` and the default chain."""
    code, out = probe({"name": "default"}, None, {"HOME": str(tmp_path)})
    assert code == 2
    assert out.strip().startswith("account default: the credentials of default")
    assert len(out.strip().splitlines()) == 1
