"""Evaluate page settings and what the results say about how they were measured: the longest answer comes
from the chosen split's references (and says so, or says the user set it), the split and ROUGE stemming are
chosen on the page, and chat and continued-pre-training evaluations are shown with their label set and
method."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from desktop_ift.core import events as ev
from desktop_ift.core.evaluation.metrics import describe_text_metrics
from desktop_ift.core.job_format import JOB_VERSION


def _train_run(store, tiny_model_dir, project_id, parts):
    run = store.create_run("train", config={}, project_id=project_id, name="dialogue summaries")
    run_dir = Path(run.run_dir)
    (run_dir / "data").mkdir()
    data = {}
    for part, rows in parts.items():
        data[part] = str(run_dir / "data" / f"{part}.jsonl")
        Path(data[part]).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    output = run_dir / "output"
    output.mkdir()
    for f in Path(tiny_model_dir).iterdir():
        if f.name.startswith(("tokenizer", "special_tokens")):
            shutil.copy(f, output / f.name)
    job = {"kind": "train", "version": JOB_VERSION, "run_id": run.id, "workspace": str(store.home), "model": "demo",
           "config": {"method": "lora", "max_seq_length": 256}, "data": data, "output_dir": str(output)}
    (run_dir / "job.json").write_text(json.dumps(job), encoding="utf-8")
    store.append_event(ev.Started(run_id=run.id, seq=1, pid=1))  # finished as a worker says it: by events
    store.append_event(ev.Finished(run_id=run.id, seq=2, output_dir=str(output)))
    return store.update_run(run.id, status="finished", output_dir=str(output))


def _summaries(n, words):
    return [{"idx": i, "system": "", "prompt": f"Summarise {i}",
             "response": " ".join(f"person{k % 5} talked about item {k}" for k in range(words))} for i in range(n)]


def _select(window, qtbot, train):
    window.state.runs_changed.emit()
    page = window.evaluate_page
    page.run_combo.setCurrentIndex(page.run_combo.findData(train.id))
    qtbot.waitUntil(lambda: page.answer_length is not None, timeout=20000)
    return page


def test_the_longest_answer_comes_from_the_references_and_can_be_changed(window, qtbot, store, tiny_model_dir):
    from desktop_ift.core.evaluation.eval_jobs import suggest_answer_length

    train = _train_run(store, tiny_model_dir, window.state.project.id,
                       {"train": _summaries(4, 3), "test": _summaries(12, 10), "validation": _summaries(6, 3)})
    page = _select(window, qtbot, train)
    expected = suggest_answer_length(store, train.id, "test").value
    assert expected > 8 * 4  # summaries: far beyond the demo's old 8 tokens
    assert page.form.values()["max_new_tokens"] == expected
    assert "99th percentile" in page.length_note.text() and f"{expected} tokens" in page.length_note.text()
    assert page.chosen_max_new_tokens() is None  # derived: the job derives and records it as such

    page.form.set_values({"max_new_tokens": 8})
    assert "set by you" in page.length_note.text() and f"suggest {expected}" in page.length_note.text()
    assert page.chosen_max_new_tokens() == 8

    page.split_combo.setCurrentIndex(page.split_combo.findData("validation"))
    qtbot.waitUntil(lambda: page.answer_length is not None and page.answer_length.references == 6, timeout=20000)
    assert page.form.values()["max_new_tokens"] == suggest_answer_length(store, train.id, "validation").value
    assert page.stemmer_box.isChecked()  # ROUGE with stemming by default
    page.labels_edit.setText("train")
    assert page.label_choice() == "train"


def _eval_run(store, train, info, metrics, examples):
    run = store.create_run("evaluate", {}, project_id=train.project_id, name="eval", parent_run_id=train.id)
    store.append_event(ev.Started(run_id=run.id, seq=1, job_kind="evaluate", info=info))
    for seq, (label, values) in enumerate(metrics.items(), 2):
        store.append_event(ev.Eval(run_id=run.id, seq=seq, model_label=label, metrics=values))
        store.add_eval_examples(run.id, label, examples[label])
    store.append_event(ev.Finished(run_id=run.id, seq=len(metrics) + 2))
    store.update_run(run.id, status="finished")
    return run


def test_a_chat_evaluation_shows_its_label_set_and_method(window, qtbot, store, tiny_model_dir):
    train = _train_run(store, tiny_model_dir, window.state.project.id, {"test": _summaries(3, 2)})
    info = {"examples": 2, "data_format": "chat", "split": "test",
            "measured": "the last assistant turn of each test conversation, with the turns before it as context",
            "answer_length": {"value": 16, "origin": "references", "text": "16 tokens, from the 2 references: …"},
            "labels_source": "detected from the test references", "metric_settings": describe_text_metrics(True)}
    metrics = {label: {"rougeL": r, "exact_match": r, "accuracy": r, "answers_cut": 0.0,
                       "labels": ["billing", "shipping"]} for label, r in (("base", 0.0), ("fine-tuned", 1.0))}
    examples = {label: [{"idx": i, "prompt": "user: my invoice\nassistant: which one?\nuser: March",
                         "reference": ref, "output": ref if label == "fine-tuned" else "hm",
                         "scores": {"rougeL": 1.0, "correct": 1.0}} for i, ref in enumerate(["billing", "shipping"])]
                for label in metrics}
    run = _eval_run(store, train, info, metrics, examples)
    page = _select(window, qtbot, train)
    page.show_eval(run.id)
    assert "Label set: billing, shipping (detected from the test references)" in page.method_summary.text()
    assert "Longest answer: 16 tokens" in page.method_summary.text()
    assert "Porter stemmer on" in page.method_view.text() and "last assistant turn" in page.method_view.text()
    assert page.result_cell("Answers cut at the length limit", 0).text() == "0"
    assert page.examples_table.rowCount() == 2


def test_a_pretraining_evaluation_shows_held_out_loss(window, qtbot, store, tiny_model_dir):
    train = _train_run(store, tiny_model_dir, window.state.project.id, {"test": _summaries(3, 2)})
    info = {"examples": 2, "data_format": "text", "split": "test",
            "measured": "held-out loss and perplexity on every token of the test documents"}
    metrics = {"base": {"text_loss": 4.0, "perplexity": 54.6}, "fine-tuned": {"text_loss": 2.0, "perplexity": 7.39}}
    examples = {label: [{"idx": i, "prompt": f"document {i}", "reference": "", "output": "",
                         "scores": {"text_loss": m["text_loss"] + i}} for i in range(2)]
                for label, m in metrics.items()}
    run = _eval_run(store, train, info, metrics, examples)
    page = _select(window, qtbot, train)
    page.show_eval(run.id)
    assert page.result_cell("Loss (test documents)", 0).text() == "4.000"
    assert page.result_cell("Loss (test documents)", 1).text() == "2.000"
    assert page.result_cell("Perplexity", 1).text() == "7.39"
    assert "held-out loss" in page.method_view.text() and "Label set" not in page.method_view.text()
    assert "Measured: held-out loss" in page.method_summary.text()


def test_a_separately_imported_test_set_with_more_references_is_evaluated(window, qtbot, store, tmp_path):
    from desktop_ift.core.data.importers import import_dataset
    from desktop_ift.core.job_format import read_job, read_jsonl
    from desktop_ift.core.training.prepare import prepare_train_job
    from desktop_ift.core.training.config import TrainConfig

    project = window.state.project

    def csv(name, rows):
        path = tmp_path / name
        path.write_text("dialogue,summary1,summary2\n" + "".join(
            f"talk {i},A asked about {i},B answered {i}\n" for i in rows), encoding="utf-8")
        return import_dataset(store, project.id, path)

    train_data, official = csv("dialogues.csv", range(20)), csv("official_test.csv", range(100, 105))
    template = store.save_template(project.id, "sum", "Summarise: {{ dialogue }}", "{{ summary1 }}")
    run, _ = prepare_train_job(store, project.id, train_data.id, template.id, TrainConfig())
    store.append_event(ev.Started(run_id=run.id, seq=1, pid=1))  # finished as a worker says it: by events
    store.append_event(ev.Finished(run_id=run.id, seq=2))
    store.update_run(run.id, status="finished")
    window.state.runs_changed.emit()
    page = window.evaluate_page
    page.run_combo.setCurrentIndex(page.run_combo.findData(run.id))
    qtbot.waitUntil(lambda: page.split_combo.findData(f"dataset:{official.id}") >= 0, timeout=5000)
    page.split_combo.setCurrentIndex(page.split_combo.findData(f"dataset:{official.id}"))
    qtbot.waitUntil(lambda: page.answer_length is not None and page.answer_length.references == 5, timeout=20000)
    page.references_edit.setText("summary2")
    page.references_edit.editingFinished.emit()
    qtbot.waitUntil(lambda: page.answer_length is not None and page.answer_length.references == 10, timeout=20000)

    started = []
    page.start_requested.disconnect()
    page.start_requested.connect(lambda run_id, job: started.append(job))
    page.start()
    qtbot.waitUntil(lambda: bool(started), timeout=20000)
    job = read_job(started[0])
    assert job["test_set"]["dataset_id"] == official.id and job["test_set"]["reference_columns"] == ["summary2"]
    assert [r["references"] for r in read_jsonl(job["test_data"])][0] == ["A asked about 100", "B answered 100"]
    assert job["answer_length"]["origin"] == "references" and job["use_stemmer"] is True
