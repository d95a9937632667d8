"""Runs page: the history table from the workspace, overlaying curves, resume, clone into the Train page,
delete after confirmation, export; notifications when a run ends."""

from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import Qt

from desktop_ift.core import events as ev


def _run(store, window, name, losses, status="finished", val=None, pid=None, config=None):
    project = window.state.project
    source = {"project_id": project.id, "dataset_id": window.state.dataset_id, "dataset_name": "support_tickets",
              "dataset_version": 1, "template": {"name": window.state.template().name},
              "split": {"train": 0.7, "validation": 0.2, "test": 0.1, "seed": 9, "stratify_column": None}}
    cfg = {"method": "lora", "learning_rate": 5e-4, "epochs": 2.0, **(config or {})}
    run = store.create_run("train", {**cfg, "model": "demo", "source": source}, project_id=project.id, name=name)
    (Path(run.run_dir) / "job.json").write_text(json.dumps(
        {"kind": "train", "run_id": run.id, "model": "demo", "config": cfg, "source": source, "resume_from": None}))
    store.append_event(ev.Started(run_id=run.id, seq=1, time=1000.0, total_steps=len(losses),
                                  pid=pid or 2**22 + 4321))
    seq = 1
    for step, loss in enumerate(losses, start=1):
        seq += 1
        store.append_event(ev.Log(run_id=run.id, seq=seq, step=step, total_steps=len(losses), loss=loss))
    if val is not None:
        seq += 1
        store.append_event(ev.Eval(run_id=run.id, seq=seq, step=len(losses), metrics={"eval_loss": val}))
    seq += 1
    if status == "finished":
        store.append_event(ev.Finished(run_id=run.id, seq=seq, time=1125.0))
    elif status == "cancelled":
        store.append_event(ev.Cancelled(run_id=run.id, seq=seq, step=len(losses), checkpoint="x"))
    return store.get_run(run.id)


def _row(page, run_id):
    return next(i for i, s in enumerate(page.summaries) if s.id == run_id)


def _cell(page, run_id, column):
    from desktop_ift.ui.pages.runs_page import COLUMNS

    return page.table.item(_row(page, run_id), COLUMNS.index(column)).text()


def test_history_lists_runs_with_their_figures(window, store):
    done = _run(store, window, "first", [2.0, 1.5, 1.0], val=0.8)
    evaluation = store.create_run("evaluate", {}, project_id=window.state.project.id, parent_run_id=done.id)
    store.append_event(ev.Eval(run_id=evaluation.id, seq=1, model_label="fine-tuned", metrics={"accuracy": 0.93}))
    store.append_event(ev.Finished(run_id=evaluation.id, seq=2))
    lost = _run(store, window, "lost one", [2.0, 1.9], status="running")  # its worker pid does not exist
    page = window.runs_page
    window.show_page(page)

    assert {s.id for s in page.summaries} == {done.id, lost.id}
    assert _cell(page, done.id, "Status") == "Finished"
    assert _cell(page, done.id, "Best val. loss") == "0.8000"
    assert _cell(page, done.id, "Final scores") == "accuracy 0.930"
    assert _cell(page, done.id, "Duration") == "2:05"
    assert _cell(page, done.id, "Dataset") == "support_tickets v1"
    assert _cell(page, done.id, "Method") == "lora"
    assert _cell(page, lost.id, "Status") == "Lost"  # settled: the process died without a final event
    page.select_run(lost.id)
    assert "lost at step 2" in page.detail_label.text()
    assert not page.resume_button.isEnabled()  # no checkpoint


def test_overlay_the_curves_of_ticked_runs(window, store):
    a = _run(store, window, "a", [2.0, 1.0, 0.5])
    b = _run(store, window, "b", [3.0, 2.0], val=1.5)
    page = window.runs_page
    window.show_page(page)
    page.set_checked([a.id, b.id])
    assert page.overlay_run_ids() == [b.id, a.id]  # newest first, like the table
    assert list(page.overlay_curves[a.id].getData()[0]) == [1, 2, 3]
    assert len(page.overlay_curves[b.id].getData()[0]) == 2
    page.table.item(_row(page, a.id), 0).setCheckState(Qt.CheckState.Unchecked)
    assert set(page.overlay_curves) == {b.id}


def test_delete_asks_first_and_removes_the_files(window, store):
    run = _run(store, window, "doomed", [1.0])
    page = window.runs_page
    window.show_page(page)
    page.select_run(run.id)
    asked = []
    page.confirm = lambda title, text, ok: asked.append(text) or False
    page.delete_selected()
    assert asked and "cannot be undone" in asked[0] and Path(run.run_dir).exists()
    page.confirm = lambda *args: True
    page.delete_selected()
    assert not Path(run.run_dir).exists()
    assert run.id not in {s.id for s in page.summaries}


