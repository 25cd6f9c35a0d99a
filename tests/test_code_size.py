"""Rooms, not warehouses: no module of the product code over 400 lines, no function over 60.

A newcomer should find one job per module and read any function on one screen. The limits
count lines of code: a function's docstring is documentation and does not count against it.
When a module or function must grow past them, split it, or list it here with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

from orchestration.settings import REPO_ROOT

PACKAGES = ("orchestration", "irt_models", "sample_data")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# "path:function" -> why it may be longer. Empty: nothing needs it today.
ALLOWED_LONGER: dict[str, str] = {}


def modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (REPO_ROOT / package).rglob("*.py"))


def function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end of the function."""
    body = node.body
    has_docstring = (
        isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    )
    if has_docstring and len(body) > 1:
        return node.end_lineno - body[1].lineno + 1
    return node.end_lineno - node.lineno + 1


def test_no_module_is_over_the_limit() -> None:
    too_long = {
        str(path.relative_to(REPO_ROOT)): n
        for path in modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def test_no_function_is_over_the_limit() -> None:
    too_long = {}
    for path in modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{path.relative_to(REPO_ROOT)}:{node.name}"
                n = function_lines(node)
                if n > MAX_FUNCTION_LINES and name not in ALLOWED_LONGER:
                    too_long[name] = n
    assert too_long == {}, f"functions over {MAX_FUNCTION_LINES} lines of code: {too_long}"
