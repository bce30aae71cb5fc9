"""The emulator's model of one OSS account: buckets, their policies and Block Public Access.

Pure and thread-safe: no HTTP and no asyncio here (moto's `models`), so the rules can be
tested without sockets and the same state serves the HTTP handler, the Python API and
the seeding helpers. Every refusal is an `OssError` carrying the service's `code`,
`status` and `ec`; only the handler turns it into XML.

The service keeps its own policy rules (`check_policy`): the emulator plays OSS and never
imports the client side of osspolicy.
"""

from __future__ import annotations

import bisect
import ipaddress
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from osspolicy.emulator.bucket_config import BucketSettings
from osspolicy.emulator.errors import EC, OssError

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
MAX_POLICY_BYTES = 16384
MAX_POLICY_VALUE_BYTES = 4095
MAX_LIST_KEYS = 1000

_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
# Condition keys that pin an Allow when each value names one thing (no `*`), lower-cased;
# acs:SourceIp pins when each value is a network at least as narrow as _MIN_PREFIX_LENGTH.
_PINNING_CONDITION_KEYS = frozenset({"acs:sourcevpc", "acs:sourcevpcid", "acs:accessid"})
_SOURCE_IP_KEY = "acs:sourceip"
_MIN_PREFIX_LENGTH = {4: 8, 6: 32}
_EFFECTS = frozenset({"Allow", "Deny"})

PolicySource = bytes | Callable[[str], bytes | None] | None
"""A policy for seeding: one document for every bucket, a function of the name, or none."""


def _no_such_bucket() -> OssError:
    return OssError("NoSuchBucket", "The specified bucket does not exist.", status=404)


def _invalid_policy(cause: int, message: str) -> OssError:
    ec = f"0030-{cause:08d}"
    return OssError("InvalidPolicyDocument", f"Invalid Policy: {message}", status=400, ec=ec)


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


def check_policy(body: bytes) -> bool:
    """Validate a bucket policy as the service does; return whether it is public.

    Causes and their EC (0030-0000000N): 01 body of 16 KB or more, 04 not UTF-8,
    05 not policy syntax (not JSON, no or empty Statement, bad Effect/Action/Resource/
    Principal/Condition), 03 a value over 4095 bytes, 02 Version not "1", 07 `**`.
    """
    if len(body) >= MAX_POLICY_BYTES:
        raise _invalid_policy(1, f"the document is {len(body)} bytes; it must be under 16 KB.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid_policy(4, "the document is not UTF-8.") from None
    try:
        doc = json.loads(text)
    except ValueError:
        raise _invalid_policy(5, "the document is not JSON.") from None
    if not isinstance(doc, dict):
        raise _invalid_policy(5, "the document must be a JSON object.")
    _check_values(doc)
    version = doc.get("Version")
    if not isinstance(version, str):
        raise _invalid_policy(5, 'Version must be the string "1".')
    if version != "1":
        raise _invalid_policy(2, f'Version is "{version[:40]}"; it must be "1".')
    statements = doc.get("Statement")
    if not isinstance(statements, list) or not statements:
        raise _invalid_policy(5, "Statement must be a non-empty list.")
    public = False
    for index, statement in enumerate(statements):
        _check_statement(index, statement)
        public = public or _statement_is_public(statement)
    return public


def _check_values(value: object) -> None:
    """Refuse any key or string over 4095 bytes (03) and consecutive wildcards (07)."""
    if isinstance(value, str):
        if len(value) > MAX_POLICY_VALUE_BYTES // 4 and (
            len(value.encode("utf-8")) > MAX_POLICY_VALUE_BYTES
        ):
            raise _invalid_policy(3, "a value is over 4095 bytes.")
        if "**" in value:
            raise _invalid_policy(7, f'"{value[:60]}" has consecutive wildcards (**).')
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_values(key)
            _check_values(item)
    elif isinstance(value, list):
        for item in value:
            _check_values(item)


