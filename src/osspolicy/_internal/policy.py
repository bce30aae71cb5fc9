"""Bucket policy documents: parse, validate, serialize, and compare (contracts §6).

A document is the parsed JSON object (`dict[str, Any]`). Every function here is pure:
no I/O, no SDK. Errors in a baseline raise `PolicyDocumentError` whose place is the
source (a file name or `policy.document`) followed by the path inside it, with
0-based indexes: `baseline.json: Statement[2].Effect`.

The rest of the policy algebra builds on this module: `policy_template` fills `${name}`
placeholders, `policy_merge` merges a baseline by Sid or replaces with it, and
`policy_inspect` reads what a policy grants (public statements, foreign buckets,
self-lockout).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any

import yaml

from .policy_parts import as_list, error_at, kind_of, quoted, statements_of, strings_in

__all__ = (
    "MAX_BODY_BYTES",
    "MAX_VALUE_BYTES",
    "canonical",
    "canonical_json",
    "check_size",
    "diff",
    "parse_policy",
    "parse_policy_file_text",
    "policies_equal",
    "serialize",
    "text_diff",
    "validate_policy",
)

#: the body as sent must be strictly smaller than this (oss_wire_spec §3.1, EC 0030-00000001)
MAX_BODY_BYTES = 16_384
#: no single string value may be longer than this, in UTF-8 bytes (EC 0030-00000003)
MAX_VALUE_BYTES = 4095

_TOP_KEYS = ("Version", "Statement")
_SHAPE = 'write {"Version": "1", "Statement": [...]}'
#: statement keys compared as sets: a single string equals a one-element list
_SET_KEYS = frozenset({"Action", "NotAction", "Resource", "NotResource", "Principal"})
_STATEMENT_KEYS = ("Sid", "Effect", "Condition", *sorted(_SET_KEYS))


# --- parsing ------------------------------------------------------------------------------


def parse_policy(data: bytes | str, *, source: str) -> dict[str, Any]:
    """Parse JSON text (bytes are UTF-8, a BOM allowed) into a policy object."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            message = f"is not UTF-8 text (bad byte at offset {exc.start})"
            raise error_at(source, "", message, "save it as UTF-8") from exc
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
        raise error_at(source, "", message, "fix the syntax there") from exc
    return _require_object(value, source)


def parse_policy_file_text(text: str, *, source: str) -> dict[str, Any]:
    """Parse a baseline file's text: YAML when `source` ends in .yaml/.yml, JSON otherwise."""
    if PurePath(source).suffix.lower() not in {".yaml", ".yml"}:
        return parse_policy(text, source=source)
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        message = f"not valid YAML{where} ({getattr(exc, 'problem', None) or exc})"
        raise error_at(source, "", message, "fix the syntax there") from exc
    return _require_object(value, source)


def _require_object(value: object, source: str) -> dict[str, Any]:
    """Return `value` if it is an object, else raise naming `source`."""
    if not isinstance(value, dict):
        raise error_at(source, "", f"must be a policy object, got {kind_of(value)}", _SHAPE)
    return value


# --- validation (contracts §6, oss_wire_spec §3.1) ----------------------------------------


def validate_policy(doc: object, *, source: str) -> None:
    """Raise `PolicyDocumentError` for the first rule `doc` breaks; return None if it is valid."""
    if not isinstance(doc, Mapping):
        raise error_at(source, "", f"must be a JSON object, got {kind_of(doc)}", _SHAPE)
    _check_keys(doc, _TOP_KEYS, source, "")
    if "Version" not in doc:
        raise error_at(source, "Version", "is missing", 'add "Version": "1"')
    if (version := doc["Version"]) != "1":
        message = f'must be the string "1", got {quoted(version)}'
        raise error_at(source, "Version", message, 'write "Version": "1" (quoted)')
    if "Statement" not in doc:
        raise error_at(source, "Statement", "is missing", 'add "Statement": [...]')
    statements = doc["Statement"]
    if not isinstance(statements, list):
        hint = "wrap the statement in [ ]"
        raise error_at(source, "Statement", f"must be a list, got {kind_of(statements)}", hint)
    if not statements:
        hint = "add a statement, or use action: delete to remove policies"
        raise error_at(source, "Statement", "is empty", hint)
    for index, statement in enumerate(statements):
        _check_statement(statement, source, f"Statement[{index}]")
    _check_strings(doc, source)


