"""The worker's log under the Monitor's plots: a disclosure button, the log's path, and its tail.

The log file (``<run_dir>/worker.log``) is read from where the last read stopped, so following a long run
costs only its new lines; a newly opened log shows its last 64 KB.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from desktop_ift.ui import theme
from desktop_ift.ui.widgets.page import muted_label

LOG_TAIL_BYTES = 64 * 1024
NO_LOG = "(no log yet)"


class WorkerLogPane(QWidget):
    """``toggle`` shows or hides ``view``; :meth:`follow` names the file, :meth:`tail` reads what is new."""

    toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        row = QHBoxLayout()
        self.toggle = QToolButton()
        self.toggle.setProperty("role", "disclosure")
        self.toggle.setText("Worker log")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.toggled.connect(self._toggled)
        self.path_label = muted_label(wrap=False)
        row.addWidget(self.toggle)
        row.addWidget(self.path_label, 1)
        layout.addLayout(row)
        self.view = QPlainTextEdit()
        self.view.setObjectName("LogView")
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(5000)
        self.view.setFont(theme.monospace_font())
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        # up to 180 px when there is room; on a small window it gives way (down to 60 px) instead of crushing
        # the plots above it (whose minimum height the page keeps)
        self.view.setMinimumHeight(60)
        self.view.setMaximumHeight(180)
        self.view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        self.view.hide()
        layout.addWidget(self.view)
        self.path: Path | None = None
        self._pos = 0

    def _toggled(self, shown: bool) -> None:
        self.toggled.emit(shown)  # the page makes room first
        self.view.setVisible(shown)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        if shown:
            self.tail()

    def follow(self, path: Path | None) -> None:
        """Show the log at ``path`` (None: no run) from its end."""
        if path != self.path:
            self.clear()
        self.path = path
        self.path_label.setText(str(path) if path else "")

    def clear(self) -> None:
        self.view.clear()
        self._pos = 0

    def tail(self) -> None:
        """Append what the log gained since the last read (only while it is shown)."""
        if self.path is None or not self.view.isVisible():
            return
        try:
            size = self.path.stat().st_size
        except OSError:
            if not self.view.toPlainText():
                self.view.setPlainText(NO_LOG)
            return
        if size < self._pos:  # the file was replaced
            self.clear()
        if size == self._pos:
            return
        start = max(self._pos, size - LOG_TAIL_BYTES) if self._pos == 0 else self._pos
        with self.path.open("rb") as fh:
            fh.seek(start)
            data = fh.read(size - start)
        self._pos = size
        if self.view.toPlainText() == NO_LOG:
            self.view.clear()
        text = data.decode("utf-8", errors="replace")
        self.view.appendPlainText(text[:-1] if text.endswith("\n") else text)

    def append_line(self, line: str) -> None:
        """A line the worker printed that is not an event."""
        if self.view.isVisible():
            self.view.appendPlainText(line)