def test_resume_clone_and_export(window, store, tmp_path, monkeypatch):
    run = _run(store, window, "paused", [2.0, 1.8], status="cancelled", config={"learning_rate": 7e-4})
    checkpoint = Path(run.run_dir) / "checkpoints" / "checkpoint-2"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}")
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (checkpoint / "adapter_model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 4)
    page = window.runs_page
    window.show_page(page)
    page.select_run(run.id)
    assert page.resume_button.isEnabled()
    started = []
    monkeypatch.setattr(window, "start_run", lambda run_id, job, kind="train", command=None: started.append(job))
    page.resume_button.click()
    assert json.loads(Path(started[0]).read_text())["resume_from"] == str(checkpoint)

    page.refresh()
    page.select_run(run.id)
    page.clone_button.click()
    assert window.current_page() is window.train_page
    assert window.train_page.config_values()["learning_rate"] == 7e-4
    assert window.train_page.method == "lora"
    assert window.state.split_values()["seed"] == 9

    assert page.export_metrics(run.id, tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_text().splitlines()[0].startswith("step,")


def test_a_finished_or_failed_run_notifies_with_the_reason(window, store, qtbot):
    done = _run(store, window, "good run", [1.0])
    failed = store.create_run("train", {}, project_id=window.state.project.id, name="bad run")
    store.append_event(ev.Started(run_id=failed.id, seq=1, pid=os.getpid()))
    store.append_event(ev.Failed(run_id=failed.id, seq=2, message="The model ran out of memory.",
                                 hint="Use a smaller batch size."))
    window.notify_run_end(done.id, "finished")
    kind, title, text = window.notifier.history[-1]
    assert (kind, title) == ("success", "Training finished") and "good run" in text
    window.notify_run_end(failed.id, "failed")
    kind, title, text = window.notifier.history[-1]
    assert kind == "error" and "ran out of memory" in text and "What to try: Use a smaller batch size." in text
    if window.notifier.tray is None:  # offscreen: no system tray, so the in-app toast shows it
        assert window.notifier.toast.isVisible()
        assert "ran out of memory" in window.notifier.toast.text_label.text()


def test_export_run_bundle_to_a_zip_or_a_folder(window, store, qtbot, tmp_path, monkeypatch):
    import zipfile

    from desktop_ift.ui.pages import runs_page

    run = _run(store, window, "bundled", [1.0, 0.5])
    run_dir = Path(run.run_dir)
    (run_dir / "data").mkdir()
    train = run_dir / "data" / "train.jsonl"
    train.write_text(json.dumps({"idx": 0, "system": "", "prompt": "My invoice?", "response": "billing"}) + "\n")
    job = json.loads((run_dir / "job.json").read_text())
    (run_dir / "job.json").write_text(json.dumps({**job, "data": {"train": str(train)}}))
    page = window.runs_page
    window.show_page(page)
    page.select_run(run.id)
    answers = []
    monkeypatch.setattr(runs_page.QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: answers.pop(0)))

    # The zip filter chosen, the name typed without .zip: one zip file, nothing else left beside it.
    answers.append((str(tmp_path / "out" / "bundle"), "Zip archive (*.zip)"))
    page.bundle_button.trigger()
    qtbot.waitUntil(lambda: "Run bundle exported" in page.banner.message, timeout=15000)
    archive = tmp_path / "out" / "bundle.zip"
    assert {"job.json", "run.sh", "config.yaml", "data/train.jsonl"} <= set(zipfile.ZipFile(archive).namelist())
    assert os.listdir(tmp_path / "out") == ["bundle.zip"]
    assert str(archive) in page.banner.message
    assert "unzip bundle.zip -d bundle && cd bundle && ./run.sh\n" in page.banner.message  # demo: no --model
    assert page.bundle_button.isEnabled()

    answers.append((str(tmp_path / "folder"), "Folder (no extension)"))
    page.bundle_button.trigger()
    qtbot.waitUntil(lambda: "Run bundle exported" in page.banner.message and "folder" in page.banner.message,
                    timeout=15000)
    assert (tmp_path / "folder" / "run.sh").exists() and (tmp_path / "folder" / "data" / "train.jsonl").exists()

    # The same folder again: refused in plain words, the first bundle untouched.
    answers.append((str(tmp_path / "folder"), "Folder (no extension)"))
    page.bundle_button.trigger()
    qtbot.waitUntil(lambda: "Export failed" in page.banner.message, timeout=15000)
    assert "already exists. Choose a new folder name" in page.banner.message
    assert (tmp_path / "folder" / "run.sh").exists()


def test_bundle_instructions_name_the_model_to_copy(tmp_path):
    from desktop_ift.ui.pages.runs_page import bundle_instructions

    text = bundle_instructions(tmp_path / "b", "/models/qwen")
    assert "cd b && ./run.sh --model /path/to/the/model" in text and "unzip" not in text
    assert "copy /models/qwen to that machine" in text


def test_export_model_merged_or_adapter_in_a_child_process(window, store, qtbot, tmp_path, monkeypatch,
                                                           make_adapter_run):
    """Export model… on a finished LoRA run: the user picks "Standalone model" and a folder; a child process
    merges the adapter into its base (the GUI never loads the model) and the banner says where it went."""
    from desktop_ift.ui.pages import runs_page

    run, _ = make_adapter_run(project_id=window.state.project.id)
    page = window.runs_page
    window.show_page(page)
    window.state.runs_changed.emit()
    qtbot.waitUntil(lambda: (page.select_run(run.id), page.selected_run_id() == run.id)[1], timeout=5000)
    assert page.model_button.isEnabled()
    choices, answers = [True, False], [str(tmp_path / "merged"), str(tmp_path / "merged")]
    monkeypatch.setattr(page, "ask_merge", lambda summary: choices.pop(0))
    monkeypatch.setattr(runs_page.QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (answers.pop(0), "Folder (no extension)")))
    page.model_button.trigger()
    assert not page.model_button.isEnabled(), "one export at a time"
    qtbot.waitUntil(lambda: "Model exported" in page.banner.message, timeout=120000)
    assert "standalone model" in page.banner.message and str(tmp_path / "merged") in page.banner.message
    assert (tmp_path / "merged" / "config.json").exists() and not (tmp_path / "merged" / "adapter_config.json").exists()
    assert page.model_button.isEnabled()

    page.model_button.trigger()  # the adapter alone, into the same folder: refused, the merged model kept
    qtbot.waitUntil(lambda: "Export failed" in page.banner.message, timeout=120000)
    assert "already exists and is not an empty folder" in page.banner.message
    assert (tmp_path / "merged" / "config.json").exists()


