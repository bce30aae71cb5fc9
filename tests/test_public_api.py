"""The public API is explicit: every module says what it exports, and exports it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
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


def test_the_package_reexports_the_library_surface() -> None:
    """`import osspolicy` gives the manifest, the job runner, the values and the fake."""
    for name in ("load_manifest", "run_job", "RunOptions", "Result", "Outcome", "MemoryBackend"):
        assert name in osspolicy.__all__
        assert getattr(osspolicy, name) is not None
