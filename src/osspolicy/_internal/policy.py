"""Bucket policy documents: parse, validate, template, merge by Sid, compare, inspect.

A document is the parsed JSON object (`dict[str, Any]`). Every function here is pure:
no I/O, no SDK. Errors in a baseline raise `PolicyDocumentError` whose place is the
source (a file name or `policy.document`) followed by the path inside it, with
0-based indexes: `baseline.json: Statement[2].Effect`.

Templates: `${name}` inside any string value is a placeholder (`bucket`, `region`,
`account_id` and the manifest's `policy.vars`); `$${` is a literal `${`.
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import PurePath
from typing import Any

import yaml

from osspolicy._internal.errors import PolicyDocumentError

__all__ = (
    "BUILTIN_VARIABLES",
    "LOCKOUT_ACTIONS",
    "MAX_BODY_BYTES",
    "MAX_VALUE_BYTES",
    "canonical",
    "canonical_json",
    "check_mergeable",
    "check_placeholders",
    "check_size",
    "desired_policy",
    "diff",
    "foreign_resources",
    "is_public",
    "lockout_statements",
    "merge",
    "parse_policy",
    "parse_policy_file_text",
    "placeholders",
    "policies_equal",
    "public_statements",
    "render",
    "replace",
    "serialize",
    "text_diff",
    "validate_policy",
)

#: the body as sent must be strictly smaller than this (oss_wire_spec §3.1, EC 0030-00000001)
MAX_BODY_BYTES = 16_384
#: no single string value may be longer than this, in UTF-8 bytes (EC 0030-00000003)
MAX_VALUE_BYTES = 4095
#: placeholders every job provides; the manifest's `policy.vars` add to them
BUILTIN_VARIABLES = frozenset({"account_id", "bucket", "region"})
#: the calls a job needs to undo a policy: a Deny of any of them to everyone locks it out
LOCKOUT_ACTIONS = ("oss:PutBucketPolicy", "oss:DeleteBucketPolicy", "oss:GetBucketPolicy")

_TOP_KEYS = ("Version", "Statement")
_SHAPE = 'write {"Version": "1", "Statement": [...]}'
#: statement keys compared as sets: a single string equals a one-element list
_SET_KEYS = frozenset({"Action", "NotAction", "Resource", "NotResource", "Principal"})
_STATEMENT_KEYS = ("Sid", "Effect", "Condition", *sorted(_SET_KEYS))
#: Condition keys that pin an Allow to everyone when each value is a name without `*`
#: (compared lower-cased); see `public_statements` for the source
_PINNING_KEYS = frozenset({"acs:sourcevpc", "acs:sourcevpcid", "acs:accessid"})
#: acs:SourceIp pins when each value is an address or a network at least this narrow
_SOURCE_IP_KEY = "acs:sourceip"
_MIN_PREFIX = {4: 8, 6: 32}
#: `$${` (an escaped, literal `${`) or a placeholder `${name}`
_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([^}]*)\}")


# --- parsing ------------------------------------------------------------------------------


def parse_policy(data: bytes | str, *, source: str) -> dict[str, Any]:
    """Parse JSON text (bytes are UTF-8, a BOM allowed) into a policy object."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            message = f"is not UTF-8 text (bad byte at offset {exc.start})"
            raise _error(source, "", message, "save it as UTF-8") from exc
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
        raise _error(source, "", message, "fix the syntax there") from exc
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
        raise _error(source, "", message, "fix the syntax there") from exc
    return _require_object(value, source)


def _require_object(value: object, source: str) -> dict[str, Any]:
    """Return `value` if it is an object, else raise naming `source`."""
    if not isinstance(value, dict):
        raise _error(source, "", f"must be a policy object, got {_kind(value)}", _SHAPE)
    return value


# --- validation (contracts §6, oss_wire_spec §3.1) ----------------------------------------


def validate_policy(doc: object, *, source: str) -> None:
    """Raise `PolicyDocumentError` for the first rule `doc` breaks; return None if it is valid."""
    if not isinstance(doc, Mapping):
        raise _error(source, "", f"must be a JSON object, got {_kind(doc)}", _SHAPE)
    _check_keys(doc, _TOP_KEYS, source, "")
    if "Version" not in doc:
        raise _error(source, "Version", "is missing", 'add "Version": "1"')
    if (version := doc["Version"]) != "1":
        message = f'must be the string "1", got {_show(version)}'
        raise _error(source, "Version", message, 'write "Version": "1" (quoted)')
    if "Statement" not in doc:
        raise _error(source, "Statement", "is missing", 'add "Statement": [...]')
    statements = doc["Statement"]
    if not isinstance(statements, list):
        hint = "wrap the statement in [ ]"
        raise _error(source, "Statement", f"must be a list, got {_kind(statements)}", hint)
    if not statements:
        hint = "add a statement, or use action: delete to remove policies"
        raise _error(source, "Statement", "is empty", hint)
    for index, statement in enumerate(statements):
        _check_statement(statement, source, f"Statement[{index}]")
    _check_strings(doc, source)


