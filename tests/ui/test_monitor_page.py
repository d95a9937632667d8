"""Monitor page: live points from events, and a stored run's whole curve when it is opened again."""

from __future__ import annotations

from desktop_ift.core import events as ev


def _train_run(store, window):
    return store.create_run("train", {"method": "lora"}, project_id=window.state.project.id, name="test run")


def test_plots_points_fed_as_events(window):
    store, page = window.store, window.monitor_page
    run = _train_run(store, window)
    page.load_run(run.id)
    page.on_event(ev.Started(run_id=run.id, seq=1, total_steps=10))
    for step in range(1, 6):
        page.on_event(ev.Log(run_id=run.id, seq=step + 1, step=step, total_steps=10, epoch=step / 5,
                             loss=2.0 - step * 0.1, learning_rate=1e-3, elapsed_s=step, eta_s=10 - step))
    page.on_event(ev.Eval(run_id=run.id, seq=7, step=5, metrics={"eval_loss": 1.7}))
    xs, ys = page.raw_curve.getData()
    assert list(xs) == [1, 2, 3, 4, 5]
    assert ys[-1] == 1.5
    assert len(page.smooth_curve.getData()[0]) == 5
    assert list(page.val_curve.getData()[1]) == [1.7]
    assert len(page.lr_curve.getData()[0]) == 5
    assert page.progress.value() == 5 and page.progress.maximum() == 10
    assert page.figures["step"].text() == "5 / 10"
    assert page.status_badge.text() == "Running"
    page.on_event(ev.Log(run_id=run.id, seq=3, step=99, loss=9.0))  # an old seq: ignored
    page.on_event(ev.Log(run_id="other", seq=100, step=6, loss=9.0))  # another run: ignored
    assert len(page.raw_curve.getData()[0]) == 5
    page.on_event(ev.Failed(run_id=run.id, seq=8, message="Out of memory.", hint="Lower the batch size."))
    assert page.status_badge.text() == "Failed"
    assert "Out of memory." in page.failure_banner.message
    assert "Lower the batch size." in page.failure_banner.message


def test_redraws_a_stored_run_on_open(window):
    store, page = window.store, window.monitor_page
    run = _train_run(store, window)
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=40))
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
    assert len(page.raw_curve.getData()[0]) == 31


def test_attach_follows_a_run_through_the_store(window, qtbot):
    """A run whose worker is alive but is not our child (here: this test process) is polled from the store."""
    import os

    store = window.store
    run = _train_run(store, window)
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=20, pid=os.getpid()))
    store.append_event(ev.Log(run_id=run.id, seq=2, step=1, total_steps=20, loss=2.0))
    assert window.attach_run(run.id)
    assert window.run_controller.is_running
    assert len(window.monitor_page.raw_curve.getData()[0]) == 1
    store.append_event(ev.Log(run_id=run.id, seq=3, step=2, total_steps=20, loss=1.8))
    qtbot.waitUntil(lambda: len(window.monitor_page.raw_curve.getData()[0]) == 2, timeout=5000)
    with qtbot.waitSignal(window.run_controller.ended, timeout=5000) as blocker:
        store.append_event(ev.Finished(run_id=run.id, seq=4))
    assert blocker.args == ["finished"]
    assert window.monitor_page.status_badge.text() == "Finished"
    assert not window.state.run_active


def test_attach_to_a_dead_worker_marks_the_run_failed(window):
    store = window.store
    run = _train_run(store, window)
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=20, pid=2**22 + 12345))
    assert not window.attach_run(run.id)
    record = store.get_run(run.id)
    assert record.status == "failed"
    assert "ended unexpectedly" in record.message
    assert window.monitor_page.status_badge.text() == "Failed"
