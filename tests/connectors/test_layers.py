"""`connectors` is the ground floor: no module under it imports `integrations` or `workflows`,
at the top or inside a function. What it needs from the hub comes through the ports on Context."""

import ast
from pathlib import Path

CONNECTORS = Path(__file__).resolve().parents[2] / "connectors"
UPPER_FLOORS = ("integrations", "workflows")


def upward_imports(path: Path, root: Path = CONNECTORS.parent) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            names = [arg.value for arg in node.args[:1] if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
        else:
            continue
        found += [f"{path.relative_to(root)}:{node.lineno} {n}" for n in names if n.split(".")[0] in UPPER_FLOORS]
    return found


def test_no_connector_module_imports_the_floors_above():
    modules = sorted(CONNECTORS.rglob("*.py"))
    assert len(modules) > 20  # the walk really sees the package
    offenders = [hit for path in modules for hit in upward_imports(path)]
    assert offenders == []


def test_the_walk_finds_an_import_hidden_in_a_function(tmp_path):
    module = tmp_path / "sneaky.py"
    module.write_text("def f():\n    from integrations.models import SyncedItem\n    import workflows.models\n")
    hits = upward_imports(module, root=tmp_path)
    assert [hit.split(" ")[1] for hit in hits] == ["integrations.models", "workflows.models"]
