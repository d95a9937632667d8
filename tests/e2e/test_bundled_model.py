"""The bundled SmolLM2-135M-Instruct end to end through the real CLI: the headless demo fine-tunes it
and beats the base model; the *Quick try* preset visibly learns. Slow (minutes on a 2-core CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop_ift.core.store import Store

pytestmark = pytest.mark.slow


def cli(home: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    """The real ``desktop-ift`` command in a child process on the workspace ``home``."""
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def test_headless_demo_fine_tunes_the_bundled_model_and_beats_the_base(bundled_model_in_workspace,
                                                                       workspace_home):
    started = time.time()
    out = cli(workspace_home, "demo", "--headless", timeout=1500)
    elapsed = time.time() - started
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Training SmolLM2-135M-Instruct (135M parameters) with lora" in out.stdout
    with Store.open(workspace_home) as store:
        train = store.list_runs(kind="train")[0]
        assert Path(train.config["model"]).name == "SmolLM2-135M-Instruct"
        evals = store.list_runs(kind="evaluate")
        results = store.eval_results(evals[0].id)
    print(f"headless demo on SmolLM2: {elapsed:.0f} s, accuracy base {results['base']['accuracy']:.3f} "
          f"-> fine-tuned {results['fine-tuned']['accuracy']:.3f}")
    assert results["base"]["accuracy"] <= 0.4, results
    assert results["fine-tuned"]["accuracy"] >= 0.8, results
    assert results["fine-tuned"]["accuracy"] > results["base"]["accuracy"]


def test_quick_try_on_the_bundled_model_visibly_learns(bundled_model_in_workspace, workspace_home):
    out = cli(workspace_home, "prepare-train", "--preset", "Quick try", timeout=300)
    assert out.returncode == 0, out.stderr
    job_path = Path(out.stdout.strip().splitlines()[-1])
    config = json.loads(job_path.read_text())["config"]
    assert config["max_steps"] == 20 and config["learning_rate"] == 1e-3 and not config["packing"]
    # sized to the demo tickets' token lengths in SmolLM2's tokenizer, said before launch (not the cap of 512)
    assert "Preset 'Quick try':" in out.stdout and "fits the longest example" in out.stdout
    assert f"Maximum length {config['max_seq_length']} tokens" in out.stdout and config["max_seq_length"] < 512
    started = time.time()
    out = cli(workspace_home, "train", str(job_path), timeout=900)
    elapsed = time.time() - started
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    with Store.open(workspace_home) as store:
        run_id = json.loads(job_path.read_text())["run_id"]
        losses = [value for _, value in store.metric_series(run_id, "loss")]
    print(f"quick try on SmolLM2: {elapsed:.0f} s, loss {losses[:5]} ... {losses[-5:]}")
    assert len(losses) >= 10
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.6 * first, losses
