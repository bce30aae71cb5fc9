"""The emulator's accounts and its seeding specs, as the CLI and the Python API give them.

An account is an owner UID with one access key pair: `ACCOUNT_ID:ACCESS_KEY_ID:SECRET`
on the command line (`--account`, repeatable, the first is the default owner). A seed spec
is `PREFIX:N[:REGION[:ACCOUNT_ID]]`: N buckets PREFIX00000, PREFIX00001, ... of that
region and account. Parse errors never quote the spec back: it may hold a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from osspolicy.emulator.auth import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, KeyPair
from osspolicy.emulator.errors import OssError
from osspolicy.emulator.state import DEFAULT_ACCOUNT_ID, validate_bucket_name

__all__ = (
    "Account",
    "SeedSpec",
    "is_account_id",
    "parse_account_spec",
    "parse_seed_spec",
    "resolve_accounts",
    "resolve_key_pair",
)

_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_REGION = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+)+")


def is_account_id(value: str) -> bool:
    """Whether `value` is an account id the emulator plays: letters, digits, hyphens."""
    return _ACCOUNT_ID.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Account:
    """An account the emulator plays: its UID and one key pair (the secret out of repr)."""

    account_id: str
    access_key_id: str
    access_key_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not _ACCOUNT_ID.fullmatch(self.account_id):
            raise ValueError("an account id is letters, digits and hyphens (e.g. 1234567890123456)")
        if not self.access_key_id or ":" in self.access_key_id or not self.access_key_secret:
            raise ValueError("an account needs an access key id (no ':') and a secret")

    @property
    def key_pair(self) -> KeyPair:
        return KeyPair(self.access_key_id, self.access_key_secret, self.account_id)


def parse_account_spec(spec: str) -> Account:
    """`ACCOUNT_ID:ACCESS_KEY_ID:ACCESS_KEY_SECRET` -> Account (the secret may hold ':')."""
    parts = spec.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError("expected ACCOUNT_ID:ACCESS_KEY_ID:ACCESS_KEY_SECRET")
    return Account(*parts)


@dataclass(frozen=True, slots=True)
class SeedSpec:
    """N buckets `f"{prefix}{i:05d}"`, of `region` and `account_id` (None: the defaults)."""

    prefix: str
    count: int
    region: str | None = None
    account_id: str | None = None

    def names(self) -> Iterator[str]:
        return (f"{self.prefix}{i:05d}" for i in range(self.count))


def parse_seed_spec(spec: str) -> SeedSpec:
    """`PREFIX:N[:REGION[:ACCOUNT_ID]]` -> SeedSpec; ValueError naming the fix otherwise."""
    parts = spec.split(":")
    if not 2 <= len(parts) <= 4 or not parts[1].isdigit():
        raise ValueError(
            f"expected PREFIX:N[:REGION[:ACCOUNT_ID]] (e.g. bench-:1000:cn-shanghai), got {spec!r}"
        )
    prefix, count = parts[0], int(parts[1])
    region = parts[2] if len(parts) > 2 and parts[2] else None
    account_id = parts[3] if len(parts) > 3 and parts[3] else None
    if region is not None and not _REGION.fullmatch(region):
        raise ValueError(f"{region!r} is not a region id (e.g. cn-hangzhou)")
    if account_id is not None and not _ACCOUNT_ID.fullmatch(account_id):
        raise ValueError(f"{account_id!r} is not an account id (e.g. 1234567890123456)")
    if count:
        try:
            validate_bucket_name(f"{prefix}{count - 1:05d}")
            validate_bucket_name(f"{prefix}00000")
        except OssError:
            raise ValueError(
                f"{prefix!r} does not make valid bucket names (lowercase letters, digits, "
                "hyphens; not starting with a hyphen; at most 63 characters with the number)"
            ) from None
    return SeedSpec(prefix, count, region, account_id)


def resolve_key_pair(access_key_id: str | None, access_key_secret: str | None) -> KeyPair:
    """The pair given, else OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET, else the demo pair."""
    if (access_key_id is None) != (access_key_secret is None):
        raise ValueError("give both access_key_id and access_key_secret, or neither")
    if access_key_id is not None and access_key_secret is not None:
        return KeyPair(access_key_id, access_key_secret)
    env_id = os.environ.get("OSS_ACCESS_KEY_ID")
    env_secret = os.environ.get("OSS_ACCESS_KEY_SECRET")
    if env_id and env_secret:
        return KeyPair(env_id, env_secret)
    return KeyPair(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET)


def resolve_accounts(
    accounts: Sequence[Account | str] | None,
    account_id: str | None,
    access_key_id: str | None,
    access_key_secret: str | None,
) -> tuple[Account, ...]:
    """The accounts given (specs `ID:AK:SECRET` or `Account`s), else the one of the key pair.

    Giving both `accounts` and any of `account_id`/`access_key_id`/`access_key_secret` is a
    ValueError, as are two accounts with the same id or access key id.
    """
    if not accounts:
        pair = resolve_key_pair(access_key_id, access_key_secret)
        account = account_id or DEFAULT_ACCOUNT_ID
        return (Account(account, pair.access_key_id, pair.access_key_secret),)
    if (account_id, access_key_id, access_key_secret) != (None, None, None):
        raise ValueError(
            "give accounts, or account_id/access_key_id/access_key_secret for one, not both"
        )
    parsed = tuple(a if isinstance(a, Account) else parse_account_spec(a) for a in accounts)
    for what, values in (
        ("account id", [a.account_id for a in parsed]),
        ("access key id", [a.access_key_id for a in parsed]),
    ):
        if len(set(values)) != len(values):
            raise ValueError(f"each account needs its own {what}; one is given twice")
    return parsed
