"""``desktop-ift runs watch RUN``: follow a run through the workspace store until it ends.

Works for any run, wherever it was started (this terminal, another one, the GUI): the worker writes every
event to the store, so watching is reading new events and folding them into the run's
:class:`~desktop_ift.core.run_state.RunState`, judging the worker's liveness on every look (a worker that
died reads lost at once). On a terminal the progress is one line redrawn in place; piped, one line per event.
"""

from __future__ import annotations

import sys
import time
from typing import IO

from desktop_ift.core import events as ev, run_state as rs
from desktop_ift.core.job_process import describe_event
from desktop_ift.core.runs import ensure_ready

BAR_WIDTH = 28
EXIT_BY_STATUS = {"finished": 0, "failed": 1, "lost": 1, "paused": 3, "cancelled": 3}


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def progress_line(state: rs.RunState, loss: float | None, now: float | None = None) -> str:
    """``[#######-----]  12/40  loss 1.234  0:42  Running`` for a training run; the summary for others."""
    if state.kind != "train" or not state.total_steps:
        return f"{state.summary()}  {_duration(state.elapsed(now))}"
    done = min(1.0, state.step / state.total_steps) if state.total_steps else 0.0
    filled = int(round(done * BAR_WIDTH))
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    figures = f"loss {loss:.4f}  " if loss is not None else ""
    return f"[{bar}] {state.step}/{state.total_steps}  {figures}{_duration(state.elapsed(now))}  {state.words}"


def watch(store, run_id: str, interval: float = 0.5, out: IO[str] | None = None,
          probe: rs.Probe = rs.process_alive) -> int:
    """Follow ``run_id`` to its end; returns 0 finished, 1 failed or lost, 3 paused or cancelled."""
    out = out or sys.stdout
    live = out.isatty()
    ensure_ready(store)
    kind = store.get_run(run_id).kind
    state = rs.fold(run_id, rs.load_events(store, run_id), kind=kind)  # no per-step replay of the past
    last_log = store.conn.execute("SELECT payload FROM events WHERE run_id=? AND type='log' ORDER BY seq DESC "
                                  "LIMIT 1", (run_id,)).fetchone()
    loss = None
    if last_log is not None:
        import json

        loss = json.loads(last_log[0]).get("loss")
    print(f"watching {run_id} ({state.words.lower()}, {state.progress_text() or kind}); Ctrl+C stops watching, "
          "not the run", file=out, flush=True)
    shown = ""
    try:
        state, loss, shown = _follow(store, run_id, state, loss, interval, out, live, probe)
    except KeyboardInterrupt:
        print("\nstopped watching; the run goes on.", file=out, flush=True)
        return 130
    if live:
        out.write("\n")
    print(f"{run_id}: {state.summary()}", file=out, flush=True)
    if state.hint:
        print(f"What to try: {state.hint}", file=out, flush=True)
    return EXIT_BY_STATUS.get(state.status, 1)


def _follow(store, run_id, state, loss, interval, out, live, probe):
    """Read and show new events until the run is over; returns the final state, loss and shown line."""
    shown = ""
    while True:
        for event in store.events(run_id, state.last_seq):
            state = rs.apply(state, event)
            if isinstance(event, ev.Log) and event.loss is not None:
                loss = event.loss
            if not live:
                text = describe_event(event)
                if text:
                    print(text, file=out, flush=True)
        state = rs.judge(state, probe)
        if live:
            line = progress_line(state, loss)
            if line != shown:
                out.write("\r" + line.ljust(len(shown)))
                out.flush()
                shown = line
        if state.is_over:
            return state, loss, shown
        time.sleep(interval)
