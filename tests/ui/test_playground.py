"""The playground tab with the real chat worker on the tiny model: load, chat, streamed answer, unload."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

pytestmark = pytest.mark.slow


def test_chat_with_a_model_in_a_child_process(window, qtbot, tiny_model_dir):
    store = window.store
    run = store.create_run("train", {"model": str(tiny_model_dir)}, project_id=window.state.project.id,
                           name="tiny run")
    store.update_run(run.id, status="finished")
    window.state.runs_changed.emit()
    page = window.evaluate_page
    page.tabs.setCurrentIndex(1)
    play = page.playground
    assert play is not None and page.tabs.widget(1) is play
    base = play.model_combo.findText("Base: tiny-llama")
    assert base >= 0 and play.model_combo.findText("Fine-tuned: tiny run", Qt.MatchFlag.MatchStartsWith) >= 0
    play.model_combo.setCurrentIndex(base)
    assert not play.send_button.isEnabled()
    play.load()
    qtbot.waitUntil(lambda: play.ready, timeout=120000)
    assert "ready" in play.status.text()
    play.system_edit.setPlainText("Be brief.")
    play.temperature.setValue(0.0)
    play.max_tokens.setValue(8)
    pieces = []
    original = play.on_event

    def spy(event):
        if event.type == "output" and not event.done:
            pieces.append(event.text)
        original(event)

    play.on_event = spy
    play.input.setText("My invoice is wrong")
    play.send()
    assert play.pending == 1 and not play.send_button.isEnabled()
    qtbot.waitUntil(lambda: play.pending is None, timeout=60000)
    assert [m["role"] for m in play.messages] == ["user", "assistant"]
    assert "".join(pieces).strip() == play.messages[1]["content"]
    assert "My invoice is wrong" in play.transcript.toPlainText()
    proc = play.proc
    play.unload()
    assert play.proc is None and proc.state() == proc.ProcessState.NotRunning
    assert store.get_run(play.run_id).status == "finished"
