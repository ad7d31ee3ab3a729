"""The shape of the code that the guide promises: calls go one way, tickets know no transport."""

from __future__ import annotations

import ast
from pathlib import Path

HELPDESK = Path(__file__).resolve().parents[2] / "helpdesk"


def _module_name(path: Path) -> str:
    parts = path.relative_to(HELPDESK.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside functions, but not under TYPE_CHECKING."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                # "from helpdesk import audit" imports the module helpdesk.audit; "from x import name", x.
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULE_NAMES else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


MODULES = {_module_name(p): p for p in HELPDESK.rglob("*.py") if "migrations" not in p.parts}
MODULE_NAMES = frozenset(MODULES)
GRAPH = {name: {m for m in _imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def test_no_import_cycles_even_through_deferred_imports() -> None:
    cycles = []

    def walk(start: str, node: str, trail: list[str]) -> None:
        for target in sorted(GRAPH[node]):
            if target == start:
                cycles.append(" -> ".join([*trail, target]))
            elif target not in trail and target > start:  # each cycle once, from its smallest module
                walk(start, target, [*trail, target])

    for name in sorted(GRAPH):
        walk(name, name, [name])
    assert cycles == []


def test_tickets_know_no_transport_and_no_web_framework() -> None:
    forbidden = ("helpdesk.channels", "slack_sdk", "pydiscourse", "flask", "helpdesk.web", "helpdesk.cli")
    offenders = {
        name: sorted(m for m in _imports(path) if m.startswith(forbidden))
        for name, path in MODULES.items() if name.startswith("helpdesk.tickets.") and not name.endswith((".routes", ".forms"))
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_services_never_import_routes() -> None:
    offenders = {
        name: sorted(m for m in _imports(path) if m.endswith(".routes") or m == "helpdesk.web")
        for name, path in MODULES.items() if name.endswith(".services")
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}
