"""The data commands of the real ``desktop-ift`` CLI: import with overrides, inspect, split, clean, combine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL)


def test_import_inspect_split_clean_from_the_command_line(tmp_path):
    ws = tmp_path / "ws"
    data = tmp_path / "faq.txt"
    data.write_bytes("1|  Où est mon colis? |shipping|train\n2|Facture|billing|val\n3|Facture|billing|test\n"
                     "4||billing|train\n".encode("cp1252"))
    out = cli(ws, "import", str(data), "--project", "FAQ", "--delimiter", "|", "--encoding", "cp1252",
              "--no-header")
    assert out.returncode == 0, out.stderr
    assert "faq (v1, 4 rows)" in out.stdout and "column_2 (string)" in out.stdout

    out = cli(ws, "inspect", "1")
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if l.startswith("column_2"))
    assert line.split()[1:4] == ["string", "1", "3"]  # one empty cell, three distinct texts

    out = cli(ws, "split", "1", "--split-column", "column_4", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == {"train": 2, "validation": 1, "test": 1}
    out = cli(ws, "split", "1", "--ratios", "0.5,0.25,0.25", "--seed", "3", "--json")
    assert json.loads(out.stdout.splitlines()[-1]) == {"train": 2, "validation": 1, "test": 1}
    out = cli(ws, "split", "1", "--split-column", "column_3")
    assert out.returncode == 1 and "Row 1 has 'shipping'" in out.stderr and "Traceback" not in out.stderr

    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"steps": [
        {"kind": "trim_whitespace"}, {"kind": "drop_empty_rows", "columns": ["column_2"]},
        {"kind": "drop_duplicates", "columns": ["column_2"]},
        {"kind": "rename_columns", "mapping": {"column_2": "question", "column_3": "label"}}]}))
    out = cli(ws, "clean", "1", "--recipe", str(recipe))
    assert out.returncode == 0, out.stderr
    assert "faq (v2, 2 rows)" in out.stdout and "2 rows removed" in out.stdout
    out = cli(ws, "inspect", "2", "--json")
    summaries = json.loads(out.stdout.splitlines()[-1])
    assert [s["name"] for s in summaries] == ["column_1", "question", "label", "column_4"]
    assert "Cleaned from dataset 1" in out.stdout

    recipe.write_text('{"steps": [{"kind": "filter_rows", "column": "nope", "operator": "is_empty"}]}')
    out = cli(ws, "clean", "1", "--recipe", str(recipe))
    assert out.returncode == 1 and "no column 'nope'" in out.stderr