def _recorded_streams():
    """The recorded streams of tests/core/test_run_state.py's kinds: (name, events builder, expected words)."""
    def started(run_id, seq, attempt, t):
        return ev.Started(run_id=run_id, seq=seq, time=t, total_steps=6, pid=2**22 + 99, attempt=attempt)

    def logs(run_id, seq, steps, t):
        return [ev.Log(run_id=run_id, seq=seq + i, time=t + i, step=s, total_steps=6, loss=2.0 / s)
                for i, s in enumerate(steps)]

    def normal(r):
        return [started(r, 1, 1, 1000.0), *logs(r, 2, range(1, 7), 1001.0), ev.Finished(run_id=r, seq=8, time=1010.0)]

    def paused(r):
        return [started(r, 1, 1, 1000.0), *logs(r, 2, [1, 2, 3], 1001.0),
                ev.Paused(run_id=r, seq=5, time=1005.0, step=3, checkpoint="c/checkpoint-3")]

    def resumed_twice(r):
        out = [started(r, 1, 1, 1000.0), *logs(r, 2, [1, 2], 1001.0), ev.Paused(run_id=r, seq=4, time=1004.0, step=2),
               ev.Resumed(run_id=r, seq=5, time=2000.0, attempt=2, step=2), started(r, 6, 2, 2001.0),
               *logs(r, 7, [3, 4], 2002.0), ev.Paused(run_id=r, seq=9, time=2005.0, step=4),
               ev.Resumed(run_id=r, seq=10, time=3000.0, attempt=3, step=4), started(r, 11, 3, 3001.0),
               *logs(r, 12, [5, 6], 3002.0), ev.Finished(run_id=r, seq=14, time=3005.0)]
        return out

    def killed(r):
        return [started(r, 1, 1, 1000.0), *logs(r, 2, [1, 2, 3, 4], 1001.0)]

    def cancelled(r):
        return [started(r, 1, 1, 1000.0), *logs(r, 2, [1, 2], 1001.0), ev.Cancelled(run_id=r, seq=4, time=1004.0, step=2)]

    def failed(r):
        return [started(r, 1, 1, 1000.0), ev.Failed(run_id=r, seq=2, time=1002.0, message="The model ran out of memory.")]

    return [("normal", normal, "Finished", "6 / 6"), ("paused", paused, "Paused", "3 / 6"),
            ("resumed twice", resumed_twice, "Finished", "6 / 6"), ("killed", killed, "Lost", "4 / 6"),
            ("cancelled", cancelled, "Cancelled", "2 / 6"), ("failed", failed, "Failed", "0 / 6")]


