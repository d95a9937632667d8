"""Imports between project files stand at the top of each file (issue 13): a reader sees what a module
depends on in one place, and the import graph the cycle check draws is the one Python runs.

An import stays inside a function only when the module it names loads a heavy library when imported
(torch, transformers, peft, accelerate, trl, datasets, evaluate, or Qt) and the importing module must stay
light: the GUI and the command line's listings import it. Each such import is named in ``LAZY_ALLOWED``
with why. The evaluation files (``core/evaluation/``, ``cli/evaluation.py``) are checked elsewhere.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = REPO_ROOT / "desktop_ift"
CHECKED = (PACKAGE / "core", PACKAGE / "cli")
NOT_CHECKED = ("desktop_ift/core/evaluation/", "desktop_ift/cli/evaluation.py")
HEAVY = frozenset({"torch", "transformers", "peft", "accelerate", "trl", "datasets", "evaluate", "PySide6",
                   "shiboken6", "pyqtgraph"})

#: (file, imported module) -> why the import stays inside a function.
LAZY_ALLOWED = {
    ("desktop_ift/core/training/recipe.py", "desktop_ift.core.training.callbacks"):
        "pulls transformers (TrainerCallback); recipe is imported by core.runs, which the GUI and `runs` load",
    ("desktop_ift/core/training/recipe.py", "desktop_ift.core.training.segment_attention"):
        "pulls torch; recipe must stay importable without it (core.runs imports it)",
    ("desktop_ift/core/training/recipe.py", "desktop_ift.core.training.response_logits"):
        "pulls torch and transformers; recipe must stay importable without them (core.runs imports it)",
    ("desktop_ift/cli/app.py", "desktop_ift.ui.app"):
        "pulls PySide6: only `desktop-ift gui` starts the window; no other command loads Qt",
}


def _checked_files() -> list[Path]:
    files = []
    for root in CHECKED:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(REPO_ROOT).as_posix()
            if "__pycache__" not in path.parts and not rel.startswith(NOT_CHECKED):
                files.append(path)
    return files


def function_level_project_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``desktop_ift`` import inside a function (or a method) of ``path``."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, ast.ImportFrom) and child.level == 0 \
                    and (child.module or "").startswith("desktop_ift"):
                found.append((child.lineno, child.module))
            elif in_function and isinstance(child, ast.Import):
                found.extend((child.lineno, a.name) for a in child.names if a.name.startswith("desktop_ift"))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _all_function_level_imports() -> dict[tuple[str, str], list[int]]:
    found: dict[tuple[str, str], list[int]] = {}
    for path in _checked_files():
        for line, module in function_level_project_imports(path):
            found.setdefault((path.relative_to(REPO_ROOT).as_posix(), module), []).append(line)
    return found


def test_the_scanner_sees_imports_in_functions_and_methods_only(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text(textwrap.dedent("""
        from desktop_ift.core import events
        import desktop_ift.core.store


        def f():
            from desktop_ift.core.store import Store
            if True:
                import desktop_ift.core.disk


        class C:
            def m(self):
                from desktop_ift.core.job_format import JobError
    """), encoding="utf-8")
    assert function_level_project_imports(path) == [(7, "desktop_ift.core.store"), (9, "desktop_ift.core.disk"),
                                                     (14, "desktop_ift.core.job_format")]


def test_imports_between_project_files_stand_at_the_top() -> None:
    stray = {key: lines for key, lines in _all_function_level_imports().items() if key not in LAZY_ALLOWED}
    assert not stray, (
        "move these imports to the top of the file (or, when the module pulls torch/transformers/Qt and the "
        "importer must stay light, add it to LAZY_ALLOWED with why):\n"
        + "\n".join(f"{file}:{lines} imports {module} in a function" for (file, module), lines in sorted(stray.items()))
    )


def test_the_allow_list_names_only_imports_that_exist() -> None:
    stale = set(LAZY_ALLOWED) - set(_all_function_level_imports())
    assert not stale, f"LAZY_ALLOWED names imports that are no longer lazy: {sorted(stale)}"


def _module_path(module: str) -> Path | None:
    base = REPO_ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _loads_at_import(module: str, seen: set[str]) -> set[str]:
    """The heavy libraries importing ``module`` loads, following the module-level imports of project files."""
    path = _module_path(module)
    if path is None or module in seen:
        return set()
    seen.add(module)
    heavy: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            names = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module] + [f"{child.module}.{a.name}" for a in child.names]
            for name in names:
                top = name.split(".")[0]
                if top in HEAVY:
                    heavy.add(top)
                elif top == "desktop_ift":
                    heavy.update(_loads_at_import(name, seen))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return heavy


@pytest.mark.parametrize(("file", "module"), sorted(LAZY_ALLOWED))
def test_each_allowed_lazy_import_names_a_heavy_module(file: str, module: str) -> None:
    assert _loads_at_import(module, set()), f"{module} loads no heavy library: import it at the top of {file}"
    assert not _loads_at_import(_module_name(file), set()), f"{file} itself is heavy: its lazy import buys nothing"


def _module_name(file: str) -> str:
    parts = Path(file).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


_RUN_CLI_AND_LIST_MODULES = """
    import contextlib, io, json, sys
    from desktop_ift.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(sys.argv[1:])
        except SystemExit as exc:  # --help
            code = exc.code
    print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


@pytest.mark.parametrize("argv", [["--help"], ["runs", "--help"], ["runs"], ["templates"], ["projects"]])
def test_listing_commands_do_not_load_torch_or_qt(tmp_path: Path, argv: list[str]) -> None:
    """The command line's listings answer at once: they never load torch, transformers or Qt (~5 s)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "DESKTOP_IFT_HOME": str(tmp_path / "ws")}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(_RUN_CLI_AND_LIST_MODULES), *argv],
                            capture_output=True, text=True, env=env, timeout=120, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, result.stderr
    loaded = sorted(set(report["modules"]) & HEAVY)
    assert not loaded, f"desktop-ift {' '.join(argv)} loads {loaded}"