def _check_strings(doc: Mapping[str, Any], source: str) -> None:
    """Refuse a string value over MAX_VALUE_BYTES or with consecutive wildcards."""
    for path, text in _strings(doc, ""):
        size = len(text.encode())
        if size > MAX_VALUE_BYTES:
            message = f"is {size} bytes, over the {MAX_VALUE_BYTES}-byte limit for one value"
            raise _error(source, path, message, "shorten it or split it into list items")
        if "**" in text:
            raise _error(source, path, "contains consecutive wildcards **", "use a single *")


def _check_statement(statement: object, source: str, path: str) -> None:
    """Check one statement's keys and the kind of each value."""
    if not isinstance(statement, Mapping):
        message = f"must be an object, got {_kind(statement)}"
        raise _error(source, path, message, 'write {"Effect": ..., "Action": ..., ...}')
    _check_keys(statement, _STATEMENT_KEYS, source, path)
    sid = statement.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise _error(source, f"{path}.Sid", f"must be a string, got {_show(sid)}", "quote it")
    effect = statement.get("Effect")
    if effect not in {"Allow", "Deny"}:
        message = "is missing" if effect is None else f"must be Allow or Deny, got {_show(effect)}"
        raise _error(source, f"{path}.Effect", message, 'write "Allow" or "Deny" (capitalised)')
    for key, negated in (("Action", "NotAction"), ("Resource", "NotResource")):
        present = [name for name in (key, negated) if name in statement]
        if not present:
            raise _error(source, f"{path}.{key}", "is missing", f'add "{key}" (or "{negated}")')
        if len(present) == 2:
            raise _error(source, path, f"has both {key} and {negated}", "keep one of them")
        _check_values(statement[present[0]], source, f"{path}.{present[0]}", allow_empty=False)
    if "Principal" not in statement:
        hint = 'add "Principal": a list of account UIDs, or ["*"] for everyone'
        raise _error(source, f"{path}.Principal", "is missing", hint)
    if isinstance(principal := statement["Principal"], Mapping):
        message = "uses the RAM form {...}, which bucket policies do not take"
        raise _error(source, f"{path}.Principal", message, 'write ["<uid>", ...] or "*"')
    _check_values(principal, source, f"{path}.Principal", allow_empty=True)
    if "Condition" in statement:
        _check_condition(statement["Condition"], source, f"{path}.Condition")


def _check_condition(condition: object, source: str, path: str) -> None:
    """Check `{operator: {key: value or [values]}}`; values are JSON scalars, not null."""
    hint = 'write {"StringEquals": {"acs:SourceVpc": ["vpc-..."]}}'
    if not isinstance(condition, Mapping):
        raise _error(source, path, f"must be an object, got {_kind(condition)}", hint)
    for operator, keys in condition.items():
        if not isinstance(keys, Mapping):
            message = f"must be an object of key to values, got {_kind(keys)}"
            raise _error(source, f"{path}.{operator}", message, hint)
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
        raise _error(
            source, path, f"must be a string or a list of strings, got {_kind(value)}", hint
        )
    if not value and not allow_empty:
        raise _error(source, path, "is an empty list", "name at least one")
    for index, item in enumerate(value):
        if not isinstance(item, scalars):
            raise _error(source, f"{path}[{index}]", f"must be a string, got {_kind(item)}", hint)


def _check_keys(mapping: Mapping[str, Any], known: tuple[str, ...], source: str, path: str) -> None:
    """Refuse a key outside `known`, suggesting the closest known one."""
    for key in mapping:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(known)}"
            raise _error(source, f"{path}.{key}" if path else str(key), "unknown key", hint)


# --- the body as sent ---------------------------------------------------------------------


def serialize(doc: Mapping[str, Any]) -> bytes:
    """Return the body as it is sent: compact JSON in the given key order, UTF-8."""
    return _COMPACT.encode(doc).encode()


def check_size(body: bytes, *, source: str) -> None:
    """Refuse a body of MAX_BODY_BYTES (16,384) bytes or more."""
    if len(body) >= MAX_BODY_BYTES:
        message = f"the policy body is {len(body):,} bytes; it must be under {MAX_BODY_BYTES:,}"
        raise _error(source, "", message, "remove statements or shorten values")


# --- templating ---------------------------------------------------------------------------


def placeholders(doc: Mapping[str, Any]) -> frozenset[str]:
    """Return the names of the `${name}` placeholders in `doc`'s string values."""
    return frozenset(name for _, name in _placeholder_uses(doc))


