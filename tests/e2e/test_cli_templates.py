"""``desktop-ift templates ...`` for real: library, sets, checks and exports on a temporary workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True, env=env,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_library_template_set_check_and_export(tmp_path):
    home = tmp_path / "ws"
    data = tmp_path / "tickets.csv"
    rows = ["message,category"] + [f"message number {i},{'billing' if i % 2 else 'shipping'}" for i in range(10)]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert cli(home, "import", str(data), "--project", "P").returncode == 0

    listed = cli(home, "templates", "library", "--task", "classify")
    assert listed.returncode == 0 and len(listed.stdout.strip().splitlines()) >= 3

    for name, alias in (("Classify – text then question", "short"), ("Classify – answer with the category", "long")):
        out = cli(home, "templates", "use", name, "--project", "P", "--as", alias, "--map", "text=message",
                  "label=category")
        assert out.returncode == 0, out.stderr
    out = cli(home, "templates", "set", "mix", "--ids", "1", "2", "--mode", "all", "--project", "P")
    assert out.returncode == 0, out.stderr
    assert "mix\tall, templates 1, 2\t(current)" in cli(home, "templates", "--project", "P").stdout

    check = cli(home, "templates", "check", "--project", "P", "--dataset", "1")
    assert check.returncode == 0 and "20 examples from 10 rows" in check.stdout, check.stdout + check.stderr

    out_dir = tmp_path / "export"
    exported = cli(home, "templates", "export-data", "alpaca", str(out_dir), "--project", "P", "--dataset", "1",
                   "--no-split")
    assert exported.returncode == 0, exported.stderr
    records = json.loads((out_dir / "all.alpaca.json").read_text(encoding="utf-8"))
    assert len(records) == 20 and records[0]["output"] in ("billing", "shipping")
    assert records[0]["instruction"].startswith("Text: message number 0")


def test_check_names_a_missing_column_and_fails(tmp_path):
    home = tmp_path / "ws"
    data = tmp_path / "d.csv"
    data.write_text("text,label\nhello,a\nbye,b\n", encoding="utf-8")
    cli(home, "import", str(data), "--project", "P")
    cli(home, "templates", "use", "Summarise – TL;DR", "--project", "P")  # reads {{ text }} and {{ summary }}
    out = cli(home, "templates", "check", "--project", "P", "--dataset", "1")
    assert out.returncode == 1 and "no column 'summary'" in out.stdout and "text, label" in out.stdout


def test_library_export_and_import_round_trip(tmp_path):
    home = tmp_path / "ws"
    path = tmp_path / "builtin.yaml"
    assert cli(home, "templates", "export", str(path), "--builtin").returncode == 0
    out = cli(tmp_path / "other", "templates", "import", str(path))
    assert out.returncode == 0 and "Added 24 template(s)" in out.stdout


def test_a_template_names_more_reference_columns(tmp_path):
    home = tmp_path / "ws"
    data = tmp_path / "d.csv"
    data.write_text("text,summary,summary2\nhello there,hi,greeting\n", encoding="utf-8")
    cli(home, "import", str(data), "--project", "P")
    assert cli(home, "templates", "use", "Summarise – TL;DR", "--project", "P").returncode == 0
    out = cli(home, "templates", "references", "1", "summary2, summary3")
    assert out.returncode == 0 and "the columns summary2, summary3 as references" in out.stdout, out.stderr
    assert "summary2, summary3" in cli(home, "templates", "references", "1").stdout
    assert "the only reference" in cli(home, "templates", "references", "1", "").stdout
    missing = cli(home, "templates", "references", "9", "x")
    assert missing.returncode != 0 and "no template with id 9" in (missing.stdout + missing.stderr)
