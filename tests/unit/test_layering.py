"""The packages' dependencies point one way: `engine.serve` wires `api` into Ray Serve, so
nothing under `api/` may import `engine.serve`, not even inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "api"


def imported_modules(tree: ast.AST) -> set[str]:
    """Every module an import statement anywhere in the tree names (including the modules
    that `from package import name` could load as `package.name`)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def reaches_serve(module: str) -> bool:
    return module == "engine.serve" or module.startswith("engine.serve.")


def test_the_walk_sees_imports_inside_functions() -> None:
    tree = ast.parse("def start():\n    from engine.serve.hot_events import watch\n"
                     "    import engine.serve\n    from engine import serve\n")
    assert {m for m in imported_modules(tree) if reaches_serve(m)} == {
        "engine.serve", "engine.serve.hot_events", "engine.serve.hot_events.watch"}


def test_no_api_module_imports_engine_serve() -> None:
    modules = sorted(API.rglob("*.py"))
    assert len(modules) > 20
    offenders = {
        str(path.relative_to(API.parent)): sorted(m for m in imported_modules(
            ast.parse(path.read_text(), str(path))) if reaches_serve(m))
        for path in modules}
    assert {path: found for path, found in offenders.items() if found} == {}
