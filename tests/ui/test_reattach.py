"""A real training run through the window: the curve grows, closing the window can keep the run going, a
second window on the same workspace re-attaches (whole curve so far, then live), and cancel works."""

from __future__ import annotations

import pytest

from desktop_ift.core import runs as run_ops
from desktop_ift.core.training.prepare import prepare_train_job
from desktop_ift.core.training.config import TrainConfig


@pytest.mark.slow
def test_close_keeps_the_run_and_a_new_window_reattaches(window, qtbot, store, demo_model_in_workspace):
    from desktop_ift.core.demo import DEMO_TRAIN_CONFIG
    from desktop_ift.ui.app import create_main_window

    state = window.state
    config = TrainConfig.from_dict({**DEMO_TRAIN_CONFIG.to_dict(), "max_steps": 400, "logging_steps": 1,
                                    "batch_size": 4, "save_steps": 0})
    run, job_path = prepare_train_job(store, state.project.id, state.dataset_id, state.template_id, config)
    window.start_run(run.id, str(job_path), "train")
    first = window.monitor_page
    qtbot.waitUntil(lambda: first.curves.n >= 3, timeout=120000)  # the curve grows live

    window.ask_question = lambda *args: 0  # "Keep running"
    assert window.close()
    assert window.keep_worker_on_exit
    seen = first.curves.n

    second = create_main_window(store)
    qtbot.addWidget(second)
    second.show()
    monitor = second.monitor_page
    qtbot.waitUntil(lambda: second.run_controller.is_running and monitor.run_id == run.id, timeout=15000)
    assert monitor.curves.n >= seen  # everything logged so far, read back from the workspace
    assert monitor.status == "running" and monitor.pause_button.isEnabled()
    grown = monitor.curves.n
    qtbot.waitUntil(lambda: monitor.curves.n > grown + 2, timeout=60000)  # and it keeps going
    steps = monitor.curves.train["step"]
    assert list(steps) == sorted(set(steps))  # no point drawn twice across the two windows

    second.ask_question = lambda *args: 0  # "Cancel run"
    with qtbot.waitSignal(second.run_controller.ended, timeout=60000) as ended:
        second.cancel_run(run.id)
    assert ended.args == ["cancelled"]
    record = store.get_run(run.id)
    assert record.status == "cancelled" and record.last_step < 400
    assert monitor.status == "cancelled" and monitor.resume_button.isVisibleTo(monitor)
    assert run_ops.latest_checkpoint(record.run_dir) is not None
    second.run_controller.detach()


@pytest.mark.slow
def test_pause_resume_close_reopen_and_every_page_shows_it_finished(window, qtbot, store, demo_model_in_workspace):
    """Issue 12's GUI acceptance: pause → resume → close with "Keep running" → a new window shows it Running
    with all its points → it finishes → Monitor, Runs and Evaluate all say finished, and nothing says lost."""
    from desktop_ift.core.demo import DEMO_TRAIN_CONFIG
    from desktop_ift.ui.app import create_main_window

    state = window.state
    config = TrainConfig.from_dict({**DEMO_TRAIN_CONFIG.to_dict(), "max_steps": 30, "logging_steps": 1,
                                    "batch_size": 4, "save_steps": 0})
    run, job_path = prepare_train_job(store, state.project.id, state.dataset_id, state.template_id, config)
    window.start_run(run.id, str(job_path), "train")
    first = window.monitor_page
    qtbot.waitUntil(lambda: first.curves.n >= 3, timeout=120000)

    with qtbot.waitSignal(window.run_controller.ended, timeout=60000) as ended:
        window.pause_run(run.id)
    assert ended.args == ["paused"]
    paused = run_ops.run_state(store, run.id)
    assert paused.status == "paused" and first.status_badge.text() == "Paused"
    assert f"Paused at step {paused.step}" in first.stage_label.text()
    assert first.figures["step"].text().startswith(f"{paused.step} /")  # one step everywhere
    assert first.cancel_button.isEnabled() and first.resume_button.isVisibleTo(first)
    assert "Paused at step" in window.notifier.history[-1][2]
    elapsed_at_pause = paused.elapsed_s
    assert elapsed_at_pause > 0

    window.resume_run(run.id)
    qtbot.waitUntil(lambda: first.curves.n > paused.step + 1, timeout=120000)
    assert first.status == "running" and run_ops.run_state(store, run.id).attempts == 2
    assert run_ops.run_state(store, run.id).elapsed() >= elapsed_at_pause  # elapsed continues, not from 0

    window.ask_question = lambda *args: 0  # "Keep running"
    assert window.close() and window.keep_worker_on_exit
    seen = first.curves.n

    second = create_main_window(store)
    qtbot.addWidget(second)
    second.show()
    monitor = second.monitor_page
    qtbot.waitUntil(lambda: second.run_controller.is_running and monitor.run_id == run.id, timeout=15000)
    assert monitor.status == "running" and monitor.status_badge.text() == "Running"
    assert monitor.curves.n >= seen
    with qtbot.waitSignal(second.run_controller.ended, timeout=180000) as ended:
        pass
    assert ended.args == ["finished"]
    steps = list(monitor.curves.train["step"])
    assert steps == list(range(1, 31))  # every point, once, across both attempts and both windows
    assert monitor.status_badge.text() == "Finished"

    runs_page = second.runs_page
    second.show_page(runs_page)
    row = next(s for s in runs_page.summaries if s.id == run.id)
    assert row.status == "finished" and row.state.step == 30
    evaluate = second.evaluate_page
    assert evaluate.run_combo.findData(run.id) >= 0  # offered for evaluation without a restart
    texts = [monitor.stage_label.text(), runs_page.detail_label.text(), second.run_label.text(),
             *(t + " " + x for _k, t, x in second.notifier.history)]
    assert not any("lost" in t.lower() for t in texts), texts
    second.run_controller.detach()
