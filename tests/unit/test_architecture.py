"""The shape of the function's package, read from its source: the rules docs/architecture.md states."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "functions" / "inference" / "app"


def _module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path) -> set[str]:
    """The app modules a module imports when it runs (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and getattr(block.test, "id", None) == "TYPE_CHECKING"
        for node in ast.walk(block)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
        target = f"{base}.{node.module}" if node.module else base
        for alias in node.names:
            candidate = f"{target}.{alias.name}"
            found.add(candidate if (APP.parent / Path(*candidate.split("."))).with_suffix(".py").exists() else target)
    return found


GRAPH = {_module_name(path): _runtime_imports(path) for path in APP.rglob("*.py")}


def test_the_package_has_no_import_circle() -> None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        assert module not in visiting, " -> ".join([*visiting[visiting.index(module) :], module])
        if module in done:
            return
        visiting.append(module)
        for imported in GRAPH.get(module, ()):
            visit(imported)
        visiting.pop()
        done.add(module)

    for module in GRAPH:
        visit(module)


def test_routes_never_touch_a_framework_and_the_entry_never_knows_a_route() -> None:
    frameworks = ("torch", "onnxruntime", "transformers", "tokenizers")
    for module in ("app.routes", "app.demo", "app.deps", "app.api"):
        tree = ast.parse((APP.parent / Path(*module.split("."))).with_suffix(".py").read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {name for name in imported if name.split(".")[0] in frameworks}, module
    assert "app.routes" not in GRAPH["app.handler"] and "app.routes" not in GRAPH["app.sources"]


def test_only_the_entry_reads_settings_at_import() -> None:
    """Module-level calls of get_settings() happen in the Lambda entry's init, nowhere else."""
    readers = []
    for path in APP.rglob("*.py"):
        for statement in ast.parse(path.read_text(encoding="utf-8")).body:
            calls = [n for n in ast.walk(statement) if isinstance(n, ast.Call)]
            if not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and any(
                getattr(call.func, "id", None) == "get_settings" for call in calls
            ):
                readers.append(_module_name(path))
    assert readers == ["app.handler"]


def test_only_the_errors_module_builds_an_error_body() -> None:
    builders = [
        _module_name(path)
        for path in APP.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        # {"error": {...}} is an error body; a bulk row's {"error": <code or None>} column is not
        if (
            isinstance(node, ast.Dict)
            and any(
                isinstance(k, ast.Constant) and k.value == "error" and isinstance(v, ast.Dict | ast.Call)
                for k, v in zip(node.keys, node.values, strict=True)
            )
        )
        or (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("ErrorBody", "ErrorInfo"))
    ]
    assert set(builders) == {"app.errors"}


def test_the_request_id_is_decided_once_at_the_entry_or_the_middleware() -> None:
    """A new id is made only where a request enters (the Lambda entry, or the middleware of a plain ASGI server),
    and what follows reads the one RequestContext handed on, never loose entries of ``scope["state"]``."""
    minting: set[str] = set()
    state_readers: set[str] = set()
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "uuid4":
                minting.add(_module_name(path))
            if isinstance(node, ast.Constant) and node.value == "state":
                state_readers.add(_module_name(path))
    assert minting == {"app.handler", "app.middleware"}
    assert not state_readers


def test_no_function_of_the_lambda_functions_runs_over_sixty_lines() -> None:
    """Long functions hide several jobs; the three functions' code keeps each under 60 lines."""
    functions = APP.parents[1]
    long = [
        f"{path.relative_to(functions)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in functions.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert not long
