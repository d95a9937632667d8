"""Background work for the GUI: run a plain function on a QThreadPool thread, get the result back on the
GUI thread.

Like Anki's ``QueryOp``: the function does the work and touches no widget; ``on_success`` and
``on_failure`` run later on the GUI thread with its result or exception. A function that needs the
workspace opens its own ``Store`` (a connection belongs to the thread that uses it).
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot


class BackgroundTask(QObject):
    """One call of ``fn`` in the thread pool. Keep a reference until it reports (``run_in_background`` does)."""

    _done = Signal(bool, object)  # ok, result-or-exception; emitted from the pool thread, queued to us

    def __init__(
        self,
        fn: Callable[[], Any],
        on_success: Callable[[Any], None] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._fn = fn
        self._on_success = on_success
        self._on_failure = on_failure
        self.finished = False
        self._done.connect(self._report)

    def start(self, pool: QThreadPool | None = None) -> None:
        task = self

        class _Runnable(QRunnable):
            def run(self) -> None:  # noqa: D401 - Qt API
                try:
                    result = task._fn()
                except BaseException as exc:  # report every failure, never lose it in a thread
                    exc.__traceback_text__ = traceback.format_exc()  # type: ignore[attr-defined]
                    task._done.emit(False, exc)
                else:
                    task._done.emit(True, result)

        self._runnable = _Runnable()
        self._runnable.setAutoDelete(False)
        (pool or QThreadPool.globalInstance()).start(self._runnable)

    @Slot(bool, object)
    def _report(self, ok: bool, value: object) -> None:
        self.finished = True
        _ACTIVE.discard(self)
        if ok:
            if self._on_success:
                self._on_success(value)
        elif self._on_failure:
            self._on_failure(value)  # type: ignore[arg-type]
        else:  # pragma: no cover - a programming error: show it on stderr, not in a dialog
            traceback.print_exception(value)  # type: ignore[arg-type]


_ACTIVE: set[BackgroundTask] = set()


def run_in_background(
    fn: Callable[[], Any],
    on_success: Callable[[Any], None] | None = None,
    on_failure: Callable[[BaseException], None] | None = None,
) -> BackgroundTask:
    """Run ``fn()`` off the GUI thread; call ``on_success(result)`` or ``on_failure(exc)`` on the GUI thread."""
    task = BackgroundTask(fn, on_success, on_failure)
    _ACTIVE.add(task)
    task.start()
    return task


def wait_for_background_tasks(timeout_ms: int = 30000) -> bool:
    """Block until the pool is idle (used at shutdown and in tests)."""
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
