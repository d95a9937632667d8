"""Issue 13 end to end through the real CLI and worker: the plan printed before launch says how many
examples are longer than the maximum length, and the worker trains exactly the examples it announced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def _job(out) -> dict:
    assert out.returncode == 0, out.stderr
    return json.loads(Path(out.stdout.strip().splitlines()[-1]).read_text(encoding="utf-8"))


@pytest.mark.slow
def test_400_examples_356_too_long_are_truncated_by_default_and_dropped_only_when_asked(
        workspace_home, demo_model_in_workspace, tmp_path):
    home = workspace_home
    rows = ["id,text,label"]
    for i in range(400):
        text = ("the parcel never arrived and nobody answers my emails about it " * 8) if i >= 44 else f"hi {i}"
        rows.append(f"{i},{text},{'shipping' if i % 2 else 'billing'}")
    src = tmp_path / "long.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert cli(home, "import", str(src), "--project", "Long").returncode == 0
    from desktop_ift.core.store import Store

    with Store.open(home) as store:
        project = store.find_project("Long")
        template = store.save_template(project.id, "Echo", "Text: {{ text }}", "{{ label }}")
    common = ["prepare-train", "--project", "Long", "--template", str(template.id), "--split", "1", "0", "0",
              "--max-seq-length", "64", "--max-steps", "2", "--batch-size", "16", "--no-packing"]

    default = cli(home, *common)
    job = _job(default)
    assert "356 of 400 training examples are longer: truncated" in default.stdout
    assert "Training on  400 training examples" in default.stdout
    assert job["plan"]["lengths"]["trained"]["train"] == 400

    dropped = cli(home, *common, "--drop-long")
    drop_job = _job(dropped)
    assert "356 of 400 training examples are longer: dropped" in dropped.stdout
    assert "Training on  44 training examples" in dropped.stdout

    for job_data, n in ((job, 400), (drop_job, 44)):
        run_dir = Path(job_data["output_dir"]).parent
        out = cli(home, "train", str(run_dir / "job.json"))
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"on {400} examples" in out.stdout  # the lines written: every example of the split
        assert f"{n} training examples (tokenized, 356 longer than 64 tokens" in out.stdout, out.stdout
