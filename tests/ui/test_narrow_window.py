"""The smallest window (1024×680) as a user meets it, and the Evaluate page's own run state: the examples table
shows several rows, the template picker shows the whole name, the Monitor's Export button fits its arrow, and
the evaluation's status is the one RunState every screen folds from the events."""

from __future__ import annotations

from desktop_ift.core import events as ev
from desktop_ift.core import run_state as rs
from desktop_ift.core import runs as run_ops


def _finished_train(store, project_id, name="run"):
    run = store.create_run("train", {}, project_id=project_id, name=name)
    store.append_event(ev.Started(run_id=run.id, seq=1, pid=1))
    store.append_event(ev.Finished(run_id=run.id, seq=2))
    return run


def test_the_evaluation_status_is_the_runstate_folded_from_its_events(window):
    """Live events and a re-read from the store give the same status as core's fold (and the CLI): a worker
    that died without a final event reads "lost", not "running"."""
    store, project_id = window.store, window.state.project.id
    train = _finished_train(store, project_id)
    evaluation = store.create_run("evaluate", {}, project_id=project_id, name="eval", parent_run_id=train.id)
    window.state.runs_changed.emit()
    page = window.evaluate_page
    page.show_eval(evaluation.id)
    assert page.status == "queued" == run_ops.run_state(store, evaluation.id).status
    started = ev.Started(run_id=evaluation.id, seq=1, job_kind="evaluate", pid=999_999_999)
    store.append_event(started)
    page.on_event(started)
    assert page.status == "running" and page.eval_state.kind == "evaluate"
    assert page.progress.maximum() == 0  # busy: "Loading the models…"
    # another run's events are not this one's
    page.on_event(ev.Failed(run_id="another", seq=2, message="not mine"))
    assert page.status == "running"
    # re-opened from the store, the dead worker (no such pid) makes the same fold say "lost"
    page.show_eval(evaluation.id)
    assert page.status == "lost" == run_ops.run_state(store, evaluation.id).status
    assert page.banner.isVisibleTo(page) and "lost" in page.banner.title_label.text().lower() + \
        page.banner.text_label.text().lower()
    failed = ev.Failed(run_id=evaluation.id, seq=2, message="The test split is empty.", hint="Split the data.")
    store.append_event(failed)
    page.show_eval(evaluation.id)
    page.on_event(failed)  # already folded from the store: ignored by the fold, the banner still says why
    assert page.status == "failed" == rs.load(store, evaluation.id).status
    assert "The test split is empty." in page.banner.title_label.text() + page.banner.text_label.text()
    window.state.runs_changed.emit()
    assert "Lost" not in page.result_combo.currentText() and "(failed)" in page.result_combo.currentText()


def _ink_runs(image, inset=4, light=200):
    """Runs ``(first x, last x)`` of neighbouring columns of ``image`` (inside its border) that hold ink: a
    pixel darker than ``light``. A word is one run (its letters touch within 2 px); a separate arrow another."""
    cols = [x for x in range(inset, image.width() - inset)
            if any(image.pixelColor(x, y).lightness() < light for y in range(inset, image.height() - inset))]
    runs = []
    for x in cols:
        if runs and x - runs[-1][1] <= 3:
            runs[-1][1] = x
        else:
            runs.append([x, x])
    return [tuple(r) for r in runs]


def test_the_monitor_export_arrow_is_beside_its_text_not_on_it(window, qtbot):
    """At 1024×680 the Export button's menu arrow is drawn right of the word "Export", apart from it (it sat on
    the "t")."""
    window.resize(1024, 680)
    page = window.monitor_page
    window.show_page(page)
    qtbot.wait(50)
    button = page.export_button
    assert button.menu() is not None and button.isVisible()
    assert button.width() >= button.sizeHint().width()  # not squeezed below what it asks for
    runs = _ink_runs(button.grab().toImage())
    assert len(runs) == 2, runs  # the word, then the arrow, with a gap between them
    (word_start, word_end), (arrow_start, arrow_end) = runs
    word_width = button.fontMetrics().horizontalAdvance("Export")
    assert word_end - word_start + 1 >= word_width - 4  # the first run is the whole word
    assert arrow_end - arrow_start < 14  # the second is only the arrow


def _text_room(combo) -> int:
    """The width the combo's style gives its text (the field left of the arrow)."""
    from PySide6.QtWidgets import QStyle, QStyleOptionComboBox

    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    return combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                        QStyle.SubControl.SC_ComboBoxEditField, combo).width()


