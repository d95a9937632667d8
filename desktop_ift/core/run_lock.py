"""One worker per run: a lock file in the run folder, held by the live worker for its whole life.

``<run_dir>/worker.lock`` holds ``{"pid", "create_time", "since"}`` of the worker that holds it. The lock
itself is an OS file lock on that file (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows), so it is
released by the operating system the moment the worker dies, however it dies: a stale file left by a dead
worker is simply taken over by the next one. A second worker on a live run gets :class:`RunBusy`, whose
message names the live one (pid, since when).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from desktop_ift.core.run_state import process_create_time

LOCK_NAME = "worker.lock"
_WIN_LOCK_OFFSET = 1 << 20  # Windows locks a byte range: lock one far past the text others read


class RunBusy(RuntimeError):
    """Another worker holds the run; ``holder`` is what it wrote (pid, create_time, since)."""

    def __init__(self, run_dir: Path, holder: dict | None):
        self.holder = holder or {}
        pid = self.holder.get("pid", "?")
        since = self.holder.get("since")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else "?"
        super().__init__(
            f"This run is already being worked on by worker process {pid} (since {when}); a second worker "
            f"would write over it. Follow it with: desktop-ift runs watch {Path(run_dir).name} — or pause or "
            "cancel it first.")


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _unlock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:
        import msvcrt

        try:
            os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
        return
    fcntl.flock(fd, fcntl.LOCK_UN)


def read_holder(run_dir: Path | str) -> dict | None:
    """What the lock file says (pid, create_time, since), or None when there is none or it is unreadable."""
    try:
        data = json.loads((Path(run_dir) / LOCK_NAME).read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class RunLock:
    """The held lock of one run (keep the object for the worker's life; :meth:`release` at the end)."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        """Let go of the run (the file stays; its next holder overwrites it)."""
        if self._fd is None:
            return
        try:
            _unlock(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None


def acquire(run_dir: Path | str, pid: int | None = None, create_time: float | None = None) -> RunLock:
    """Take the run's lock for this process, or raise :class:`RunBusy` naming the live holder."""
    path = Path(run_dir) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if not _try_lock(fd):
        os.close(fd)
        raise RunBusy(Path(run_dir), read_holder(run_dir))
    pid = pid or os.getpid()
    info = {"pid": pid, "create_time": create_time or process_create_time(pid), "since": time.time()}
    data = json.dumps(info).encode("utf-8")
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, data)
    os.fsync(fd)
    return RunLock(path, fd)


def live_holder(run_dir: Path | str) -> dict | None:
    """The holder of the run's lock if a live worker holds it now, else None (free, or a stale file)."""
    path = Path(run_dir) / LOCK_NAME
    if not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
        return read_holder(run_dir) or {}
    finally:
        os.close(fd)
