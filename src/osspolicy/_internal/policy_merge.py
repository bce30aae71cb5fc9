"""The policy a bucket should end with: a baseline merged in by Sid, or put in its place.

Pure: no I/O. The baseline is rendered already (`policy_template.render`); `None` as a
result means "delete the policy" (nothing is left).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from .policy_parts import error_at, quoted, sid_of, statements_of

__all__ = ("check_mergeable", "desired_policy", "merge", "replace")


def check_mergeable(baseline: Mapping[str, Any], *, source: str) -> None:
    """Refuse, for mode merge, a baseline statement without a Sid or with a repeated Sid."""
    first: dict[str, int] = {}
    for index, statement in enumerate(statements_of(baseline)):
        path = f"Statement[{index}].Sid"
        sid = sid_of(statement)
        if not sid:
            hint = "give it a unique Sid, or use mode: replace"
            raise error_at(source, path, "is missing; merge matches statements by Sid", hint)
        if sid in first:
            message = f"repeats {quoted(sid)} of Statement[{first[sid]}]"
            raise error_at(source, path, message, "give each statement its own Sid")
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
    incoming = {sid_of(statement): statement for statement in statements_of(baseline)}
    placed: set[str | None] = set()
    merged: list[Mapping[str, Any]] = []
    for statement in statements_of(current):
        sid = sid_of(statement)
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
    return _policy(statements_of(baseline), remove_sids)


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
    kept = [statement for statement in statements if sid_of(statement) not in removed]
    return {"Version": "1", "Statement": kept} if kept else None
