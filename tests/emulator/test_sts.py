"""STS AssumeRole on the emulator, driven by Alibaba Cloud's own credentials library.

`alibabacloud_credentials`' `ram_role_arn` provider (explicit arguments, so its reading
of environment variables at import does not matter) gets temporary keys from the
emulator; the OSS SDK then uses them, with their token, as the role's account.
"""

from __future__ import annotations

import time

import alibabacloud_oss_v2 as oss
import pytest
from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_credentials.provider import RamRoleArnCredentialsProvider

from osspolicy.emulator import Emulator
from osspolicy.emulator.accounts import Account
from osspolicy.emulator.sts import rpc_signature

ALICE = Account("1111111111111111", "AliceKeyId", "AliceSecret1")
BOB = Account("2222222222222222", "BobKeyId", "BobSecret2")
ROLE = f"acs:ram::{BOB.account_id}:role/policy-admin"


class Clock:
    """A settable clock for the emulator's key store (token expiry without waiting)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def emu(clock):
    with Emulator(accounts=[ALICE, BOB], sts_duration_s=1800, clock=clock) as emulator:
        emulator.seed_buckets(["bob-bucket"], account_id=BOB.account_id)
        emulator.seed_buckets(["alice-bucket"])
        yield emulator


def assume(
    emu: Emulator, *, role_arn: str = ROLE, account: Account = ALICE, secret: str | None = None
):
    """Temporary credentials from the credentials library's ram_role_arn provider."""
    provider = RamRoleArnCredentialsProvider(
        access_key_id=account.access_key_id,
        access_key_secret=secret or account.access_key_secret,
        role_arn=role_arn,
        role_session_name="osspolicy",
        duration_seconds=3600,
        sts_endpoint=emu.endpoint,
    )
    return provider.get_credentials()


def oss_client(emu: Emulator, ak: str, sk: str, token: str | None, version: str = "v4"):
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ak, sk, token)
    cfg.region = emu.region
    cfg.endpoint = emu.endpoint
    cfg.signature_version = version
    cfg.retryer = oss.retry.NopRetryer()
    return oss.Client(cfg)


def temp_client(emu: Emulator, creds, version: str = "v4") -> oss.Client:
    return oss_client(
        emu,
        creds.get_access_key_id(),
        creds.get_access_key_secret(),
        creds.get_security_token(),
        version,
    )


def service_error(call) -> tuple[int, str, str]:
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        call()
    error = excinfo.value.unwrap()
    return error.status_code, error.code, error.ec


def test_the_library_gets_sts_prefixed_keys_with_a_token(emu):
    """ram_role_arn against the emulator returns an STS. key, a secret and a token."""
    creds = assume(emu)
    assert (
        creds.get_access_key_id().startswith("STS."),
        bool(creds.get_access_key_secret()),
        bool(creds.get_security_token()),
    ) == (True, True, True)


def test_expiration_is_now_plus_the_sts_duration_whatever_was_asked(emu, clock):
    """Expiration is the clock + sts_duration_s (1800), though the library asked 3600."""
    assert assume(emu).get_expiration() == int(clock.now) + 1800


@pytest.mark.parametrize("version", ["v4", "v1"])
def test_temporary_keys_act_as_the_roles_account(emu, version):
    """With the token (V4 and V1), the temporary key lists and reads the role account's buckets."""
    client = temp_client(emu, assume(emu), version)
    listed = [b.name for b in client.list_buckets(oss.ListBucketsRequest()).buckets]
    bpa = client.get_bucket_public_access_block(
        oss.GetBucketPublicAccessBlockRequest(bucket="bob-bucket")
    )
    assert (listed, bpa.status_code) == (["bob-bucket"], 200)


def test_temporary_keys_get_403_on_other_accounts_buckets(emu):
    """The role is Bob's: Alice's bucket is 403 AccessDenied to its temporary key."""
    client = temp_client(emu, assume(emu))
    request = oss.GetBucketPolicyRequest(bucket="alice-bucket")
    assert service_error(lambda: client.get_bucket_policy(request))[:2] == (403, "AccessDenied")


def test_a_temporary_key_without_its_token_is_invalid_access_key_id(emu):
    """A temporary key sent without its token is 403 InvalidAccessKeyId (EC 0002-00000003)."""
    creds = assume(emu)
    client = oss_client(emu, creds.get_access_key_id(), creds.get_access_key_secret(), None)
    assert service_error(lambda: client.list_buckets(oss.ListBucketsRequest())) == (
        403,
        "InvalidAccessKeyId",
        "0002-00000003",
    )


