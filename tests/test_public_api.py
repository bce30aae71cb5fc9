"""The public API is explicit: every module says what it exports, and exports it."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import osspolicy


def modules() -> list[ModuleType]:
    found = [osspolicy]
    for info in pkgutil.walk_packages(osspolicy.__path__, prefix="osspolicy."):
        if info.name.endswith("__main__"):
            continue
        found.append(importlib.import_module(info.name))
    return found


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.__name__)
def test_every_module_has_a_tuple_all_of_names_it_defines(module: ModuleType) -> None:
    """__all__ is a tuple, and each name in it exists in the module."""
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, tuple), f"{module.__name__} has no tuple __all__"
    for name in exported:
        assert hasattr(module, name), f"{module.__name__}.__all__ names missing {name}"


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.__name__)
def test_every_public_class_and_function_is_exported(module: ModuleType) -> None:
    """A public class or function defined in a module is in its __all__ (nothing
    public by accident, nothing missing)."""
    exported = set(getattr(module, "__all__", ()))
    for name, value in vars(module).items():
        if name.startswith("_") or not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        if getattr(value, "__module__", None) != module.__name__:
            continue
        assert name in exported, f"{module.__name__}.{name} is public but not in __all__"


#: the public surface as it is pinned: change it deliberately, with a CHANGELOG.md entry
PINNED = Path(__file__).parent / "data" / "public_api.txt"


def surface() -> str:
    """Every public name of `osspolicy`, with each function's signature, each class's
    fields (dataclasses, pydantic models) or public methods, and each error's parent."""
    lines: list[str] = []
    for name in sorted(osspolicy.__all__):
        value = getattr(osspolicy, name)
        if inspect.isfunction(value):
            lines.append(f"def {name}{inspect.signature(value)}")
        elif inspect.isclass(value) and issubclass(value, BaseException):
            lines.append(f"class {name}({value.__mro__[1].__name__})")
        elif inspect.isclass(value):
            lines.append(f"class {name}")
            if dataclasses.is_dataclass(value):
                members = [f.name for f in dataclasses.fields(value) if not f.name.startswith("_")]
            elif hasattr(value, "model_fields"):
                members = list(value.model_fields)
            else:
                members = []
            members += [
                m
                for m, v in vars(value).items()
                if not m.startswith("_")
                and m not in members
                and (callable(v) or isinstance(v, property))
            ]
            lines.extend(f"    .{m}" for m in members)
        else:
            lines.append(f"{name} = {value!r}")
    return "\n".join(lines) + "\n"


def test_the_public_surface_is_pinned() -> None:
    """`osspolicy.__all__` and each name's signature are exactly the pinned ones: a
    change is deliberate (tests/data/public_api.txt and CHANGELOG.md change with it)."""
    assert surface() == PINNED.read_text(encoding="utf-8"), (
        "the public API changed: if on purpose, write surface() to "
        "tests/data/public_api.txt and say so in CHANGELOG.md"
    )


def test_the_jobs_are_async_functions_taking_keyword_options() -> None:
    """One async function per job; everything after the manifest (or job id) is a
    keyword."""
    for name in ("backup", "apply", "delete", "restore", "rollback", "plan", "check"):
        function = getattr(osspolicy, name)
        assert inspect.iscoroutinefunction(function), name
        first, *rest = inspect.signature(function).parameters.values()
        assert first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in rest), name
