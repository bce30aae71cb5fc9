"""A manifest's pydantic `ValidationError` as one `ManifestError` sentence (the one line
the CLI promises): the file, the key path as the user wrote it
(`targets.discover.include[1]`), and the fix ("did you mean …?" for an unknown key).
"""

from __future__ import annotations

import difflib
from typing import get_args

from pydantic import BaseModel, ValidationError

from .errors import ManifestError

__all__ = ("first_error",)


def _path_of(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _models_in(annotation: object) -> type[BaseModel] | dict[str, type[BaseModel]] | None:
    """The model a field holds (through Optional, tuple, …), or {tag: model} for a
    discriminated union of models (the credential types)."""
    found: list[type[BaseModel]] = []
    stack: list[object] = [annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            found.append(item)
        else:
            stack.extend(getattr(item, "__args__", ()))
    if len(found) == 1:
        return found[0]
    if not found:
        return None
    tags = {
        m: get_args(m.model_fields["type"].annotation) for m in found if "type" in m.model_fields
    }
    return {str(tag[0]): m for m, tag in tags.items() if tag}


def _walk(
    loc: tuple[int | str, ...], model: type[BaseModel]
) -> tuple[tuple[int | str, ...], list[str]]:
    """The key path of `loc` in `model` as the user wrote it (pydantic adds a union's tag,
    e.g. `credentials.ram_role_arn.role_arn`: left out), and the keys allowed where its
    last key stands, for 'did you mean' suggestions."""
    clean: list[int | str] = []
    container: type[BaseModel] | None = None
    current: type[BaseModel] | dict[str, type[BaseModel]] | None = model
    for part in loc:
        if isinstance(part, int):
            clean.append(part)
            continue
        if isinstance(current, dict) and part in current:
            current = current[part]
            continue
        clean.append(part)
        container = current if isinstance(current, type) else None
        field = container.model_fields.get(part) if container is not None else None
        current = _models_in(field.annotation) if field is not None else None
    return tuple(clean), list(container.model_fields) if container is not None else []


def first_error(source: str, exc: ValidationError, model: type[BaseModel]) -> ManifestError:
    """One sentence for the first problem pydantic found validating `model` (the
    `Manifest`) from the file `source` (one line, as the CLI promises).

    An unknown key comes first: it usually is the cause of the 'missing' key it hides.
    """
    found = exc.errors()
    error = next((e for e in found if e["type"] == "extra_forbidden"), found[0])
    loc, known = _walk(tuple(error["loc"]), model)
    place = f"{source}: {_path_of(loc)}" if loc else source
    kind = error["type"]
    ctx = error.get("ctx", {})
    if kind == "union_tag_invalid":
        return ManifestError(
            f"type {ctx.get('tag')!r} is not allowed",
            place=place,
            hint=f"use one of {ctx.get('expected_tags')}",
        )
    if kind == "union_tag_not_found":
        return ManifestError(
            "required key is missing", place=f"{place}.type", hint="add it (e.g. type: default)"
        )
    if kind == "extra_forbidden":
        key = str(loc[-1])
        near = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {near[0]}?" if near else "remove it"
        return ManifestError("unknown key", place=place, hint=hint)
    if kind == "missing":
        return ManifestError("required key is missing", place=place, hint="add it")
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return ManifestError(
            f"{error.get('input')!r} is not allowed", place=place, hint=f"use one of {expected}"
        )
    return ManifestError(message, place=place)
