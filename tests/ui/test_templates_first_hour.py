"""Templates page in a first user's hour: the header keeps one line when the template is edited, the Problems
box never squeezes the prompt editor flat, the chat format on one-row-per-example data says one consistent
thing, and the Validation and Tokens tabs work from the very first launch (before any run)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtTest import QTest


def _pos(widget, window):
    return widget.mapTo(window, QPoint(0, 0))


@pytest.mark.parametrize("size", [(1024, 680), (1280, 800)])
def test_an_edit_moves_nothing_and_save_stays_beside_the_template_picker(window, qtbot, size):
    page = window.templates_page
    window.resize(*size)
    window.show_page(page)
    qtbot.wait(50)
    before = {w: (_pos(w, window), w.size()) for w in (page.save_button, page.template_combo, page.name_edit,
                                                       page.library_button, page.prompt_edit)}
    below = page._actions_below
    QTest.keyClicks(page.prompt_edit, " more")
    qtbot.wait(50)
    assert page.is_dirty and page.dirty_label.text() == "Unsaved changes" and page.dirty_label.isVisible()
    assert page._actions_below == below
    after = {w: (_pos(w, window), w.size()) for w in before}
    assert after == before  # nothing jumped: the next click lands where the user aimed
    assert page.save_button.mapTo(window, QPoint(0, 0)).y() == page.template_combo.mapTo(window, QPoint(0, 0)).y() \
        or abs(page.save_button.geometry().center().y() - page.template_combo.geometry().center().y()) <= 4
    if size[0] >= 1280:
        assert not page._actions_below  # the header's actions fit beside the title


@pytest.mark.parametrize("size", [(1024, 680), (1280, 800)])
def test_problems_never_squeeze_the_prompt_editor_below_five_lines(window, qtbot, size):
    page = window.templates_page
    window.resize(*size)
    window.show_page(page)
    page.prompt_edit.setPlainText("{{ no_such_column }} and {% if %}\n" * 3)
    page.refresh_preview()
    qtbot.wait(50)
    assert page.problems_list.isVisible() and page.problems_list.count() >= 1
    lines = page.prompt_edit.height() / page.prompt_edit.fontMetrics().lineSpacing()
    assert lines >= 5, (size, page.prompt_edit.height())
    bottom = page.problems_list.mapTo(window, QPoint(0, page.problems_list.height())).y()
    assert bottom <= window.statusBar().mapTo(window, QPoint(0, 0)).y()  # the box itself is not cut off


def test_chat_format_on_one_row_per_example_data_says_one_consistent_thing(window, qtbot):
    page = window.templates_page
    window.show_page(page)
    page.set_format("chat")
    panel = page.format_panel
    qtbot.waitUntil(lambda: not panel.building and panel.banner.isVisible(), timeout=10000)
    assert not panel.problems_ok.isVisible()  # no "✓ No problems found" beside a message that nothing works
    assert panel.banner.title_label.text() == "This data is not in a conversation layout"
    text = panel.banner.text_label.text()
    assert "no conversation columns" in text and "Instruction (templates)" in text and "ticket_id" in text
    assert not panel.use_button.isEnabled()


def test_validation_and_tokens_tabs_work_before_any_run(window, qtbot):
    """A fresh workspace has no demo model yet: its tokenizer is prepared in the background (a child
    process), the tabs say so meanwhile, then count tokens — never an empty chart without a word."""
    from desktop_ift.ui.preview_tokenizer import PREPARING, DemoTokenizerBuilder

    assert not (window.store.models_dir / "demo-tiny-llama").exists()
    page = window.templates_page
    window.show_page(page)
    tools = page.tools
    tools.tabs.setCurrentWidget(tools.tokens)
    assert tools.tokens.header.text() == PREPARING
    builder = DemoTokenizerBuilder.for_workspace(window.store.home)
    assert builder.running
    tools.tabs.setCurrentWidget(tools.validation)
    qtbot.wait(800)  # the validation runs without token counts meanwhile
    assert tools.validation.hist_note.isVisible() and tools.validation.hist_note.text() == PREPARING
    assert tools.validation._plot is None or not tools.validation._plot.isVisible()
    qtbot.waitUntil(lambda: not builder.running, timeout=120000)
    assert builder.error == ""
    qtbot.waitUntil(lambda: tools.last_report is not None and tools.last_report.histogram is not None,
                    timeout=30000)
    assert tools.validation.plot.isVisible() and not tools.validation.hist_note.isVisible()
    tools.tabs.setCurrentWidget(tools.tokens)
    qtbot.waitUntil(lambda: "tokens" in tools.tokens.header.text(), timeout=10000)
    assert tools.tokens.plain_text()


def test_showing_the_validation_tab_does_not_move_the_editors(window, qtbot, demo_model_in_workspace):
    page = window.templates_page
    window.resize(1024, 680)
    window.show_page(page)
    qtbot.wait(50)
    before = page.prompt_edit.mapTo(window, QPoint(0, 0)), page.prompt_edit.size()
    tools = page.tools
    tools.tabs.setCurrentWidget(tools.validation)
    qtbot.waitUntil(lambda: tools.last_report is not None and tools.validation.plot.isVisible(), timeout=20000)
    qtbot.wait(50)
    assert (page.prompt_edit.mapTo(window, QPoint(0, 0)), page.prompt_edit.size()) == before
