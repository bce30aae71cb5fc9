"""Lazy re-exports for a package's `__init__` (PEP 562), so that importing the package
costs nothing until a name is used.

`osspolicy --version`, `--help` and shell completion import the `osspolicy` package on
every call; its public names live in modules that pull in the SDK, aiohttp and
pydantic. With `lazy_exports`, each name's module is imported the first time the name is
looked up, and the value is then kept in the package's namespace. Type checkers and
readers still see the names through the `if TYPE_CHECKING:` imports beside the call.

Neutral on purpose: both the client side and the emulator use it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ("lazy_exports",)


def lazy_exports(
    package: str, namespace: dict[str, Any], names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package`, which exports each key of `names`
    from the module named by its value (relative to `package`)."""

    def __getattr__(name: str) -> Any:  # noqa: N807, ANN401 - the module hook, any value
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value  # looked up once
        return value

    def __dir__() -> list[str]:  # noqa: N807 - the module hook's own name
        return sorted({*namespace, *names})

    return __getattr__, __dir__
