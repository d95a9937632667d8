"""Core's modules form layers: no import circle between them (counting imports inside functions too), so
the job format, the prompt formatting and the error types stay at the bottom (issue 13). The command line's
modules form no circle either, so each can import the others at its top."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "desktop_ift"
CORE = PACKAGE / "core"
CLI = PACKAGE / "cli"


def _module_name(path: Path) -> str:
    parts = ("desktop_ift", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = CORE) -> dict[str, set[str]]:
    """Each module under ``root`` (core by default) -> the modules under ``root`` it imports anywhere in its
    source (a package's own ``__init__`` is not counted: importing a submodule runs it anyway)."""
    modules = {_module_name(p): p for p in root.rglob("*.py") if "__pycache__" not in p.parts}
    package = _module_name(root / "__init__.py")
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[name] |= {t for t in targets if t in modules and t not in (name, package)}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
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
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_check_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_core_has_no_import_circle():
    graph = import_graph()
    # the graph sees imports inside functions too (recipe imports its torch-bound helpers lazily)
    assert "desktop_ift.core.training.callbacks" in graph["desktop_ift.core.training.recipe"]
    assert circles(graph) == []


def test_the_command_line_has_no_import_circle():
    graph = import_graph(CLI)
    assert "desktop_ift.cli.common" in graph["desktop_ift.cli.training"]
    assert circles(graph) == []


def test_the_job_format_and_the_plan_are_at_the_bottom():
    graph = import_graph()
    for bottom in ("job_format", "errors", "prompt_format", "hub_cache"):  # import nothing of the project
        assert graph[f"desktop_ift.core.{bottom}"] == set(), bottom
    assert graph["desktop_ift.core.training.plan"] <= {"desktop_ift.core.training.config",
                                                       "desktop_ift.core.data.splits"}
