"""The Monitor's series without Qt: recorded event streams fed to :class:`RunSeries` give the curves,
figures, best validation and smoothing the page shows; a run re-attached from its stored metric table
reads exactly as one fed live (a plain run, a paused and resumed one, one resumed after its worker was
lost past its checkpoint)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from desktop_ift.core import events as ev
from desktop_ift.core import run_state as rs
from desktop_ift.core import runs as run_ops
from desktop_ift.core.run_curves import (
    PLOTS, RunSeries, Update, default_smoothing, format_duration, memory_title, progress_texts, run_smoothing,
)

T0 = 1_000_000.0


def _log(seq, step, t, total=20, **kw):
    values = dict(epoch=step / 10, loss=3.0 / step, learning_rate=1e-3 * (1 - step / 40), grad_norm=0.1 * step,
                  tokens_per_second=900.0 + step, tokens_seen=step * 128, memory_mb=400.0 + step,
                  eta_s=(total - step) * 2.0)
    values.update(kw)
    return ev.Log(run_id="r", seq=seq, time=t, step=step, total_steps=total, **values)


def normal_stream(steps=20):
    """Started, a log per step (2 s apart), validation every 5 steps, a checkpoint, finished."""
    out, seq = [ev.Started(run_id="r", seq=1, time=T0, total_steps=steps, device="cuda:0")], 1
    for step in range(1, steps + 1):
        seq += 1
        out.append(_log(seq, step, T0 + 2 * step, steps))
        if step % 5 == 0:
            seq += 1
            out.append(ev.Eval(run_id="r", seq=seq, time=T0 + 2 * step + 1, step=step,
                               metrics={"eval_loss": 2.0 + (step - 10) ** 2 / 100}))
    out.append(ev.Checkpoint(run_id="r", seq=seq + 1, time=T0 + 2 * steps + 1, step=steps, path="out/checkpoint-20"))
    out.append(ev.Finished(run_id="r", seq=seq + 2, time=T0 + 2 * steps + 2, metrics={"steps": steps}))
    return out


def paused_resumed_stream():
    """10 steps, paused with the checkpoint of step 10, an hour's break, resumed, steps 11-20, finished."""
    out = [ev.Started(run_id="r", seq=1, time=T0, total_steps=20, device="cpu")]
    out += [_log(1 + step, step, T0 + 2 * step) for step in range(1, 11)]
    out.append(ev.Paused(run_id="r", seq=12, time=T0 + 21, step=10, checkpoint="out/checkpoint-10"))
    back = T0 + 3600
    out.append(ev.Resumed(run_id="r", seq=13, time=back, attempt=2, step=10, checkpoint="out/checkpoint-10"))
    out.append(ev.Started(run_id="r", seq=14, time=back + 1, total_steps=20, device="cpu", attempt=2,
                          info={"resume_from": "out/checkpoint-10"}))
    out += [_log(14 + step - 10, step, back + 1 + 2 * (step - 10)) for step in range(11, 21)]
    out.append(ev.Finished(run_id="r", seq=25, time=back + 22, metrics={"steps": 20}))
    return out


def lost_resumed_stream():
    """The worker logs to step 12 and vanishes; resumed from the checkpoint of step 8, steps 9-20 again."""
    out = [ev.Started(run_id="r", seq=1, time=T0, total_steps=20, device="cpu")]
    out += [_log(1 + step, step, T0 + 2 * step) for step in range(1, 13)]
    out.append(ev.Eval(run_id="r", seq=14, time=T0 + 21, step=10, metrics={"eval_loss": 1.5}))
    back = T0 + 600
    out.append(ev.Resumed(run_id="r", seq=15, time=back, attempt=2, step=8, checkpoint="out/checkpoint-8"))
    out.append(ev.Started(run_id="r", seq=16, time=back + 1, total_steps=20, device="cpu", attempt=2,
                          info={"resume_from": "out/checkpoint-8"}))
    out += [_log(16 + step - 8, step, back + 1 + 2 * (step - 8), loss=2.0 / step) for step in range(9, 21)]
    return out


def _feed(events, smoothing=0.85):
    series, state = RunSeries(smoothing), rs.RunState(run_id="r")
    updates = []
    for event in events:
        state = rs.apply(state, event)
        updates.append(series.apply(event, state.attempts))
    return series, state, updates


def _stored(store, project, events, smoothing=0.85):
    run = store.create_run("train", {"method": "lora"}, project_id=project.id, name="stream")
    for event in events:
        store.append_event(type(event)(**{**event.__dict__, "run_id": run.id}))
    series = RunSeries(smoothing)
    series.load(run_ops.metric_table(store, run.id, store.last_seq(run.id)))
    return series


def _same_arrays(a: RunSeries, b: RunSeries):
    for axis in ("step", "epoch", "tokens", "time"):
        for left, right in zip(a.loss_data(axis), b.loss_data(axis)):
            np.testing.assert_allclose(left, right, rtol=1e-12, equal_nan=True)
        for name in PLOTS[1:]:
            for left, right in zip(a.metric_data(name, axis), b.metric_data(name, axis)):
                np.testing.assert_allclose(left, right, rtol=1e-12, equal_nan=True)


