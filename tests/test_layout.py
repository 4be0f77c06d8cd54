"""The package's shape: no import cycles, counting the imports written inside functions as well as those
at the top of a module, and few modules outside the subpackages that name the layers."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "triage"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The package's modules that one import statement runs: the module named, or for `from X import y`
    the submodule X.y when y is one (else X itself)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        here = module.split(".") if is_package else module.split(".")[:-1]
        base = here[: len(here) - node.level + 1] if node.level else []
        source = ".".join(base + (node.module.split(".") if node.module else []))
        names = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source for alias in node.names]
    found = set()
    for name in names:
        while name and name not in known:  # `import triage.x.y` where y is a function: the module is x
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= imported(module, path.name == "__init__.py", node, known)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph[step]))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    tree = ast.parse("def f():\n    from triage.casework import arrivals\n")
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom))
    assert imported("triage.faces.detection", False, node, {"triage.casework.arrivals", "triage.casework"}) == {
        "triage.casework.arrivals"
    }


def test_no_import_cycles_counting_imports_inside_functions():
    graph = import_graph()
    assert len(graph) > 50, "the graph should hold every module of the package"
    assert cycles(graph) == []


def test_few_modules_outside_the_layer_subpackages():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top
    rooms = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert {"store", "faces", "intake", "casework", "outputs", "exchange", "evaluation", "cli"} <= rooms


def test_every_package_folder_is_in_the_wheel():
    """setuptools ships only the packages pyproject.toml lists: a folder left out installs without its code."""
    import tomllib

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(p.parent.relative_to(PACKAGE.parent).parts) for p in PACKAGE.rglob("__init__.py")}
    assert folders - listed == set()
