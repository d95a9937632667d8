"""An error nobody caught is shown in the window, not lost in a terminal the user never sees.

Qt calls :data:`sys.excepthook` for an exception raised in a slot, a timer or an event handler; Python's
default hook prints it to stderr, which a desktop user never looks at, so the click seemed to do nothing.
:func:`install` replaces the hook for the GUI process: the traceback goes to ``<workspace>/logs/gui.log``
(and stderr), and the user gets a message in plain words that says what happened and what to do. The
workspace's own failures get their own words: a database damaged while the app was open (found otherwise
only at the next start), and a disk that filled up. The same error is shown once; repeats (a timer that
fails every second) only go to the log.
"""

from __future__ import annotations

import sqlite3
import sys
import time
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop_ift.core.disk import is_disk_full_error


def describe(exc: BaseException, log_path: Path) -> tuple[str, str]:
    """(title, text) of the message for ``exc``: what happened and what to do, in plain words."""
    if is_disk_full_error(exc):
        return ("The disk is full", "desktop_ift could not write to its workspace because the disk is full. "
                "What was saved before is kept. Free some space (old runs can be deleted on the Runs page), "
                "then repeat the last step.")
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return ("The workspace database is damaged",
                f"The workspace database became unreadable while the app was open ({exc}). Nothing more is "
                "written to it. Close the app and start it again: it checks the workspace and says how to go "
                "on (desktop-ift workspace --fresh starts a new database and keeps the damaged one, your "
                f"imported files and your runs' folders). Details: {log_path}")
    if isinstance(exc, MemoryError):
        return ("Out of memory", "The app ran out of memory for the last step. What you saved is kept. Close "
                f"other programs or work on a smaller dataset, then repeat it. Details: {log_path}")
    text = str(exc).strip() or "(no message)"
    return ("Something went wrong", f"{type(exc).__name__}: {text}\n\nThis is a fault in desktop_ift, not in "
            f"what you did. What you saved is kept in the workspace. The details were written to {log_path}; "
            "if it happens again, please report it with that file.")


class ErrorReporter:
    """The replacement for :data:`sys.excepthook` (see the module's docstring)."""

    def __init__(self, log_path: Path, previous=None):
        self.log_path = Path(log_path)
        self.previous = previous
        self.shown: set[tuple[str, str]] = set()
        self.box: QMessageBox | None = None

    def _log(self, exc_type, exc, tb) -> None:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        sys.stderr.write(text)
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as f:
                f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n{text}")
        except OSError:
            pass  # a full or read-only disk: stderr has it, and the message below still shows

    def __call__(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt) and self.previous is not None:
            self.previous(exc_type, exc, tb)
            return
        self._log(exc_type, exc, tb)
        key = (exc_type.__name__, str(exc)[:300])
        if key in self.shown or QApplication.instance() is None:
            return
        self.shown.add(key)
        title, text = describe(exc, self.log_path)
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok,
                          QApplication.activeWindow())
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.open()  # not exec(): no nested event loop inside whatever failed
        self.box = box


def install(workspace: Path) -> ErrorReporter:
    """Route uncaught errors of this GUI process to ``<workspace>/logs/gui.log`` and a message window."""
    reporter = ErrorReporter(Path(workspace) / "logs" / "gui.log", sys.excepthook)
    sys.excepthook = reporter
    return reporter
