"""Tell the user when a run ends: a tray message where the desktop has a system tray, else an in-app toast.

A failed run's notification carries the worker's plain-language reason; the Monitor page shows what to
try next to it.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QFrame, QLabel, QSystemTrayIcon, QVBoxLayout, QWidget

from desktop_ift.ui import theme

TOAST_MS = 8000


class Toast(QFrame):
    """A small message in the top-right corner of a window that hides itself after a few seconds."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("Toast")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(
            "#Toast { background: #1f2937; border-radius: 8px; }"
            "#Toast QLabel { color: #f9fafb; background: transparent; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 12)
        layout.setSpacing(2)
        self.title_label = QLabel()
        font = self.title_label.font()
        font.setBold(True)
        self.title_label.setFont(font)
        self.text_label = QLabel()
        self.text_label.setWordWrap(True)
        layout.addWidget(self.title_label)
        layout.addWidget(self.text_label)
        self.setFixedWidth(380)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def show_message(self, title: str, text: str, ms: int = TOAST_MS) -> None:
        self.title_label.setText(title)
        self.text_label.setText(text)
        self.setFixedHeight(self.layout().totalHeightForWidth(self.width()))  # the wrapped text decides
        parent = self.parentWidget()
        if parent is not None:
            # top right, over the page header: it hides no curve (and repainting a plot under it is costly)
            self.move(parent.width() - self.width() - 24, 64)
        self.raise_()
        self.show()
        self._timer.start(ms)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API: a click dismisses it
        self.hide()


class Notifier(QObject):
    """``notify(title, text, kind)``: a tray balloon when a system tray exists, an in-app toast otherwise."""

    def __init__(self, window: QWidget):
        super().__init__(window)
        self.window = window
        self.toast = Toast(window)
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable() and QSystemTrayIcon.supportsMessages():
            self.tray = QSystemTrayIcon(theme.app_icon(), window)
            self.tray.setToolTip("desktop_ift")
            self.tray.messageClicked.connect(self._raise_window)
            self.tray.show()
        self.history: list[tuple[str, str, str]] = []  # (kind, title, text), for the tests and the status bar

    def notify(self, title: str, text: str, kind: str = "info") -> None:
        """Show one message; ``kind`` is info, success or error."""
        self.history.append((kind, title, text))
        if self.tray is not None:
            icon = {"error": QSystemTrayIcon.MessageIcon.Critical,
                    "success": QSystemTrayIcon.MessageIcon.Information}.get(kind, QSystemTrayIcon.MessageIcon.Information)
            self.tray.showMessage(title, text, icon, TOAST_MS)
            if self.window.isActiveWindow():
                self.toast.show_message(title, text)
        else:
            self.toast.show_message(title, text)

    def _raise_window(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()
