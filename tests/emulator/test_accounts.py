"""Several accounts: a bucket belongs to its creator, others get 403, ListBuckets is per caller."""

from __future__ import annotations

import alibabacloud_oss_v2 as oss
import pytest

from osspolicy.emulator import Emulator
from osspolicy.emulator.accounts import Account, SeedSpec, parse_account_spec, parse_seed_spec
from tests.emulator.conftest import PRIVATE_POLICY, make_client

ALICE = Account("1111111111111111", "AliceKeyId", "AliceSecret1")
BOB = Account("2222222222222222", "BobKeyId", "BobSecret2")


@pytest.fixture
def emu2():
    with Emulator(accounts=[ALICE, BOB], region="cn-hangzhou") as emulator:
        yield emulator


def _client(emu: Emulator, account: Account) -> oss.Client:
    return make_client(emu, access_key_id=account.access_key_id, secret=account.access_key_secret)


def test_a_bucket_belongs_to_the_account_that_created_it(emu2):
    """A bucket Bob creates is listed as his and not as Alice's."""
    _client(emu2, BOB).put_bucket(oss.PutBucketRequest(bucket="bob-bucket"))
    assert (emu2.state.find_owner("bob-bucket"), emu2.state.bucket_info("bob-bucket").owner) == (
        BOB.account_id,
        BOB.account_id,
    )


def test_another_accounts_key_gets_403_access_denied(emu2):
    """Alice's key on Bob's bucket is 403 AccessDenied, for reads and writes alike."""
    emu2.seed_buckets(["bob-bucket"], account_id=BOB.account_id)
    alice = _client(emu2, ALICE)
    codes = []
    for call in (
        lambda: alice.get_bucket_policy(oss.GetBucketPolicyRequest(bucket="bob-bucket")),
        lambda: alice.put_bucket_policy(
            oss.PutBucketPolicyRequest(bucket="bob-bucket", body=PRIVATE_POLICY)
        ),
    ):
        with pytest.raises(oss.exceptions.OperationError) as excinfo:
            call()
        error = excinfo.value.unwrap()
        codes.append((error.status_code, error.code))
    assert (codes, emu2.state.get_policy("bob-bucket")) == ([(403, "AccessDenied")] * 2, None)


def test_list_buckets_lists_only_the_callers_own_with_the_caller_as_owner(emu2):
    """ListBuckets answers each account its own buckets, with Owner/ID its account id."""
    emu2.seed_buckets(["a-one", "a-two"])
    emu2.seed_buckets(["b-one"], account_id=BOB.account_id)
    seen = {}
    for account in (ALICE, BOB):
        result = _client(emu2, account).list_buckets(oss.ListBucketsRequest())
        seen[account.account_id] = (result.owner.id, [b.name for b in result.buckets])
    assert seen == {
        ALICE.account_id: (ALICE.account_id, ["a-one", "a-two"]),
        BOB.account_id: (BOB.account_id, ["b-one"]),
    }


def test_list_buckets_pages_through_the_callers_buckets_only(emu2):
    """The paginator follows NextMarker within the caller's buckets, skipping others'."""
    emu2.seed_buckets([f"a-{i:02d}" for i in range(5)])
    emu2.seed_buckets([f"a-{i:02d}x" for i in range(5)], account_id=BOB.account_id)
    paginator = _client(emu2, ALICE).list_buckets_paginator(limit=2)
    names = [b.name for page in paginator.iter_page(oss.ListBucketsRequest()) for b in page.buckets]
    assert names == [f"a-{i:02d}" for i in range(5)]


def test_creating_a_name_another_account_holds_is_409(emu2):
    """PutBucket of a name Bob owns is 409 BucketAlreadyExists for Alice, not a takeover."""
    emu2.seed_buckets(["taken-name"], account_id=BOB.account_id)
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        _client(emu2, ALICE).put_bucket(oss.PutBucketRequest(bucket="taken-name"))
    assert (excinfo.value.unwrap().code, emu2.state.find_owner("taken-name")) == (
        "BucketAlreadyExists",
        BOB.account_id,
    )


