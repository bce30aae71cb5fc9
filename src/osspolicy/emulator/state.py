"""The emulator's model of one OSS account: buckets, their policies and Block Public Access.

Pure and thread-safe: no HTTP and no asyncio here (moto's `models`), so the rules can be
tested without sockets and the same state serves the HTTP handler, the Python API and
the seeding helpers. Every refusal is an `OssError` carrying the service's `code`,
`status` and `ec`; only the handler turns it into XML.

The service keeps its own policy rules (`policy_rules.check_policy`): the emulator plays
OSS and never imports the client side of osspolicy.
"""

from __future__ import annotations

import bisect
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from osspolicy.emulator.bucket_config import BucketSettings
from osspolicy.emulator.errors import EC, OssError
from osspolicy.emulator.policy_rules import (
    MAX_POLICY_BYTES,
    MAX_POLICY_VALUE_BYTES,
    check_policy,
)

__all__ = (
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_REGION",
    "EC",
    "MAX_POLICY_BYTES",
    "MAX_POLICY_VALUE_BYTES",
    "BucketPage",
    "BucketSettings",
    "BucketSummary",
    "EmulatorState",
    "OssError",
    "PolicySource",
    "check_policy",
    "validate_bucket_name",
)

DEFAULT_REGION = "cn-hangzhou"
DEFAULT_ACCOUNT_ID = "1234567890123456"
MAX_LIST_KEYS = 1000

PolicySource = bytes | Callable[[str], bytes | None] | None
"""A policy for seeding: one document for every bucket, a function of the name, or none."""
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


def _no_such_bucket() -> OssError:
    return OssError("NoSuchBucket", "The specified bucket does not exist.", status=404)


def validate_bucket_name(name: str) -> None:
    """Raise InvalidBucketName unless `name` is 3-63 of a-z 0-9 - without an edge hyphen."""
    if not _BUCKET_NAME.fullmatch(name):
        raise OssError(
            "InvalidBucketName",
            "The specified bucket is not valid: use 3-63 lowercase letters, digits and "
            "hyphens, starting and ending with a letter or digit.",
            status=400,
        )


# --- policy documents -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BucketSummary:
    """One bucket as ListBuckets and GetBucketInfo describe it."""

    name: str
    region: str
    creation_date: str
    block_public_access: bool
    has_policy: bool
    owner: str = DEFAULT_ACCOUNT_ID
    storage_class: str = "Standard"
    data_redundancy: str = "LRS"
    acl: str = "private"


@dataclass(frozen=True, slots=True)
class BucketPage:
    """One ListBuckets page: names sorted, all after the marker and with the prefix."""

    buckets: tuple[BucketSummary, ...]
    is_truncated: bool
    next_marker: str


_DEFAULT_SETTINGS = BucketSettings()


class _Bucket:
    __slots__ = (
        "block_public_access",
        "creation_date",
        "name",
        "owner",
        "policy",
        "public",
        "region",
        "settings",
    )

    def __init__(
        self,
        name: str,
        region: str,
        creation_date: str,
        owner: str,
        settings: BucketSettings = _DEFAULT_SETTINGS,
    ) -> None:
        self.name = name
        self.region = region
        self.creation_date = creation_date
        self.owner = owner
        self.settings = settings
        self.policy: bytes | None = None
        self.public = False
        self.block_public_access = True

    def summary(self) -> BucketSummary:
        settings = self.settings
        return BucketSummary(
            self.name,
            self.region,
            self.creation_date,
            self.block_public_access,
            self.policy is not None,
            self.owner,
            settings.storage_class,
            settings.data_redundancy,
            settings.acl,
        )


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


