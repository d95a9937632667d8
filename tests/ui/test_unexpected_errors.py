"""An error nobody caught in the window is shown to the user and logged, not lost on stderr (#15, #16)."""

from __future__ import annotations

import sqlite3
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from desktop_ift.ui.unexpected_errors import ErrorReporter, describe


def _raise_in_the_event_loop(qtbot, exc: BaseException) -> None:
    def boom():
        raise exc

    QTimer.singleShot(0, boom)
    qtbot.wait(50)


def test_an_error_is_shown_once_and_logged(qtbot, tmp_path):
    reporter = ErrorReporter(tmp_path / "logs" / "gui.log")
    reporter(ValueError, ValueError("the column 'x' vanished"), None)
    box = reporter.box
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert box.windowTitle() == "Something went wrong"
    assert "ValueError: the column 'x' vanished" in box.text() and str(tmp_path / "logs" / "gui.log") in box.text()
    log = (tmp_path / "logs" / "gui.log").read_text(encoding="utf-8")
    assert "ValueError: the column 'x' vanished" in log

    box.close()
    reporter(ValueError, ValueError("the column 'x' vanished"), None)  # a timer failing again and again
    assert reporter.box is box and (tmp_path / "logs" / "gui.log").read_text(encoding="utf-8").count("vanished") == 2


def test_qt_hands_an_uncaught_slot_error_to_the_installed_reporter(qtbot, tmp_path):
    reporter = ErrorReporter(tmp_path / "gui.log")
    previous = sys.excepthook
    sys.excepthook = reporter  # as app.main installs it (pytest-qt's own capture is not active outside tests)
    try:
        _raise_in_the_event_loop(qtbot, RuntimeError("slot failed"))
    finally:
        sys.excepthook = previous
    assert "RuntimeError: slot failed" in (tmp_path / "gui.log").read_text(encoding="utf-8")
    assert reporter.box is not None and "slot failed" in reporter.box.text()
    reporter.box.close()


def test_workspace_failures_get_their_own_words(tmp_path):
    log = tmp_path / "gui.log"
    title, text = describe(sqlite3.DatabaseError("database disk image is malformed"), log)
    assert title == "The workspace database is damaged"
    assert "database disk image is malformed" in text and "desktop-ift workspace --fresh" in text
    title, text = describe(sqlite3.OperationalError("database or disk is full"), log)
    assert title == "The disk is full" and "Free some space" in text
    title, _ = describe(sqlite3.OperationalError("database is locked"), log)
    assert title == "Something went wrong"
