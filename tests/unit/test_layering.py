"""The packages' dependencies point one way: `engine.serve` wires `api` into Ray Serve, so
nothing under `api/` may import `engine.serve`, not even inside a function; the pure core
imports no I/O library; only the Ray adapter (`engine/actors`) and the Serve wiring
(`engine/serve`) import Ray."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "api"


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


def imports_of(path: Path) -> set[str]:
    return imported_modules(ast.parse(path.read_text(), str(path)))


def test_the_core_imports_no_io_library() -> None:
    forbidden = ("ray", "redis", "asyncpg", "starlette", "api", "engine.actors",
                 "engine.store", "engine.serve", "engine.router", "engine.saga")
    modules = sorted((ROOT / "engine" / "core").rglob("*.py"))
    assert len(modules) > 10
    offenders = {str(path.relative_to(ROOT)): sorted(
        m for m in imports_of(path) if any(m == f or m.startswith(f + ".") for f in forbidden))
        for path in modules}
    assert {path: found for path, found in offenders.items() if found} == {}


def test_only_the_ray_adapter_and_the_serve_wiring_import_ray() -> None:
    allowed = (ROOT / "engine" / "actors", ROOT / "engine" / "serve")
    modules = sorted([*(ROOT / "engine").rglob("*.py"), *API.rglob("*.py")])
    offenders = {str(path.relative_to(ROOT)): sorted(
        m for m in imports_of(path) if m == "ray" or m.startswith("ray."))
        for path in modules if not any(path.is_relative_to(a) for a in allowed)}
    assert {path: found for path, found in offenders.items() if found} == {}
