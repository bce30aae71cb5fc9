"""What a planned policy allows that the current one does not (contracts §18 `new_access`).

A plan shows it per bucket, and `--deny-new-access` refuses to write it. The question,
statement by statement:

- is everything a planned **Allow** grants — each (principal, action, resource) — granted
  already by one current Allow whose Condition is no stricter?
- is everything a current **Deny** denies still denied by one planned Deny whose
  Condition is no stricter (a Deny removed, narrowed or given a Condition takes a
  restriction away)?

Anything else is new access. So a reorder, a narrowed Principal, Action or Resource
(`oss:*` → `oss:GetObject`, `bucket/*` → `bucket/logs/*`), an added Deny, a Condition
added to an Allow and a removed Allow are never new; a new principal (an account,
everyone), a widened action or resource (`oss:Get*` over `oss:GetObject`), a removed or
loosened Condition and a removed Deny are.

Conservative by construction: where this reading is unsure, it calls the access new.

- A statement's pieces are compared one current statement at a time: what only two
  current Allows together grant is new.
- Wildcards: `*` is any run of characters (Action compared case-insensitively). A pattern
  covers another only when every name the other matches, it matches too; a `?` is
  taken for itself there (whether the service reads it as a wildcard or not, the answer
  holds). A NotAction/NotResource (everything but) covers only what provably lies
  outside its names; a negated piece is covered only by `*` or by a negated set that
  leaves out less.
- Principal: `*`, a list with it, or an empty list is everyone (as `policy_inspect`
  reads it); a `*` inside a name (a role's sessions) is a wildcard.
- Condition: `{operator: {key: values}}`, every (operator, key) ANDed and its values
  ORed. A current clause is no stricter than a planned one with the same operator and
  key (key case-insensitive) whose values are fewer (negated operators, `...Not...`:
  more; `Bool` and `Null`: the same). A clause with another operator (`StringEquals` vs
  `StringEqualsIfExists`) does not count.
- What cannot be read (a Principal object, both Action and NotAction) grants everything
  on the side that is checked and nothing on the side that covers.

Pure: no I/O. The statements are named as elsewhere: Sid, else `Statement[i]`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

from .policy_parts import as_list, sid_of, statements_of

__all__ = ("NewAccess", "describe", "new_access")

#: what a set of everything is written as
_ALL = "*"
#: the pieces of one statement compared one by one; a statement of more is new as a
#: whole (a bound on the work a 16 KB policy of long lists could ask for)
_MAX_PIECES = 4096
#: values named in one description before "and N more"
_SHOWN = 3

#: a Condition read: (operator, key lower-cased) → the values (their JSON text)
Clauses = Mapping[tuple[str, str], frozenset[str]]


@dataclass(frozen=True, slots=True)
class NewAccess:
    """One statement's share of new access.

    `kind` is `grant` (a planned Allow grants what no current Allow does), `condition`
    (a current Allow grants it, with a stricter Condition) or `deny` (a current Deny no
    planned Deny keeps: `statement` names the current one). `principals`, `actions` and
    `resources` are the values involved, as written; a NotAction/NotResource is shown as
    "every action but ...".
    """

    statement: str
    kind: str
    principals: tuple[str, ...]
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def describe(self) -> str:
        """One short line: `read: allows everyone oss:GetObject on acs:oss:*:*:app/*`."""
        who, what, where = (_listed(v) for v in (self.principals, self.actions, self.resources))
        verb = {
            "grant": "allows",
            "condition": "with a looser Condition, allows",
            "deny": "no longer denies",
        }[self.kind]
        return f"{self.statement}: {verb} {who} {what} on {where}"


def new_access(
    current: Mapping[str, Any] | None, planned: Mapping[str, Any] | None
) -> list[NewAccess]:
    """What `planned` allows that `current` does not (None: no policy), in statement order:
    the planned Allows first, then the current Denies that no planned Deny keeps."""
    found: list[NewAccess] = []
    current_allows = _read(current, "Allow", checked=False)
    for statement in _read(planned, "Allow", checked=True):
        gap = _uncovered(statement, current_allows)
        if gap is not None:
            found.append(gap)
    planned_denies = _read(planned, "Deny", checked=False)
    for statement in _read(current, "Deny", checked=True):
        gap = _uncovered(statement, planned_denies)
        if gap is not None:
            found.append(NewAccess(gap.statement, "deny", *_parts(gap)))
    return found


def describe(current: Mapping[str, Any] | None, planned: Mapping[str, Any] | None) -> list[str]:
    """`new_access` as its one-line descriptions (what a plan's record holds)."""
    return [item.describe() for item in new_access(current, planned)]


# --- a statement, read --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Values:
    """One of a statement's sets: the patterns it lists, or (`negated`: NotAction,
    NotResource) everything but them; `fold`: compared case-insensitively."""

    patterns: tuple[str, ...]
    negated: bool = False
    fold: bool = False

    def pieces(self) -> list[_Values]:
        """The parts compared one by one: each pattern alone; a negated set is one part."""
        if self.negated:
            return [self]
        return [_Values((pattern,), fold=self.fold) for pattern in self.patterns]

    def shown(self, noun: str) -> list[str]:
        """The values as a description lists them."""
        if self.negated:
            return [f"every {noun} but {', '.join(self.patterns)}"]
        return ["everyone" if p == _ALL and noun == "principal" else p for p in self.patterns]


@dataclass(frozen=True, slots=True)
class _Statement:
    """A statement as this module compares it; `condition` None: unreadable."""

    name: str
    principals: _Values
    actions: _Values
    resources: _Values
    condition: Clauses | None


def _read(doc: Mapping[str, Any] | None, effect: str, *, checked: bool) -> list[_Statement]:
    """The statements of `effect`, read for the side they are on: what is `checked`
    reads anything unreadable as everything, what covers as nothing."""
    return [
        _Statement(
            sid_of(statement) or f"Statement[{index}]",
            _principals(statement.get("Principal"), checked=checked),
            _set(statement, "Action", checked=checked, fold=True),
            _set(statement, "Resource", checked=checked, fold=False),
            _condition(statement.get("Condition"), checked=checked),
        )
        for index, statement in enumerate(statements_of(doc))
        if statement.get("Effect") == effect
    ]


def _text(value: object) -> str:
    """A value as a string: strings as they are, anything else as its JSON text."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _principals(value: object, *, checked: bool) -> _Values:
    """Everyone for `*`, a list with it, or []; none, or the RAM object form, is unreadable."""
    if value is None or isinstance(value, Mapping):
        return _Values((_ALL,) if checked else ())
    names = [_text(item) for item in as_list(value)]
    if not names or _ALL in names:
        return _Values((_ALL,))
    return _Values(tuple(dict.fromkeys(names)))


def _set(statement: Mapping[str, Any], key: str, *, checked: bool, fold: bool) -> _Values:
    """`key` (Action, Resource) or its Not form; neither or both is unreadable."""
    negated_key = f"Not{key}"
    if (key in statement) == (negated_key in statement):
        return _Values((_ALL,) if checked else (), fold=fold)
    negated = negated_key in statement
    values = as_list(statement[negated_key if negated else key])
    return _Values(tuple(dict.fromkeys(_text(v) for v in values)), negated, fold)


def _condition(value: object, *, checked: bool) -> Clauses | None:
    """The clauses of a Condition; one that cannot be read restricts nothing when
    checked, and is unreadable (None: it covers nothing) when covering."""
    if value is None:
        return {}
    unreadable: Clauses | None = {} if checked else None
    if not isinstance(value, Mapping):
        return unreadable
    clauses: dict[tuple[str, str], frozenset[str]] = {}
    for operator, keys in value.items():
        if not isinstance(keys, Mapping):
            return unreadable
        for key, values in keys.items():
            clause = (str(operator), str(key).lower())
            clauses[clause] = frozenset(_text(v) for v in as_list(values))
    return clauses


# --- coverage -----------------------------------------------------------------------------


def _uncovered(checked: _Statement, covers: Sequence[_Statement]) -> NewAccess | None:
    """What of `checked` no single statement of `covers` covers (None: all of it)."""
    candidates = [c for c in covers if _no_stricter(c.condition, checked.condition)]
    dims = (checked.principals, checked.actions, checked.resources)
    if any(_covers_all(dims, c) for c in candidates):
        return None
    pieces = [d.pieces() for d in dims]
    if len(pieces[0]) * len(pieces[1]) * len(pieces[2]) > _MAX_PIECES:
        loose = any(_covers_all(dims, c) for c in covers)
        whole = (checked.principals, checked.actions, checked.resources)
        return _access(checked, "condition" if loose else "grant", [whole])
    by_candidate = [_covered_pieces(pieces, c) for c in candidates]
    by_any = [_covered_pieces(pieces, c) for c in covers]
    gaps: list[tuple[_Values, _Values, _Values]] = []
    loose = True
    for index in product(*(range(len(p)) for p in pieces)):
        if any(_all_in(index, covered) for covered in by_candidate):
            continue
        gaps.append((pieces[0][index[0]], pieces[1][index[1]], pieces[2][index[2]]))
        loose = loose and any(_all_in(index, covered) for covered in by_any)
    if not gaps:
        return None
    return _access(checked, "condition" if loose else "grant", gaps)


def _all_in(index: tuple[int, ...], covered: tuple[frozenset[int], ...]) -> bool:
    """Whether each of the piece numbers `index` is among those covered, dimension by
    dimension."""
    return all(i in found for i, found in zip(index, covered, strict=True))


def _covered_pieces(
    pieces: Sequence[Sequence[_Values]], cover: _Statement
) -> tuple[frozenset[int], ...]:
    """Per dimension (principals, actions, resources), the numbers of the pieces `cover`
    covers."""
    sets = (cover.principals, cover.actions, cover.resources)
    return tuple(
        frozenset(i for i, piece in enumerate(dim) if _piece_in(piece, values))
        for dim, values in zip(pieces, sets, strict=True)
    )


def _covers_all(dims: Iterable[_Values], cover: _Statement) -> bool:
    """Whether `cover` covers every piece of each of the dimensions."""
    sets = (cover.principals, cover.actions, cover.resources)
    return all(
        all(_piece_in(piece, values) for piece in dim.pieces())
        for dim, values in zip(dims, sets, strict=True)
    )


def _piece_in(piece: _Values, cover: _Values) -> bool:
    """Whether one piece (a pattern, or a negated set) lies inside `cover`."""
    fold = piece.fold or cover.fold
    ours = [_key(p, fold=fold) for p in piece.patterns]
    theirs = [_key(p, fold=fold) for p in cover.patterns]
    if not piece.negated:
        (pattern,) = ours
        if cover.negated:  # inside "everything but X" when it meets none of X
            return not any(_overlaps(pattern, x) for x in theirs)
        return any(_covers(c, pattern) for c in theirs)
    if cover.negated:  # "all but Y" inside "all but X" when X lies within Y
        return all(any(_covers(y, x) for y in ours) for x in theirs)
    return any(c and set(c) == {_ALL} for c in theirs)  # only `*` holds "all but Y"


def _key(pattern: str, *, fold: bool) -> str:
    return pattern.casefold() if fold else pattern


@functools.lru_cache(maxsize=16384)
def _covers(general: str, specific: str) -> bool:
    """Whether `general` matches every name `specific` matches.

    `*` is any run of characters in both; every other character matches only itself,
    `?` too: under either reading of `?` (a wildcard or a character), a yes holds.
    The set of positions of `specific` that `general`'s prefix can reach, advanced one
    character of `general` at a time.
    """
    reach = {0}
    for char in general:
        if char == _ALL:
            reach = set(range(min(reach), len(specific) + 1))
        else:
            reach = {j + 1 for j in reach if j < len(specific) and specific[j] == char}
        if not reach:
            return False
    return len(specific) in reach


@functools.lru_cache(maxsize=16384)
def _overlaps(first: str, second: str) -> bool:
    """Whether some name matches both patterns (`*` and `?` read as wildcards, so a "no"
    holds under either reading of `?`): a search of the pair of positions."""
    todo = [(0, 0)]
    seen = {(0, 0)}
    while todo:
        i, j = todo.pop()
        if i == len(first) and j == len(second):
            return True
        for step in _steps(first, second, i, j):
            if step not in seen:
                seen.add(step)
                todo.append(step)
    return False


def _steps(first: str, second: str, i: int, j: int) -> list[tuple[int, int]]:
    """The pairs of positions reachable from (i, j): a `*` matching nothing, or one
    character matched by both."""
    steps = []
    if i < len(first) and first[i] == _ALL:
        steps.append((i + 1, j))
    if j < len(second) and second[j] == _ALL:
        steps.append((i, j + 1))
    if i < len(first) and j < len(second):
        a, b = first[i], second[j]
        wild = {_ALL, "?"}
        if a in wild or b in wild or a == b:
            steps.append((i if a == _ALL else i + 1, j if b == _ALL else j + 1))
    return steps


def _no_stricter(cover: Clauses | None, checked: Clauses | None) -> bool:
    """Whether `cover`'s Condition restricts no more than `checked`'s: each of its
    clauses is in `checked` too, with values that restrict at least as much."""
    if cover is None:
        return False
    theirs = checked or {}
    for clause, values in cover.items():
        found = theirs.get(clause)
        if found is None or not _narrower(clause[0], found, values):
            return False
    return True


def _narrower(operator: str, checked: frozenset[str], cover: frozenset[str]) -> bool:
    """Whether values `checked` restrict at least as much as `cover` under `operator`:
    fewer ORed values for a positive operator, more for a negated one (`StringNotEquals`:
    none of them), the same for `Bool` and `Null`, whose one value decides."""
    if checked == cover:
        return True
    name = operator.lower()
    if name.startswith(("bool", "null")) or not checked or not cover:
        return False
    if "not" in name:
        return checked > cover
    return checked < cover


# --- descriptions -------------------------------------------------------------------------


def _access(
    statement: _Statement, kind: str, gaps: Iterable[tuple[_Values, _Values, _Values]]
) -> NewAccess:
    """The `NewAccess` of `statement`'s uncovered pieces: the values they involve."""
    principals: dict[str, None] = {}
    actions: dict[str, None] = {}
    resources: dict[str, None] = {}
    for who, what, where in gaps:
        principals.update(dict.fromkeys(who.shown("principal")))
        actions.update(dict.fromkeys(what.shown("action")))
        resources.update(dict.fromkeys(where.shown("resource")))
    return NewAccess(statement.name, kind, tuple(principals), tuple(actions), tuple(resources))


def _parts(item: NewAccess) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    return item.principals, item.actions, item.resources


def _listed(values: Sequence[str]) -> str:
    """`a, b, c and 2 more`."""
    shown = ", ".join(values[:_SHOWN])
    return shown if len(values) <= _SHOWN else f"{shown} and {len(values) - _SHOWN} more"
