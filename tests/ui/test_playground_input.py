"""Playground without a model process (its stdin is the boundary, recorded here): multi-line input where
Enter sends and Shift+Enter starts a line, the training template's system text prefilled and editable,
Stop and Copy answer."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from desktop_ift.core import events as ev


class _Stdin:
    """Stands in for the chat worker's stdin: records the request lines written to it."""

    def __init__(self):
        self.lines = []

    def write(self, data: bytes) -> None:
        self.lines.append(json.loads(data.decode("utf-8")))

    def state(self):  # never asked to stop in these tests
        from PySide6.QtCore import QProcess

        return QProcess.ProcessState.NotRunning


def _playground(window, qtbot):
    page = window.evaluate_page
    window.show_page(page)
    page.tabs.setCurrentIndex(1)
    play = page.playground
    assert play is not None
    return play


def test_enter_sends_shift_enter_adds_a_line_with_the_training_system_prompt(window, qtbot):
    play = _playground(window, qtbot)
    template = window.state.template()
    assert template.system and play.system_edit.toPlainText() == template.system  # prefilled, as in training
    assert template.name in play.system_note.text()
    play.proc, play.ready = _Stdin(), True
    play._update()
    play.input.setFocus()
    QTest.keyClicks(play.input, "My card was charged twice")
    QTest.keyClick(play.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClicks(play.input, "for order 1234")
    assert play.input.toPlainText() == "My card was charged twice\nfor order 1234"
    assert play.proc.lines == []  # Shift+Enter did not send
    play.system_edit.setPlainText("Answer with one word.")  # editable
    QTest.keyClick(play.input, Qt.Key.Key_Return)
    [request] = play.proc.lines
    assert request["messages"] == [{"role": "user", "content": "My card was charged twice\nfor order 1234"}]
    assert request["system"] == "Answer with one word."
    assert play.input.toPlainText() == ""
    assert play.stop_button.isEnabled() and not play.send_button.isEnabled()
    play.stop_button.click()
    assert play.proc.lines[-1] == {"cancel": request["request"]}
    play.on_event(ev.Output(run_id="x", seq=1, request=request["request"], text="billing", done=True))
    assert play.copy_button.isEnabled()
    play.copy_button.click()
    assert QApplication.clipboard().text() == "billing"
    assert "Copy" in play.transcript.toHtml()


def test_an_edited_system_prompt_is_kept_when_the_model_changes(window, qtbot):
    play = _playground(window, qtbot)
    play.system_edit.setPlainText("My own instructions.")
    play.prefill_system()  # what a change of model does
    assert play.system_edit.toPlainText() == "My own instructions."
    play.system_edit.setPlainText("")
    play.prefill_system()
    assert play.system_edit.toPlainText() == window.state.template().system