def test_the_template_picker_shows_the_whole_name_at_1024(window, qtbot):
    """The demo template's name fits the picker at 1024×680 (it read "Classify supp"), Save stays on the
    picker's line, and a name too long for any window is whole in the picker's tooltip."""
    window.resize(1024, 680)
    page = window.templates_page
    window.show_page(page)
    qtbot.wait(50)
    combo = page.template_combo
    name = combo.currentText()
    assert name == "Classify support tickets"
    assert _text_room(combo) >= combo.fontMetrics().horizontalAdvance(name)
    assert name in combo.toolTip()
    assert abs(page.save_button.geometry().center().y() - combo.geometry().center().y()) <= 4
    assert page.save_button.geometry().right() <= page.save_button.parentWidget().width()
    long_name = "Summarise the customer message in one sentence for the weekly report"
    page.name_edit.setText(long_name)
    assert page.save()
    qtbot.waitUntil(lambda: combo.currentText() == long_name, timeout=5000)
    assert long_name in combo.toolTip()


def _evaluation_with_examples(store, project_id, n=12):
    train = _finished_train(store, project_id)
    run = store.create_run("evaluate", {}, project_id=project_id, name="eval", parent_run_id=train.id)
    metrics = {"base": {"rougeL": 0.2, "bleu": 5.0, "exact_match": 0.1}, "fine-tuned": {"rougeL": 0.6, "bleu": 30.0,
                                                                                         "exact_match": 0.5}}
    for seq, (label, values) in enumerate(metrics.items(), 1):
        store.append_event(ev.Eval(run_id=run.id, seq=seq, model_label=label, metrics=values))
    store.append_event(ev.Finished(run_id=run.id, seq=3))
    shared = ("You are a support triage assistant. Classify this customer message into one of: billing, shipping, "
              "technical, account, returns. Answer with the category only.\n\nMessage: ")
    for label in metrics:
        store.add_eval_examples(run.id, label, [
            {"idx": i, "prompt": shared + f"message number {i} about an order", "reference": "billing",
             "output": "billing" if label == "fine-tuned" else "I think this is about billing",
             "scores": {"rougeL": 1.0 if label == "fine-tuned" else 0.4}} for i in range(n)])
    return train, run


def _inside(widget, outer) -> bool:
    """``widget`` lies wholly inside ``outer`` (nothing of it cut off at the window's edge)."""
    from PySide6.QtCore import QPoint, QRect

    return QRect(QPoint(0, 0), outer.size()).contains(QRect(widget.mapTo(outer, QPoint(0, 0)), widget.size()))


def test_at_1024_the_examples_table_shows_four_rows_and_nothing_is_cut(window, qtbot):
    """At 1024×680 with an evaluation shown: the per-example table's visible area holds at least four rows, the
    shared-prompt line and the example count are inside the window (a long prefix widened the page past it and
    left one row), and the Evaluate button is in view."""
    train, run = _evaluation_with_examples(window.store, window.state.project.id)
    window.state.runs_changed.emit()
    window.resize(1024, 680)
    page = window.evaluate_page
    window.show_page(page)
    qtbot.wait(100)
    assert page.eval_run_id == run.id and page.examples_table.rowCount() == 12
    table = page.examples_table
    assert table.viewport().height() >= 4 * table.rowHeight(0), (table.viewport().height(), table.rowHeight(0))
    view = page.examples_view
    assert view.shared_label.isVisible() and _inside(view.shared_label, window)
    assert view.shared_label.is_elided() and "support triage" in view.shared_label.toolTip()
    assert _inside(view.count_label, window) and view.count_label.text() == "12 of 12 examples"
    assert _inside(page.evaluate_button, window)
    assert page.evaluate_button.visibleRegion().boundingRect().size() == page.evaluate_button.size()
    # the scores are there too, with their export button whole
    assert page.results_table.viewport().height() >= 2 * page.results_table.rowHeight(0)
    assert page.export_button.width() >= page.export_button.sizeHint().width()


def test_a_run_trained_outside_the_window_is_on_the_monitor_when_it_opens(window, qtbot, store):
    """A run trained from the command line (``desktop-ift demo --headless``): the next window's Monitor shows
    it, curve and status (it listed the run over empty plots saying "Start a run on the Train page")."""
    from desktop_ift.ui.app import create_main_window

    run = store.create_run("train", {}, project_id=window.state.project.id, name="trained from the CLI")
    store.append_event(ev.Started(run_id=run.id, seq=1, pid=1, total_steps=3))
    for step in (1, 2, 3):
        store.append_event(ev.Log(run_id=run.id, seq=1 + step, step=step, total_steps=3, loss=2.0 / step))
    store.append_event(ev.Finished(run_id=run.id, seq=5))
    window.state.remember(train_run_id=None)  # this window never showed a run: nothing remembered
    second = create_main_window(store)
    qtbot.addWidget(second)
    second.show()
    monitor = second.monitor_page
    qtbot.waitUntil(lambda: monitor.run_id == run.id and not monitor.loading, timeout=10000)
    assert monitor.status == "finished" and monitor.status_badge.text() == "Finished"
    assert monitor.curves.n == 3
    second.run_controller.detach()


