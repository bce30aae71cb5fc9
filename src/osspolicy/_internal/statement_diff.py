"""Two policies compared statement by statement, for `osspolicy diff` (contracts §18).

```
A's statements ─┬─ with a Sid:    matched by Sid ─► changed (the same Sid, another
B's statements ─┘                                    statement), added, removed
                └─ without a Sid: matched canonically ─► added, removed
```

Statements are compared canonically (contracts §6): keys as a mapping, the sets
(Action, Resource, Principal, their Not forms, each Condition key's values) as sets, so
a statement written in another order is the same statement. A Sid that a policy repeats
is matched statement by statement: equal ones pair first, the rest in order. A changed
statement says what changed, one short line per key: `Action +oss:PutObject
-oss:GetObject`, `Effect Allow → Deny`, `Condition IpAddress acs:SourceIp +0.0.0.0/0`.

Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .policy import canonical
from .policy_parts import as_list, sid_of, statements_of

__all__ = ("StatementChange", "StatementDiff", "statement_diffs")

StatementChange = Literal["added", "removed", "changed"]
#: the keys of a statement in the order their changes are told
_ORDER = ("Effect", "Principal", "Action", "NotAction", "Resource", "NotResource", "Condition")
_SETS = frozenset({"Principal", "Action", "NotAction", "Resource", "NotResource"})


@dataclass(frozen=True, slots=True)
class StatementDiff:
    """One statement added, removed or changed between two policies.

    `statement` names it: its Sid, else `Statement[i]` (its place in the policy it is
    in: B's for an added one, A's for a removed one). `before` and `after` are the
    statement as A and B hold it (None where it is not). `details` says what changed,
    one line per key (a changed statement only).
    """

    statement: str
    change: StatementChange
    sid: str | None
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "statement": self.statement,
            "change": self.change,
            "sid": self.sid,
            "details": list(self.details),
            "before": self.before,
            "after": self.after,
        }


_Numbered = tuple[int, Mapping[str, Any]]


def statement_diffs(
    a: Mapping[str, Any] | None, b: Mapping[str, Any] | None
) -> tuple[StatementDiff, ...]:
    """The statements added, removed or changed from policy `a` to `b` (None: no
    policy): those with a Sid by Sid, in the order of their Sid's first appearance (A's
    first), then those without one."""
    ours, theirs = _numbered(a), _numbered(b)
    found: list[StatementDiff] = []
    sids = dict.fromkeys(sid for sid, _ in [*ours, *theirs] if sid is not None)
    for sid in sids:
        found += _matched([s for k, s in ours if k == sid], [s for k, s in theirs if k == sid], sid)
    found += _matched([s for k, s in ours if k is None], [s for k, s in theirs if k is None])
    return tuple(found)


def _numbered(doc: Mapping[str, Any] | None) -> list[tuple[str | None, _Numbered]]:
    """Each statement with its Sid (None: none) and its place in the policy."""
    return [(sid_of(s), (i, s)) for i, s in enumerate(statements_of(doc))]


def _matched(
    ours: Sequence[_Numbered], theirs: Sequence[_Numbered], sid: str | None = None
) -> list[StatementDiff]:
    """Statements of one Sid (or of none) in A and B: equal ones pair off; of the rest,
    with a Sid, pairs in order are `changed` and the leftovers `removed`/`added`."""
    left = list(ours)
    right: list[_Numbered] = []
    for numbered in theirs:
        key = _canonical(numbered[1])
        twin = next((n for n in left if _canonical(n[1]) == key), None)
        if twin is None:
            right.append(numbered)
        else:
            left.remove(twin)
    found: list[StatementDiff] = []
    if sid is not None:
        while left and right:
            (_, before), (_, after) = left.pop(0), right.pop(0)
            found.append(StatementDiff(sid, "changed", sid, before, after, _details(before, after)))
    found += [StatementDiff(sid or f"Statement[{i}]", "removed", sid, s, None) for i, s in left]
    found += [StatementDiff(sid or f"Statement[{i}]", "added", sid, None, s) for i, s in right]
    return found


def _canonical(statement: Mapping[str, Any]) -> str:
    """The canonical text of one statement (contracts §6)."""
    return canonical({"Statement": [statement]})


def _normal(statement: Mapping[str, Any]) -> dict[str, Any]:
    """One statement in the normal form `canonical` compares (sets sorted, no repeats)."""
    normal: dict[str, Any] = json.loads(_canonical(statement))["Statement"][0]
    return normal


def _details(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    """What changed from `before` to `after`, one line per key that differs."""
    a, b = _normal(before), _normal(after)
    keys = [k for k in _ORDER if k in a or k in b]
    keys += sorted((a.keys() | b.keys()) - set(_ORDER) - {"Sid"})
    lines: list[str] = []
    for key in keys:
        if a.get(key) == b.get(key):
            continue
        if key in _SETS:
            lines.append(f"{key} {_plus_minus(as_list(a.get(key)), as_list(b.get(key)))}")
        elif key == "Condition":
            lines += _condition_lines(a.get(key), b.get(key))
        else:
            lines.append(f"{key} {_shown(a.get(key))} → {_shown(b.get(key))}")
    return tuple(lines)


def _condition_lines(a: object, b: object) -> list[str]:
    """One line per Condition clause (operator, key) whose values differ."""
    ours, theirs = _clauses(a), _clauses(b)
    if ours is None or theirs is None:  # not the {operator: {key: values}} form
        return [f"Condition {_shown(a)} → {_shown(b)}"]
    lines = []
    for clause in sorted(ours.keys() | theirs.keys()):
        before, after = ours.get(clause, []), theirs.get(clause, [])
        if before != after:
            lines.append(f"Condition {clause[0]} {clause[1]} {_plus_minus(before, after)}")
    return lines


def _clauses(condition: object) -> dict[tuple[str, str], list[Any]] | None:
    """A Condition's values by (operator, key); {} for none; None when not that form."""
    if condition is None:
        return {}
    if not isinstance(condition, Mapping):
        return None
    found: dict[tuple[str, str], list[Any]] = {}
    for operator, keys in condition.items():
        if not isinstance(keys, Mapping):
            return None
        for key, values in keys.items():
            found[(str(operator), str(key))] = as_list(values)
    return found


def _plus_minus(before: Sequence[Any], after: Sequence[Any]) -> str:
    """`+added -removed` values, in order (`(reordered)` should nothing be either)."""
    marks = [f"+{_shown(v)}" for v in after if v not in before]
    marks += [f"-{_shown(v)}" for v in before if v not in after]
    return " ".join(marks) or "(reordered)"


def _shown(value: object) -> str:
    """A value in a detail line: a string as it is, anything else as compact JSON."""
    if value is None:
        return "(none)"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
