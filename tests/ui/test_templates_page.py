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
