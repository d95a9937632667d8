"""The worker process: ``python -u -m desktop_ift.core.worker JOB.json`` runs one training or evaluation job.

What a watcher can rely on:

* stdout carries only events, one JSON line each (:mod:`desktop_ift.core.events`), numbered from the run's
  last stored sequence number + 1, so a resumed run continues its numbering. Every event is also written
  to the workspace store *first*, so nothing is lost when the watcher dies.
* Everything else the libraries print (Trainer dicts, warnings, tracebacks) goes to
  ``<run_dir>/worker.log``: file descriptors 1 and 2 are redirected there before anything heavy runs,
  and events go to a duplicate of the original stdout. A closed pipe (the GUI died) is ignored.
* SIGTERM (or SIGINT) asks the job to stop: training saves a resumable checkpoint at the next step and
  ends with a ``cancelled`` event; evaluation stops between batches with ``cancelled``.
* SIGUSR1 asks a training job to "stop early, keep best": it stops at the next step and the checkpoint with
  the lowest validation loss becomes the output (a ``finished`` event with ``stopped_early``). Without a
  validation point yet it behaves like SIGTERM (see :mod:`desktop_ift.core.training.recipe`). Multi-process
  runs too: every rank stops at the same step and loads the best checkpoint.
* Every error ends with a ``failed`` event whose message is plain words and whose hint says what to try;
  the traceback goes to ``details`` and to the log.

* A training job whose settings ask for several processes (``num_processes`` > 1, or 0 on a machine with
  several GPUs) re-executes itself through ``accelerate launch`` with a generated configuration
  (:mod:`desktop_ift.core.training.launcher`); rank 0 reports the events, the other ranks log to
  ``worker-rank<N>.log``.

* Pause is a stop that keeps the run resumable: whoever pauses writes :data:`PAUSE_REQUEST` in the run folder,
  then asks for a stop; the run's ``cancelled`` ending is then written as ``paused`` (one event, one state).
* Every ``started`` event carries the attempt number (1, then 2 after the first resume, ...) and the
  process's own creation time, so readers can tell this exact process from a later one with the same pid.
* One worker per run: the worker holds ``<run_dir>/worker.lock`` (:mod:`desktop_ift.core.run_lock`) for its
  life; a second worker on a live run stops at once with a message naming the live one (EXIT_BUSY).

Exit codes: 0 finished, 1 failed, 3 cancelled or paused (EXIT_CANCELLED), 2 the job file itself was unusable
(no run to report to; the reason is printed on stderr), 4 another worker holds the run (EXIT_BUSY).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import IO, Any

from desktop_ift.core import events as ev
from desktop_ift.core.disk import (
    DiskSpaceError, disk_full_message, existing_parent, folder_size, is_disk_full_error,
)
from desktop_ift.core.errors import WorkerError
from desktop_ift.core.job_format import JOB_KINDS, JobError, read_job
from desktop_ift.core.run_lock import RunBusy, acquire
from desktop_ift.core.run_state import process_create_time
from desktop_ift.core.store import Store
from desktop_ift.core.training.config import ConfigError
from desktop_ift.core.training.launcher import LaunchError, prepare_launch

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_JOB = 2
EXIT_CANCELLED = 3
EXIT_BUSY = 4


KEEP_BEST_REQUEST = "keep-best.request"  # in the run folder: "stop and keep best" for a multi-process run
PAUSE_REQUEST = "pause.request"  # in the run folder: the stop that follows is a pause (see module doc)


class StopFlag:
    """Set by SIGTERM/SIGINT (stop), or by SIGUSR1 (stop and keep the best checkpoint: :attr:`keep_best`);
    the training callback and the generation loop poll it.

    In a multi-process run the launcher passes only SIGTERM on to the ranks, so the supervising worker first
    writes :data:`KEEP_BEST_REQUEST` in the run folder: a rank whose ``request_file`` exists keeps the best."""

    def __init__(self, request_file: Path | None = None) -> None:
        self._event = threading.Event()
        self._keep_best = False
        self.request_file = request_file

    def set(self) -> None:
        """Ask the job to stop as soon as it safely can."""
        self._event.set()

    def is_set(self) -> bool:
        """Whether a stop was requested."""
        return self._event.is_set()

    __bool__ = is_set

    @property
    def keep_best(self) -> bool:
        """Whether the stop asks to make the best validation checkpoint the output."""
        return self._keep_best or (self.request_file is not None and self.request_file.exists())

    def set_keep_best(self) -> None:
        """Ask a training job to stop and make its best validation checkpoint the output."""
        if not self._event.is_set():  # a plain stop asked first wins
            self._keep_best = True
        self._event.set()

    def install(self) -> None:
        """Route SIGTERM and SIGINT to :meth:`set`, SIGUSR1 to :meth:`set_keep_best` (main thread only)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.set())
        if hasattr(signal, "SIGUSR1"):
            signal.signal(signal.SIGUSR1, lambda *_: self.set_keep_best())


