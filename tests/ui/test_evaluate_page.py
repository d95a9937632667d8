"""Evaluate page: the side-by-side table and the per-example answers, read from the store."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop_ift.core import events as ev


def _evaluation(store, project_id):
    train = store.create_run("train", {}, project_id=project_id, name="finished run")
    store.update_run(train.id, status="finished")
    run = store.create_run("evaluate", {}, project_id=project_id, name="eval", parent_run_id=train.id)
    store.append_event(ev.Eval(run_id=run.id, seq=1, model_label="base",
                               metrics={"rougeL": 0.2, "bleu": 5.0, "exact_match": 0.5}))
    store.append_event(ev.Eval(run_id=run.id, seq=2, model_label="fine-tuned",
                               metrics={"rougeL": 0.6, "bleu": 30.0, "exact_match": 0.25}))
    store.append_event(ev.Finished(run_id=run.id, seq=3))
    for label, out in (("base", "no idea"), ("fine-tuned", "billing")):
        store.add_eval_examples(run.id, label, [{"idx": 0, "prompt": "Classify: refund", "reference": "billing",
                                                 "output": out},
                                                {"idx": 1, "prompt": "Classify: late parcel",
                                                 "reference": "shipping", "output": out}])
    return train, run


def test_fills_side_by_side_table_from_the_store(window):
    train, run = _evaluation(window.store, window.state.project.id)
    window.state.runs_changed.emit()
    page = window.evaluate_page
    assert page.run_combo.findData(train.id) >= 0
    page.run_combo.setCurrentIndex(page.run_combo.findData(train.id))
    assert page.eval_run_id == run.id  # re-opening shows the last evaluation
    table = page.results_table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["Base model", "Fine-tuned", "Change vs base"]
    names = [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]
    assert names == ["ROUGE-L", "BLEU", "Exact match"]  # SCALAR_METRICS order, only those present
    better = page.result_cell("ROUGE-L", 1)
    assert better.text() == "0.600" and better.font().bold()
    assert not page.result_cell("ROUGE-L", 0).font().bold()
    change = page.result_cell("ROUGE-L", 2)
    assert "+0.400" in change.text()
    assert change.foreground().color().name() == "#15803d"  # green: better
    worse = page.result_cell("Exact match", 2)
    assert worse.foreground().color().name() == "#b91c1c"  # red: worse
    assert page.result_cell("Exact match", 0).font().bold()
    examples = page.examples_table
    assert examples.rowCount() == 2
    row = [examples.item(0, c).text() for c in range(4)]
    assert row == ["Classify: refund", "billing", "no idea", "billing"]
    assert "no idea" in page.example_view.toPlainText()


def test_progress_events_drive_the_progress_bar(window):
    page = window.evaluate_page
    page.eval_run_id = "eval-x"
    page.on_event(ev.Progress(run_id="eval-x", seq=1, stage="generating", done=3, total=10, message="base model"))
    assert page.progress.isVisible() or not page.isVisible()
    assert page.progress.value() == 3 and page.progress.maximum() == 10
    assert "3/10" in page.progress_label.text()


def test_evaluate_button_disabled_without_finished_run(window):
    page = window.evaluate_page
    page.reload_runs()
    assert not page.evaluate_button.isEnabled()
    assert "finished training run" in page.evaluate_button.toolTip()
