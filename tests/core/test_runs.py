"""Run lifecycle: a lost worker is settled as failed, resume from a checkpoint, clone, delete, CSV, history."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop_ift.core import events as ev
from desktop_ift.core import runs
from desktop_ift.core.store import StoreError


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _train_run(store, project, job_extra: dict | None = None, name="run"):
    config = {"method": "lora", "epochs": 2.0, "learning_rate": 1e-3, "model": "demo",
              "source": {"dataset_name": "tickets", "dataset_version": 3, "template": {"name": "classify"}}}
    run = store.create_run("train", config, project_id=project.id, name=name)
    job = {"kind": "train", "version": 1, "run_id": run.id, "workspace": str(store.home), "model": "demo",
           "config": {"method": "lora", "epochs": 2.0, "learning_rate": 1e-3}, "data": {},
           "output_dir": str(Path(run.run_dir) / "output"), "resume_from": None,
           "source": config["source"], **(job_extra or {})}
    (Path(run.run_dir) / "job.json").write_text(json.dumps(job), encoding="utf-8")
    return run


def _log_steps(store, run_id, steps, start_seq=2, t0=1_000_000.0):
    seq = start_seq
    for step in steps:
        store.append_event(ev.Log(run_id=run_id, seq=seq, time=t0 + step, step=step, total_steps=100,
                                  epoch=step / 50, loss=2.0 / step, learning_rate=1e-3, tokens_seen=step * 64))
        seq += 1
    return seq


def _checkpoint(run, step):
    folder = Path(run.run_dir) / "checkpoints" / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text("{}")
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (folder / "adapter_model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 4)
    return folder


def test_a_running_run_whose_worker_died_reads_lost_with_its_last_step_and_nothing_is_written(store, project):
    run = _train_run(store, project)
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=100, pid=_dead_pid()))
    next_seq = _log_steps(store, run.id, [1, 2, 3, 4])

    state = runs.run_state(store, run.id)

    assert state.status == "lost" and state.step == 4
    assert "lost at step 4" in state.reason
    assert [s.run_id for s in runs.lost_runs(store, project.id)] == [run.id]
    assert runs.run_summary(store, run.id).status == "lost"
    assert len(store.events(run.id)) == next_seq - 1  # the stream is the truth: no made-up ending
    assert not runs.worker_alive(store, store.get_run(run.id))


def test_a_live_worker_and_a_queued_run_are_not_lost(store, project):
    from desktop_ift.core.run_state import process_create_time

    alive = _train_run(store, project, name="alive")
    store.append_event(ev.Started(run_id=alive.id, seq=1, pid=os.getpid(), create_time=process_create_time()))
    queued = _train_run(store, project, name="queued")
    assert runs.run_state(store, alive.id).status == "running"
    assert runs.run_state(store, queued.id).status == "queued"
    assert runs.lost_runs(store, project.id) == []


def test_a_resumed_attempt_is_judged_by_its_own_start_not_the_first(store, project):
    """The bug of issue 12: the first attempt's start time made the resumed worker look too new to be it."""
    from desktop_ift.core.run_state import process_create_time

    run = _train_run(store, project)
    created = process_create_time()
    store.append_event(ev.Started(run_id=run.id, seq=1, time=created - 3600, pid=_dead_pid()))
    store.append_event(ev.Paused(run_id=run.id, seq=2, time=created - 3000, step=5))
    store.append_event(ev.Started(run_id=run.id, seq=3, time=created + 0.5, pid=os.getpid(), attempt=2))
    assert runs.run_state(store, run.id).status == "running"


def test_a_reused_process_id_does_not_keep_a_dead_run_alive(store, project):
    """The worker's pid now belongs to a process created after the recorded one (here: this test)."""
    from desktop_ift.core.run_state import process_create_time

    run = _train_run(store, project)
    created = process_create_time()
    store.append_event(ev.Started(run_id=run.id, seq=1, time=created - 600, pid=os.getpid(),
                                  create_time=created - 600))
    assert runs.run_state(store, run.id).status == "lost"
    old = _train_run(store, project, name="old stream")  # no creation time recorded: the start time decides
    store.append_event(ev.Started(run_id=old.id, seq=1, time=created - 600, pid=os.getpid()))
    assert runs.run_state(store, old.id).status == "lost"


