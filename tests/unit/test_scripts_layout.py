"""The tools half's shape, read from its source: the import rules docs/architecture.md's map of the code states."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
JOBS = ("model", "perf", "cli", "deploy")
#: A job may run another job's public tool where that tool is what it measures (the map names each one).
CROSS_JOB = {("perf", "cli"), ("perf", "model"), ("model", "perf")}


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every ``from scripts.x.y import name`` and ``import scripts.x.y`` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scripts."):
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.startswith("scripts.")]
    return found


def _package_of(path: Path) -> str:
    return path.relative_to(SCRIPTS).parts[0]


SOURCES = sorted(path for path in SCRIPTS.rglob("*.py") if path.parent != SCRIPTS)


def test_every_tool_lives_in_a_package_by_job() -> None:
    loose = sorted(path.name for path in SCRIPTS.glob("*.py") if path.name != "__init__.py")
    assert not loose, f"modules directly under scripts/ (put each in the package of its job): {loose}"
    assert {path.name for path in SCRIPTS.iterdir() if path.is_dir() and (path / "__init__.py").exists()} == {
        *JOBS,
        "common",
    }


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(SCRIPTS)))
def test_imports_follow_the_map(path: Path) -> None:
    own = _package_of(path)
    for module, name in _imports(path):
        target = module.split(".")[1]
        if target in (own, "common"):
            continue
        assert (own, target) in CROSS_JOB, f"{path.relative_to(ROOT)} imports {module}: not in the map of the code"
        assert not name.startswith("_"), f"{path.relative_to(ROOT)} reaches into {module}'s private {name}"


def test_common_imports_no_job() -> None:
    for path in (SCRIPTS / "common").glob("*.py"):
        jobs = {module.split(".")[1] for module, _ in _imports(path)} - {"common"}
        assert not jobs, f"{path.relative_to(ROOT)} imports the jobs {jobs}: common is the bottom layer"


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    stray = tmp_path / "stray.py"
    stray.write_text("from scripts.model.train import _private\nimport scripts.deploy.stage_ops\n", encoding="utf-8")
    assert _imports(stray) == [("scripts.model.train", "_private"), ("scripts.deploy.stage_ops", "")]
