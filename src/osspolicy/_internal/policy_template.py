"""Templates in a policy document: `${name}` placeholders, checked and filled per bucket.

`${name}` inside any string value is a placeholder (`bucket`, `region`, `account_id` and
the manifest's `policy.vars`); `$${` is a literal `${`. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .policy_parts import error_at, strings_in

__all__ = ("BUILTIN_VARIABLES", "check_placeholders", "placeholders", "render")

#: placeholders every job provides; the manifest's `policy.vars` add to them
BUILTIN_VARIABLES = frozenset({"account_id", "bucket", "region"})
#: `$${` (an escaped, literal `${`) or a placeholder `${name}`
_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([^}]*)\}")


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
        raise error_at(source, unknown[0][0], f"unknown placeholder {names}", hint)


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
    for path, text in strings_in(doc):
        for match in _PLACEHOLDER.finditer(text):
            if match.group(1) is not None:
                yield path, match.group(1)