def test_resume_a_lost_run_from_its_latest_checkpoint(store, project):
    run = _train_run(store, project)
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=100, pid=_dead_pid()))
    seq = _log_steps(store, run.id, range(1, 31))
    _checkpoint(run, 10)
    latest = _checkpoint(run, 30)
    store.append_event(ev.Checkpoint(run_id=run.id, seq=seq, step=30, path=str(latest)))
    (Path(run.run_dir) / "checkpoints" / "checkpoint-40").mkdir()  # incomplete (no trainer state): skipped

    state = runs.run_state(store, run.id)
    ok, why = runs.can_resume(store, store.get_run(run.id), state)
    assert ok, why
    assert "step 30" in state.hint
    job_path = runs.prepare_resume(store, run.id)

    job = json.loads(job_path.read_text())
    assert job["resume_from"] == str(latest) and job["run_id"] == run.id
    record = store.get_run(run.id)
    assert record.status == "queued" and record.message == "" and record.ended_at is None
    resumed = store.events(run.id)[-1]
    assert isinstance(resumed, ev.Resumed) and resumed.attempt == 2 and resumed.step == 30
    assert "checkpoint-40 skipped" in resumed.note
    assert runs.run_state(store, run.id).status == "queued"


def test_resume_falls_back_to_the_newest_checkpoint_that_loads_and_says_which(store, project):
    run = _train_run(store, project)
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=100, pid=_dead_pid()))
    _log_steps(store, run.id, range(1, 31))
    good = _checkpoint(run, 20)
    cut = _checkpoint(run, 30)
    weights = cut / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-2])  # the disk filled up mid-write
    job_path = runs.prepare_resume(store, run.id)
    assert json.loads(job_path.read_text())["resume_from"] == str(good)
    note = runs.resume_note(store, run.id)
    assert "checkpoint-20 (step 20)" in note and "checkpoint-30 skipped: adapter_model.safetensors is cut short" in note


def test_resume_is_refused_with_a_reason(store, project):
    from desktop_ift.core.run_state import process_create_time

    finished = _train_run(store, project, name="finished")
    store.append_event(ev.Started(run_id=finished.id, seq=1, pid=_dead_pid()))
    store.append_event(ev.Finished(run_id=finished.id, seq=2))
    with pytest.raises(runs.RunActionError, match="finished"):
        runs.prepare_resume(store, finished.id)
    no_checkpoint = _train_run(store, project, name="nockpt")
    store.append_event(ev.Started(run_id=no_checkpoint.id, seq=1, pid=_dead_pid()))
    store.append_event(ev.Cancelled(run_id=no_checkpoint.id, seq=2, step=3))
    with pytest.raises(runs.RunActionError, match="no checkpoint"):
        runs.prepare_resume(store, no_checkpoint.id)
    running = _train_run(store, project, name="running")
    store.append_event(ev.Started(run_id=running.id, seq=1, pid=os.getpid(), create_time=process_create_time()))
    _checkpoint(running, 5)
    with pytest.raises(runs.RunActionError, match="still going"):
        runs.prepare_resume(store, running.id)


def test_a_paused_run_shows_as_paused_and_resumable_and_cancel_gives_it_up(store, project):
    run = _train_run(store, project)
    store.append_event(ev.Started(run_id=run.id, seq=1, pid=_dead_pid()))
    _checkpoint(run, 7)
    store.append_event(ev.Paused(run_id=run.id, seq=2, step=7, checkpoint="x/checkpoint-7"))
    summary = runs.run_summary(store, run.id)
    assert summary.status == "paused" and summary.resumable
    assert store.get_run(run.id).status == "paused"
    runs.prepare_resume(store, run.id)
    assert runs.run_summary(store, run.id).status == "queued"
    assert runs.cancel_run(store, run.id) == "cancelled at step 7"
    assert runs.run_state(store, run.id).status == "cancelled"


def test_an_old_workspace_with_run_flags_reads_paused_and_lost(store, project):
    """Workspaces written before pause/loss were events kept them in a side table: they read the same."""
    store.ensure_schema(runs.AREA, runs.MIGRATIONS[:1])
    paused = _train_run(store, project, name="paused")
    store.append_event(ev.Started(run_id=paused.id, seq=1, pid=_dead_pid()))
    store.append_event(ev.Cancelled(run_id=paused.id, seq=2, step=7, checkpoint="x"))
    lost = _train_run(store, project, name="lost")
    store.append_event(ev.Started(run_id=lost.id, seq=1, pid=_dead_pid()))
    _log_steps(store, lost.id, [1, 2, 3])
    store.append_event(ev.Failed(run_id=lost.id, seq=5, message="The training process was lost at step 3"))
    cancelled = _train_run(store, project, name="cancelled")
    store.append_event(ev.Started(run_id=cancelled.id, seq=1, pid=_dead_pid()))
    store.append_event(ev.Cancelled(run_id=cancelled.id, seq=2, step=2))
    store.conn.execute("INSERT INTO run_flags (run_id, paused, lost) VALUES (?, 1, 0), (?, 0, 1)", (paused.id, lost.id))
    store._areas_ready = set()

    assert runs.run_state(store, paused.id).status == "paused"
    assert store.get_run(paused.id).status == "paused"
    state = runs.run_state(store, lost.id)
    assert state.status == "lost" and state.step == 3
    assert runs.run_state(store, cancelled.id).status == "cancelled"
    assert len(store.events(lost.id)) == 5  # the numbering is kept: no sequence number is reused
    assert store.conn.execute("SELECT name FROM sqlite_master WHERE name='run_flags'").fetchone() is None