class EmulatorState:
    """Buckets, policies and Block Public Access of its accounts; safe to share across threads.

    Each bucket has an owner, the account that created it (`account_id`, the default
    account, unless told otherwise). Names are kept sorted per owner beside the dict, so
    a ListBuckets page is a bisect and a slice, never a scan of every bucket.
    """

    def __init__(
        self,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        max_buckets: int | None = None,
        list_page_size: int | None = None,
    ) -> None:
        if list_page_size is not None and not 1 <= list_page_size <= MAX_LIST_KEYS:
            raise ValueError(f"list_page_size must be within 1-1000, got {list_page_size}")
        self.region = region
        self.account_id = account_id
        self.max_buckets = max_buckets
        #: the most buckets a ListBuckets page holds, whatever max-keys asks (None: max-keys)
        self.list_page_size = list_page_size
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._names: list[str] = []
        self._owned: dict[str, list[str]] = {}

    def __repr__(self) -> str:
        return f"EmulatorState(region={self.region!r}, buckets={len(self)})"

    def __len__(self) -> int:
        return len(self._buckets)

    def _get(self, name: str) -> _Bucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            raise _no_such_bucket()
        return bucket

    # -- buckets

    def create_bucket(
        self,
        name: str,
        region: str | None = None,
        *,
        owner: str | None = None,
        settings: BucketSettings = _DEFAULT_SETTINGS,
    ) -> None:
        """PutBucket: a new bucket of `owner` with Block Public Access on and no policy.

        The quota (`max_buckets`) counts the owner's buckets, as the service's does.
        """
        validate_bucket_name(name)
        owner = owner or self.account_id
        with self._lock:
            if name in self._buckets:
                raise OssError(
                    "BucketAlreadyExists",
                    "The requested bucket name is not available.",
                    status=409,
                )
            owned = self._owned.setdefault(owner, [])
            if self.max_buckets is not None and len(owned) >= self.max_buckets:
                raise OssError(
                    "TooManyBuckets",
                    f"You have attempted to create more buckets than allowed ({self.max_buckets}).",
                    status=400,
                )
            self._buckets[name] = _Bucket(name, region or self.region, _iso_now(), owner, settings)
            bisect.insort(self._names, name)
            bisect.insort(owned, name)

    def delete_bucket(self, name: str) -> None:
        """DeleteBucket: the bucket goes, with its policy and settings."""
        with self._lock:
            owned = self._owned[self._get(name).owner]
            del self._buckets[name]
            for names in (self._names, owned):
                del names[bisect.bisect_left(names, name)]

    def has_bucket(self, name: str) -> bool:
        return name in self._buckets

    def bucket_names(self) -> list[str]:
        """Every bucket name, sorted (a copy)."""
        with self._lock:
            return list(self._names)

    def bucket_region(self, name: str) -> str:
        return self._get(name).region

    def find_owner(self, name: str) -> str | None:
        """The account owning the bucket, or None when there is no such bucket."""
        bucket = self._buckets.get(name)
        return None if bucket is None else bucket.owner

    def find_region(self, name: str) -> str | None:
        """The bucket's region, or None when there is no such bucket."""
        bucket = self._buckets.get(name)
        return None if bucket is None else bucket.region

    def bucket_info(self, name: str) -> BucketSummary:
        with self._lock:
            return self._get(name).summary()

    def list_buckets(
        self,
        prefix: str = "",
        marker: str = "",
        max_keys: int = 100,
        *,
        owner: str | None = None,
    ) -> BucketPage:
        """One page of names > marker starting with prefix, sorted, at most max_keys.

        With `owner`, only that account's buckets (ListBuckets lists the caller's own).
        With `list_page_size`, a page holds at most that many, whatever `max_keys` says.
        """
        if not 1 <= max_keys <= MAX_LIST_KEYS:
            raise OssError("InvalidArgument", "max-keys must be between 1 and 1000.", status=400)
        if self.list_page_size is not None:
            max_keys = min(max_keys, self.list_page_size)
        with self._lock:
            names = self._names if owner is None else self._owned.get(owner, [])
            start = max(bisect.bisect_left(names, prefix), bisect.bisect_right(names, marker))
            stop = min(start + max_keys, len(names))
            page: list[BucketSummary] = []
            for index in range(start, stop):
                name = names[index]
                if not name.startswith(prefix):
                    break
                page.append(self._buckets[name].summary())
            truncated = (
                len(page) == max_keys and stop < len(names) and names[stop].startswith(prefix)
            )
        return BucketPage(tuple(page), truncated, page[-1].name if truncated else "")

    def seed(
        self,
        names: Iterable[str],
        *,
        policy: PolicySource = None,
        region: str | None = None,
        block_public_access: bool = True,
        owner: str | None = None,
    ) -> int:
        """Create (or reset) many buckets of `owner` at once, without the quota; return how many.

        Policies are validated like PutBucketPolicy but not checked against Block Public
        Access, so a test can seed the state "BPA switched on after a public policy".
        """
        checked: dict[bytes, bool] = {}
        created = _iso_now()
        owner = owner or self.account_id
        new: list[_Bucket] = []
        for name in names:
            validate_bucket_name(name)
            bucket = _Bucket(name, region or self.region, created, owner)
            bucket.block_public_access = block_public_access
            body = policy(name) if callable(policy) else policy
            if body is not None:
                if body not in checked:
                    checked[body] = check_policy(body)
                bucket.policy = body
                bucket.public = checked[body]
            new.append(bucket)
        with self._lock:
            for bucket in new:
                self._buckets[bucket.name] = bucket
            self._names = sorted(self._buckets)
            self._owned = {}
            for name in self._names:
                self._owned.setdefault(self._buckets[name].owner, []).append(name)
        return len(new)

    # -- policies

    def get_policy(self, name: str) -> bytes | None:
        """The policy bytes exactly as put, or None when the bucket has none."""
        return self._get(name).policy

    def put_policy(self, name: str, body: bytes) -> None:
        """PutBucketPolicy: validate, refuse a public grant under BPA, store the bytes."""
        self._get(name)
        public = check_policy(body)
        with self._lock:
            bucket = self._get(name)
            if public and bucket.block_public_access:
                raise OssError(
                    "AccessDenied",
                    "Put public bucket policy is not allowed while BlockPublicAccess is enabled.",
                    status=403,
                )
            bucket.policy = body
            bucket.public = public

    def delete_policy(self, name: str) -> None:
        """DeleteBucketPolicy: idempotent (no policy is not an error)."""
        with self._lock:
            bucket = self._get(name)
            bucket.policy = None
            bucket.public = False

    def policy_is_public(self, name: str) -> bool:
        """GetBucketPolicyStatus: False when there is no policy."""
        return self._get(name).public

    def get_block_public_access(self, name: str) -> bool:
        return self._get(name).block_public_access

    def set_block_public_access(self, name: str, on: bool) -> None:
        with self._lock:
            self._get(name).block_public_access = on