class SilentWriter:
    """The writer of a non-main process in a multi-process (accelerate) run: rank 0 reports for everyone,
    the other ranks emit nothing."""

    def __init__(self, store: Store, run_id: str):
        self.store = store
        self.run_id = run_id
        self.seq = 0
        self.stream = None

    def emit(self, event_cls: type[ev.Event], keep: bool = True, **fields: Any) -> None:
        """Drop the event."""
        return None


def process_rank() -> int:
    """This process's rank in a multi-process run started by ``accelerate launch`` (0 otherwise)."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


class EventWriter:
    """Numbers events, stores them, and writes them as JSON lines to ``stream``."""

    def __init__(self, store: Store, run_id: str, stream: IO[str] | None):
        self.store = store
        self.run_id = run_id
        self.stream = stream
        self.seq = store.last_seq(run_id)
        self._lock = threading.Lock()

    def emit(self, event_cls: type[ev.Event], keep: bool = True, **fields: Any) -> ev.Event:
        """Build an event of ``event_cls`` with the next sequence number, store it, and write it out.

        ``keep=False`` writes it to the stream only (streamed pieces of text that a final event repeats).
        """
        with self._lock:
            self.seq += 1
            event_cls, fields = self._complete(event_cls, fields)
            event = event_cls(run_id=self.run_id, seq=self.seq, **fields)
            if keep:
                self.store.append_event(event)
            if self.stream is not None:
                try:
                    self.stream.write(ev.encode(event) + "\n")
                    self.stream.flush()
                except (BrokenPipeError, OSError, ValueError):
                    # Nobody is listening any more (the GUI died): the store has the event; keep working.
                    self.stream = None
            return event


    def _complete(self, event_cls: type[ev.Event], fields: dict) -> tuple[type[ev.Event], dict]:
        """Number the attempt and name the process on ``started``; turn a stop asked as a pause into ``paused``."""
        if event_cls is ev.Started:
            started = self.store.conn.execute("SELECT COUNT(*) FROM events WHERE run_id=? AND type='started'",
                                              (self.run_id,)).fetchone()[0]
            fields = {"attempt": int(started) + 1, "create_time": process_create_time() or 0.0, **fields}
        elif event_cls is ev.Cancelled and (self.store.run_dir(self.run_id) / PAUSE_REQUEST).exists():
            event_cls = ev.Paused
            fields = {k: v for k, v in fields.items() if k in ("step", "checkpoint", "time")}
        return event_cls, fields


def _redirect_output(log_path: Path) -> IO[str]:
    """Point fds 1 and 2 at ``log_path`` (append) and return a text stream on a dup of the real stdout."""
    sys.stdout.flush()
    sys.stderr.flush()
    events_fd = os.dup(1)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    # Python's own sys.stdout/sys.stderr still write to fds 1/2, now the log; make them line-buffered.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError):  # pragma: no cover
            pass
    return os.fdopen(events_fd, "w", encoding="utf-8", buffering=1)


def _set_offline_environment(allow_download: bool = False) -> None:
    if not allow_download:  # the user did not enable online access: nothing may reach the network
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def classify_error(exc: BaseException, run_dir: Path) -> tuple[str, str]:
    """``(message, hint)`` in plain words for an exception that ended a job."""
    text = str(exc)
    lowered = text.lower()
    # CUDA/MPS say "out of memory"; PyTorch's CPU allocator says "can't allocate memory" (error code 12)
    if (type(exc).__name__ == "OutOfMemoryError" or isinstance(exc, MemoryError)
            or any(words in lowered for words in ("out of memory", "can't allocate memory",
                                                   "cannot allocate memory"))):
        return (
            "The model ran out of memory.",
            "Use LoRA instead of full fine-tuning, a smaller batch size, a shorter maximum sequence length, "
            "or turn on gradient checkpointing (the Train page's memory check shows what fits). On the CPU, "
            "closing other programs also frees memory.",
        )
    if isinstance(exc, WorkerError):
        return exc.message, exc.hint
    if is_disk_full_error(exc):
        return _disk_full(exc, run_dir)

    if isinstance(exc, LaunchError):
        return text, "Choose another multi-GPU strategy in the advanced settings, or install what it names."
    if isinstance(exc, (ConfigError, JobError)):
        return text, "Change the setting it names and start again."
    return (
        f"The job stopped on an unexpected error: {type(exc).__name__}: {text.splitlines()[0] if text else ''}".strip(),
        f"The full log is in {run_dir / 'worker.log'}.",
    )


RESUME_HINT = ("Free some disk space (old runs and checkpoints take the most), then resume the run: it continues "
               "from its last complete checkpoint.")


def _disk_full(exc: BaseException, run_dir: Path) -> tuple[str, str]:
    """``("The disk is full (about … needed, … free on …) while writing FILE.", hint)``: what a checkpoint or
    save needs is estimated from the run's largest checkpoint so far."""
    if isinstance(exc, DiskSpaceError):  # refused before writing: it already says what is needed and free
        return exc.summary, RESUME_HINT
    filename = getattr(exc, "filename", None)
    target = Path(filename or run_dir)
    where = existing_parent(target if target.is_dir() else target.parent)
    checkpoints = Path(run_dir) / "checkpoints"
    sizes = [folder_size(p) for p in checkpoints.iterdir() if p.is_dir()] if checkpoints.is_dir() else []
    needed = max(sizes, default=0) or None
    writing = Path(filename).name if filename else ""
    return disk_full_message(where, needed, writing=writing, estimated=True, advice=""), RESUME_HINT


