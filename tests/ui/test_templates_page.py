"""Templates page: live preview of a real row, problems named inline, chips insert placeholders."""

from __future__ import annotations


def test_preview_renders_a_real_row_and_follows_typing(window, qtbot):
    page = window.templates_page
    window.show_page(page)
    page.refresh_preview()
    first = window.data_page.model.row(0)
    qtbot.waitUntil(lambda: str(first["message"])[:20] in page.preview_text(), timeout=5000)
    assert "Row 1 of 400" in page.row_label.text()
    page.prompt_edit.setFocus()
    page.prompt_edit.moveCursor(page.prompt_edit.textCursor().MoveOperation.End)
    qtbot.keyClicks(page.prompt_edit, " PLEASE ANSWER BRIEFLY")
    qtbot.waitUntil(lambda: "PLEASE ANSWER BRIEFLY" in page.preview_text(), timeout=3000)
    assert page.is_dirty and page.save_button.text().endswith("*")
    page.next_button.click()
    assert "Row 2 of 400" in page.row_label.text()
    second = window.data_page.model.row(1)
    assert str(second["message"])[:20] in page.preview_text()


def test_unknown_column_is_named_with_the_available_ones(window, qtbot):
    page = window.templates_page
    page.prompt_edit.setPlainText("Line one\nTell me about {{ colour_of_sky }}")
    page.refresh_preview()
    texts = " ".join(page.problem_texts())
    assert "colour_of_sky" in texts
    assert "line 2" in texts.lower()
    assert "message" in texts  # an available column is suggested
    # the preview says what is wrong and does not crash; the text stays in the editor
    assert "colour_of_sky" in page.prompt_edit.toPlainText()


def test_half_typed_template_never_crashes(window, qtbot):
    page = window.templates_page
    for text in ("{{", "{{ message", "{% if %}", "{{ message | }}", "}}{{"):
        page.prompt_edit.setPlainText(text)
        page.refresh_preview()
    assert not page.preview_banner.isHidden()
    assert page.prompt_edit.toPlainText() == "}}{{"


def test_chip_inserts_placeholder_in_focused_editor(window, qtbot):
    page = window.templates_page
    window.show_page(page)
    page.response_edit.setPlainText("Answer: ")
    page.response_edit.setFocus()
    page.response_edit.moveCursor(page.response_edit.textCursor().MoveOperation.End)
    qtbot.waitUntil(lambda: page._focused is page.response_edit, timeout=2000)
    page.chip_buttons["category"].click()
    assert page.response_edit.toPlainText() == "Answer: {{ category }}"


