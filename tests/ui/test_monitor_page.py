"""Monitor page: live points from events, every plot and x axis, smoothing, crosshair, export, a stored
run's whole curve when it is opened again, and runs whose worker is gone."""

from __future__ import annotations

import csv
import os

import numpy as np

from desktop_ift.core import events as ev
from desktop_ift.core import runs as run_ops


def _train_run(store, window):
    return store.create_run("train", {"method": "lora"}, project_id=window.state.project.id, name="test run")


def _log(run_id, seq, step, **kw):
    values = dict(total_steps=10, epoch=step / 5, loss=2.0 - step * 0.1, learning_rate=1e-3, grad_norm=0.5 * step,
                  tokens_per_second=1000.0 + step, tokens_seen=step * 100, memory_mb=512.0 + step, elapsed_s=step,
                  eta_s=10 - step, time=1000.0 + 60 * step)
    values.update(kw)
    return ev.Log(run_id=run_id, seq=seq, step=step, **values)


def _drawn(curve) -> int:
    xs = curve.getData()[0]
    return 0 if xs is None else len(xs)


def _feed(page, run_id, steps=5):
    page.on_event(ev.Started(run_id=run_id, seq=1, total_steps=10, device="cpu"))
    for step in range(1, steps + 1):
        page.on_event(_log(run_id, step + 1, step))


def test_plots_points_fed_as_events(window):
    store, page = window.store, window.monitor_page
    run = _train_run(store, window)
    page.load_run(run.id)
    _feed(page, run.id)
    page.on_event(ev.Eval(run_id=run.id, seq=7, step=5, metrics={"eval_loss": 1.7}))
    page.redraw_now()
    xs, ys = page.raw_curve.getData()
    assert list(xs) == [1, 2, 3, 4, 5]
    assert ys[-1] == 1.5
    assert len(page.smooth_curve.getData()[0]) == 5
    assert list(page.val_curve.getData()[1]) == [1.7]
    for name, last in (("learning_rate", 1e-3), ("grad_norm", 2.5), ("tokens_per_second", 1005.0),
                       ("memory_mb", 517.0)):
        assert page.side_curves[name].getData()[1][-1] == last, name
    assert page.progress.value() == 5 and page.progress.maximum() == 10
    assert page.figures["step"].text() == "5 / 10"
    assert page.figures["best"].text() == "1.7000"
    assert page.figures["eta"].text() == "0:05"
    assert page.status_badge.text() == "Running"
    page.on_event(ev.Log(run_id=run.id, seq=3, step=99, loss=9.0))  # an old seq: ignored
    page.on_event(ev.Log(run_id="other", seq=100, step=6, loss=9.0))  # another run: ignored
    page.redraw_now()
    assert len(page.raw_curve.getData()[0]) == 5
    page.on_event(ev.Failed(run_id=run.id, seq=8, message="Out of memory.", hint="Lower the batch size."))
    assert page.status_badge.text() == "Failed"
    assert "Out of memory." in page.failure_banner.message
    assert "Lower the batch size." in page.failure_banner.message


def test_events_are_drawn_in_batches_by_a_timer(window, qtbot):
    store, page = window.store, window.monitor_page
    run = _train_run(store, window)
    window.show_page(page)
    page.load_run(run.id)
    _feed(page, run.id, steps=3)
    assert _drawn(page.raw_curve) == 0  # not drawn per event
    qtbot.waitUntil(lambda: _drawn(page.raw_curve) == 3, timeout=2000)


