"""RunState folded from recorded event streams: normal, paused, resumed twice, killed (lost), cancelled, failed."""

from __future__ import annotations

import os
import subprocess
import sys

from desktop_ift.core import events as ev
from desktop_ift.core import run_state as rs

RUN = "train-1"
T0 = 1_000_000.0


class Stream:
    """Builds a recorded event stream the way a worker writes it (numbered, timed)."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self.t = T0

    def add(self, cls, dt: float = 1.0, **fields):
        self.t += dt
        self.events.append(cls(run_id=RUN, seq=len(self.events) + 1, time=self.t, **fields))
        return self

    def started(self, attempt=0, pid=4242, total=100, create_time=0.0):
        return self.add(ev.Started, total_steps=total, pid=pid, attempt=attempt, create_time=create_time)

    def logs(self, steps, total=100):
        for s in steps:
            self.add(ev.Log, step=s, total_steps=total, epoch=s / 50, loss=2.0 / s)
        return self


def alive(_pid, _created):
    return True


def dead(_pid, _created):
    return False


def test_a_normal_run_that_finished_early_shows_its_own_last_step_as_total():
    s = Stream().started(attempt=1).logs(range(1, 85))
    s.add(ev.Eval, step=40, metrics={"eval_loss": 0.9}).add(ev.Eval, step=80, metrics={"eval_loss": 0.7})
    s.add(ev.Checkpoint, step=80, path="/r/checkpoints/checkpoint-80")
    s.add(ev.Finished, output_dir="/r/output", metrics={"steps": 84})
    state = rs.judge(rs.fold(RUN, s.events), dead)  # a finished run is never judged lost
    assert state.status == "finished" and state.words == "Finished"
    assert (state.step, state.total_steps) == (84, 84)
    assert state.progress_text() == "step 84/84"
    assert (state.best_val, state.best_val_step) == (0.7, 80)
    assert state.last_checkpoint_step == 80 and state.attempts == 1
    assert state.elapsed_s == s.t - (T0 + 1)
    assert state.output_dir == "/r/output" and state.is_over


def test_stopped_early_keeping_the_best_says_so_with_the_planned_total():
    s = Stream().started().logs(range(1, 61)).add(ev.Eval, step=50, metrics={"eval_loss": 0.5})
    s.add(ev.Finished, metrics={"steps": 60, "stopped_early": True, "best_step": 50})
    state = rs.fold(RUN, s.events)
    assert (state.step, state.total_steps) == (60, 100)
    assert "stopped early at step 60 of 100" in state.reason and "step 50" in state.reason


def test_a_running_run_with_a_live_worker_is_running_and_its_elapsed_grows():
    s = Stream().started(attempt=1, pid=77, create_time=123.0).logs(range(1, 9))
    seen = []
    state = rs.judge(rs.fold(RUN, s.events), lambda pid, created: seen.append((pid, created)) or True)
    assert seen == [(77, 123.0)]  # the exact process: pid and its own creation time
    assert state.status == "running" and state.summary() == "Running — step 8 of 100"
    assert state.elapsed(now=T0 + 101) == 100.0


def test_paused_is_one_state_with_the_step_and_checkpoint():
    s = Stream().started(attempt=1).logs(range(1, 9))
    s.add(ev.Checkpoint, step=8, path="/r/checkpoints/checkpoint-8")
    s.add(ev.Paused, step=8, checkpoint="/r/checkpoints/checkpoint-8")
    state = rs.judge(rs.fold(RUN, s.events), dead)
    assert state.status == "paused" and state.words == "Paused"
    assert state.reason == "Paused at step 8 (checkpoint of step 8 kept)."
    assert state.step == 8 and state.resumable_status and state.pid is not None


def test_resumed_twice_continues_step_attempts_and_elapsed_across_the_pauses():
    s = Stream().started(attempt=1).logs(range(1, 11))  # attempt 1: 11 s of work (started .. step 10)
    s.add(ev.Paused, step=10, checkpoint="/r/checkpoints/checkpoint-10")  # +1 s
    s.add(ev.Resumed, dt=1000.0, attempt=2, step=10, checkpoint="/r/checkpoints/checkpoint-10")
    queued = rs.fold(RUN, s.events)
    assert queued.status == "queued" and "from the checkpoint of step 10" in queued.reason
    s.started(attempt=2, pid=5000).logs(range(11, 21))
    s.add(ev.Paused, step=20, checkpoint="/r/checkpoints/checkpoint-20")
    s.add(ev.Resumed, dt=500.0, attempt=3, step=20)
    s.started(attempt=3, pid=6000).logs(range(21, 31)).add(ev.Finished, metrics={"steps": 30})
    state = rs.fold(RUN, s.events)
    assert state.status == "finished" and state.attempts == 3 and state.pid == 6000
    assert state.step == 30
    # each attempt: started + 10 logs + its end = 11 s; the 1000 s and 500 s pauses do not count
    assert state.elapsed_s == 33.0


def test_a_killed_worker_is_lost_at_its_last_step_and_a_resume_continues():
    s = Stream().started(attempt=1, pid=31337).logs(range(1, 13))
    s.add(ev.Checkpoint, step=10, path="/r/checkpoints/checkpoint-10")
    state = rs.judge(rs.fold(RUN, s.events), dead)
    assert state.status == "lost" and state.words == "Lost"
    assert "lost at step 12" in state.reason and "step 10" in state.hint and state.resumable_status
    # a run whose worker is alive is not lost, a queued run never is
    assert rs.judge(rs.fold(RUN, s.events), alive).status == "running"
    assert rs.judge(rs.RunState(run_id=RUN), dead).status == "queued"
    # the resume: the lost attempt counts to its last event
    s.add(ev.Resumed, dt=100, attempt=2, step=10).started(attempt=2, pid=31338).logs(range(11, 15))
    again = rs.judge(rs.fold(RUN, s.events), alive)
    assert again.status == "running" and again.attempts == 2 and again.step == 14


def test_old_streams_without_attempt_numbers_count_their_started_events():
    s = Stream().started().logs([1, 2]).add(ev.Cancelled, step=2).started().logs([3])
    state = rs.fold(RUN, s.events)
    assert state.attempts == 2 and state.status == "running"
    # the probe gets the current attempt's start time when no creation time was recorded
    got = []
    rs.judge(state, lambda pid, created: got.append(created) or True)
    assert got == [state.attempt_started]


def test_cancelled_and_failed_say_why():
    cancelled = rs.fold(RUN, Stream().started().logs([1, 2, 3]).add(ev.Cancelled, step=3).events)
    assert cancelled.status == "cancelled" and cancelled.reason == "Cancelled at step 3."
    failed = rs.fold(RUN, Stream().started().logs([1]).add(
        ev.Failed, message="The model ran out of memory.", hint="Use LoRA.").events)
    assert (failed.status, failed.reason, failed.hint) == ("failed", "The model ran out of memory.", "Use LoRA.")


def test_apply_ignores_other_runs_and_repeated_events():
    s = Stream().started().logs([1, 2])
    state = rs.fold(RUN, s.events)
    assert rs.apply(state, s.events[-1]) is state
    assert rs.apply(state, ev.Log(run_id="other", seq=99, step=50)) is state


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_real_probe_names_the_exact_process():
    me = os.getpid()
    created = rs.process_create_time()
    assert created is not None
    assert rs.process_alive(me, created)
    assert not rs.process_alive(me, created - 3600)  # same pid, another (older) process: not the worker
    assert not rs.process_alive(_dead_pid(), None)
    assert not rs.process_alive(0, None)


def test_the_status_line_is_plain_words_with_details_apart():
    s = Stream().started(attempt=1).logs(range(1, 9))
    s.add(ev.Paused, step=8, checkpoint="/r/checkpoints/checkpoint-8")
    paused = rs.fold(RUN, s.events)
    assert rs.status_line(paused) == "Paused at step 8 (checkpoint of step 8 kept). Resume continues from the checkpoint."
    assert "attempts: 1" in rs.status_details(paused) and "checkpoint-8" in rs.status_details(paused)
    lost = rs.judge(rs.fold(RUN, Stream().started(pid=9).logs([1, 2, 3]).events), dead)
    assert rs.status_line(lost) == "Lost at step 3 of 100."
    running = rs.fold(RUN, Stream().started(attempt=1).logs([1]).add(ev.Paused, step=1).add(
        ev.Resumed, attempt=2).started(attempt=2).events)
    assert rs.status_line(running) == "Training (attempt 2, continued from its checkpoint)…"


def test_an_evaluation_or_benchmark_folded_live_from_a_blank_state_reads_as_one():
    """A screen that starts from ``RunState(run_id=...)`` and applies the worker's events (the Evaluate page,
    the run controller) learns the kind from ``started``: no "Training…" or "step 0" for an evaluation."""
    for kind in ("evaluate", "benchmark"):
        events = [ev.Started(run_id=RUN, seq=1, time=T0, job_kind=kind, pid=7),
                  ev.Progress(run_id=RUN, seq=2, time=T0 + 1, stage="generating", done=3, total=8)]
        running = rs.fold(RUN, events)
        assert (running.kind, running.status) == (kind, "running")
        assert rs.status_line(running) == "Evaluating…" and running.progress_text() == ""
        done = rs.apply(running, ev.Finished(run_id=RUN, seq=3, time=T0 + 2))
        assert (done.status, done.reason) == ("finished", "Finished.")
        failed = rs.apply(running, ev.Failed(run_id=RUN, seq=3, time=T0 + 2, message="No test split.", hint="Split."))
        assert (failed.status, failed.reason, failed.hint) == ("failed", "No test split.", "Split.")