def test_chip_dragged_into_an_editor_drops_its_placeholder_there(window, qtbot):
    """A chip's drag carries the placeholder; dropping it on an editor inserts it where the mouse is."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    page = window.templates_page
    window.show_page(page)
    editor = page.prompt_edit
    editor.setPlainText("Ticket: ")
    chip = page.chip_buttons["message"]
    data = chip.mime_data()
    assert data.text() == "{{ message }}"
    end = editor.cursorRect(editor.textCursor().__class__(editor.document().lastBlock())).center()
    end.setX(editor.viewport().width() - 5)  # right of the text on the first line: the end of "Ticket: "
    pos = QPointF(end)
    viewport = editor.viewport()
    copy = Qt.DropAction.CopyAction
    for event in (QDragEnterEvent(end, copy, data, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier),
                  QDragMoveEvent(end, copy, data, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier),
                  QDropEvent(pos, copy, data, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)):
        QApplication.sendEvent(viewport, event)
    assert editor.toPlainText() == "Ticket: {{ message }}"


def test_save_keeps_text_and_clears_the_mark(window, qtbot, store):
    page = window.templates_page
    page.name_edit.setText("my template")
    page.prompt_edit.setPlainText("Classify: {{ message }}")
    page.response_edit.setPlainText("{{ category }}")
    assert page.save()
    assert not page.is_dirty and page.save_button.text() == "Save"
    saved = store.get_template(window.state.template_id)
    assert saved.name == "my template" and saved.prompt == "Classify: {{ message }}"


def test_save_without_response_keeps_the_text(window):
    page = window.templates_page
    page.response_edit.setPlainText("")
    page.prompt_edit.setPlainText("unsaved work")
    assert not page.save()
    assert page.prompt_edit.toPlainText() == "unsaved work"
    assert "response" in page.preview_banner.message


# ---------------------------------------------------------------------------------------------- issue 4
def _second_template(window):
    store, project = window.state.store, window.state.project
    first = window.state.template()
    second = store.save_template(project.id, "Short", "{{ message }}\nCategory?", first.response)
    window.state.templates_changed.emit()
    return first, second


def test_a_template_set_shows_its_effect_and_becomes_the_training_choice(window, qtbot):
    page = window.templates_page
    window.show_page(page)
    first, second = _second_template(window)
    panel = page.tools.set_panel
    page.tools.load_set()
    panel.set_tick(second.id)
    panel.mode_combo.setCurrentIndex(panel.mode_combo.findData("all"))
    assert "400 rows → 800 training examples (×2)" in panel.counts_label.text()
    assert "Short 400" in panel.counts_label.text()
    qtbot.waitUntil(lambda: (window.state.setting("training_source") or {}).get("kind") == "template_set",
                    timeout=5000)
    from desktop_ift.core.templates.library import current_training_source

    chosen = current_training_source(window.state.store, window.state.project.id)
    assert [t.name for t in chosen.templates] == [first.name, "Short"] and chosen.mode == "all"


def test_validation_lists_problems_that_jump_to_their_rows(window, qtbot):
    page = window.templates_page
    window.show_page(page)
    page.tools.tabs.setCurrentWidget(page.tools.validation)
    page.prompt_edit.setPlainText("{{ category }}")  # many rows render the same: duplicates
    qtbot.waitUntil(lambda: page.tools.last_report is not None
                    and any(p.kind == "duplicate" for p in page.tools.last_report.problems), timeout=15000)
    panel = page.tools.validation
    index = next(i for i, p in enumerate(page.tools.last_report.problems) if p.kind == "duplicate")
    rows = page.tools.last_report.problems[index].rows
    panel._clicked(panel.list.item(index))
    assert f"Row {rows[0] + 1:,} of 400" in page.row_label.text()
    panel._clicked(panel.list.item(index))
    assert f"Row {rows[1] + 1:,} of 400" in page.row_label.text()


def test_token_tab_shows_the_training_text_with_the_loss_part(window, qtbot, demo_model_in_workspace):
    page = window.templates_page
    window.show_page(page)
    page.tools.tabs.setCurrentWidget(page.tools.tokens)
    page.tools.refresh_tokens()
    header = page.tools.tokens.header.text()
    assert "demo model" in header and "tokens" in header and "the loss counts" in header
    text = page.tools.tokens.plain_text()
    assert "<|assistant|>" in text and str(window.data_page.model.row(0)["category"]) in text


def test_token_tab_follows_a_maximum_length_changed_on_the_train_page(window, qtbot, demo_model_in_workspace):
    page = window.templates_page
    window.show_page(page)
    page.tools.tabs.setCurrentWidget(page.tools.tokens)
    page.tools.refresh_tokens()
    assert "cut off" not in page.tools.tokens.header.text()
    window.show_page(window.train_page)
    values = window.train_page.form.values()
    window.train_page.form.set_values({**values, "max_seq_length": 16})
    window.train_page._settings_changed()
    assert window.state.setting("train_config")["max_seq_length"] == 16
    window.show_page(page)  # nothing else: coming back shows the tokens cut at the new length
    qtbot.waitUntil(lambda: "maximum length 16 are cut off" in page.tools.tokens.header.text(), timeout=5000)


def test_library_template_is_used_with_its_columns_mapped(window, qtbot):
    from desktop_ift.ui.widgets.template_library_dialog import TemplateLibraryDialog

    page = window.templates_page
    dialog = TemplateLibraryDialog(window.state.store, ["ticket_id", "message", "category", "summary"])
    qtbot.addWidget(dialog)
    dialog.select("Classify – text then question")
    dialog._combos["text"].setCurrentIndex(dialog._combos["text"].findData("message"))
    dialog._combos["label"].setCurrentIndex(dialog._combos["label"].findData("category"))
    dialog._use()
    page.apply_library_template(dialog.chosen)
    assert page.prompt_edit.toPlainText() == "Text: {{ message }}\nCategory:"
    assert page.response_edit.toPlainText() == "{{ category }}"
    page.refresh_preview()
    assert page.problem_texts() == []


def test_export_writes_the_rendered_examples(window, qtbot, tmp_path):
    import json

    page = window.templates_page
    done = []
    page.export_data("openai", str(tmp_path), split=True, on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=15000)
    lines = (tmp_path / "train.openai.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 320 and json.loads(lines[0])["messages"][-1]["role"] == "assistant"


def test_export_in_pretraining_format_writes_documents(window, qtbot, tmp_path):
    import json

    page = window.templates_page
    window.show_page(page)
    page.set_format("pretrain")
    panel = page.format_panel
    panel.set_text_columns(["message"])
    qtbot.waitUntil(lambda: not panel.building, timeout=10000)
    assert not page.template_combo.isVisible()  # instruction-only controls are hidden
    done = []
    page.export_data("bedrock-pretraining", str(tmp_path), split=False, on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=15000)
    lines = [json.loads(line) for line in done[0][0].read_text(encoding="utf-8").splitlines()]
    first = str(window.data_page.model.row(0)["message"])
    assert len(lines) == 400 and lines[0] == {"input": first}


def test_more_reference_columns_are_previewed_saved_and_reloaded(window, qtbot):
    from desktop_ift.core.templates.references import reference_columns

    page = window.templates_page
    window.show_page(page)
    page.references_edit.setText("message, nowhere")
    page.refresh_preview()
    first = window.data_page.model.row(0)
    qtbot.waitUntil(lambda: "REFERENCE 3" in page.preview_text(), timeout=5000)
    text = page.preview_text()
    assert "(no column 'nowhere' in this dataset)" in text and str(first["message"])[:20] in text
    assert page.is_dirty
    assert page.save()
    record = window.state.template()
    assert reference_columns(window.store, record.id) == ["message", "nowhere"] and not page.is_dirty
    page.references_edit.setText("")
    page._loaded = {}
    page._load_selected()
    assert page.references_edit.text() == "message, nowhere" and not page.is_dirty