def _check_strings(doc: Mapping[str, Any], source: str) -> None:
    """Refuse a string value over MAX_VALUE_BYTES or with consecutive wildcards."""
    for path, text in strings_in(doc):
        size = len(text.encode())
        if size > MAX_VALUE_BYTES:
            message = f"is {size} bytes, over the {MAX_VALUE_BYTES}-byte limit for one value"
            raise error_at(source, path, message, "shorten it or split it into list items")
        if "**" in text:
            raise error_at(source, path, "contains consecutive wildcards **", "use a single *")


def _check_statement(statement: object, source: str, path: str) -> None:
    """Check one statement's keys and the kind of each value."""
    if not isinstance(statement, Mapping):
        message = f"must be an object, got {kind_of(statement)}"
        raise error_at(source, path, message, 'write {"Effect": ..., "Action": ..., ...}')
    _check_keys(statement, _STATEMENT_KEYS, source, path)
    sid = statement.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise error_at(source, f"{path}.Sid", f"must be a string, got {quoted(sid)}", "quote it")
    effect = statement.get("Effect")
    if effect not in {"Allow", "Deny"}:
        message = "is missing" if effect is None else f"must be Allow or Deny, got {quoted(effect)}"
        raise error_at(source, f"{path}.Effect", message, 'write "Allow" or "Deny" (capitalised)')
    for key, negated in (("Action", "NotAction"), ("Resource", "NotResource")):
        present = [name for name in (key, negated) if name in statement]
        if not present:
            raise error_at(source, f"{path}.{key}", "is missing", f'add "{key}" (or "{negated}")')
        if len(present) == 2:
            raise error_at(source, path, f"has both {key} and {negated}", "keep one of them")
        _check_values(statement[present[0]], source, f"{path}.{present[0]}", allow_empty=False)
    if "Principal" not in statement:
        hint = 'add "Principal": a list of account UIDs, or ["*"] for everyone'
        raise error_at(source, f"{path}.Principal", "is missing", hint)
    if isinstance(principal := statement["Principal"], Mapping):
        message = "uses the RAM form {...}, which bucket policies do not take"
        raise error_at(source, f"{path}.Principal", message, 'write ["<uid>", ...] or "*"')
    _check_values(principal, source, f"{path}.Principal", allow_empty=True)
    if "Condition" in statement:
        _check_condition(statement["Condition"], source, f"{path}.Condition")


def _check_condition(condition: object, source: str, path: str) -> None:
    """Check `{operator: {key: value or [values]}}`; values are JSON scalars, not null."""
    hint = 'write {"StringEquals": {"acs:SourceVpc": ["vpc-..."]}}'
    if not isinstance(condition, Mapping):
        raise error_at(source, path, f"must be an object, got {kind_of(condition)}", hint)
    for operator, keys in condition.items():
        if not isinstance(keys, Mapping):
            message = f"must be an object of key to values, got {kind_of(keys)}"
            raise error_at(source, f"{path}.{operator}", message, hint)
        for key, values in keys.items():
            place = f"{path}.{operator}.{key}"
            _check_values(values, source, place, allow_empty=True, scalars=(str, int, float, bool))


def _check_values(
    value: object, source: str, path: str, *, allow_empty: bool, scalars: tuple[type, ...] = (str,)
) -> None:
    """Check that `value` is one scalar or a list of them (an empty list only if allowed)."""
    hint = 'write "x" or ["x", "y"]'
    if isinstance(value, scalars):
        return
    if not isinstance(value, list):
        raise error_at(
            source, path, f"must be a string or a list of strings, got {kind_of(value)}", hint
        )
    if not value and not allow_empty:
        raise error_at(source, path, "is an empty list", "name at least one")
    for index, item in enumerate(value):
        if not isinstance(item, scalars):
            raise error_at(
                source, f"{path}[{index}]", f"must be a string, got {kind_of(item)}", hint
            )


