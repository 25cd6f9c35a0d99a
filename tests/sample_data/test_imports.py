"""The generator is a tool beside the pipeline: its modules import each other without a circle,
and the pipeline (orchestration, irt_models) never imports it. ``make run`` on an empty landing
runs ``python -m sample_data`` as a child process instead (orchestration.refresh)."""

from __future__ import annotations

import ast
from pathlib import Path

from orchestration.settings import REPO_ROOT


def imported(path: Path) -> set[str]:
    """The modules ``path`` imports, anywhere in it (type-checking imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_sample_data_modules_import_each_other_without_a_circle() -> None:
    package = REPO_ROOT / "sample_data"
    modules = {f"sample_data.{p.stem}": p for p in package.glob("*.py") if p.stem != "__init__"}
    graph = {name: imported(path) & set(modules) for name, path in modules.items()}

    def circle_from(start: str, node: str, trail: tuple[str, ...]) -> tuple[str, ...] | None:
        for nxt in sorted(graph[node]):
            if nxt == start:
                return (*trail, nxt)
            if nxt not in trail:
                found = circle_from(start, nxt, (*trail, nxt))
                if found:
                    return found
        return None

    circles = [c for name in sorted(graph) if (c := circle_from(name, name, (name,)))]
    assert circles == [], f"import circles: {circles[:3]}"


def test_the_pipeline_does_not_import_the_generator() -> None:
    found = sorted(
        str(path.relative_to(REPO_ROOT))
        for package in ("orchestration", "irt_models")
        for path in (REPO_ROOT / package).rglob("*.py")
        if any(name.split(".")[0] == "sample_data" for name in imported(path))
    )
    assert found == []