def _whole(widget) -> bool:
    """Shown and not cut: all of it painted, and its text has the height it needs at its width."""
    return (widget.isVisible() and widget.visibleRegion().boundingRect().size() == widget.size()
            and (not widget.hasHeightForWidth() or widget.height() >= widget.heightForWidth(widget.width())))


def test_the_report_exported_message_is_whole_at_1024(window, qtbot, tmp_path):
    """The success message after "Export report…" at 1024×680 (the #16 "success banner clipped": four long
    file names with nothing to wrap at, cut at the banner's edge and its bottom): whole, with the folder and
    every file on hover."""
    train, run = _evaluation_with_examples(window.store, window.state.project.id)
    window.state.runs_changed.emit()
    window.resize(1024, 680)
    page = window.evaluate_page
    window.show_page(page)
    qtbot.wait(50)
    target = tmp_path / "a_folder_with_a_rather_long_name" / "evaluation_report_of_the_support_ticket_classifier.html"
    page.write_report(str(target))
    qtbot.waitUntil(lambda: page.banner.isVisible(), timeout=10000)
    qtbot.wait(100)
    banner = page.banner
    assert banner.title_label.text() == "Report exported" and "4 files in" in banner.text_label.text()
    assert _inside(banner, window) and _whole(banner) and _whole(banner.text_label)
    assert banner.text_label.fontMetrics().horizontalAdvance(banner.text_label.text()) <= \
        2 * banner.text_label.width()  # two lines at most: nothing runs past the edge
    assert all(str(p) in banner.text_label.toolTip() for p in target.parent.iterdir())
    assert len(list(target.parent.iterdir())) == 4
    assert page.examples_table.viewport().height() >= 4 * page.examples_table.rowHeight(0)


def test_a_long_error_under_the_evaluate_button_is_whole_at_1024(window, qtbot):
    """A long message under the button in the smallest window is never cut: the examples give up height."""
    train, run = _evaluation_with_examples(window.store, window.state.project.id)
    window.state.runs_changed.emit()
    window.resize(1024, 680)
    page = window.evaluate_page
    window.show_page(page)
    qtbot.wait(50)
    page.banner.show_message("The fine-tuned model of this run cannot be loaded: its adapter folder was moved or "
                             "deleted. Train the run again, or pick another finished run in the list above. "
                             "The base model is not affected.", "error", "Evaluation cannot start")
    qtbot.wait(100)
    assert _inside(page.banner, window) and _whole(page.banner) and _whole(page.banner.text_label)
    assert _inside(page.evaluate_button, window)


def test_with_problems_shown_the_template_card_rows_never_overlap_at_1024(window, qtbot):
    """At 1024×680 with the Problems box shown, every row of the template card keeps its own band (the
    "Response" title was drawn over the prompt editor: the rows asked 9 px more than the window has)."""
    window.resize(1024, 680)
    page = window.templates_page
    window.show_page(page)
    page.prompt_edit.setPlainText("Classify this message.\n\nMessage: {{ no_such_column }}")
    page.refresh_preview()
    qtbot.waitUntil(lambda: page.problems_list.isVisible(), timeout=10000)
    qtbot.wait(100)
    card = page.name_edit.parentWidget()
    layout = card.layout()
    assert card.height() >= layout.minimumSize().height()
    bands = [layout.itemAt(i).geometry() for i in range(layout.count()) if not layout.itemAt(i).isEmpty()]
    for above, below in zip(bands, bands[1:]):
        assert above.bottom() < below.top(), (above, below)
    assert bands[-1].bottom() < card.height()


def test_a_long_file_name_beside_the_dataset_picker_stays_inside_the_window(window, qtbot, tmp_path):
    """After importing a file with a long name at 1024×680, "N columns · from <file>" is cut with "…" inside the
    window (it ran past the right edge), the whole path on hover; the import's success message is whole."""
    window.resize(1024, 680)
    page = window.data_page
    window.show_page(page)
    path = tmp_path / "tickets_march_export_from_the_helpdesk_system_with_a_long_name.csv"
    path.write_text("id,text,label\n" + "".join(f"{i},message number {i},billing\n" for i in range(30)))
    page.import_file(path)
    qtbot.waitUntil(lambda: page.banner.isVisible() and "imported" in page.banner.message, timeout=20000)
    qtbot.wait(100)
    info = page.info_label
    assert info.text() == f"3 columns · from {path.name}" and info.is_elided() and info.toolTip() == str(path)
    assert _inside(info, window) and info.fontMetrics().horizontalAdvance(info.shown_text()) <= info.width()
    assert _inside(page.banner, window) and _whole(page.banner.text_label)