def test_clone_settings_repeat_the_run(store, project):
    dataset = store.add_dataset(project.id, "tickets", "/x.csv", "h", 1, 3, [{"name": "a", "type": "string"}], "/s")
    template = store.save_template(project.id, "classify", "{{ a }}", "{{ a }}")
    run = _train_run(store, project, job_extra={
        "source": {"project_id": project.id, "dataset_id": dataset.id, "dataset_name": "tickets",
                   "dataset_version": 1, "template": {"name": "classify"},
                   "split": {"train": 0.7, "validation": 0.2, "test": 0.1, "seed": 5, "stratify_column": None}}})
    settings = runs.clone_settings(store, run.id)
    assert settings["config"]["learning_rate"] == 1e-3 and settings["config"]["epochs"] == 2.0
    assert settings["config"]["method"] == "lora" and "batch_size" in settings["config"]
    assert settings["model"] == "demo"
    assert settings["dataset_id"] == dataset.id and settings["template_id"] == template.id
    assert settings["split"]["seed"] == 5
    store.delete_dataset(dataset.id)
    assert runs.clone_settings(store, run.id)["dataset_id"] is None  # gone: not offered


def test_clone_settings_repeat_the_whole_template_set_and_the_plan_choices(store, project):
    from desktop_ift.core.templates.library import current_training_source

    dataset = store.add_dataset(project.id, "tickets", "/x.csv", "h", 1, 3, [{"name": "a", "type": "string"}], "/s")
    first = store.save_template(project.id, "classify", "{{ a }}", "{{ a }}")
    second = store.save_template(project.id, "label it", "Label: {{ a }}", "{{ a }}")
    store.save_template(project.id, "unrelated", "x {{ a }}", "{{ a }}")
    split = {"train": 0.8, "validation": 0.1, "test": 0.1, "seed": 42, "stratify_column": None,
             "split_column": "split"}
    set_info = {"templates": [{"name": "classify"}, {"name": "label it"}, {"name": "deleted since"}],
                "mode": "random", "seed": 7, "weights": [3.0, 1.0, 1.0], "template_ids": [first.id, second.id, 999]}
    run = _train_run(store, project, job_extra={
        "config": {"method": "lora", "epochs": 2.0, "learning_rate": 1e-3, "max_seq_length": 96,
                   "overflow": "drop", "truncate_side": "start"},
        "source": {"project_id": project.id, "dataset_id": dataset.id, "template": {"name": "classify"},
                   "template_set": set_info, "split": split}})
    settings = runs.clone_settings(store, run.id)
    assert settings["template_ids"] == [first.id, second.id] and settings["template_id"] == first.id
    assert settings["missing_templates"] == ["deleted since"]
    assert settings["template_set"] == {"mode": "random", "seed": 7, "weights": [3.0, 1.0]}
    assert settings["split"]["split_column"] == "split"
    assert (settings["config"]["overflow"], settings["config"]["truncate_side"]) == ("drop", "start")
    assert settings["config"]["max_seq_length"] == 96
    source = runs.clone_training_source(store, project.id, settings)
    store.update_project_settings(project.id, training_source=source)
    chosen = current_training_source(store, project.id)
    assert [t.name for t in chosen.templates] == ["classify", "label it"] and chosen.seed == 7


def test_delete_removes_the_run_its_evaluations_and_their_folders(store, project):
    run = _train_run(store, project)
    store.append_event(ev.Started(run_id=run.id, seq=1, pid=_dead_pid()))
    _log_steps(store, run.id, [1, 2])
    store.append_event(ev.Finished(run_id=run.id, seq=4))
    child = store.create_run("evaluate", {}, project_id=project.id, parent_run_id=run.id)
    other = _train_run(store, project, name="other")

    deleted = runs.delete_run(store, run.id)

    assert deleted == [run.id, child.id]
    for rid in deleted:
        with pytest.raises(StoreError):
            store.get_run(rid)
        assert not store.run_dir(rid).exists()
    assert store.metric_series(run.id, "loss") == []
    assert store.get_run(other.id) and Path(other.run_dir).exists()


