"""Evaluate page: the side-by-side table, the bar chart, the per-example view (sort by gain/loss, filter by
class), confusion matrices side by side, benchmarks and the report export — all read from the store."""

from __future__ import annotations

from desktop_ift.core import events as ev

MATRIX = {"labels": ["billing", "shipping", "(none)"], "matrix": [[0, 0, 1], [0, 1, 0], [0, 0, 0]]}
TUNED_MATRIX = {"labels": ["billing", "shipping", "(none)"], "matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 0]]}


def _evaluation(store, project_id, third=False):
    train = store.create_run("train", {}, project_id=project_id, name="finished run")
    store.append_event(ev.Started(run_id=train.id, seq=1, pid=1))  # finished as a worker says it: by events
    store.append_event(ev.Finished(run_id=train.id, seq=2))
    run = store.create_run("evaluate", {}, project_id=project_id, name="eval", parent_run_id=train.id)
    metrics = {"base": {"rougeL": 0.2, "bleu": 5.0, "exact_match": 0.5, "confusion_matrix": MATRIX},
               "fine-tuned": {"rougeL": 0.6, "bleu": 30.0, "exact_match": 0.25, "confusion_matrix": TUNED_MATRIX}}
    outputs = {"base": ["no idea", "shipping"], "fine-tuned": ["billing", "shipping"]}
    if third:
        metrics["fine-tuned: other"] = {"rougeL": 0.1, "bleu": 40.0, "exact_match": 0.0}
        outputs["fine-tuned: other"] = ["shipping", "billing"]
    for seq, (label, values) in enumerate(metrics.items(), 1):
        store.append_event(ev.Eval(run_id=run.id, seq=seq, model_label=label, metrics=values))
    store.append_event(ev.Finished(run_id=run.id, seq=len(metrics) + 1))
    refs = [("Classify: refund", "billing"), ("Classify: late parcel", "shipping")]
    for label, outs in outputs.items():
        store.add_eval_examples(run.id, label, [
            {"idx": i, "prompt": p, "reference": r, "output": o, "scores": {"rougeL": float(o == r), "correct": float(o == r)}}
            for i, ((p, r), o) in enumerate(zip(refs, outs))])
    return train, run


def _open(window, train):
    window.state.runs_changed.emit()
    page = window.evaluate_page
    assert page.run_combo.findData(train.id) >= 0
    page.run_combo.setCurrentIndex(page.run_combo.findData(train.id))
    return page


def test_fills_side_by_side_table_from_the_store(window):
    train, run = _evaluation(window.store, window.state.project.id)
    page = _open(window, train)
    assert page.eval_run_id == run.id  # re-opening shows the last evaluation
    table = page.results_table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["Base", "Fine-tuned", "Change"]  # short: each gets ~70 px in a 1024-pixel window
    assert "minus base" in table.horizontalHeaderItem(2).toolTip()
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
    # The bar chart: one bar series per model, BLEU on the shared 0..1 axis.
    assert len(page.chart_bars) == 2
    assert list(page.chart_bars[1].opts["width"]) == [0.6, 0.3, 0.25]


def test_examples_show_every_model_and_sort_by_gain_or_loss(window):
    train, run = _evaluation(window.store, window.state.project.id)
    page = _open(window, train)
    view = page.examples_view
    table = page.examples_table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["#", "Prompt", "Reference", "base", "correct", "fine-tuned", "correct", "Gain"]
    assert [table.item(0, c).text() for c in range(8)] == [
        "0", "refund", "billing", "no idea", "0.00", "billing", "1.00", "+1.00"]  # the shared "Classify: " shown once above
    assert "no idea" in page.example_view.toPlainText()
    view.sort_combo.setCurrentText("Biggest gain first")
    assert [r.idx for r in view.shown] == [0, 1]
    view.sort_combo.setCurrentText("Biggest loss first")
    assert [r.idx for r in view.shown] == [1, 0]
    view.class_combo.setCurrentText("shipping")
    assert [r.reference for r in view.shown] == ["shipping"] and table.rowCount() == 1
    assert view.count_label.text() == "1 of 2 examples"


def test_confusion_matrices_side_by_side(window):
    train, _ = _evaluation(window.store, window.state.project.id)
    page = _open(window, train)
    tables = page.confusion_view.tables
    assert list(tables) == ["base", "fine-tuned"]
    assert tables["base"].item(0, 2).text() == "1" and tables["fine-tuned"].item(0, 0).text() == "1"
    headers = [tables["base"].horizontalHeaderItem(c).text() for c in range(3)]
    assert headers == ["billing", "shipping", "(none)"]


def test_several_fine_tuned_models_get_a_change_column_each(window):
    train, _ = _evaluation(window.store, window.state.project.id, third=True)
    page = _open(window, train)
    table = page.results_table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["Base", "Fine-tuned", "fine-tuned: other", "Δ Fine-tuned", "Δ fine-tuned: other"]
    assert page.result_cell("BLEU", 2).font().bold()  # 40.0 is the best BLEU
    assert page.result_cell("ROUGE-L", 4).foreground().color().name() == "#b91c1c"  # 0.1 < 0.2: worse
    assert len(page.chart_bars) == 3


def test_export_writes_html_csv_and_json(window, qtbot, tmp_path):
    train, _ = _evaluation(window.store, window.state.project.id)
    page = _open(window, train)
    assert page.export_button.isEnabled()
    page.write_report(str(tmp_path / "report.html"))
    qtbot.waitUntil(lambda: "Report exported" in page.banner.message, timeout=10000)
    assert "<svg" in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert (tmp_path / "report-examples.csv").exists() and (tmp_path / "report.json").exists()


def test_benchmark_results_are_listed_with_the_evaluations(window):
    train, run = _evaluation(window.store, window.state.project.id)
    store = window.store
    bench = store.create_run("benchmark", {}, project_id=window.state.project.id, name="forgetting check",
                             parent_run_id=train.id)
    store.append_event(ev.Eval(run_id=bench.id, seq=1, model_label="base",
                               metrics={"accuracy": 0.5, "subject/history": 0.5}))
    store.append_event(ev.Eval(run_id=bench.id, seq=2, model_label="fine-tuned",
                               metrics={"accuracy": 0.25, "subject/history": 0.0, "forgotten": 3, "learned": 1}))
    store.append_event(ev.Finished(run_id=bench.id, seq=3))
    page = _open(window, train)
    combo = page.result_combo
    assert combo.count() == 2 and combo.findData(bench.id) >= 0
    combo.setCurrentIndex(combo.findData(bench.id))
    assert page.eval_run_id == bench.id
    assert page.result_cell("Accuracy: history", 2).text() == "▼ -0.500"
    assert page.result_cell("Questions forgotten", 1).text() == "3"


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
    assert not page.forgetting_button.isEnabled()
    assert "finished training run" in page.evaluate_button.toolTip()


def test_label_set_field(window):
    page = window.evaluate_page
    for text, expected in (("", "auto"), ("none", None), ("Billing, shipping ,", ["Billing", "shipping"])):
        page.labels_edit.setText(text)
        assert page.label_choice() == expected


def test_scores_header_fits_the_smallest_window(window, qtbot):
    """With an evaluation shown at 1024×680, the evaluation chooser and Export report… keep their size (they
    shared one line with the title and were squeezed to "Evalua" and "ort repo")."""
    window.resize(1024, 680)
    train, _ = _evaluation(window.store, window.state.project.id)
    page = _open(window, train)
    window.show_page(page)
    qtbot.wait(50)
    for widget in (page.result_combo, page.export_button):
        assert widget.isVisible() and widget.width() >= widget.minimumSizeHint().width(), widget