def _relaunch_if_distributed(job: dict, job_path: str, store: Store, run_id: str) -> Exception | int | None:
    """Run the same job through ``accelerate launch`` when it needs several processes, and supervise it.

    Returns None for a single-process job (run it here), the error when the multi-process setting cannot
    run (to be reported as a ``failed`` event), or the exit code once the launched run has ended. This
    process stays the run's parent: the launcher inherits stdout (rank 0 writes the events there); SIGTERM,
    SIGINT are passed on; SIGUSR1 ("stop and keep best", which the launcher would not pass on) becomes the
    :data:`KEEP_BEST_REQUEST` file plus SIGTERM, and the ranks agree to keep the best; the exit code follows
    how the run ended, and a run whose processes all died without a final event is reported as failed here,
    never left silent.
    """
    import subprocess

    run_dir = store.run_dir(run_id)
    try:
        command = prepare_launch(job, str(Path(job_path).resolve()), run_dir)
    except LaunchError as exc:
        return exc
    if command is None:
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    request = run_dir / KEEP_BEST_REQUEST
    request.unlink(missing_ok=True)  # left by an earlier attempt of this run (resumed): not a request now
    with (run_dir / "worker.log").open("a", encoding="utf-8") as log:
        log.write("=== launching: " + " ".join(command) + "\n")
    sys.stdout.flush()
    # The launcher's own messages go to a log, so stdout carries events only.
    with (run_dir / "launcher.log").open("ab") as launcher_log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=launcher_log)

    def pass_on(signum, _frame):
        if signum == getattr(signal, "SIGUSR1", None):
            try:
                request.write_text("keep the best validation checkpoint\n", encoding="utf-8")
            except OSError:  # the ranks then stop like Pause, which keeps everything
                pass
            signum = signal.SIGTERM
        try:
            proc.send_signal(signum)
        except ProcessLookupError:
            pass

    for name in ("SIGTERM", "SIGINT", "SIGUSR1"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), pass_on)
    returncode = proc.wait()
    request.unlink(missing_ok=True)
    status = store.get_run(run_id).status
    if status in ("cancelled", "paused"):
        return EXIT_CANCELLED
    if status == "finished":
        return EXIT_OK
    if status != "failed":
        EventWriter(store, run_id, sys.stdout).emit(
            ev.Failed, message=f"The training processes stopped without reporting how (launcher exit code "
                               f"{returncode}).",
            hint=f"See {run_dir / 'launcher.log'} and the worker-rank logs in {run_dir} for what happened.",
            details="")
    return EXIT_FAILED