def test_the_quota_counts_each_accounts_buckets(emu2):
    """With max_buckets 1, Alice and Bob may each create one bucket."""
    emu2.state.max_buckets = 1
    _client(emu2, ALICE).put_bucket(oss.PutBucketRequest(bucket="alice-only"))
    result = _client(emu2, BOB).put_bucket(oss.PutBucketRequest(bucket="bob-only"))
    assert result.status_code == 200


def test_the_first_account_is_the_default_one():
    """The first account gives `access_key_id`, `account_id` and the owner of seeded buckets."""
    emu = Emulator(accounts=[BOB, ALICE])
    emu.seed_buckets(["seeded"])
    assert (emu.access_key_id, emu.account_id, emu.state.find_owner("seeded")) == (
        BOB.access_key_id,
        BOB.account_id,
        BOB.account_id,
    )


def test_accounts_accept_cli_specs():
    """`accounts` takes "ID:AK:SECRET" strings as the CLI does; the secret may hold ':'."""
    emu = Emulator(accounts=["3333333333333333:SpecKey:se:cret"])
    assert emu.accounts == (Account("3333333333333333", "SpecKey", "se:cret"),)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"account_id": "9"}, id="account_id"),
        pytest.param({"access_key_id": "K", "access_key_secret": "S"}, id="key-pair"),
    ],
)
def test_mixing_accounts_with_the_single_account_arguments_is_refused(kwargs):
    """`accounts` together with account_id or a key pair is a ValueError."""
    with pytest.raises(ValueError, match="not both"):
        Emulator(accounts=[ALICE], **kwargs)


def test_two_accounts_with_one_key_id_are_refused():
    """Two accounts sharing an access key id are a ValueError."""
    with pytest.raises(ValueError, match="access key id"):
        Emulator(accounts=[ALICE, Account(BOB.account_id, ALICE.access_key_id, "x")])


def test_seeding_for_an_unknown_account_is_refused():
    """seed_buckets(account_id=...) of an account the emulator does not play is a ValueError."""
    with pytest.raises(ValueError, match="not one of"):
        Emulator(accounts=[ALICE]).seed_buckets(["x-bucket"], account_id="42")


def test_account_repr_hides_the_secret():
    """An Account's repr names its id and key id, never its secret."""
    assert (ALICE.access_key_secret in repr(ALICE), ALICE.access_key_id in repr(ALICE)) == (
        False,
        True,
    )


def test_a_bad_account_spec_error_never_echoes_the_secret():
    """A malformed --account spec is refused without quoting it (it holds a secret)."""
    with pytest.raises(ValueError) as excinfo:
        parse_account_spec("12:only-id-and-TopSecretValue")
    assert "TopSecretValue" not in str(excinfo.value)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("app-:3", SeedSpec("app-", 3)),
        ("app-:3:cn-shanghai", SeedSpec("app-", 3, "cn-shanghai")),
        ("app-:3:cn-shanghai:2222", SeedSpec("app-", 3, "cn-shanghai", "2222")),
        ("app-:3::2222", SeedSpec("app-", 3, None, "2222")),
    ],
)
def test_seed_specs_take_an_optional_region_and_account(spec, expected):
    """PREFIX:N[:REGION[:ACCOUNT_ID]] parses into its parts; an empty region is the default."""
    assert parse_seed_spec(spec) == expected


@pytest.mark.parametrize("spec", ["app-:x", "app-:3:Hangzhou", "app-:3:cn-shanghai:a:b"])
def test_bad_seed_specs_are_refused(spec):
    """A seed spec with a bad count, region or too many parts is a ValueError."""
    with pytest.raises(ValueError, match=r"expected|region"):
        parse_seed_spec(spec)


def test_state_lists_and_deletes_per_owner():
    """EmulatorState keeps per-owner listings through create, seed and delete."""
    from osspolicy.emulator.state import EmulatorState  # noqa: PLC0415

    state = EmulatorState(account_id="1")
    state.seed(["b-one", "b-two"], owner="2")
    state.create_bucket("a-one")
    state.create_bucket("b-three", owner="2")
    state.delete_bucket("b-one")
    pages = {o: [b.name for b in state.list_buckets(owner=o).buckets] for o in ("1", "2", "3")}
    assert pages == {"1": ["a-one"], "2": ["b-three", "b-two"], "3": []}
