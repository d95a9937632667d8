"""An inline message: what is wrong and what to do, shown where the problem is (never a traceback)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from desktop_ift.ui.widgets.page import set_style_property

_SYMBOLS = {"error": "⛔", "warning": "⚠", "info": "ℹ", "success": "✓"}


class Banner(QFrame):
    """Hidden until :meth:`show_message`. ``kind`` is error, warning, info or success."""

    def __init__(self, parent: QWidget | None = None, closable: bool = False):
        super().__init__(parent)
        self.setObjectName("Banner")
        self.setProperty("kind", "info")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.setSpacing(10)
        self.symbol = QLabel()
        self.symbol.setAlignment(Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.symbol)
        texts = QVBoxLayout()
        texts.setSpacing(2)
        self.title_label = QLabel()
        self.title_label.setObjectName("BannerTitle")
        self.title_label.setWordWrap(True)
        self.text_label = QLabel()
        self.text_label.setWordWrap(True)
        self.text_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        texts.addWidget(self.title_label)
        texts.addWidget(self.text_label)
        layout.addLayout(texts, 1)
        if closable:
            close = QToolButton()
            close.setText("✕")
            close.setToolTip("Hide this message")
            close.clicked.connect(self.clear)
            layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, text: str, kind: str = "error", title: str = "") -> None:
        set_style_property(self, "kind", kind)
        self.symbol.setText(_SYMBOLS.get(kind, ""))
        self.title_label.setText(title)
        self.title_label.setVisible(bool(title))
        self.text_label.setText(text)
        self.text_label.setVisible(bool(text))
        self.show()

    def clear(self) -> None:
        self.title_label.clear()
        self.text_label.clear()
        self.hide()

    @property
    def message(self) -> str:
        """Everything the banner says (empty when hidden); handy in tests."""
        if self.isHidden():
            return ""
        return "\n".join(t for t in (self.title_label.text(), self.text_label.text()) if t)
