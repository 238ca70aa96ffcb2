"""The packages' import structure: no import cycles, and a student library that stands alone.

The import graph is read from the source with :mod:`ast`, every ``import`` counted
wherever it is (at the top of a module or inside a function), except those under
``if TYPE_CHECKING:``, which only the type checker runs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("source_lib", "softsign_grader")

#: What the student library must never import: the grader, or the Jupyter grading stack.
FORBIDDEN_IN_SOURCE_LIB = ("softsign_grader", "nbgrader", "nbclient", "jupyter_client", "nbconvert")


def module_files() -> dict[str, Path]:
    """Return every module of :data:`PACKAGES`: ``{dotted name: file}``."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (its ``else`` is kept)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_names(name: str, path: Path) -> set[str]:
    """Return the dotted names a module imports (``from a import b`` gives ``a`` and ``a.b``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """Return the import graph of the packages' own modules: ``{module: modules it imports}``."""
    modules = module_files()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_names(name, path):
            # `import a.b.c` runs a, a.b and a.b.c; a package's __init__ counts as itself.
            parts = imported.split(".")
            for end in range(1, len(parts) + 1):
                prefix = ".".join(parts[:end])
                if prefix in modules and prefix != name and prefix not in PACKAGES:
                    targets.add(prefix)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import cycle of ``graph`` (its modules, the first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_graph_sees_the_packages_modules_and_their_imports():
    graph = import_graph()
    assert "softsign_grader.course" in graph
    assert "source_lib.activations" in graph
    assert "softsign_grader.course" in graph["softsign_grader.report"]  # inside a function


def test_there_is_no_import_cycle_among_the_packages_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(n for n in module_files() if n.startswith("source_lib")))
def test_the_student_library_imports_nothing_of_the_grader(name):
    imported = imported_names(name, module_files()[name])
    forbidden = sorted(i for i in imported if i.split(".")[0] in FORBIDDEN_IN_SOURCE_LIB)
    assert not forbidden, f"{name} imports {', '.join(forbidden)}"
