"""RunController: events decoded from a real child process; a silent death reads lost, never a made-up failure."""

from __future__ import annotations

import sys
import textwrap

from desktop_ift.core import events as ev
from desktop_ift.ui.run_controller import RunController

CHILD = textwrap.dedent("""
    import json, sys, time
    run_id = sys.argv[1]
    def out(d):
        sys.stdout.write(json.dumps(d) + "\\n"); sys.stdout.flush()
    out({"type": "started", "run_id": run_id, "seq": 1, "time": time.time(), "total_steps": 3})
    print("some library noise {'loss': 1}", flush=True)
    for step in (1, 2, 3):
        # split a line across two writes, as a pipe may deliver it
        line = json.dumps({"type": "log", "run_id": run_id, "seq": step + 1, "time": time.time(),
                           "step": step, "total_steps": 3, "loss": 2.0 / step})
        sys.stdout.write(line[:10]); sys.stdout.flush(); time.sleep(0.02)
        sys.stdout.write(line[10:] + "\\n"); sys.stdout.flush()
    print("to stderr", file=sys.stderr)
    out({"type": "finished", "run_id": run_id, "seq": 5, "time": time.time(), "output_dir": "/tmp/x"})
""")


def test_decodes_events_from_a_child_process(qtbot, store):
    run = store.create_run("train", {})
    controller = RunController(store)
    got, noise = [], []
    controller.event.connect(got.append)
    controller.log_line.connect(noise.append)
    with qtbot.waitSignal(controller.ended, timeout=20000) as blocker:
        controller.start(run.id, "unused", command=[sys.executable, "-c", CHILD, run.id])
    assert blocker.args == ["finished"]
    assert [e.type for e in got] == ["started", "log", "log", "log", "finished"]
    assert isinstance(got[1], ev.Log) and got[1].loss == 2.0
    assert any("library noise" in line for line in noise)
    assert "to stderr" in (store.run_dir(run.id) / "worker.log").read_text()
    assert not controller.is_running


def test_process_that_dies_without_a_terminal_event_is_lost_and_nothing_is_invented(qtbot, store):
    run = store.create_run("train", {})
    controller = RunController(store)
    got = []
    controller.event.connect(got.append)
    script = ("import json,sys,time; print(json.dumps({'type':'started','run_id':sys.argv[1],'seq':1,"
              "'time':time.time(),'total_steps':9})); print(json.dumps({'type':'log','run_id':sys.argv[1],'seq':2,"
              "'time':time.time(),'step':4,'total_steps':9}), flush=True); sys.exit(3)")
    with qtbot.waitSignal(controller.ended, timeout=20000) as blocker:
        controller.start(run.id, "unused", command=[sys.executable, "-c", script, run.id])
    assert blocker.args == ["lost"]
    assert controller.run_state.status == "lost" and "lost at step 4" in controller.run_state.reason
    assert [e.type for e in got] == ["started", "log"]  # no made-up failure


def test_process_that_ends_before_it_started_fails_the_run_in_the_store(qtbot, store):
    run = store.create_run("train", {})
    controller = RunController(store)
    with qtbot.waitSignal(controller.ended, timeout=20000) as blocker:
        controller.start(run.id, "unused", command=[sys.executable, "-c", "import sys; sys.exit(3)"])
    assert blocker.args == ["failed"]
    record = store.get_run(run.id)
    assert record.status == "failed" and "exit code 3" in record.message and "worker.log" in record.hint
    assert isinstance(store.events(run.id)[-1], ev.Failed)


def test_cancel_terminates_the_child(qtbot, store):
    run = store.create_run("train", {})
    controller = RunController(store)
    script = ("import json,sys,time,signal\n"
              "rid=sys.argv[1]\n"
              "def stop(*a):\n"
              "    print(json.dumps({'type':'cancelled','run_id':rid,'seq':2,'time':time.time(),'step':1}), flush=True)\n"
              "    sys.exit(0)\n"
              "signal.signal(signal.SIGTERM, stop)\n"
              "print(json.dumps({'type':'started','run_id':rid,'seq':1,'time':time.time()}), flush=True)\n"
              "time.sleep(30)\n")
    with qtbot.waitSignal(controller.event, timeout=20000):
        controller.start(run.id, "unused", command=[sys.executable, "-c", script, run.id])
    with qtbot.waitSignal(controller.ended, timeout=20000) as blocker:
        controller.cancel()
    assert blocker.args == ["cancelled"]
