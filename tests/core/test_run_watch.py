"""``runs watch``: follows a stored run to its end and exits with its outcome (0 finished, 1 lost/failed,
3 paused/cancelled); events written while it watches are picked up."""

from __future__ import annotations

import io
import os
import threading
import time

from desktop_ift.cli.run_watch import progress_line, watch
from desktop_ift.core import events as ev
from desktop_ift.core import run_state as rs
from desktop_ift.core.store import Store


def test_watch_follows_new_events_to_the_finish(store):
    run = store.create_run("train", {})
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=3, pid=os.getpid(),
                                  create_time=rs.process_create_time()))
    store.append_event(ev.Log(run_id=run.id, seq=2, step=1, total_steps=3, loss=2.0))

    def worker():  # another process's writes, through its own connection
        with Store.open(store.home) as other:
            for seq, step in ((3, 2), (4, 3)):
                time.sleep(0.2)
                other.append_event(ev.Log(run_id=run.id, seq=seq, step=step, total_steps=3, loss=1.0 / step))
            other.append_event(ev.Finished(run_id=run.id, seq=5, metrics={"steps": 3}))

    thread = threading.Thread(target=worker)
    thread.start()
    out = io.StringIO()
    code = watch(store, run.id, interval=0.05, out=out)
    thread.join()
    assert code == 0
    text = out.getvalue()
    assert "step 3/3" in text and text.rstrip().endswith("Finished at step 3.")


def test_the_progress_line_is_a_bar_with_step_loss_and_elapsed():
    state = rs.RunState(run_id="r", status="running", step=4, total_steps=10, attempt_started=time.time() - 65)
    assert progress_line(state, 1.5).startswith("[###########-----------------] 4/10  loss 1.5000  1:0")


def test_watch_exits_1_for_a_lost_run(store):
    run = store.create_run("train", {})
    store.append_event(ev.Started(run_id=run.id, seq=1, total_steps=3, pid=2**22 + 7))
    store.append_event(ev.Log(run_id=run.id, seq=2, step=1, total_steps=3, loss=2.0))
    out = io.StringIO()
    assert watch(store, run.id, interval=0.05, out=out) == 1
    assert "The training process was lost at step 1" in out.getvalue() and "What to try:" in out.getvalue()