def test_recorded_streams_read_the_same_on_the_monitor_and_the_runs_page(window, store):
    from desktop_ift.core import runs as run_ops

    made = []
    for name, build, words, steps in _recorded_streams():
        run = store.create_run("train", {"method": "lora"}, project_id=window.state.project.id, name=name)
        for event in build(run.id):
            store.append_event(event)
        made.append((run.id, words, steps))
    page = window.runs_page
    window.show_page(page)
    monitor = window.monitor_page
    for run_id, words, steps in made:
        assert run_ops.run_state(store, run_id).words == words
        assert _cell(page, run_id, "Status") == words, run_id
        assert _cell(page, run_id, "Steps") == steps, run_id
        monitor.load_run(run_id)
        assert monitor.status_badge.text() == words, run_id
    resumed = next(run_id for (run_id, _w, _s), (n, *_r) in zip(made, _recorded_streams()) if n == "resumed twice")
    assert run_ops.run_state(store, resumed).attempts == 3
    assert _cell(page, resumed, "Duration") == "0:12"  # 4 s per attempt; the pauses between do not count


def test_clone_makes_the_runs_whole_template_set_the_training_choice(window, store):
    from desktop_ift.core.templates.library import current_training_source

    project = window.state.project
    first = window.state.template()
    second = store.save_template(project.id, "other wording", "Ticket: {{ message }}", first.response)
    run = _run(store, window, "a set", [2.0, 1.5])
    job_path = Path(run.run_dir) / "job.json"
    job = json.loads(job_path.read_text())
    job["source"]["template_set"] = {"templates": [{"name": first.name}, {"name": second.name}], "mode": "all",
                                     "seed": 3, "template_ids": [first.id, second.id]}
    job["config"]["overflow"] = "drop"
    job_path.write_text(json.dumps(job))
    page = window.runs_page
    window.show_page(page)
    page.refresh()
    page.select_run(run.id)
    page.clone_button.click()
    chosen = current_training_source(store, project.id)
    assert [t.name for t in chosen.templates] == [first.name, second.name] and chosen.mode == "all"
    assert window.train_page.advanced_form.values()["overflow"] == "drop"


def _finished_with_scores(store, window, name):
    done = _run(store, window, name, [2.0, 1.5, 1.0], val=0.8)
    evaluation = store.create_run("evaluate", {}, project_id=window.state.project.id, parent_run_id=done.id)
    store.append_event(ev.Eval(run_id=evaluation.id, seq=1, model_label="fine-tuned",
                               metrics={"accuracy": 1.0, "exact_match": 1.0, "rougeL": 1.0}))
    store.append_event(ev.Finished(run_id=evaluation.id, seq=2))
    return done


def test_the_run_column_shows_the_whole_name_and_scores_take_only_their_room(window, store, qtbot):
    """At 1920×1080 the Run column shows the demo run's whole name (it was cut while the last column, Final
    scores, stretched over empty width); at 1024×680 the table scrolls sideways rather than crushing the
    names, and a cut name or score list is whole on hover."""
    from desktop_ift.ui.pages.runs_page import COLUMNS

    name = "Classify support tickets on support_tickets v1"
    done = _finished_with_scores(store, window, name)
    page = window.runs_page
    window.show_page(page)
    window.resize(1920, 1080)
    qtbot.wait(100)
    table, row = page.table, _row(page, done.id)
    run_col, scores_col = COLUMNS.index("Run"), COLUMNS.index("Final scores")
    metrics = table.fontMetrics()
    needed = metrics.horizontalAdvance(name) + 12  # the cell's text margins
    assert table.columnWidth(run_col) >= needed, (table.columnWidth(run_col), needed)
    scores = table.item(row, scores_col).text()
    assert metrics.horizontalAdvance(scores) <= table.columnWidth(scores_col) <= metrics.horizontalAdvance(scores) + 40
    assert table.item(row, run_col).toolTip().startswith(name)
    assert "exact_match: 1.0000" in table.item(row, scores_col).toolTip()

    window.resize(1024, 680)
    qtbot.wait(100)
    assert table.columnWidth(run_col) >= 180  # names stay readable
    total = sum(table.columnWidth(c) for c in range(len(COLUMNS)))
    if total > table.viewport().width():
        assert table.horizontalScrollBar().maximum() > 0  # the rest is reached by scrolling
    window.resize(1920, 1080)
    qtbot.wait(100)
    assert table.columnWidth(run_col) >= needed  # back to the whole name