def test_delete_refuses_a_run_that_is_still_going(store, project):
    run = _train_run(store, project)
    store.append_event(ev.Started(run_id=run.id, seq=1, pid=os.getpid()))
    with pytest.raises(runs.RunActionError, match="Cancel it first"):
        runs.delete_run(store, run.id)
    assert Path(run.run_dir).exists()


def test_export_metrics_csv_has_one_row_per_step_and_validation(store, project, tmp_path):
    run = _train_run(store, project)
    store.append_event(ev.Started(run_id=run.id, seq=1, pid=_dead_pid()))
    seq = _log_steps(store, run.id, [1, 2, 3])
    store.append_event(ev.Eval(run_id=run.id, seq=seq, time=1_000_003.5, step=3, metrics={"eval_loss": 0.75}))
    out = tmp_path / "sub" / "metrics.csv"

    assert runs.export_metrics_csv(store, run.id, out) == 4

    rows = list(csv.DictReader(out.open()))
    assert [r["step"] for r in rows] == ["1", "2", "3", "3"]
    assert float(rows[1]["loss"]) == 1.0 and rows[1]["eval_loss"] == ""
    assert float(rows[3]["eval_loss"]) == 0.75 and rows[3]["loss"] == ""
    assert float(rows[2]["elapsed_s"]) == 2.0
    assert list(rows[0])[:3] == ["step", "epoch", "time"]
    assert rows[0]["tokens_seen"] == "64.0"


def test_run_summaries_give_best_validation_and_final_scores(store, project):
    run = _train_run(store, project)
    store.append_event(ev.Started(run_id=run.id, seq=1, time=1000.0, pid=_dead_pid()))
    store.append_event(ev.Eval(run_id=run.id, seq=2, step=10, metrics={"eval_loss": 0.9}))
    store.append_event(ev.Eval(run_id=run.id, seq=3, step=20, metrics={"eval_loss": 0.6}))
    store.append_event(ev.Eval(run_id=run.id, seq=4, step=30, metrics={"eval_loss": 0.7}))
    store.append_event(ev.Finished(run_id=run.id, seq=5, time=1090.0))
    old_eval = store.create_run("evaluate", {}, project_id=project.id, parent_run_id=run.id)
    store.append_event(ev.Eval(run_id=old_eval.id, seq=1, model_label="fine-tuned", metrics={"accuracy": 0.5}))
    store.append_event(ev.Finished(run_id=old_eval.id, seq=2))
    time.sleep(0.01)
    new_eval = store.create_run("evaluate", {}, project_id=project.id, parent_run_id=run.id)
    store.append_event(ev.Eval(run_id=new_eval.id, seq=1, model_label="base", metrics={"accuracy": 0.1}))
    store.append_event(ev.Eval(run_id=new_eval.id, seq=2, model_label="fine-tuned", metrics={"accuracy": 0.9}))
    store.append_event(ev.Finished(run_id=new_eval.id, seq=3))
    unfinished = store.create_run("evaluate", {}, project_id=project.id, parent_run_id=run.id)
    store.append_event(ev.Eval(run_id=unfinished.id, seq=1, model_label="fine-tuned", metrics={"accuracy": 0.0}))

    [summary] = runs.run_summaries(store, project.id)

    assert summary.status == "finished"
    assert summary.best_val_loss == 0.6 and summary.best_val_step == 20
    assert summary.final_scores == {"accuracy": 0.9}
    assert summary.duration_s == 90.0
    assert (summary.model, summary.method, summary.dataset, summary.template) == (
        "demo (tiny)", "lora", "tickets v3", "classify")
    assert not summary.resumable


def test_metrics_of_an_abandoned_attempt_past_the_checkpoint_are_left_out(store, project, tmp_path):
    """Lost at step 6 after a checkpoint at 4, resumed: steps 5-6 are logged again; the table keeps the new ones."""
    run = _train_run(store, project)
    store.append_event(ev.Started(run_id=run.id, seq=1, pid=_dead_pid()))
    seq = _log_steps(store, run.id, [1, 2, 3, 4, 5, 6])
    store.append_event(ev.Started(run_id=run.id, seq=seq, pid=_dead_pid()))
    for step in (5, 6, 7):
        seq += 1
        store.append_event(ev.Log(run_id=run.id, seq=seq, step=step, total_steps=100, loss=10.0 + step))
    table = runs.metric_table(store, run.id)
    assert table.step.tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert table.column("loss")[4:].tolist() == [15.0, 16.0, 17.0]
    runs.export_metrics_csv(store, run.id, tmp_path / "m.csv")
    assert [r["step"] for r in csv.DictReader((tmp_path / "m.csv").open())] == [str(s) for s in range(1, 8)]