def run_job(job: dict, writer: EventWriter, stop: StopFlag) -> str:
    """Run ``job`` (already read) and return how it ended: ``"finished"``, ``"cancelled"``.

    The function for each job kind is named in :data:`desktop_ift.core.job_format.JOB_KINDS`.
    """
    import importlib

    module_name, func_name = JOB_KINDS[job["kind"]].split(":")
    return getattr(importlib.import_module(module_name), func_name)(job, writer, stop)


def main(argv: list[str] | None = None) -> int:
    """Entry point: read the job file named in ``argv``, run it, and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1:
        print("usage: python -m desktop_ift.core.worker JOB.json", file=sys.stderr)
        return EXIT_BAD_JOB
    try:
        job = read_job(argv[0])
        run_id = job["run_id"]
        store = Store.open(job["workspace"])
        store.get_run(run_id)
    except Exception as exc:  # no run to report to (bad job file, unknown run): say it on stderr
        print(f"desktop_ift worker: cannot start: {exc}", file=sys.stderr)
        return EXIT_BAD_JOB

    lock = None
    if "RANK" not in os.environ:  # the supervising process (or the only one) holds the run

        try:
            lock = acquire(store.run_dir(run_id))
        except RunBusy as exc:
            print(f"desktop_ift worker: {exc}", file=sys.stderr)
            return EXIT_BUSY
        # a pause asked of an earlier attempt is not a request now
        (store.run_dir(run_id) / PAUSE_REQUEST).unlink(missing_ok=True)
    try:
        return _main_locked(job, argv, store, run_id)
    finally:
        if lock is not None:
            lock.release()


def _main_locked(job: dict, argv: list[str], store: Store, run_id: str) -> int:
    """The job, once this process holds the run."""
    _set_offline_environment(bool(job.get("allow_download")))
    launch_error = None
    if job["kind"] == "train" and "RANK" not in os.environ:
        launch_error = _relaunch_if_distributed(job, argv[0], store, run_id)
        if isinstance(launch_error, int):
            return launch_error
    run_dir = store.run_dir(run_id)
    stop = StopFlag(run_dir / KEEP_BEST_REQUEST if "RANK" in os.environ else None)
    stop.install()
    run_dir.mkdir(parents=True, exist_ok=True)
    rank = process_rank()
    log_name = "worker.log" if rank == 0 else f"worker-rank{rank}.log"
    events_stream = _redirect_output(run_dir / log_name)
    writer = EventWriter(store, run_id, events_stream) if rank == 0 else SilentWriter(store, run_id)
    print(f"=== worker pid {os.getpid()} starting {job['kind']} job {run_id}", flush=True)
    try:
        if launch_error is not None:
            raise launch_error
        outcome = run_job(job, writer, stop)
    except BaseException as exc:  # noqa: BLE001 - every failure must end in a failed event
        details = traceback.format_exc()
        print(details, file=sys.stderr, flush=True)
        if isinstance(exc, KeyboardInterrupt):
            writer.emit(ev.Cancelled, step=0, checkpoint="")
            return EXIT_CANCELLED
        message, hint = classify_error(exc, run_dir)
        writer.emit(ev.Failed, message=message, hint=hint, details=details)
        return EXIT_FAILED
    finally:
        print(f"=== worker pid {os.getpid()} done", flush=True)
    return EXIT_CANCELLED if outcome == "cancelled" else EXIT_OK


def _exit(code: int) -> None:
    try:
        sys.stdout.flush()
    except Exception:  # pragma: no cover
        pass
    # Skip interpreter teardown noise (and a flush on a broken events pipe) once everything is stored.
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