def _string_list(value: object, *, allow_empty: bool = False) -> list[str] | None:
    """`value` as a list of strings (a string is a one-element list), or None if neither."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        if not value and not allow_empty:
            return None
        return list(value)
    return None


def _check_statement(index: int, statement: object) -> None:
    where = f"Statement[{index}]"
    if not isinstance(statement, dict):
        raise _invalid_policy(5, f"{where} must be an object.")
    if statement.get("Effect") not in _EFFECTS:
        raise _invalid_policy(5, f'{where}.Effect must be "Allow" or "Deny".')
    _check_element(statement, where, ("Action", "NotAction"), _is_action)
    _check_element(statement, where, ("Resource", "NotResource"), _is_resource)
    if "Principal" not in statement:
        raise _invalid_policy(5, f"{where} needs a Principal.")
    if _string_list(statement["Principal"], allow_empty=True) is None:
        raise _invalid_policy(5, f"{where}.Principal must be a string or a list of strings.")
    condition = statement.get("Condition")
    if condition is not None and not _is_condition(condition):
        raise _invalid_policy(5, f"{where}.Condition must be {{operator: {{key: values}}}}.")


def _check_element(
    statement: Mapping[str, object],
    where: str,
    names: tuple[str, str],
    valid: Callable[[str], bool],
) -> None:
    present = [name for name in names if name in statement]
    if len(present) != 1:
        raise _invalid_policy(5, f"{where} needs exactly one of {names[0]} or {names[1]}.")
    values = _string_list(statement[present[0]])
    if values is None or not all(valid(v) for v in values):
        raise _invalid_policy(5, f"{where}.{present[0]} is not valid.")


def _is_action(value: str) -> bool:
    return value == "*" or (value[:4].lower() == "oss:" and len(value) > 4)


def _is_resource(value: str) -> bool:
    return value == "*" or value.startswith("acs:oss:")


def _is_condition(condition: object) -> bool:
    if not isinstance(condition, dict):
        return False
    for clauses in condition.values():
        if not isinstance(clauses, dict):
            return False
        for values in clauses.values():
            items = values if isinstance(values, list) else [values]
            if not all(isinstance(v, str | int | float | bool) for v in items):
                return False
    return True


def _statement_is_public(statement: Mapping[str, object]) -> bool:
    """Whether one statement is public, as the service documents it (README, "What counts
    as public"; https://www.alibabacloud.com/help/en/oss/user-guide/block-public-access).

    A Deny never is. An Allow is, unless its Principal names no `*` (`[]` reads as `*`) or
    a Condition pins it: acs:SourceVpc / acs:SourceVpcId / acs:AccessId with only values
    without `*`, or acs:SourceIp with only IPv4 networks of /8 or narrower, IPv6 /32 or
    narrower. Negated, `...IfExists` and `Null` operators and empty value lists pin nothing.
    """
    if statement.get("Effect") != "Allow":
        return False
    principals = _string_list(statement.get("Principal"), allow_empty=True) or []
    if principals and "*" not in principals:
        return False
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return True
    return not any(
        _condition_pins(str(key).lower(), values if isinstance(values, list) else [values])
        for operator, clauses in condition.items()
        if _matches_only_its_values(str(operator)) and isinstance(clauses, dict)
        for key, values in clauses.items()
    )


def _matches_only_its_values(operator: str) -> bool:
    """False for an operator that also matches requests outside its values."""
    name = operator.lower()
    return "not" not in name and not name.endswith("ifexists") and name != "null"


def _condition_pins(key: str, values: list[object]) -> bool:
    """One Condition key and its values (ORed): do they leave only named requesters?"""
    if not values:
        return False
    if key == _SOURCE_IP_KEY:
        return all(_is_narrow_network(value) for value in values)
    if key in _PINNING_CONDITION_KEYS:
        return all(isinstance(value, str) and value and "*" not in value for value in values)
    return False


def _is_narrow_network(value: object) -> bool:
    """An address, or a network of /8 or narrower (IPv4) or /32 or narrower (IPv6)."""
    if not isinstance(value, str):
        return False
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return network.prefixlen >= _MIN_PREFIX_LENGTH[network.version]


# --- buckets ------------------------------------------------------------------------------


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
