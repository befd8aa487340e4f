"""No import cycle inside datamanagement (issue 17): read from the code's own imports, counting
that importing `a.b.c` first runs the package files `a/__init__.py` and `a/b/__init__.py`
(the cycle guard → services/__init__ → guard that a re-exporting package file makes)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def import_graph(package: str) -> dict[str, set[str]]:
    modules = {}
    for path in (ROOT / package.replace(".", "/")).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = ".".join(here.split(".")[: len(here.split(".")) - node.level + 1])
                    base = f"{anchor}.{base}" if base else anchor
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                pieces = target.split(".")
                for i in range(1, len(pieces) + 1):  # every package file on the way runs
                    step = ".".join(pieces[:i])
                    if step in modules and step != name:
                        edges.add(step)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_datamanagement_has_no_import_cycle():
    graph = import_graph("datamanagement")
    assert "datamanagement.services.guard" in graph and graph["datamanagement.services.guard"]
    assert cycles(graph) == []


def test_the_graph_finds_a_cycle_through_a_package_file():
    """The rule can fail: a package file importing its module, which imports a sibling."""
    graph = {"p": {"p.guard"}, "p.guard": {"p", "p.sdv"}, "p.sdv": {"p"}}
    assert cycles(graph) == [["p", "p.guard", "p.sdv"]]
