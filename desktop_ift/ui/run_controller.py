"""Runs a worker (training or evaluation) in a child process and turns its stdout into typed events.

The worker prints one JSON event per line on stdout and also writes every event into the workspace, so
the GUI can lose the process (crash, close, restart) without losing the run: :meth:`RunController.attach`
follows a run whose worker is alive but is not our child by polling the store.

The controller keeps the run's :class:`~desktop_ift.core.run_state.RunState` (folded from every event it
passes on) and ends with its status: finished, failed, cancelled, paused or lost. It writes nothing to the
stream while a worker may still write, and never invents an ending the worker did not write, except
where no worker can write any more (it never started: ``failed``; killed after a cancel: ``cancelled``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from PySide6.QtCore import QIODevice, QObject, QProcess, QProcessEnvironment, QTimer, Signal

from desktop_ift.core import events as ev
from desktop_ift.core import run_state as rs
from desktop_ift.core import runs as run_ops
from desktop_ift.core.job_format import worker_command
from desktop_ift.core.store import Store, StoreError
from desktop_ift.core.training.memory import oom_kill_count

CANCEL_GRACE_MS = 15000  # time a worker gets to checkpoint after SIGTERM before it is killed
POLL_MS = 500


def pid_alive(pid: int | None, create_time: float | None = None) -> bool:
    """Whether process ``pid`` (created at ``create_time`` when given) still exists (psutil; no signal)."""
    return run_ops.pid_alive(pid, create_time)


class RunController(QObject):
    """One run at a time: :meth:`start` a job as our child, or :meth:`attach` to a running one."""

    event = Signal(object)  # a decoded events.Event
    log_line = Signal(str)  # a stdout line that is not an event
    started = Signal(str)  # run id
    ended = Signal(str)  # final status: finished, failed, cancelled, paused, lost; busy: another worker has it

    def __init__(self, store: Store, parent: QObject | None = None):
        super().__init__(parent)
        self.store = store
        self.run_id = ""
        self.process: QProcess | None = None
        self.attached_pid: int | None = None
        self.last_seq = 0
        self.status = ""
        self.run_state = rs.RunState(run_id="")
        self._buffer = ev.LineBuffer()
        self._terminal: ev.Event | None = None
        self._attached_started_at: float | None = None
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._poll_store)
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)
        self.cancel_requested = False

    # ------------------------------------------------------------------ state
    @property
    def is_running(self) -> bool:
        if self.process is not None:
            return self.process.state() != QProcess.ProcessState.NotRunning
        return self._poll.isActive()

    @property
    def pid(self) -> int | None:
        if self.process is not None:
            return int(self.process.processId()) or None
        return self.attached_pid

    def log_path(self, run_id: str | None = None) -> Path:
        return self.store.run_dir(run_id or self.run_id) / "worker.log"

    # ------------------------------------------------------------------ start
    def start(self, run_id: str, job_path: Path | str, command: list[str] | None = None) -> None:
        """Start the worker on ``job_path`` (``command`` replaces ``jobs.worker_command``; tests use it)."""
        if self.is_running:
            raise RuntimeError(f"Run {self.run_id} is still going; wait for it or cancel it first.")
        self._reset(run_id)
        argv = command or worker_command(job_path)
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("DESKTOP_IFT_HOME", str(self.store.home))
        proc.setProcessEnvironment(env)
        proc.setWorkingDirectory(str(self.store.run_dir(run_id)))
        log = self.log_path(run_id)
        log.parent.mkdir(parents=True, exist_ok=True)
        # Anything the worker prints on stderr before it redirects itself (an import error) lands here too.
        proc.setStandardErrorFile(str(log), QIODevice.OpenModeFlag.Append)
        proc.setStandardInputFile(QProcess.nullDevice())
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.finished.connect(self._process_finished)
        proc.errorOccurred.connect(self._process_error)
        self.process = proc
        self._oom_kills_before = oom_kill_count()
        proc.start(argv[0], argv[1:])
        self.started.emit(run_id)

    def attach(self, run_id: str, after_seq: int | None = None) -> bool:
        """Follow a run started elsewhere (another GUI session, the CLI) through the store.

        Returns False when no worker works on it any more (its remaining events are passed on and it ends
        with its state: finished, failed, cancelled, paused, or lost when the worker vanished).
        """
        if self.is_running:
            raise RuntimeError(f"Run {self.run_id} is still going; wait for it or cancel it first.")
        run = self.store.get_run(run_id)
        self._reset(run_id)
        self.last_seq = self.store.last_seq(run_id) if after_seq is None else after_seq
        self.run_state = run_ops.run_state(self.store, run_id, probe=None)
        if after_seq is not None:  # the events after after_seq are passed on again: fold them then
            self.run_state = rs.fold(run_id, [e for e in rs.load_events(self.store, run_id) if e.seq <= after_seq],
                                     kind=run.kind)
        self.attached_pid = self.run_state.pid
        if self.run_state.is_over:
            self._poll_store()
            if self._terminal is None:
                self._finish()
            return False
        if self.run_state.status == "running" and rs.judge(self.run_state, pid_alive).status == "lost":
            self._settle(exit_code=None)
            return False
        if self.run_state.status == "queued" and not run_ops.worker_alive(self.store, run):
            self._reset(run_id)  # prepared but no worker: nothing to follow
            self.status = ""
            return False
        self._poll.start()
        self.started.emit(run_id)
        return True

    def _reset(self, run_id: str) -> None:
        self.run_id = run_id
        self.process = None
        self.attached_pid = None
        self.last_seq = 0
        self.status = "running"
        self.run_state = rs.RunState(run_id=run_id)
        self._buffer = ev.LineBuffer()
        self._terminal = None
        self._attached_started_at = None
        self.cancel_requested = False

    # ------------------------------------------------------------------ cancel
    def cancel(self) -> None:
        """Ask the worker to stop (SIGTERM: it saves a checkpoint and reports ``cancelled``); kill it if it
        has not ended after a grace period."""
        if not self.is_running:
            return
        self.cancel_requested = True
        if self.process is not None:
            self.process.terminate()
        elif self.attached_pid and pid_alive(self.attached_pid, self.run_state.create_time):
            try:
                import psutil

                psutil.Process(self.attached_pid).terminate()
            except Exception:  # noqa: BLE001 - gone meanwhile: the poll sees how it ended
                pass
        self._kill_timer.start(CANCEL_GRACE_MS)

    def pause(self) -> None:
        """Ask the training worker to pause: it saves a checkpoint and ends with ``paused`` (the pause request
        file in the run folder tells the worker that this stop is a pause)."""
        if not self.is_running:
            return
        try:
            (self.store.run_dir(self.run_id) / run_ops.PAUSE_REQUEST).write_text("pause\n", encoding="utf-8")
        except OSError:
            pass  # it then ends as cancelled, which keeps the checkpoint too
        self.cancel()

    def stop_keep_best(self) -> bool:
        """Ask the training worker to stop and keep its best validation checkpoint (SIGUSR1; QProcess has no
        call for it). Returns False when no worker of ours is running."""
        pid = self.pid if self.is_running else None
        if not pid:
            return False
        try:
            os.kill(pid, signal.SIGUSR1)
        except OSError:
            return False
        return True

    def _kill(self) -> None:
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.kill()
        elif self.process is None and pid_alive(self.attached_pid, self.run_state.create_time):
            try:
                import psutil

                psutil.Process(self.attached_pid).kill()
            except Exception:  # noqa: BLE001
                pass

    def detach(self) -> None:
        """Stop watching without stopping the worker (the window closes, the run goes on)."""
        self._poll.stop()
        self._kill_timer.stop()
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            # Keep the process object (deleting it would kill the worker) but stop listening to it.
            self.process.blockSignals(True)

    # ------------------------------------------------------------------ reading
    def _read_stdout(self) -> None:
        if self.process is None:
            return
        chunk = bytes(self.process.readAllStandardOutput().data())
        self._handle_lines(self._buffer.feed(chunk))

    def _handle_lines(self, lines: list[str]) -> None:
        for line in lines:
            try:
                event = ev.decode(line)
            except ev.EventDecodeError:
                self.log_line.emit(line)
                continue
            self._emit(event)

    def _emit(self, event: ev.Event) -> None:
        if event.run_id != self.run_id or event.seq <= self.last_seq:
            return  # another run's line, or one we already passed on
        self.last_seq = event.seq
        self.run_state = rs.apply(self.run_state, event)
        if isinstance(event, ev.Started):
            self.attached_pid = self.attached_pid if self.process is not None else event.pid
            self._terminal = None
        if event.terminal:
            self._terminal = event
        self.status = self.run_state.status
        self.event.emit(event)

    def _poll_store(self) -> None:
        try:
            for event in self.store.events(self.run_id, self.last_seq):
                self._emit(event)
        except StoreError:
            return
        if self._terminal is not None:
            self._finish()
        elif self._poll.isActive() and self.run_state.status == "running" and \
                rs.judge(self.run_state, pid_alive).status == "lost":
            self._settle(exit_code=None)

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._settle(exit_code=None, failed_to_start=True)

    def _process_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._handle_lines(self._buffer.flush())
        # a crash reports the signal as its exit code (-9: killed, as by the kernel's out-of-memory killer)
        code = exit_code if exit_status == QProcess.ExitStatus.NormalExit else (-exit_code if exit_code else -1)
        self._settle(exit_code=code)

    def _settle(self, exit_code: int | None, failed_to_start: bool = False) -> None:
        """The process is gone: pass on events only the store has, then end with the run's state.

        A worker that wrote no ending is lost (the run keeps its steps and can resume from its checkpoint),
        except when it never started (failed) or was killed after a cancel (cancelled): no worker can write
        any more, so those endings are written to the store, for every reader to see."""
        self._poll.stop()
        if self._terminal is None:
            try:
                for event in self.store.events(self.run_id, self.last_seq):
                    self._emit(event)
            except StoreError:
                pass
        if self._terminal is None and exit_code == -9 and self.process is not None:
            try:
                oom = run_ops.report_oom_kill(self.store, self.run_id, exit_code,
                                              getattr(self, "_oom_kills_before", None))
            except StoreError:
                oom = None
            if oom is not None:
                self._emit(oom)
        if self._terminal is None and exit_code == 4:  # worker.EXIT_BUSY: another worker holds the run
            self.status = "busy"
            self._finish()
            return
        never_started = self.run_state.status == "queued"
        if self._terminal is None and (failed_to_start or self.cancel_requested or never_started):
            try:
                seq = self.store.last_seq(self.run_id) + 1
                if failed_to_start or (never_started and not self.cancel_requested):
                    code = "" if exit_code is None else f" (exit code {exit_code})"
                    ending: ev.Event = ev.Failed(
                        run_id=self.run_id, seq=seq, message=f"The worker process could not be started{code}.",
                        hint=f"The log is in {self.log_path()}. Check that the Python environment of desktop_ift "
                             "is intact, then try again.")
                else:
                    ending = ev.Cancelled(run_id=self.run_id, seq=seq, step=self.run_state.step)
                self.store.append_event(ending)
                self._emit(ending)
            except StoreError:
                pass
        if self._terminal is None:
            from dataclasses import replace

            named = self.run_state if self.run_state.pid else replace(self.run_state, pid=-1)
            self.run_state = rs.judge(named, lambda *_: False)  # the process is gone
            self.status = "lost"
        self._finish()

    def _finish(self) -> None:
        self._poll.stop()
        self._kill_timer.stop()
        status = self.status if self.status in ("finished", "failed", "cancelled", "paused", "lost", "busy") \
            else "lost"
        self.status = status
        self.attached_pid = None
        self.ended.emit(status)
