"""Short work that usually finishes at once but must never block the window (a template preview).

:meth:`LatestOnly.run` starts the work on a thread and waits a few milliseconds for it: a normal template is
shown at once (so the page behaves as if it were synchronous), a slow one is shown when it ends. Only the
latest request is ever shown; an older one still running is abandoned, and it ends by itself because every
template render stops at its time limit (``core/templates/render_limits.py``), so no thread stays stuck.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, TimeoutError as FutureTimeout
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal, Slot

_EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="preview")


class LatestOnly(QObject):
    """Runs one function at a time for a widget and shows only the newest result."""

    _finished = Signal(int, object)  # generation, Future; emitted from the worker thread, queued to the GUI

    def __init__(self, parent: QObject | None = None, wait_s: float = 0.15):
        super().__init__(parent)
        self.wait_s = wait_s
        self.generation = 0
        self._apply: Callable[[Future], None] | None = None
        self._finished.connect(self._deliver)

    @property
    def busy(self) -> bool:
        """True while the newest request is still running (its result not shown yet)."""
        return self._apply is not None

    def run(self, fn: Callable[[], Any], apply: Callable[[Any], None],
            failed: Callable[[BaseException], None], on_wait: Callable[[], None] | None = None) -> None:
        """Run ``fn`` off the GUI thread; ``apply(result)`` or ``failed(exc)`` on the GUI thread, unless a newer
        ``run`` came first. ``on_wait`` is called when the result is not there within ``wait_s``."""
        self.generation += 1
        generation = self.generation

        def show(future: Future) -> None:
            exc = future.exception()
            if exc is None:
                apply(future.result())
            else:
                failed(exc)

        # while the previous request is still running (a slow template), the next one is likely slow too and
        # may wait for a free thread: hand the window back at once instead of blocking it for wait_s
        wait_s = 0.0 if self.busy else self.wait_s
        future = _EXECUTOR.submit(fn)
        try:
            future.result(timeout=wait_s)
        except FutureTimeout:
            self._apply = show
            if on_wait:
                on_wait()
            future.add_done_callback(lambda f: self._emit(generation, f))
            return
        except BaseException:  # noqa: BLE001 - reported through failed() below
            pass
        self._apply = None
        show(future)

    def _emit(self, generation: int, future: Future) -> None:
        try:  # from the worker thread; the widget may have been closed meanwhile
            self._finished.emit(generation, future)
        except RuntimeError:
            pass

    @Slot(int, object)
    def _deliver(self, generation: int, future: Future) -> None:
        if generation != self.generation or self._apply is None:
            return  # a newer request replaced this one: abandon its result
        show, self._apply = self._apply, None
        show(future)