def test_x_axis_smoothing_log_scale_and_crosshair(window):
    store, page = window.store, window.monitor_page
    run = _train_run(store, window)
    page.load_run(run.id)
    _feed(page, run.id)
    page.on_event(ev.Eval(run_id=run.id, seq=7, time=1000.0 + 60 * 4, step=4, metrics={"eval_loss": 1.7}))
    page.redraw_now()

    page.set_x_axis("epoch")
    assert list(page.raw_curve.getData()[0]) == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert list(page.val_curve.getData()[0]) == [0.8]  # the validation at step 4 sits at epoch 0.8
    page.set_x_axis("tokens")
    assert list(page.raw_curve.getData()[0]) == [100, 200, 300, 400, 500]
    page.set_x_axis("time")
    assert list(page.raw_curve.getData()[0]) == [0.0, 1.0, 2.0, 3.0, 4.0]  # minutes since the first point
    assert page.loss_plot.getPlotItem().getAxis("bottom").labelText == "wall time (minutes)"
    page.set_x_axis("step")

    raw = page.raw_curve.getData()[1]
    assert not np.allclose(page.smooth_curve.getData()[1], raw)
    page.set_smoothing(0.0)
    assert np.allclose(page.smooth_curve.getData()[1], raw)

    page.log_scale_box.setChecked(True)
    assert page.loss_plot.getPlotItem().ctrl.logYCheck.isChecked()

    text = page.crosshair.show_at(3.2)
    assert "step 3" in text and "loss 1.7000" in text and "validation 1.7000 (step 4)" in text


def test_export_plot_and_metrics(window, tmp_path):
    store, page = window.store, window.monitor_page
    run = _train_run(store, window)
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=10, pid=os.getpid()))
    for step in range(1, 6):
        store.append_event(_log(run.id, step + 1, step))
    page.load_run(run.id)
    assert page.export_plot(tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.export_plot(tmp_path / "loss.svg")
    assert "<svg" in (tmp_path / "loss.svg").read_text()
    assert page.export_metrics(tmp_path / "m.csv")
    rows = list(csv.DictReader((tmp_path / "m.csv").open()))
    assert [r["step"] for r in rows] == ["1", "2", "3", "4", "5"] and "grad_norm" in rows[0]
    assert not page.export_metrics(tmp_path / "m.csv" / "inside-a-file.csv")  # cannot write: said, not raised
    assert "Cannot write" in page.failure_banner.message


def test_redraws_a_stored_run_on_open(window):
    store, page = window.store, window.monitor_page
    run = _train_run(store, window)
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=40, pid=os.getpid()))
    for step in range(1, 31):
        store.append_event(ev.Log(run_id=run.id, seq=step + 1, step=step, total_steps=40, loss=3.0 / step,
                                  learning_rate=1e-3, epoch=step / 40))
    store.append_event(ev.Eval(run_id=run.id, seq=32, step=30, metrics={"eval_loss": 0.4}))
    page.load_run(run.id)
    assert len(page.raw_curve.getData()[0]) == 30
    assert list(page.val_curve.getData()[1]) == [0.4]
    assert page.last_seq == 32
    assert page.progress.value() == 30
    # new events continue the curve
    page.on_event(ev.Log(run_id=run.id, seq=33, step=31, total_steps=40, loss=0.1))
    page.redraw_now()
    assert len(page.raw_curve.getData()[0]) == 31


def test_a_long_run_loads_in_the_background_and_keeps_live_events(window, qtbot, monkeypatch):
    from desktop_ift.ui.pages import monitor_page as module

    monkeypatch.setattr(module, "SYNC_LOAD_MAX_EVENTS", 5)
    store, page = window.store, window.monitor_page
    run = _train_run(store, window)
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=100, pid=os.getpid()))
    for step in range(1, 41):
        store.append_event(ev.Log(run_id=run.id, seq=step + 1, step=step, total_steps=100, loss=1.0))
    page.load_run(run.id)
    assert page.loading
    page.on_event(ev.Log(run_id=run.id, seq=42, step=41, total_steps=100, loss=0.5))  # arrives while loading
    qtbot.waitUntil(lambda: not page.loading, timeout=10000)
    page.redraw_now()
    xs, ys = page.raw_curve.getData()
    assert list(xs) == list(range(1, 42)) and ys[-1] == 0.5


def test_a_resumed_run_rewinds_the_steps_of_its_lost_attempt(window):
    store, page = window.store, window.monitor_page
    run = _train_run(store, window)
    page.load_run(run.id)
    _feed(page, run.id, steps=5)
    page.on_event(ev.Started(run_id=run.id, seq=7, total_steps=10, info={"resume_from": "/x/checkpoint-3"}))
    page.on_event(_log(run.id, 8, 4, loss=9.0))
    page.redraw_now()
    assert list(page.raw_curve.getData()[0]) == [1, 2, 3, 4]
    assert page.raw_curve.getData()[1][-1] == 9.0
    assert page.stage_label.text() == "Training…"