def check_placeholders(doc: Mapping[str, Any], allowed: Iterable[str], *, source: str) -> None:
    """Refuse a placeholder whose name is not in `allowed`, naming where it is used."""
    known = frozenset(allowed)
    unknown = [(path, name) for path, name in _placeholder_uses(doc) if name not in known]
    if unknown:
        names = ", ".join(f"${{{name}}}" for name in sorted({name for _, name in unknown}))
        offered = ", ".join(f"${{{name}}}" for name in sorted(known)) or "none"
        hint = f"known: {offered}; define others in policy.vars, or write $${{ for a literal ${{"
        raise _error(source, unknown[0][0], f"unknown placeholder {names}", hint)


def render(
    doc: Mapping[str, Any],
    variables: Mapping[str, str],
    *,
    source: str = "policy",
    checked: bool = False,
) -> dict[str, Any]:
    """Return a copy of `doc` with every `${name}` replaced and every `$${` turned into `${`.

    `checked`: the caller has run `check_placeholders(doc, variables)` already (a
    baseline, once for all its buckets), so it is not run again per bucket.
    """
    if not checked:
        check_placeholders(doc, variables, source=source)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        return "${" if name is None else variables[name]

    def walk(node: Any) -> Any:  # noqa: ANN401 - any JSON value
        if isinstance(node, str):
            return _PLACEHOLDER.sub(substitute, node)
        if isinstance(node, Mapping):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    rendered: dict[str, Any] = walk(doc)
    return rendered