def test_metric_table_aligns_figures_logged_on_some_steps_only(store, project):
    """A figure missing from some log events is NaN there; a log event without a loss, and a validation,
    still get their step; ``max_seq`` cuts the table where the run was when it was read."""
    import numpy as np

    run = _train_run(store, project)
    store.append_event(ev.Started(run_id=run.id, seq=1, pid=_dead_pid()))
    store.append_event(ev.Log(run_id=run.id, seq=2, time=10.0, step=1, loss=3.0, learning_rate=1e-3))
    store.append_event(ev.Log(run_id=run.id, seq=3, time=11.0, step=2, loss=2.0, grad_norm=0.5))
    store.append_event(ev.Log(run_id=run.id, seq=4, time=12.0, step=3, learning_rate=5e-4, grad_norm=0.25))
    store.append_event(ev.Eval(run_id=run.id, seq=5, time=12.5, step=3, metrics={"eval_loss": 1.5}))
    store.append_event(ev.Log(run_id=run.id, seq=6, time=13.0, step=4, loss=1.0))

    table = runs.metric_table(store, run.id)
    assert table.seq.tolist() == [2, 3, 4, 5, 6] and table.step.tolist() == [1, 2, 3, 3, 4]
    assert table.time.tolist() == [10.0, 11.0, 12.0, 12.5, 13.0]
    as_list = lambda name: [("nan" if v != v else v) for v in table.column(name).tolist()]  # noqa: E731
    assert as_list("loss") == [3.0, 2.0, "nan", "nan", 1.0]
    assert as_list("learning_rate") == [1e-3, "nan", 5e-4, "nan", "nan"]
    assert as_list("grad_norm") == ["nan", 0.5, 0.25, "nan", "nan"]
    assert as_list("eval_loss") == ["nan", "nan", "nan", 1.5, "nan"]
    cut = runs.metric_table(store, run.id, max_seq=4)
    assert cut.step.tolist() == [1, 2, 3] and np.isnan(cut.column("eval_loss")).all()


def _cgroup_v2(folder: Path, oom_kills: int, limit: int = 1 << 30) -> Path:
    """A memory cgroup folder as the kernel lays it out (v2): the limit and the OOM-kill counter."""
    folder.mkdir(exist_ok=True)
    (folder / "memory.max").write_text(f"{limit}\n")
    (folder / "memory.current").write_text("1000\n")
    (folder / "memory.events").write_text(f"low 0\nhigh 0\nmax 3\noom 1\noom_kill {oom_kills}\n")
    return folder


def test_a_worker_killed_by_the_out_of_memory_killer_reads_failed_out_of_memory_not_lost(store, project, tmp_path):
    run = _train_run(store, project)
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=100, pid=_dead_pid()))
    _log_steps(store, run.id, [1, 2, 3])
    cgroup = _cgroup_v2(tmp_path / "cg", oom_kills=0)
    before = 0
    _cgroup_v2(cgroup, oom_kills=1)  # the kernel killed the worker while it trained

    event = runs.report_oom_kill(store, run.id, -9, before, folder=cgroup)

    state = runs.run_state(store, run.id)
    assert isinstance(event, ev.Failed) and state.status == "failed"
    assert "ran out of memory" in state.reason and "step 3" in state.reason
    assert "1.0 GiB" in event.hint and "batch size" in event.hint
    assert runs.report_oom_kill(store, run.id, -9, before, folder=cgroup) is None  # written once


def test_a_kill_that_was_not_for_memory_leaves_the_run_lost(store, project, tmp_path):
    run = _train_run(store, project)
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=100, pid=_dead_pid()))
    _log_steps(store, run.id, [1, 2])
    cgroup = _cgroup_v2(tmp_path / "cg", oom_kills=2)

    assert runs.report_oom_kill(store, run.id, -9, 2, folder=cgroup) is None  # no new OOM kill, far from limit
    assert runs.report_oom_kill(store, run.id, 1, 0, folder=cgroup) is None  # not a SIGKILL
    assert runs.run_state(store, run.id).status == "lost"
