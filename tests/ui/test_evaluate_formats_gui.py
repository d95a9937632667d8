"""A chat run and a continued-pre-training run, trained by the real worker, are evaluated from the Evaluate
page (real evaluation process): the page shows the chat scores with their label set and the held-out loss of
the documents, base vs tuned."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from desktop_ift.core.job_format import worker_command
from desktop_ift.core.training.config import TrainConfig

pytestmark = pytest.mark.slow


def _train(store, project_id, model_dir, train, test):
    """A training run of the project with these data lines, run to the end by the real worker."""
    config = TrainConfig(method="lora", max_steps=3, batch_size=8, lora_r=4, lora_alpha=16, learning_rate=1e-2,
                         max_seq_length=128)
    run = store.create_run("train", config=config.to_dict(), project_id=project_id, name="formats")
    run_dir = Path(run.run_dir)
    (run_dir / "data").mkdir(exist_ok=True)
    data = {}
    for part, rows in (("train", train), ("validation", []), ("test", test)):
        data[part] = str(run_dir / "data" / f"{part}.jsonl")
        Path(data[part]).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    job = {"kind": "train", "version": 1, "run_id": run.id, "workspace": str(store.home), "model": str(model_dir),
           "config": config.to_dict(), "data": data, "output_dir": str(run_dir / "output"), "resume_from": None,
           "source": {"dataset_name": "toy", "dataset_version": 1}}
    job_path = run_dir / "job.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")
    done = subprocess.run(worker_command(job_path), capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    return run


def _evaluate_from_the_page(window, qtbot, run):
    window.state.runs_changed.emit()
    window.show_page(window.evaluate_page)
    page = window.evaluate_page
    page.run_combo.setCurrentIndex(page.run_combo.findData(run.id))
    qtbot.waitUntil(lambda: page._measured_for is not None and "Measuring" not in page.length_note.text(),
                    timeout=30000)
    qtbot.waitUntil(lambda: page.evaluate_button.isEnabled(), timeout=15000)
    page.evaluate_button.click()
    qtbot.waitUntil(lambda: bool(page.eval_run_id) and page.status == "finished" and page.results_table.rowCount() > 0,
                    timeout=300000)
    return page


def test_chat_and_pretraining_runs_are_evaluated_from_the_page(window, qtbot, store, tiny_model_dir, toy):
    project_id = window.state.project.id
    conversations = [{"idx": i, "system": "Classify.", "messages": [
        {"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": "Which category?"},
        {"role": "user", "content": "Pick one."}, {"role": "assistant", "content": r["response"]}]}
        for i, r in enumerate(toy.rows(30))]
    chat = _train(store, project_id, tiny_model_dir, conversations[:24], conversations[24:])
    page = _evaluate_from_the_page(window, qtbot, chat)
    assert page.answer_length is not None and page.answer_length.references == 6
    results = store.eval_results(page.eval_run_id)
    assert set(results) == {"base", "fine-tuned"}
    assert page.result_cell("Loss (answer tokens)", 1) is not None
    assert "Label set: billing, shipping, technical (detected from the test references)" in page.method_summary.text()
    assert "last assistant turn" in page.method_view.text()
    assert page.examples_table.rowCount() == 6

    docs = [{"idx": i, "text": f"Ticket {i}: {r['prompt']} It was about {r['response']}."}
            for i, r in enumerate(toy.rows(30))]
    pretrain = _train(store, project_id, tiny_model_dir, docs[:24], docs[24:])
    page = _evaluate_from_the_page(window, qtbot, pretrain)
    assert "nothing is generated" in page.length_note.text()
    base, tuned = page.result_cell("Loss (test documents)", 0), page.result_cell("Loss (test documents)", 1)
    assert float(tuned.text()) < float(base.text())
    assert "held-out loss" in page.method_view.text()