def _placeholder_uses(doc: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield (path, name) for every placeholder, in document order; escapes are skipped."""
    for path, text in _strings(doc, ""):
        for match in _PLACEHOLDER.finditer(text):
            if match.group(1) is not None:
                yield path, match.group(1)


# --- merge by Sid, replace ----------------------------------------------------------------


def check_mergeable(baseline: Mapping[str, Any], *, source: str) -> None:
    """Refuse, for mode merge, a baseline statement without a Sid or with a repeated Sid."""
    first: dict[str, int] = {}
    for index, statement in enumerate(_statements(baseline)):
        path = f"Statement[{index}].Sid"
        sid = _sid(statement)
        if not sid:
            hint = "give it a unique Sid, or use mode: replace"
            raise _error(source, path, "is missing; merge matches statements by Sid", hint)
        if sid in first:
            message = f"repeats {_show(sid)} of Statement[{first[sid]}]"
            raise _error(source, path, message, "give each statement its own Sid")
        first[sid] = index


def merge(
    current: Mapping[str, Any] | None,
    baseline: Mapping[str, Any],
    remove_sids: Collection[str] = (),
    *,
    source: str = "policy",
) -> dict[str, Any] | None:
    """Merge `baseline` into `current` by Sid; None means "delete the policy" (nothing left).

    A baseline statement replaces the bucket's first statement with its Sid, in place
    (later ones with that Sid are dropped), or is appended; the bucket's other statements
    are kept as they are, in order. The result shares statement objects with its inputs.
    """
    check_mergeable(baseline, source=source)
    incoming = {_sid(statement): statement for statement in _statements(baseline)}
    placed: set[str | None] = set()
    merged: list[Mapping[str, Any]] = []
    for statement in _statements(current):
        sid = _sid(statement)
        if sid not in incoming:
            merged.append(statement)
        elif sid not in placed:
            merged.append(incoming[sid])
            placed.add(sid)
    merged += [statement for sid, statement in incoming.items() if sid not in placed]
    return _policy(merged, remove_sids)


def replace(
    baseline: Mapping[str, Any], remove_sids: Collection[str] = ()
) -> dict[str, Any] | None:
    """Return `baseline` as the whole policy without `remove_sids`; None when nothing is left."""
    return _policy(_statements(baseline), remove_sids)


def desired_policy(
    current: Mapping[str, Any] | None,
    baseline: Mapping[str, Any],
    mode: str,
    remove_sids: Collection[str] = (),
) -> dict[str, Any] | None:
    """Return the policy a bucket should end with under `mode` (merge or replace)."""
    if mode == "merge":
        return merge(current, baseline, remove_sids)
    if mode == "replace":
        return replace(baseline, remove_sids)
    raise ValueError(f"unknown policy mode {mode!r}; expected merge or replace")


def _policy(
    statements: Iterable[Mapping[str, Any]], remove_sids: Collection[str]
) -> dict[str, Any] | None:
    """Build `{"Version": "1", "Statement": ...}` without the removed Sids; None if empty."""
    removed = frozenset(remove_sids)
    kept = [statement for statement in statements if _sid(statement) not in removed]
    return {"Version": "1", "Statement": kept} if kept else None


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
        [{key: _normal_value(key, value) for key, value in s.items()} for s in _statements(doc)]
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
    return value if isinstance(value, Mapping) else _sorted_unique(_as_list(value))


def _sorted_unique(items: Iterable[Any]) -> list[Any]:
    """Sort JSON values by their canonical text, dropping repeats."""
    by_text = {_dump(item): item for item in items}
    return [by_text[text] for text in sorted(by_text)]


#: built once: json.dumps with options builds an encoder per call
_SORTED_COMPACT = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: the characters that make an fnmatch pattern more than a plain name
_WILDCARD = re.compile(r"[*?\[]")


def _dump(value: Any) -> str:  # noqa: ANN401 - any JSON value
    """Return the compact JSON text of `value` with sorted keys."""
    return _SORTED_COMPACT.encode(value)


# --- inspection: public grants (contracts §7) and foreign buckets -------------------------


def is_public(doc: Mapping[str, Any] | None) -> bool:
    """Return True when some statement grants access to everyone (contracts §7)."""
    return bool(public_statements(doc))


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
        _sid(statement) or f"Statement[{index}]"
        for index, statement in enumerate(_statements(doc))
        if statement.get("Effect") == "Allow"
        and _everyone(statement.get("Principal"))
        and not _pinned(statement.get("Condition"))
    ]


def _everyone(principal: object) -> bool:
    """Return True for a Principal the service reads as `*`: `*`, or a list with it, or []."""
    if isinstance(principal, list):
        return not principal or "*" in principal
    return principal == "*"


def _pinned(condition: object) -> bool:
    """Return True when a Condition restricts requests to named VPCs, keys or networks."""
    if not isinstance(condition, Mapping):
        return False
    return any(
        _pins(str(key).lower(), _as_list(values))
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
    for statement in _statements(doc):
        for key in ("Resource", "NotResource"):
            for resource in map(str, _as_list(statement.get(key))):
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
        _sid(statement) or f"Statement[{index}]"
        for index, statement in enumerate(_statements(doc))
        if statement.get("Effect") == "Deny"
        and _everyone(statement.get("Principal"))
        and not _has_condition(statement.get("Condition"))
        and _covers_lockout_action(statement)
        and _covers_bucket(statement)
    ]


def _has_condition(condition: object) -> bool:
    """Return True when a Condition names at least one key (an empty one restricts nothing)."""
    if not isinstance(condition, Mapping):
        return condition is not None
    return any(not isinstance(keys, Mapping) or keys for keys in condition.values())


def _covers_lockout_action(statement: Mapping[str, Any]) -> bool:
    """Return True when the statement's Action (or NotAction) covers a LOCKOUT_ACTIONS one."""
    if "NotAction" in statement:
        excluded = _as_list(statement["NotAction"])
        return any(not _matches_any(action, excluded) for action in LOCKOUT_ACTIONS)
    patterns = _as_list(statement.get("Action"))
    return any(_matches_any(action, patterns) for action in LOCKOUT_ACTIONS)


def _covers_bucket(statement: Mapping[str, Any]) -> bool:
    """Return False only when every Resource names objects (contains a `/`)."""
    if "Resource" not in statement:
        return True
    return any("/" not in str(resource) for resource in _as_list(statement["Resource"]))


def _matches_any(action: str, patterns: Iterable[object]) -> bool:
    """Return True when `action` matches one of the wildcard `patterns`, ignoring case."""
    return any(_action_pattern(str(pattern)).fullmatch(action) for pattern in patterns)


def _action_pattern(pattern: str) -> re.Pattern[str]:
    """Compile an Action wildcard: `*` any run of characters, `?` one, nothing else special."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


# --- helpers ------------------------------------------------------------------------------


def _statements(doc: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """Return `doc`'s statement objects (a lone object counts as one; others are skipped)."""
    statements = None if doc is None else doc.get("Statement")
    if isinstance(statements, Mapping):
        return [statements]
    if not isinstance(statements, list):
        return []
    return [statement for statement in statements if isinstance(statement, Mapping)]


def _sid(statement: Mapping[str, Any]) -> str | None:
    """Return the statement's Sid when it is a non-empty string."""
    sid = statement.get("Sid")
    return sid if isinstance(sid, str) and sid else None


def _as_list(value: object) -> list[Any]:
    """Return a list value as is, None as [], and any other value as a list of one."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _strings(node: object, path: str) -> Iterator[tuple[str, str]]:
    """Yield (path, text) for every string value under `node`, in document order."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{path}[{index}]")


def _error(source: str, path: str, message: str, hint: str) -> PolicyDocumentError:
    """Build the error for `path` inside `source`: `source: path: message; hint`."""
    place = f"{source}: {path}" if path else source
    return PolicyDocumentError(message, place=place, hint=hint)


def _kind(value: object) -> str:
    """Name a value's JSON kind for messages ("an object", "a list", "a number", ...)."""
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    kinds |= {int: "a number", float: "a number", type(None): "null"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def _show(value: object) -> str:
    """Quote a value for a message, shortened to 40 characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else f"{text[:37]}..."
