"""Runs a worker (training or evaluation) in a child process and turns its stdout into typed events.

The worker prints one JSON event per line on stdout and also writes every event into the workspace, so
the GUI can lose the process (crash, close, restart) without losing the run: :meth:`RunController.attach`
follows a run whose worker is alive but is not our child by polling the store.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from PySide6.QtCore import QIODevice, QObject, QProcess, QProcessEnvironment, QTimer, Signal

from desktop_ift.core import events as ev
from desktop_ift.core import runs as run_ops
from desktop_ift.core.jobs import worker_command
from desktop_ift.core.store import Store, StoreError

CANCEL_GRACE_MS = 15000  # time a worker gets to checkpoint after SIGTERM before it is killed
POLL_MS = 500


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this id exists (it may belong to another user: that still counts)."""
    return run_ops.pid_alive(pid)


class RunController(QObject):
    """One run at a time: :meth:`start` a job as our child, or :meth:`attach` to a running one."""

    event = Signal(object)  # a decoded events.Event
    log_line = Signal(str)  # a stdout line that is not an event
    started = Signal(str)  # run id
    ended = Signal(str)  # final status: finished, failed or cancelled

    def __init__(self, store: Store, parent: QObject | None = None):
        super().__init__(parent)
        self.store = store
        self.run_id = ""
        self.process: QProcess | None = None
        self.attached_pid: int | None = None
        self.last_seq = 0
        self.status = ""
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
        proc.start(argv[0], argv[1:])
        self.started.emit(run_id)

    def attach(self, run_id: str, after_seq: int | None = None) -> bool:
        """Follow a run started elsewhere (another GUI session, the CLI) through the store.

        Returns False when its worker is no longer alive (then the run is settled: its remaining events
        are emitted, and it is marked failed if it never ended).
        """
        if self.is_running:
            raise RuntimeError(f"Run {self.run_id} is still going; wait for it or cancel it first.")
        run = self.store.get_run(run_id)
        self._reset(run_id)
        self.last_seq = self.store.last_seq(run_id) if after_seq is None else after_seq
        self.attached_pid = run.pid
        self._attached_started_at = run.started_at
        if run.is_over:
            self._poll_store()
            return False
        if run.status == "running" and not run_ops.worker_alive(run):
            self._settle_lost()
            return False
        if not pid_alive(run.pid):
            self._settle(exit_code=None)
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
        elif self.attached_pid:
            try:
                os.kill(self.attached_pid, signal.SIGTERM)
            except OSError:
                pass
        self._kill_timer.start(CANCEL_GRACE_MS)

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
        elif self.process is None and pid_alive(self.attached_pid):
            try:
                os.kill(self.attached_pid, signal.SIGKILL)  # type: ignore[arg-type]
            except OSError:
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
        if event.terminal:
            self._terminal = event
            self.status = event.type
        self.event.emit(event)

    def _poll_store(self) -> None:
        try:
            for event in self.store.events(self.run_id, self.last_seq):
                self._emit(event)
        except StoreError:
            return
        if self._terminal is not None:
            self._finish()
        elif self._poll.isActive() and not run_ops.pid_alive(self.attached_pid, self._attached_started_at):
            self._settle_lost()

    def _settle_lost(self) -> None:
        """An attached worker died without a final event: the store records it as lost (a ``failed`` event
        with its last step, appended by :func:`desktop_ift.core.runs.settle_if_lost`), which we pass on."""
        self._poll.stop()
        try:
            run_ops.settle_if_lost(self.store, self.run_id)
        except StoreError:
            pass
        self._settle(exit_code=None)

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._settle(exit_code=None, failed_to_start=True)

    def _process_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._handle_lines(self._buffer.flush())
        code = exit_code if exit_status == QProcess.ExitStatus.NormalExit else -1
        self._settle(exit_code=code)

    def _settle(self, exit_code: int | None, failed_to_start: bool = False) -> None:
        """The process is gone: pass on events only the store has, and fail the run if it never ended."""
        self._poll.stop()
        if self._terminal is None:
            try:
                for event in self.store.events(self.run_id, self.last_seq):
                    self._emit(event)
            except StoreError:
                pass
        if self._terminal is None:
            if failed_to_start:
                message = "The worker process could not be started."
                hint = "Check that the Python environment of desktop_ift is intact, then try again."
            elif self.cancel_requested:
                message = "The run was stopped before it could save a checkpoint."
                hint = "Start it again when you are ready."
            else:
                code = "unknown" if exit_code is None else str(exit_code)
                message = f"The training process ended unexpectedly (exit code {code}); see worker.log."
                if self.store.get_run(self.run_id).kind == "evaluate":
                    message = message.replace("training", "evaluation")
                hint = (f"The log is in {self.log_path()}. If the machine ran out of memory, "
                        "try a smaller batch size or maximum sequence length.")
            status = "cancelled" if self.cancel_requested and not failed_to_start else "failed"
            try:
                self.store.update_run(self.run_id, status=status, message=message, hint=hint,
                                      ended_at=time.time())
            except StoreError:
                pass
            if status == "cancelled":
                synthetic: ev.Event = ev.Cancelled(run_id=self.run_id, seq=self.last_seq + 1)
            else:
                synthetic = ev.Failed(run_id=self.run_id, seq=self.last_seq + 1, message=message, hint=hint)
            self._emit(synthetic)
        self._finish()

    def _finish(self) -> None:
        self._poll.stop()
        self._kill_timer.stop()
        status = self.status if self.status in ("finished", "failed", "cancelled") else "failed"
        self.status = status
        self.attached_pid = None
        self.ended.emit(status)