def _check_keys(mapping: Mapping[str, Any], known: tuple[str, ...], source: str, path: str) -> None:
    """Refuse a key outside `known`, suggesting the closest known one."""
    for key in mapping:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(known)}"
            raise error_at(source, f"{path}.{key}" if path else str(key), "unknown key", hint)


# --- the body as sent ---------------------------------------------------------------------


def serialize(doc: Mapping[str, Any]) -> bytes:
    """Return the body as it is sent: compact JSON in the given key order, UTF-8."""
    return _COMPACT.encode(doc).encode()


def check_size(body: bytes, *, source: str) -> None:
    """Refuse a body of MAX_BODY_BYTES (16,384) bytes or more."""
    if len(body) >= MAX_BODY_BYTES:
        message = f"the policy body is {len(body):,} bytes; it must be under {MAX_BODY_BYTES:,}"
        raise error_at(source, "", message, "remove statements or shorten values")


# --- canonical equality (contracts §6) and diff -------------------------------------------


def canonical(doc: Mapping[str, Any] | None) -> str:
    """Return a hashable canonical form (compact canonical JSON; "" for no policy)."""
    return "" if doc is None else _dump(_normal(doc))


def canonical_json(doc: Mapping[str, Any] | None) -> str:
    """Return the canonical text `diff` compares, indented; "" for no policy."""
    if doc is None:
        return ""
    return json.dumps(_normal(doc), sort_keys=True, ensure_ascii=False, indent=2) + "\n"


def policies_equal(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Return True when `a` and `b` are the same policy under contracts §6."""
    return canonical(a) == canonical(b)


def diff(
    current: Mapping[str, Any] | None, desired: Mapping[str, Any] | None, *, bucket: str
) -> str:
    """Return a unified diff of the canonical texts (`a/<bucket>`, `b/<bucket>`); "" if equal."""
    before, after = canonical_json(current), canonical_json(desired)
    if before == after:
        return ""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{bucket}",
        tofile=f"b/{bucket}",
    )
    return "".join(lines)


def text_diff(before: bytes | None, after: bytes | None, *, bucket: str) -> str:
    """Return a unified diff of two policies' bytes as they are ("" if equal)."""
    lines = difflib.unified_diff(
        (before or b"").decode("utf-8", "replace").splitlines(keepends=True),
        (after or b"").decode("utf-8", "replace").splitlines(keepends=True),
        fromfile=f"a/{bucket}",
        tofile=f"b/{bucket}",
    )
    return "".join(lines)


def _normal(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Return `doc` normalised for contracts §6: every set a sorted list without repeats.

    The sets: the statements, the values of `_SET_KEYS` and of each Condition key; sorted
    by their compact JSON text, so the normal form of equal policies is the same.
    """
    normal = {key: value for key, value in doc.items() if key != "Statement"}
    normal["Statement"] = _sorted_unique(
        [{key: _normal_value(key, value) for key, value in s.items()} for s in statements_of(doc)]
    )
    return normal


def _normal_value(key: str, value: Any) -> Any:  # noqa: ANN401 - any JSON value
    """Normalise one statement value: sets sorted; Condition as operator → key → set."""
    if key in _SET_KEYS:
        return _as_set(value)
    if key == "Condition" and isinstance(value, Mapping):
        return {
            operator: {k: _as_set(v) for k, v in keys.items()}
            if isinstance(keys, Mapping)
            else keys
            for operator, keys in value.items()
        }
    return value


def _as_set(value: Any) -> Any:  # noqa: ANN401 - any JSON value
    """Return a scalar or list as a sorted list without repeats; leave objects alone."""
    return value if isinstance(value, Mapping) else _sorted_unique(as_list(value))


def _sorted_unique(items: Iterable[Any]) -> list[Any]:
    """Sort JSON values by their canonical text, dropping repeats."""
    by_text = {_dump(item): item for item in items}
    return [by_text[text] for text in sorted(by_text)]


#: built once: json.dumps with options builds an encoder per call
_SORTED_COMPACT = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dump(value: Any) -> str:  # noqa: ANN401 - any JSON value
    """Return the compact JSON text of `value` with sorted keys."""
    return _SORTED_COMPACT.encode(value)