def test_normal_run_fills_every_plot_and_figure():
    series, state, updates = _feed(normal_stream())
    x, raw, smoothed, val_x, val_loss = series.loss_data("step")
    assert list(x) == list(range(1, 21)) and raw[-1] == pytest.approx(3.0 / 20)
    assert smoothed[0] == raw[0] and raw[-1] < smoothed[-1] < raw[0]  # debiased: starts on the first loss
    assert list(val_x) == [5, 10, 15, 20] and series.best_validation() == (10, 2.0)
    assert series.metric_data("memory_mb", "step")[1][-1] == 420.0
    # x axes: epochs, tokens seen, wall minutes since the first point
    assert series.loss_data("epoch")[0][-1] == 2.0 and series.loss_data("tokens")[0][-1] == 20 * 128
    assert series.loss_data("time")[0][-1] == pytest.approx((40 - 2) / 60)
    assert list(series.loss_data("epoch")[3]) == [0.5, 1.0, 1.5, 2.0]  # validation read off the training rows
    assert series.device == "cuda:0" and memory_title(series.device) == "GPU memory (MB)"
    assert series.total_steps == 20
    figures = series.take_figures()
    assert (figures.step, figures.epoch) == (20, 2.0)
    assert figures.texts == {"loss": "0.1500", "speed": "920", "memory": "420 MB", "eta": "0:00"}
    assert series.take_figures() is None  # shown once
    kinds = [(u.logged, u.validation, u.started, u.terminal, u.finished) for u in updates]
    assert kinds[0] == (False, False, True, False, False) and updates[0].show_state
    assert sum(u.logged for u in updates) == 20 and sum(u.validation for u in updates) == 4
    assert updates[-1].terminal and updates[-1].finished and updates[-1].plots == PLOTS
    assert updates[-2].stage == "Checkpoint saved at step 20."
    assert [u.stage for u in updates if u.validation][1] == "Validation loss at step 10: 2.0000"
    assert series.describe(9.6, "step").startswith("step 10  ·  loss 0.3000  ·  smoothed ")
    assert series.describe(9.6, "step").endswith("validation 2.0000 (step 10)")
    assert series.describe(0.0, "epoch").startswith("step 1  ·  epoch 0.10")
    assert state.status == "finished"


def test_evaluation_of_another_model_or_without_a_loss_adds_no_point():
    series = RunSeries()
    for event in (ev.Eval(run_id="r", seq=1, step=3, model_label="base", metrics={"eval_loss": 1.0}),
                  ev.Eval(run_id="r", seq=2, step=3, metrics={"accuracy": 0.5}),
                  ev.Eval(run_id="r", seq=3, step=3, metrics={"eval_loss": True})):
        assert series.apply(event) == Update()  # nothing to show
    assert series.best_validation() is None and not series.has_points("loss")


def test_paused_and_resumed_run_continues_its_curve_and_elapsed_time(store, project):
    events = paused_resumed_stream()
    series, state, updates = _feed(events)
    steps = series.curves.train["step"]
    assert list(steps) == list(range(1, 21))  # one curve, no restart at the resume
    assert np.all(np.diff(series.curves.train["smoothed"]) < 0)  # the average carries on across the pause
    # elapsed: both attempts' working time, not the hour the run sat paused
    assert state.elapsed() == pytest.approx(21 + 21)
    assert format_duration(state.elapsed()) == "0:42"
    resumed = [u for u in updates if u.started][1]
    assert resumed.stage == "Resuming from checkpoint-10 on cpu (attempt 2)…" and resumed.show_state
    assert [u.terminal for u in updates].count(True) == 2  # paused, finished
    _same_arrays(_stored(store, project, events), series)


@pytest.mark.parametrize("stream", [normal_stream, lost_resumed_stream])
def test_reattach_from_the_stored_table_equals_live_feeding(store, project, stream):
    events = stream()
    live, _, _ = _feed(events, smoothing=0.6)
    stored = _stored(store, project, events, smoothing=0.6)
    _same_arrays(stored, live)
    assert stored.best_validation() == live.best_validation()
    assert stored.stored_figures() == live.stored_figures()
    assert stored.stored_figures().texts["loss"] == live.take_figures().texts["loss"]
    # and feeding on after the re-attach continues the same curve as live feeding does
    more = [_log(100, 21, T0 + 5000, 30), _log(101, 22, T0 + 5002, 30)]
    for series in (live, stored):
        for event in more:
            series.apply(event)
    _same_arrays(stored, live)


def test_lost_run_resumed_from_an_earlier_checkpoint_drops_the_abandoned_steps():
    series, _, _ = _feed(lost_resumed_stream())
    assert list(series.curves.train["step"]) == list(range(1, 21))
    assert series.curves.train["loss"][10] == pytest.approx(2.0 / 11)  # the resumed attempt's, not the lost one's
    assert series.best_validation() is None  # the validation of step 10 belonged to the abandoned attempt


def test_smoothing_default_follows_the_run_length_and_logging_interval():
    assert default_smoothing(40) == 0.5 and default_smoothing(0) == 0.6
    assert run_smoothing(1000, {"logging_steps": 10}) == default_smoothing(100) == 0.8
    assert run_smoothing(40, {}) == run_smoothing(40, None) == run_smoothing(40, {"logging_steps": 0}) == 0.5


def test_figure_texts():
    assert progress_texts(5, 10, 0.5) == {"step": "5 / 10", "epoch": "0.50"}
    assert progress_texts(1234, 0, math.nan) == {"step": "1,234"}
    assert progress_texts(0, 0, None) == {}
    assert format_duration(None) == format_duration(-1) == format_duration(math.nan) == "—"
    assert format_duration(3725) == "1:02:05" and format_duration(65.4) == "1:05"
    assert memory_title("cpu") == "RAM (MB)"
