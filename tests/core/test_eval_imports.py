"""Imports between project files stand at the top of the evaluation files (issue 13), except the metrics
module: it loads scikit-learn (with pandas), sacrebleu and rouge_score (~3 s), which the GUI's start, the
command line's listings and a continued-pre-training evaluation do not need. Each lazy import says so in a
``# lazy:`` comment on its line or the line before."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((REPO_ROOT / "desktop_ift" / "core" / "evaluation").glob("*.py")) + [
    REPO_ROOT / "desktop_ift" / "cli" / "evaluation.py"]
LAZY_ALLOWED = {"desktop_ift.core.evaluation.metrics"}
METRICS_LIBRARIES = {"sklearn", "pandas", "sacrebleu", "rouge_score"}


def _function_level_imports(path: Path) -> list[tuple[int, str]]:
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                names = [child.module or ""] if isinstance(child, ast.ImportFrom) else [a.name for a in child.names]
                found.extend((child.lineno, name) for name in names if name.startswith("desktop_ift"))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def test_only_the_metrics_module_is_imported_inside_functions_and_each_says_why():
    lines = {path: path.read_text(encoding="utf-8").splitlines() for path in FILES}
    stray, silent = [], []
    for path in FILES:
        rel = path.relative_to(REPO_ROOT).as_posix()
        for lineno, module in _function_level_imports(path):
            if module not in LAZY_ALLOWED:
                stray.append(f"{rel}:{lineno} {module}")
            elif not any("# lazy:" in lines[path][i] for i in (lineno - 2, lineno - 1) if i >= 0):
                silent.append(f"{rel}:{lineno}")
    assert not stray, f"move these imports to the top of their file: {stray}"
    assert not silent, f"say why these imports stay lazy (a '# lazy:' comment): {silent}"


def _loaded_after_import(modules: list[str]) -> set[str]:
    code = ("import json, sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


def test_the_lazy_import_is_still_needed_and_the_light_modules_stay_light():
    assert METRICS_LIBRARIES & _loaded_after_import(["desktop_ift.core.evaluation.metrics"])  # still heavy
    light = ["desktop_ift.cli.evaluation", "desktop_ift.core.evaluation.eval_jobs",
             "desktop_ift.core.evaluation.results", "desktop_ift.core.evaluation.comparison",
             "desktop_ift.core.evaluation.runner", "desktop_ift.core.evaluation.benchmarks"]
    loaded = _loaded_after_import(light)
    heavy = loaded & (METRICS_LIBRARIES | {"torch", "transformers", "peft", "accelerate", "trl", "datasets"})
    assert not heavy, f"importing the evaluation modules loads {sorted(heavy)}"
