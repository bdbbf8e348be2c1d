"""The layers of the design: `integrations` never imports `workflows` (workflows react to the
integration lifecycle signals and answer the dependents hook instead), and no two of the project's
modules import each other, directly or round a longer loop: imports inside functions count too, so
a cycle cannot hide behind a lazy import. Static walks of every module's syntax tree."""

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


@pytest.mark.parametrize(
    "path", sorted((ROOT / "integrations" / "api").rglob("*.py")), ids=lambda path: path.relative_to(ROOT).as_posix()
)
def test_the_api_takes_its_querysets_from_queries_not_from_the_html_views(path):
    offending = [module for _line, module in imported_modules(path) if module.startswith("integrations.views")]
    assert not offending, f"{path.relative_to(ROOT)} imports {offending}: use integrations.queries"


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


# -- import cycles --------------------------------------------------------------------------------

PACKAGES = ("integrations", "connectors", "workflows", "metacortex")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere (`from pkg import sub` names the submodule).
    A package's __init__ importing its own submodules is how packages work, not a cycle: a submodule
    reaching back into its package is what is counted."""

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from pkg import sub` imports the submodule; `from pkg import name`, the package.
                imported = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                            for a in node.names]  # fmt: skip
            else:
                continue
            targets |= {target for target in map(resolve, imported) if target and target != name}
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_two_project_modules_import_each_other():
    found = cycles(import_graph(project_modules()))
    assert not found, "import cycles (a lazy import inside a function counts): " + "; ".join(
        " <-> ".join(group) for group in found
    )


def test_the_cycle_check_finds_a_loop_through_a_lazy_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
