"""The real ``desktop-ift`` command line, run as a subprocess on a temporary workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def test_version_and_workspace(tmp_path):
    out = cli(tmp_path, "--version")
    assert out.returncode == 0 and "desktop_ift" in out.stdout
    out = cli(tmp_path, "workspace")
    assert out.returncode == 0 and Path(out.stdout.strip()) == tmp_path.resolve()


def test_import_then_list(tmp_path):
    data = tmp_path / "claims.csv"
    data.write_text("text,label\nwindow broken,property\ncar hit a fence,auto\n", encoding="utf-8")
    out = cli(tmp_path / "ws", "import", str(data), "--project", "Claims")
    assert out.returncode == 0, out.stderr
    assert "claims (v1, 2 rows)" in out.stdout
    listed = cli(tmp_path / "ws", "datasets", "--project", "Claims")
    assert "claims (v1, 2 rows)" in listed.stdout and "text, label" in listed.stdout


@pytest.mark.parametrize("content, expected", [
    (None, "not found"),
    ("", "empty"),
])
def test_bad_import_gives_one_clear_line_and_no_traceback(tmp_path, content, expected):
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_text(content)
    out = cli(tmp_path / "ws", "import", str(path))
    assert out.returncode == 1
    assert expected in out.stderr.lower()
    assert "Traceback" not in out.stderr
    assert str(path.name) in out.stderr


def test_unknown_project_is_named_with_the_known_ones(tmp_path):
    out = cli(tmp_path, "datasets", "--project", "Nope")
    assert out.returncode == 1 and "No project named 'Nope'" in out.stderr


def test_train_with_a_missing_job_file_says_so(tmp_path):
    out = cli(tmp_path, "train", str(tmp_path / "missing.json"))
    assert out.returncode == 1 and "Job file not found" in out.stderr and "Traceback" not in out.stderr


def test_prepare_train_with_a_folder_that_is_not_a_model(tmp_path):
    not_a_model = tmp_path / "photos"
    not_a_model.mkdir()
    out = cli(tmp_path / "ws", "prepare-train", "--model", str(not_a_model))
    assert out.returncode == 1
    assert "not a model folder" in out.stderr and "config.json" in out.stderr


@pytest.mark.slow
def test_headless_demo_runs_the_whole_flow_and_the_fine_tuned_model_wins(tmp_path):
    """import -> template -> split -> train the tiny model -> evaluate base and fine-tuned -> table.
    (The default, the bundled SmolLM2, is tested in test_bundled_model.py.)"""
    home = tmp_path / "ws"
    out = cli(home, "demo", "--headless", "--model", "tiny", timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "1/4 Data" in out.stdout and "4/4 Evaluating" in out.stdout
    table = out.stdout.split("4/4 Evaluating")[1]
    assert "Accuracy" in table and "ROUGE-L" in table

    from desktop_ift.core.store import Store

    with Store.open(home) as store:
        evals = store.list_runs(kind="evaluate")
        assert len(evals) == 1 and evals[0].status == "finished"
        results = store.eval_results(evals[0].id)
        train = store.list_runs(kind="train")[0]
        assert train.status == "finished" and len(store.metric_series(train.id, "loss")) > 5
    assert set(results) == {"base", "fine-tuned"}
    assert results["fine-tuned"]["accuracy"] >= 0.9, results
    assert results["base"]["accuracy"] <= 0.4, results
    assert results["fine-tuned"]["rougeL"] > results["base"]["rougeL"]

    again = cli(home, "results", evals[0].id, "--json")
    assert json.loads(again.stdout)["fine-tuned"]["accuracy"] == results["fine-tuned"]["accuracy"]
