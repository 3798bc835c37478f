"""How harmony's modules depend on each other: no cycles, and the runtimes' packages apart.

Read from the source (each module's top-level imports; an import inside a function is a choice
made to break no rule here, and is left out), so a new cycle or a new import across the lines
fails here rather than in a reader's head.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "harmony"
RUNTIMES = ("harmony.k3s", "harmony.k3d")
REGISTRY = "harmony.runtimes"  # lists the runtimes: it alone imports each one's strategy (RUNTIMES' .runtime)

def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports() -> dict[str, set[str]]:
    """{module: the harmony modules it imports at its top level}."""
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for statement in ast.parse(path.read_text()).body:
            if isinstance(statement, ast.ImportFrom) and (statement.module or "").startswith("harmony"):
                for alias in statement.names:
                    member = f"{statement.module}.{alias.name}"
                    graph[name].add(member if member in known else statement.module)
            elif isinstance(statement, ast.Import):
                graph[name] |= {alias.name for alias in statement.names if alias.name.startswith("harmony")}
    return graph


def runtime_of(module: str) -> str | None:
    return next((r for r in RUNTIMES if module == r or module.startswith(r + ".")), None)


def test_no_module_imports_itself_through_others():
    graph = imports()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and not seen.add(nxt) and reaches(nxt, goal, seen)):
                return True
        return False

    assert [m for m in graph if reaches(m, m, set())] == []


def test_shared_modules_import_no_runtime_and_a_runtime_not_the_other():
    crossing = {(module, target) for module, targets in imports().items() for target in targets
                if runtime_of(target) and runtime_of(target) != runtime_of(module)
                and not (module == REGISTRY and target == f"{runtime_of(target)}.runtime")}
    assert crossing == set(), "imports across the runtimes' lines"
