"""The service's own policy rules, as the emulator plays them: what PutBucketPolicy
refuses (InvalidPolicyDocument, with the service's messages) and what it calls public
(Block Public Access refuses those). Kept apart from the client's (contracts §7: the
emulator never imports osspolicy's client side); `tests/data/public_cases.json` keeps the
two public rules in step.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping

from osspolicy.emulator.errors import OssError

__all__ = ("MAX_POLICY_BYTES", "MAX_POLICY_VALUE_BYTES", "check_policy")

MAX_POLICY_BYTES = 16384
MAX_POLICY_VALUE_BYTES = 4095
# Condition keys that pin an Allow when each value names one thing (no `*`), lower-cased;
# acs:SourceIp pins when each value is a network at least as narrow as _MIN_PREFIX_LENGTH.
_PINNING_CONDITION_KEYS = frozenset({"acs:sourcevpc", "acs:sourcevpcid", "acs:accessid"})
_SOURCE_IP_KEY = "acs:sourceip"
_MIN_PREFIX_LENGTH = {4: 8, 6: 32}
_EFFECTS = frozenset({"Allow", "Deny"})


def _invalid_policy(cause: int, message: str) -> OssError:
    ec = f"0030-{cause:08d}"
    return OssError("InvalidPolicyDocument", f"Invalid Policy: {message}", status=400, ec=ec)


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
