"""Helpers for end-to-end worker tests: write job files by hand (the documented format) and run the
real worker as a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from desktop_ift.core import events as ev
from desktop_ift.core.job_format import worker_command
from desktop_ift.core.store import Store
from desktop_ift.core.training.config import GenerationConfig, TrainConfig


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make_train_job(store: Store, model: str, config: TrainConfig, train: list[dict],
                   validation: list[dict] = (), test: list[dict] = ()) -> Path:
    """Create a queued training run with the given rows and return its job.json (format of core.job_format)."""
    run = store.create_run("train", config=config.to_dict(), name="test run")
    run_dir = Path(run.run_dir)
    (run_dir / "data").mkdir(exist_ok=True)
    data = {part: str(write_jsonl(run_dir / "data" / f"{part}.jsonl", list(rows)))
            for part, rows in (("train", train), ("validation", validation), ("test", test))}
    job = {"kind": "train", "version": 1, "run_id": run.id, "workspace": str(store.home), "model": model,
           "config": config.to_dict(), "data": data, "output_dir": str(run_dir / "output"),
           "resume_from": None, "source": {"dataset_name": "toy", "dataset_version": 1,
                                           "template": {"prompt": "{{ message }}", "response": "{{ label }}"}}}
    path = run_dir / "job.json"
    path.write_text(json.dumps(job, indent=2), encoding="utf-8")
    return path


def make_eval_job(store: Store, test_rows: list[dict], models: list[dict],
                  generation: GenerationConfig | None = None, labels="auto") -> Path:
    """Create a queued evaluation run over ``test_rows`` and return its job.json."""
    generation = generation or GenerationConfig(max_new_tokens=6, batch_size=16)
    run = store.create_run("evaluate", config={"models": models})
    run_dir = Path(run.run_dir)
    test_path = write_jsonl(run_dir / "test.jsonl", test_rows)
    job = {"kind": "evaluate", "version": 1, "run_id": run.id, "workspace": str(store.home),
           "test_data": str(test_path), "models": models, "generation": generation.to_dict(), "labels": labels}
    path = run_dir / "job.json"
    path.write_text(json.dumps(job, indent=2), encoding="utf-8")
    return path


@dataclass
class WorkerResult:
    returncode: int
    events: list[ev.Event]
    raw_lines: list[str]
    stderr: str
    seconds: float
    run_id: str = ""
    extra: dict = field(default_factory=dict)

    def of_type(self, kind: str) -> list[ev.Event]:
        return [e for e in self.events if e.type == kind]

    @property
    def last(self) -> ev.Event:
        return self.events[-1]


def worker_env() -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="2")
    env.pop("HF_HUB_OFFLINE", None)  # the worker must set offline mode itself
    return env


def run_worker(job_path: Path, timeout: float = 240, on_event=None) -> WorkerResult:
    """Run ``python -m desktop_ift.core.worker job_path``; decode stdout into events as they come.

    ``on_event(proc, event)`` is called for each event while the process runs (to send SIGTERM, ...).
    """
    started = time.monotonic()
    proc = subprocess.Popen(worker_command(job_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=worker_env())
    events, lines = [], []
    watchdog = threading.Timer(timeout, proc.kill)  # a hung worker must not hang the test run
    watchdog.start()
    try:
        for raw in proc.stdout:
            line = raw.decode("utf-8")
            lines.append(line)
            event = ev.decode(line)  # raises if anything but an event reached stdout
            events.append(event)
            if on_event is not None:
                on_event(proc, event)
        proc.wait(timeout=timeout)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode("utf-8", errors="replace")
    run_id = json.loads(Path(job_path).read_text())["run_id"]
    return WorkerResult(proc.returncode, events, lines, stderr, time.monotonic() - started, run_id)


@pytest.fixture(scope="session")
def worker():
    """``worker.train_job(...)``, ``worker.eval_job(...)``, ``worker.run(job_path, ...)``, ``worker.env()``."""
    from types import SimpleNamespace

    return SimpleNamespace(train_job=make_train_job, eval_job=make_eval_job, run=run_worker, env=worker_env)


@pytest.fixture
def store(workspace_home):
    s = Store.open(workspace_home)
    yield s
    s.close()


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory, tiny_model_dir):
    """A tiny T5 built from a config (random weights) with the tiny tokenizer: no download."""
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = None
    config = T5Config(vocab_size=len(tok), d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4,
                      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                      decoder_start_token_id=tok.pad_token_id)
    folder = tmp_path_factory.mktemp("t5") / "tiny-t5"
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
