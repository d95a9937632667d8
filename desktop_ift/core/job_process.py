"""Run a prepared job in a child process from plain Python (the CLI and the headless demo).

The GUI does the same with QProcess; both read only the event lines the worker prints.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Callable

from desktop_ift.core import events as ev
from desktop_ift.core.job_format import read_job, worker_command
from desktop_ift.core.runs import report_oom_kill
from desktop_ift.core.store import Store, StoreError
from desktop_ift.core.training.memory import oom_kill_count


def run_job_process(
    job_path: Path | str,
    on_event: Callable[[ev.Event], None] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> tuple[int, ev.Event | None]:
    """Start the worker on ``job_path``, call ``on_event`` for each event, wait for the end.

    Ctrl+C (SIGINT) is passed on as SIGTERM, so the worker saves a checkpoint and ends with ``cancelled``.
    The worker runs in its own session (POSIX): closing the terminal (SIGHUP) or killing this process
    leaves it working, and ``desktop-ift runs watch RUN`` re-attaches to it.
    Returns ``(exit code, terminal event or None)``; None means the process died without saying why.
    """
    oom_kills_before = oom_kill_count()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    new_session = {"start_new_session": True} if os.name == "posix" else {
        "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    proc = subprocess.Popen(worker_command(job_path), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
                            **new_session)
    terminal: ev.Event | None = None
    previous = signal.getsignal(signal.SIGINT)

    def forward(signum, frame):  # noqa: ARG001
        proc.terminate()

    in_main_thread = True
    try:
        signal.signal(signal.SIGINT, forward)
    except ValueError:  # not the main thread: leave SIGINT alone
        in_main_thread = False
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if not line.strip():
                continue
            try:
                event = ev.decode(line)
            except ev.EventDecodeError:
                if on_line:
                    on_line(line)
                continue
            if event.terminal:
                terminal = event
            if on_event:
                on_event(event)
        code = proc.wait()
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
    if terminal is None and code == -9:
        terminal = _oom_ending(job_path, code, oom_kills_before)
        if terminal is not None and on_event:
            on_event(terminal)
    return code, terminal


def _oom_ending(job_path: Path | str, code: int, oom_kills_before: int | None) -> ev.Event | None:
    """The ``failed`` event written for a worker the kernel killed for lack of memory, or None."""
    try:
        job = read_job(job_path)
        with Store.open(job["workspace"]) as store:
            return report_oom_kill(store, job["run_id"], code, oom_kills_before)
    except (OSError, ValueError, KeyError, StoreError):
        return None


def describe_event(event: ev.Event) -> str | None:
    """A one-line human description of an event for a terminal, or None for events not worth a line."""
    if isinstance(event, ev.Started):
        if event.attempt > 1:
            return (f"started attempt {event.attempt} of {event.job_kind} ({event.description or event.run_id}) on "
                    f"{event.device or 'cpu'}, pid {event.pid}")
        return f"started {event.job_kind} ({event.description or event.run_id}) on {event.device or 'cpu'}"
    if isinstance(event, ev.Progress):
        total = f" {event.done}/{event.total}" if event.total else ""
        return f"{event.stage}{total}: {event.message}".rstrip(": ")
    if isinstance(event, ev.Log):
        parts = [f"step {event.step}/{event.total_steps}"]
        if event.loss is not None:
            parts.append(f"loss {event.loss:.4f}")
        if event.learning_rate is not None:
            parts.append(f"lr {event.learning_rate:.2e}")
        if event.eta_s is not None:
            parts.append(f"eta {event.eta_s:.0f}s")
        return "  ".join(parts)
    if isinstance(event, ev.Eval):
        shown = {k: v for k, v in event.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        figures = ", ".join(f"{k} {v:.4g}" for k, v in list(shown.items())[:8])
        who = event.model_label or f"validation at step {event.step}"
        return f"scores for {who}: {figures}"
    if isinstance(event, ev.Checkpoint):
        return f"checkpoint at step {event.step}: {event.path}"
    if isinstance(event, ev.Finished):
        return f"finished: {event.output_dir}" if event.output_dir else "finished"
    if isinstance(event, ev.Failed):
        return f"FAILED: {event.message}" + (f"\n  What to try: {event.hint}" if event.hint else "")
    if isinstance(event, ev.Cancelled):
        return f"cancelled at step {event.step}; checkpoint: {event.checkpoint or 'none'}"
    if isinstance(event, ev.Paused):
        return f"paused at step {event.step}; checkpoint: {event.checkpoint or 'none'}"
    if isinstance(event, ev.Resumed):
        note = f" ({event.note})" if event.note else ""
        return f"resuming from step {event.step} as attempt {event.attempt}: {event.checkpoint}{note}"
    return None
