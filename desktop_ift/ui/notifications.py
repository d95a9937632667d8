"""Tell the user when a run ends: a tray message where the desktop has a system tray, else an in-app toast.

A failed run's notification carries the worker's plain-language reason; the Monitor page shows what to
try next to it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QRect, Qt, QTimer
from PySide6.QtWidgets import QFrame, QLabel, QMainWindow, QSystemTrayIcon, QVBoxLayout, QWidget

from desktop_ift.ui import theme

TOAST_MS = 8000


class Toast(QFrame):
    """A small message that hides itself after a few seconds.

    It goes in ``area()`` (a rectangle of the parent that holds no control: the main window passes the
    empty part of its navigation sidebar, below the last page) when it fits there, else in the parent's
    bottom-right corner above the status bar. It lets every mouse event through to what is under it, so it
    never takes a click meant for the page, and it follows the window when that is resized.
    """

    MARGIN = 12
    WIDTH = 380
    MIN_HEIGHT = 90  # a title and three lines

    def __init__(self, parent: QWidget, area: Callable[[], QRect] | None = None):
        super().__init__(parent)
        self.setObjectName("Toast")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
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
        self.title_label.setWordWrap(True)  # a long title wraps; it is never cut (only the body may be)
        self.text_label = QLabel()
        self.text_label.setWordWrap(True)
        layout.addWidget(self.title_label)
        layout.addWidget(self.text_label)
        self.area = area
        self._text = ""
        self.setFixedWidth(self.WIDTH)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        parent.installEventFilter(self)
        self.hide()

    def show_message(self, title: str, text: str, ms: int = TOAST_MS) -> None:
        self.title_label.setText(title)
        self._text = text
        self.place()
        self.raise_()
        self.show()
        self._timer.start(ms)

    def _fit(self, width: int, max_height: int | None = None) -> int:
        """Size for ``width``; with ``max_height``, the text is cut short (…) until it fits."""
        self.setFixedWidth(width)
        layout = self.layout()
        self.text_label.setText(self._text)
        height = layout.totalHeightForWidth(width)  # the wrapped text decides
        if max_height is not None and height > max_height:
            words = self._text.split()
            low, high = 0, len(words)  # the most words that fit
            while low < high:
                mid = (low + high + 1) // 2
                self.text_label.setText(" ".join(words[:mid]) + "…")
                if layout.totalHeightForWidth(width) <= max_height:
                    low = mid
                else:
                    high = mid - 1
            self.text_label.setText(" ".join(words[:low]) + "…")
            height = layout.totalHeightForWidth(width)
        self.setFixedHeight(height)
        return height

    def place(self) -> None:
        """In the free area when there is room for a few lines there, else bottom right of the parent,
        above its status bar."""
        parent = self.parentWidget()
        if parent is None:
            return
        free = self.area() if self.area is not None else QRect()
        room = free.height() - 2 * self.MARGIN
        if free.width() > 2 * self.MARGIN + 120 and room >= self.MIN_HEIGHT:
            height = self._fit(free.width() - 2 * self.MARGIN, room)
            self.move(free.left() + self.MARGIN, free.bottom() - self.MARGIN - height)
            return
        height = self._fit(self.WIDTH)
        bottom = parent.height()
        status = parent.statusBar() if isinstance(parent, QMainWindow) else None
        if status is not None and status.isVisible():
            bottom = status.geometry().top()
        self.move(max(0, parent.width() - self.width() - self.MARGIN - 8), max(0, bottom - height - self.MARGIN))

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize and self.isVisible():
            self.place()
        return False


class Notifier(QObject):
    """``notify(title, text, kind)``: a tray balloon when a system tray exists, an in-app toast otherwise."""

    def __init__(self, window: QWidget, toast_area: Callable[[], QRect] | None = None):
        super().__init__(window)
        self.window = window
        self.toast = Toast(window, toast_area)
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
