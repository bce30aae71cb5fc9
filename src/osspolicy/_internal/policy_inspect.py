"""What a policy grants: public statements, foreign buckets, and self-lockout.

One implementation of each rule for the whole client (contracts §7, §11, §18): the
per-bucket steps (`operations`: status, the `blocked_public` prediction, the
foreign-resource note) and the baseline's lockout check (`baseline`) call these. The
emulator keeps its own copy of the public rule (it plays the service and imports nothing
of the client); the shared table `tests/data/public_cases.json` keeps the two agreeing.
Pure: no I/O.
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .policy_parts import as_list, sid_of, statements_of

__all__ = (
    "LOCKOUT_ACTIONS",
    "covers_action",
    "everyone",
    "foreign_in_statement",
    "foreign_resources",
    "is_public",
    "lockout_statements",
    "locks_out",
    "public_statements",
    "statement_is_public",
    "statement_name",
)

#: the calls a job needs to undo a policy: a Deny of any of them to everyone locks it out
LOCKOUT_ACTIONS = ("oss:PutBucketPolicy", "oss:DeleteBucketPolicy", "oss:GetBucketPolicy")
#: Condition keys that pin an Allow to everyone when each value is a name without `*`
#: (compared lower-cased); see `public_statements` for the source
_PINNING_KEYS = frozenset({"acs:sourcevpc", "acs:sourcevpcid", "acs:accessid"})
#: acs:SourceIp pins when each value is an address or a network at least this narrow
_SOURCE_IP_KEY = "acs:sourceip"
_MIN_PREFIX = {4: 8, 6: 32}
#: the characters that make an fnmatch pattern more than a plain name
_WILDCARD = re.compile(r"[*?\[]")


# --- inspection: public grants (contracts §7) and foreign buckets -------------------------


def is_public(doc: Mapping[str, Any] | None) -> bool:
    """Return True when some statement grants access to everyone (contracts §7)."""
    return bool(public_statements(doc))


def statement_name(statement: Mapping[str, Any], index: int) -> str:
    """How every rule names a statement: its Sid, or `Statement[i]` when it has none."""
    return sid_of(statement) or f"Statement[{index}]"


def public_statements(doc: Mapping[str, Any] | None) -> list[str]:
    """Name each public statement by its Sid, or `Statement[i]` when it has none.

    The service's rule (OSS "Block Public Access", section "Conditions and examples for
    non-public access": https://www.alibabacloud.com/help/en/oss/user-guide/block-public-access),
    which the emulator implements too (`emulator/state.py`): a Deny is never public; an
    Allow is public unless its Principal names no `*` or a Condition pins it: acs:SourceVpc,
    acs:SourceVpcId or acs:AccessId with only values without `*`, or acs:SourceIp with only
    IPv4 networks of /8 or narrower and IPv6 of /32 or narrower. Action and Resource (and
    their Not forms) never decide. Our readings where the page is silent (README, "What
    counts as public"): a negated, `...IfExists` or `Null` operator pins nothing, nor does
    an empty list of values; a Principal `*` inside a role ARN (`.../<role>/*`) is a session
    name, not everyone.
    """
    return [
        statement_name(statement, index)
        for index, statement in enumerate(statements_of(doc))
        if statement_is_public(statement)
    ]


def statement_is_public(statement: Mapping[str, Any]) -> bool:
    """Whether one statement grants access to everyone (`public_statements`' rule)."""
    return (
        statement.get("Effect") == "Allow"
        and everyone(statement.get("Principal"))
        and not _pinned(statement.get("Condition"))
    )


def everyone(principal: object) -> bool:
    """Return True for a Principal the service reads as `*`: `*`, or a list with it, or []."""
    if isinstance(principal, list):
        return not principal or "*" in principal
    return principal == "*"


def _pinned(condition: object) -> bool:
    """Return True when a Condition restricts requests to named VPCs, keys or networks."""
    if not isinstance(condition, Mapping):
        return False
    return any(
        _pins(str(key).lower(), as_list(values))
        for operator, keys in condition.items()
        if _matches_only_its_values(str(operator)) and isinstance(keys, Mapping)
        for key, values in keys.items()
    )


def _matches_only_its_values(operator: str) -> bool:
    """Return False for an operator that also matches requests outside its values."""
    name = operator.lower()
    return "not" not in name and not name.endswith("ifexists") and name != "null"


def _pins(key: str, values: list[Any]) -> bool:
    """Return True when `key` with `values` (ORed, so every one must pin) pins a statement."""
    if key == _SOURCE_IP_KEY:
        return bool(values) and all(_narrow_network(value) for value in values)
    if key in _PINNING_KEYS:
        return bool(values) and all(isinstance(v, str) and v and "*" not in v for v in values)
    return False


def _narrow_network(value: object) -> bool:
    """Return True for an address, or a network of /8 (IPv4) or /32 (IPv6) or narrower."""
    if not isinstance(value, str):
        return False
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return network.prefixlen >= _MIN_PREFIX[network.version]


def _bucket_matches(bucket: str, pattern: str) -> bool:
    """`fnmatchcase`, with a plain name compared as it is: a rendered baseline names each
    bucket itself, and fnmatch compiles (and caches) a regex per distinct pattern."""
    if not _WILDCARD.search(pattern):
        return bucket == pattern
    return fnmatch.fnmatchcase(bucket, pattern)


def foreign_resources(doc: Mapping[str, Any] | None, bucket: str) -> list[str]:
    """Return the OSS Resources/NotResources naming a bucket other than `bucket`.

    `acs:oss:<region>:<uid>:<bucket>[/<key>]` whose bucket part, as an fnmatch pattern,
    does not match `bucket`; other resource forms are ignored. In order, without repeats.
    """
    found: dict[str, None] = {}
    for statement in statements_of(doc):
        found.update(dict.fromkeys(foreign_in_statement(statement, bucket)))
    return list(found)


def foreign_in_statement(statement: Mapping[str, Any], bucket: str) -> list[str]:
    """`foreign_resources` of one statement (the one rule: plan's warning and the
    `foreign-resource` finding both come through here)."""
    found: dict[str, None] = {}
    for key in ("Resource", "NotResource"):
        for resource in map(str, as_list(statement.get(key))):
            parts = resource.split(":", 4)
            if len(parts) == 5 and parts[:2] == ["acs", "oss"]:
                pattern = parts[4].split("/", 1)[0]
                if not _bucket_matches(bucket, pattern):
                    found[resource] = None
    return list(found)


# --- inspection: self-lockout (contracts §11) ---------------------------------------------


def lockout_statements(doc: Mapping[str, Any] | None) -> list[str]:
    """Name each statement that would lock every job out of the bucket's policy, by its
    Sid, or `Statement[i]` when it has none.

    A lockout: a Deny whose Principal is everyone (as `is_public` reads it: `*`, in a
    list, or an empty list), without a Condition (an empty one counts as none), whose
    Action covers one of `LOCKOUT_ACTIONS` — or whose NotAction leaves one of them out —
    matching as the service does: `*` any run of characters, `?` one, case-insensitive
    (`oss:*`, `*`, `oss:*BucketPolicy`). A Resource whose every entry names objects
    (`.../*`: a `/` no bucket's own resource `acs:oss:<region>:<uid>:<bucket>` has)
    cannot cover the bucket's policy calls; a NotResource is taken to cover them.
    """
    return [
        statement_name(statement, index)
        for index, statement in enumerate(statements_of(doc))
        if locks_out(statement)
    ]


def locks_out(statement: Mapping[str, Any]) -> bool:
    """Whether one statement locks every job out (`lockout_statements`' rule)."""
    return (
        statement.get("Effect") == "Deny"
        and everyone(statement.get("Principal"))
        and not _has_condition(statement.get("Condition"))
        and any(covers_action(statement, action) for action in LOCKOUT_ACTIONS)
        and _covers_bucket(statement)
    )


def _has_condition(condition: object) -> bool:
    """Return True when a Condition names at least one key (an empty one restricts nothing)."""
    if not isinstance(condition, Mapping):
        return condition is not None
    return any(not isinstance(keys, Mapping) or keys for keys in condition.values())


def covers_action(statement: Mapping[str, Any], action: str) -> bool:
    """Return True when the statement's Action covers `action`, or its NotAction leaves
    it out; matched as the service does: `*` any run of characters, `?` one, ignoring
    case (`oss:*`, `*`, `oss:Get*` all cover `oss:GetObject`)."""
    if "NotAction" in statement:
        return not _matches_any(action, as_list(statement["NotAction"]))
    return _matches_any(action, as_list(statement.get("Action")))


def _covers_bucket(statement: Mapping[str, Any]) -> bool:
    """Return False only when every Resource names objects (contains a `/`)."""
    if "Resource" not in statement:
        return True
    return any("/" not in str(resource) for resource in as_list(statement["Resource"]))


def _matches_any(action: str, patterns: Iterable[object]) -> bool:
    """Return True when `action` matches one of the wildcard `patterns`, ignoring case."""
    return any(_action_pattern(str(pattern)).fullmatch(action) for pattern in patterns)


@functools.lru_cache(maxsize=256)
def _action_pattern(pattern: str) -> re.Pattern[str]:
    """Compile an Action wildcard: `*` any run of characters, `?` one, nothing else special."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)
