"""The layers of docs/DESIGN: `integrations` never imports `workflows` (workflows react to the
integration lifecycle signals and answer the dependents hook instead), anywhere in a module, inside
functions too. A static walk of every module's syntax tree, so a lazy import cannot hide."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import statement in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def importlib_calls(path: Path) -> list[tuple[int, str]]:
    """import_module("...") / __import__("...") with a literal name: an import all the same."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def _is_workflows(module: str) -> bool:
    return module == "workflows" or module.startswith("workflows.")


MODULES = sorted((ROOT / "integrations").rglob("*.py"))


def test_the_walk_sees_every_integrations_module():
    names = {path.relative_to(ROOT).as_posix() for path in MODULES}
    assert {"integrations/lifecycle.py", "integrations/admin.py", "integrations/views/manage.py"} <= names
    assert len(MODULES) > 50


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_integrations_never_imports_workflows(path):
    offending = [
        f"line {line}: {module}"
        for line, module in imported_modules(path) + importlib_calls(path)
        if _is_workflows(module)
    ]
    assert not offending, f"{path.relative_to(ROOT)} imports workflows ({', '.join(offending)}): send a signal"


def test_the_check_catches_a_lazy_import_inside_a_function(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def warn(integration):\n"
        "    from workflows.links import workflows_using\n"
        "    import workflows.models as m\n"
        "    return importlib.import_module('workflows.schedules')\n"
    )
    found = [module for _line, module in imported_modules(sample) + importlib_calls(sample)]
    assert [module for module in found if _is_workflows(module)] == [
        "workflows.links",
        "workflows.links.workflows_using",
        "workflows.models",
        "workflows.schedules",
    ]
