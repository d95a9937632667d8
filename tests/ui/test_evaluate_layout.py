"""Evaluate page as a first-time user meets it: the main button in view without scrolling, an error shown
next to it, the newest run preselected, and the per-example table showing what differs between prompts."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QPoint, QRect, Qt

from desktop_ift.core import events as ev


def _fully_visible(widget, window) -> bool:
    """The whole widget is painted on screen: not clipped by a scroll area or a parent, inside the window."""
    if not widget.isVisible():
        return False
    shown = widget.visibleRegion().boundingRect()
    where = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
    return shown.size() == widget.size() and window.rect().contains(where)


def _finished_train(store, project_id, name):
    run = store.create_run("train", {}, project_id=project_id, name=name)
    store.append_event(ev.Started(run_id=run.id, seq=1, pid=1))  # finished as a worker says it: by events
    store.append_event(ev.Finished(run_id=run.id, seq=2))
    return store.update_run(run.id, status="finished")


@pytest.mark.parametrize("size", [(1280, 800), (1024, 680), (1920, 1080)])
def test_evaluate_button_is_visible_without_scrolling(window, qtbot, size):
    _finished_train(window.store, window.state.project.id, "a finished run")
    window.state.runs_changed.emit()
    window.resize(*size)
    page = window.evaluate_page
    window.show_page(page)
    qtbot.wait(50)
    assert page.setup_scroll.verticalScrollBar().value() == 0
    assert _fully_visible(page.evaluate_button, window), size
    assert page.evaluate_button.isEnabled()


def test_an_error_from_the_click_appears_next_to_the_button(window, qtbot):
    """A run without its prepared data cannot be evaluated: the reason shows under the button, in view."""
    _finished_train(window.store, window.state.project.id, "run whose files are gone")
    window.state.runs_changed.emit()
    window.resize(1280, 800)
    page = window.evaluate_page
    window.show_page(page)
    qtbot.wait(50)
    qtbot.mouseClick(page.evaluate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.banner.isVisible(), timeout=10000)
    qtbot.wait(50)
    assert _fully_visible(page.banner, window)
    button_bottom = page.evaluate_button.mapTo(window, QPoint(0, page.evaluate_button.height())).y()
    banner_top = page.banner.mapTo(window, QPoint(0, 0)).y()
    assert 0 <= banner_top - button_bottom <= 60  # right under the button that was clicked
    assert page.banner.text_label.text()


def test_the_newest_finished_run_is_preselected(window, qtbot):
    store, project_id = window.store, window.state.project.id
    old = _finished_train(store, project_id, "older run")
    evaluation = store.create_run("evaluate", {}, project_id=project_id, name="eval of older", parent_run_id=old.id)
    store.append_event(ev.Finished(run_id=evaluation.id, seq=1))
    window.state.set_eval_run(evaluation.id)  # the last evaluation looked at was of the older run
    time.sleep(0.01)
    new = _finished_train(store, project_id, "newer run")
    window.state.runs_changed.emit()
    page = window.evaluate_page
    assert page.run_combo.currentData() == new.id
    # a run the user picks stays picked when the list refreshes
    page.run_combo.setCurrentIndex(page.run_combo.findData(old.id))
    window.state.runs_changed.emit()
    assert page.run_combo.currentData() == old.id


def test_examples_table_shows_what_differs_and_gives_the_answers_the_width(window, qtbot):
    store, project_id = window.store, window.state.project.id
    train = _finished_train(store, project_id, "run")
    run = store.create_run("evaluate", {}, project_id=project_id, name="eval", parent_run_id=train.id)
    for seq, label in enumerate(("base", "fine-tuned"), 1):
        store.append_event(ev.Eval(run_id=run.id, seq=seq, model_label=label, metrics={"rougeL": 0.5}))
    store.append_event(ev.Finished(run_id=run.id, seq=3))
    shared = ("You are a support triage assistant. Classify the customer message into one of: billing, "
              "shipping, technical, account, returns.\n\nMessage: ")
    tickets = ["I was charged twice this month", "My parcel is three days late", "The app crashes on start"]
    for label in ("base", "fine-tuned"):
        store.add_eval_examples(run.id, label, [
            {"idx": i, "prompt": shared + t, "reference": "billing",
             "output": "The category of this message is most likely billing, because it mentions money",
             "scores": {"rougeL": 0.5}} for i, t in enumerate(tickets)])
    window.state.runs_changed.emit()
    window.resize(1280, 800)
    page = window.evaluate_page
    page.run_combo.setCurrentIndex(page.run_combo.findData(train.id))
    window.show_page(page)
    page.details_tabs.setCurrentIndex(0)
    qtbot.wait(50)
    view = page.examples_view
    table = view.table
    assert [table.item(r, 1).text() for r in range(3)] == tickets  # only what differs
    assert view.shared_label.isVisible() and "Every prompt starts with" in view.shared_label.text()
    assert "support triage assistant" in view.shared_label.text()
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    prompt_w = table.columnWidth(1)
    answer_w = table.columnWidth(headers.index("fine-tuned"))
    answers_w = sum(table.columnWidth(c) for c, h in enumerate(headers) if h in ("base", "fine-tuned"))
    assert answer_w > prompt_w and answers_w >= 0.35 * table.viewport().width()
    assert shared + tickets[0] in page.example_view.toPlainText()  # the full prompt in the detail pane


def test_a_disabled_evaluate_button_says_why_under_it(window, qtbot):
    window.resize(1024, 680)
    page = window.evaluate_page
    window.show_page(page)
    page.reload_runs()
    qtbot.wait(50)
    assert not page.evaluate_button.isEnabled()
    assert _fully_visible(page.blocker_label, window) and "finished training run" in page.blocker_label.text()


LONG_RUN = "Classify support tickets on support_tickets v1"  # the demo run's name


@pytest.mark.parametrize("size", [(1920, 1080), (1024, 680)])
def test_the_training_run_name_is_whole_when_the_window_has_room(window, qtbot, size):
    """At 1920×1080 the picker shows the whole run name; in a narrow window it ends in "…" and the whole
    name is on hover (it used to be cut mid-letter with room to spare)."""
    _finished_train(window.store, window.state.project.id, LONG_RUN)
    window.state.runs_changed.emit()
    window.resize(*size)
    page = window.evaluate_page
    window.show_page(page)
    qtbot.wait(50)
    combo = page.run_combo
    assert LONG_RUN in combo.toolTip()
    if size[0] >= 1920:
        assert combo.shown_text() == combo.currentText()
        assert _fully_visible(page.evaluate_button, window)
    else:
        assert combo.shown_text().endswith("…") and combo.shown_text() != combo.currentText()
        assert page.setup_card.width() == 360  # the narrow window keeps its results' width


def test_long_prompts_get_a_fair_share_of_the_examples_table(window, qtbot):
    """Long prompts and long answers: the prompt column is about as wide as each answer column (it was held
    to a fifth while the answers took the rest)."""
    store, project_id = window.store, window.state.project.id
    train = _finished_train(store, project_id, "run")
    run = store.create_run("evaluate", {}, project_id=project_id, name="eval", parent_run_id=train.id)
    for seq, label in enumerate(("base", "fine-tuned"), 1):
        store.append_event(ev.Eval(run_id=run.id, seq=seq, model_label=label, metrics={"rougeL": 0.5}))
    store.append_event(ev.Finished(run_id=run.id, seq=3))
    tickets = ["My order never arrived and the courier says it was delivered to a neighbour I do not know",
               "The display of my robot vacuum flickers and shows lines after the update last night, help",
               "I was charged twice for the same subscription this month and the bank shows both payments"]
    for label in ("base", "fine-tuned"):
        store.add_eval_examples(run.id, label, [
            {"idx": i, "prompt": "Classify this message. Message: " + t, "reference": "shipping",
             "output": "This customer message is categorized as billing, as it is about a payment " * 2,
             "scores": {"rougeL": 0.5}} for i, t in enumerate(tickets)])
    window.state.runs_changed.emit()
    window.resize(1920, 1080)
    page = window.evaluate_page
    page.run_combo.setCurrentIndex(page.run_combo.findData(train.id))
    window.show_page(page)
    page.details_tabs.setCurrentIndex(0)
    qtbot.wait(50)
    table = page.examples_view.table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    prompt_w = table.columnWidth(headers.index("Prompt"))
    answer_w = table.columnWidth(headers.index("base"))
    assert prompt_w >= 0.9 * answer_w, (prompt_w, answer_w)
    assert sum(table.columnWidth(c) for c in range(table.columnCount())) <= table.viewport().width() + 2
