"""The layering stays as design.md draws it (issue 21): the modules' imports form no
cycle, only `_internal/backends/` imports the SDK, and the emulator never imports the
client's job machinery (it shares only the policy rules, the key object and the lazy
exports).

Read from the source (ast), module-level imports only: an import inside a function is
a lazy one (start-up speed) and a `TYPE_CHECKING` import is for the type checker, so
neither can make an import-time cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "osspolicy"
SDK = "alibabacloud_oss_v2"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports run when the module is imported: module level, and inside module-level
    `try`/`if` blocks other than `if TYPE_CHECKING:`."""
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            todo.extend([*node.body, *node.orelse])
        elif isinstance(node, ast.Try):
            todo.extend([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                todo.extend(handler.body)


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The absolute module names one import statement names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    if node.level:
        base = package.split(".")
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base)
        target = f"{prefix}.{node.module}" if node.module else prefix
    else:
        target = node.module or ""
    # `from . import render`: each name may itself be a module
    return [target, *(f"{target}.{alias.name}" for alias in node.names)]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges: set[str] = set()
        for node in _top_level_imports(tree):
            edges.update(name for name in _imported(module, path, node) if name in modules)
        edges.discard(module)
        graph[module] = edges
    return graph


def _all_imports(path: Path) -> set[str]:
    """Every module an import anywhere in the file names (lazy ones too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_modules_imports_form_no_cycle() -> None:
    """A depth-first walk of the import graph meets no module twice on one path (a
    package importing its own submodules, as `__init__` re-exports do, is not a cycle
    of the flow and is left out)."""
    graph = _graph()
    for module, edges in graph.items():
        graph[module] = {e for e in edges if not e.startswith(module + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in sorted(graph.get(module, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_only_the_backends_import_the_sdk() -> None:
    """`alibabacloud_oss_v2` is imported in `_internal/backends/` and nowhere else of the
    client (the emulator is a server: it never imports the SDK either)."""
    outside = [
        name
        for name, path in _modules().items()
        if not name.startswith("osspolicy._internal.backends")
        and any(m == SDK or m.startswith(SDK + ".") for m in _all_imports(path))
    ]
    assert outside == []


def test_the_emulator_does_not_import_the_job_machinery() -> None:
    """The emulator shares the key object and the lazy exports with the client, nothing
    of its jobs (it is the ground they are tested on; its public rule is its own copy,
    kept in step with the client's by tests/data/public_cases.json)."""
    shared = {"osspolicy._lazy", "osspolicy._internal.keys"}
    leaks = {
        name: sorted(
            m
            for m in _all_imports(path)
            if m.startswith("osspolicy.")
            and not m.startswith("osspolicy.emulator")
            and m not in shared
        )
        for name, path in _modules().items()
        if name.startswith("osspolicy.emulator")
    }
    assert {name: found for name, found in leaks.items() if found} == {}