def test_attach_follows_a_run_through_the_store(window, qtbot):
    """A run whose worker is alive but is not our child (here: this test process) is polled from the store."""
    store = window.store
    run = _train_run(store, window)
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=20, pid=os.getpid()))
    store.append_event(ev.Log(run_id=run.id, seq=2, step=1, total_steps=20, loss=2.0))
    assert window.attach_run(run.id)
    assert window.run_controller.is_running
    assert len(window.monitor_page.raw_curve.getData()[0]) == 1
    store.append_event(ev.Log(run_id=run.id, seq=3, step=2, total_steps=20, loss=1.8))
    qtbot.waitUntil(lambda: _drawn(window.monitor_page.raw_curve) == 2, timeout=5000)
    with qtbot.waitSignal(window.run_controller.ended, timeout=5000) as blocker:
        store.append_event(ev.Finished(run_id=run.id, seq=4))
    assert blocker.args == ["finished"]
    assert window.monitor_page.status_badge.text() == "Finished"
    assert not window.state.run_active


def test_a_dead_worker_shows_as_lost_with_its_last_step_and_can_be_resumed(window):
    store, page = window.store, window.monitor_page
    run = _train_run(store, window)
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=20, pid=2**22 + 12345))
    store.append_event(ev.Log(run_id=run.id, seq=2, step=7, total_steps=20, loss=2.0))
    checkpoint = store.run_dir(run.id) / "checkpoints" / "checkpoint-6"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}")
    (store.run_dir(run.id) / "job.json").write_text("{}")
    assert not window.attach_run(run.id)
    record = store.get_run(run.id)
    assert record.status == "failed" and "lost at step 7" in record.message
    assert page.status_badge.text() == "Failed"
    assert "lost at step 7" in page.failure_banner.message and "step 6" in page.failure_banner.message
    assert page.resume_button.isVisibleTo(page) and not page.pause_button.isVisibleTo(page)
    assert run_ops.can_resume(store, record)[0]


def test_stop_keep_best_needs_a_validation_point_and_signals_the_worker(window, qtbot, tmp_path):
    import subprocess
    import sys
    import time

    store, page = window.store, window.monitor_page
    marker = tmp_path / "got-sigusr1"
    # The worker boundary: a child process that records SIGUSR1 the way the real worker's StopFlag does.
    child = subprocess.Popen([sys.executable, "-c", (
        "import signal, sys, time\n"
        f"signal.signal(signal.SIGUSR1, lambda *a: (open({str(marker)!r}, 'w').write('keep best'), sys.exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        run = _train_run(store, window)
        started = ev.Started(run_id=run.id, seq=1, total_steps=10, pid=child.pid, time=time.time(),
                             info={"validation_examples": 10})
        store.append_event(started)
        page.load_run(run.id)
        page.set_controller_running(True)
        for step in range(1, 4):
            event = _log(run.id, step + 1, step)
            store.append_event(event)
            page.on_event(event)
        assert not page.keep_best_button.isHidden()
        assert not page.keep_best_button.isEnabled(), "no validation point yet: nothing to keep"
        assert "validation" in page.keep_best_button.toolTip()

        evaluation = ev.Eval(run_id=run.id, seq=5, step=3, metrics={"eval_loss": 1.25})
        store.append_event(evaluation)
        page.on_event(evaluation)
        assert page.keep_best_button.isEnabled()
        assert "step 3" in page.keep_best_button.toolTip() and "1.2500" in page.keep_best_button.toolTip()

        page.keep_best_button.click()
        qtbot.waitUntil(marker.exists, timeout=10000)
        assert child.wait(timeout=10) == 0
        assert "lowest validation loss" in page.stage_label.text()

        page.set_controller_running(False)
        assert not page.keep_best_button.isEnabled(), "only a running run can be stopped"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
