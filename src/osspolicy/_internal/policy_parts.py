"""The parts every policy module reads a document by, and the error they all raise.

Shared by `policy` (parse, validate, compare), `policy_template`, `policy_merge` and
`policy_inspect`; internal to them. A document is the parsed JSON object; these readers
are lenient (a lone statement object counts as one, a single value as a list of one), so
the inspections work on any policy a bucket holds, valid or not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import PolicyDocumentError

__all__ = (
    "as_list",
    "error_at",
    "kind_of",
    "quoted",
    "sid_of",
    "statements_of",
    "strings_in",
)


def statements_of(doc: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """Return `doc`'s statement objects (a lone object counts as one; others are skipped)."""
    found = None if doc is None else doc.get("Statement")
    if isinstance(found, Mapping):
        return [found]
    if not isinstance(found, list):
        return []
    return [statement for statement in found if isinstance(statement, Mapping)]


def sid_of(statement: Mapping[str, Any]) -> str | None:
    """Return the statement's Sid when it is a non-empty string."""
    value = statement.get("Sid")
    return value if isinstance(value, str) and value else None


def as_list(value: object) -> list[Any]:
    """Return a list value as is, None as [], and any other value as a list of one."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def strings_in(node: object, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield (path, text) for every string value under `node`, in document order."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from strings_in(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings_in(value, f"{path}[{index}]")


def error_at(source: str, path: str, message: str, hint: str) -> PolicyDocumentError:
    """Build the error for `path` inside `source`: `source: path: message; hint`.

    The path uses 0-based indexes: `baseline.json: Statement[2].Effect`.
    """
    place = f"{source}: {path}" if path else source
    return PolicyDocumentError(message, place=place, hint=hint)


def kind_of(value: object) -> str:
    """Name a value's JSON kind for messages ("an object", "a list", "a number", ...)."""
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    kinds |= {int: "a number", float: "a number", type(None): "null"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def quoted(value: object) -> str:
    """Quote a value for a message, shortened to 40 characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else f"{text[:37]}..."