def test_a_temporary_key_with_another_token_is_refused(emu):
    """A temporary key with a token not its own is 403 InvalidSecurityToken (0002-00000008)."""
    creds, other = assume(emu), assume(emu)
    client = oss_client(
        emu,
        creds.get_access_key_id(),
        creds.get_access_key_secret(),
        other.get_security_token(),
    )
    assert service_error(lambda: client.list_buckets(oss.ListBucketsRequest())) == (
        403,
        "InvalidSecurityToken",
        "0002-00000008",
    )


@pytest.mark.parametrize("version", ["v4", "v1"])
def test_after_expiry_a_temporary_key_gets_security_token_expired(emu, clock, version):
    """Once the clock passes Expiration, requests get 403 SecurityTokenExpired, EC 0002-00000007."""
    client = temp_client(emu, assume(emu), version)
    client.list_buckets(oss.ListBucketsRequest())
    clock.now += 1800
    assert service_error(lambda: client.list_buckets(oss.ListBucketsRequest())) == (
        403,
        "SecurityTokenExpired",
        "0002-00000007",
    )


def test_fresh_credentials_work_again_after_expiry(emu, clock):
    """After expiry, a new AssumeRole gives keys that are served again."""
    clock.now += 1800
    temp_client(emu, assume(emu)).list_buckets(oss.ListBucketsRequest())
    clock.now += 1799
    result = temp_client(emu, assume(emu)).list_buckets(oss.ListBucketsRequest())
    assert result.status_code == 200


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        pytest.param({"secret": "not-the-secret"}, "SignatureDoesNotMatch", id="bad-signature"),
        pytest.param(
            {"account": Account("3333333333333333", "NobodyKnowsMe", "x")},
            "InvalidAccessKeyId.NotFound",
            id="unknown-key",
        ),
        pytest.param(
            {"role_arn": "acs:ram::4444444444444444:role/ops"},
            "EntityNotExist.Role",
            id="unknown-account",
        ),
        pytest.param(
            {"role_arn": "arn:aws:iam::1:role/x"}, "InvalidParameter.RoleArn", id="bad-arn"
        ),
    ],
)
def test_refusals_are_the_sts_error_json(emu, kwargs, code):
    """A bad signature, unknown key, unknown account or bad ARN is the STS error JSON."""
    with pytest.raises(CredentialException) as excinfo:
        assume(emu, **kwargs)
    assert f'"Code": "{code}"' in str(excinfo.value)


def test_an_sts_error_never_holds_a_secret(emu):
    """The STS error for a bad signature names neither the right nor the wrong secret."""
    with pytest.raises(CredentialException) as excinfo:
        assume(emu, secret="WrongSecretValue")
    text = str(excinfo.value)
    assert (ALICE.access_key_secret in text, "WrongSecretValue" in text) == (False, False)


def test_a_temporary_key_may_assume_a_role_again(emu):
    """Role chaining: a temporary key, with its token, may call AssumeRole itself."""
    first = assume(emu)
    provider = RamRoleArnCredentialsProvider(
        access_key_id=first.get_access_key_id(),
        access_key_secret=first.get_access_key_secret(),
        security_token=first.get_security_token(),
        role_arn=f"acs:ram::{ALICE.account_id}:role/back",
        role_session_name="chained",
        sts_endpoint=emu.endpoint,
    )
    creds = provider.get_credentials()
    listed = temp_client(emu, creds).list_buckets(oss.ListBucketsRequest()).buckets
    assert [b.name for b in listed] == ["alice-bucket"]


def test_assume_role_is_logged_with_its_action_and_caller(emu):
    """The request log records AssumeRole with the caller's access key id, no bucket."""
    assume(emu)
    entry = emu.request_log[-1]
    assert (entry.action, entry.access_key_id, entry.bucket, entry.status) == (
        "AssumeRole",
        ALICE.access_key_id,
        None,
        200,
    )


def test_rpc_signature_matches_the_librarys_signer():
    """rpc_signature reproduces alibabacloud_credentials' own signing of a query."""
    from alibabacloud_credentials.utils import parameter_helper as ph  # noqa: PLC0415

    params = {"Action": "AssumeRole", "RoleSessionName": "a b~*", "Timestamp": "2026-01-01"}
    expected = ph.sign_string(ph.compose_string_to_sign("GET", params), "secret&")
    assert rpc_signature("GET", params, "secret") == expected


def test_account_of_key_maps_permanent_and_temporary_keys_to_their_account(emu):
    """`account_of_key` names the account a key acts as: its own, or the assumed role's."""
    temporary = assume(emu).get_access_key_id()
    assert (
        emu.account_of_key(ALICE.access_key_id),
        emu.account_of_key(temporary),
        emu.account_of_key("NobodyKnowsMe"),
    ) == (ALICE.account_id, BOB.account_id, None)
