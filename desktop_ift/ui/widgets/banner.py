"""An inline message: what is wrong and what to do, shown where the problem is (never a traceback)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from desktop_ift.ui.widgets.page import set_style_property

_GLYPHS = {"error": "!", "warning": "!", "info": "i", "success": "✓"}
_COLORS = {"error": "#dc2626", "warning": "#d97706", "info": "#4f46e5", "success": "#16a34a"}


def status_pixmap(kind: str, size: int = 18) -> QPixmap:
    """A filled circle with a glyph (drawn, so it needs no emoji font)."""
    ratio = 2
    pixmap = QPixmap(size * ratio, size * ratio)
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(_COLORS.get(kind, "#6b7280")))
    painter.drawEllipse(QRectF(0.5, 0.5, size - 1, size - 1))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(int(size * 0.68))
    painter.setFont(font)
    painter.setPen(QColor("#ffffff"))
    painter.drawText(QRectF(0, 0, size, size), Qt.AlignmentFlag.AlignCenter, _GLYPHS.get(kind, "?"))
    painter.end()
    return pixmap


def status_icon(kind: str) -> QIcon:
    return QIcon(status_pixmap(kind, 16))


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
        self.symbol.setFixedWidth(18)
        self.symbol.setContentsMargins(0, 1, 0, 0)
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
        self.action_button = QPushButton()  # an optional action the message offers (show_message(action=...))
        self.action_button.hide()
        self.action_button.clicked.connect(self._run_action)
        self._action = None
        layout.addWidget(self.action_button, 0, Qt.AlignmentFlag.AlignVCenter)
        if closable:
            close = QToolButton()
            close.setText("✕")
            close.setToolTip("Hide this message")
            close.clicked.connect(self.clear)
            layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, text: str, kind: str = "error", title: str = "", action=None) -> None:
        """Show ``text`` (and ``title``); ``action`` is an optional ``(button text, callable)`` offered beside
        it (the banner hides once it is clicked)."""
        self._action = action[1] if action else None
        self.action_button.setText(action[0] if action else "")
        self.action_button.setVisible(bool(action))
        set_style_property(self, "kind", kind)
        self.symbol.setPixmap(status_pixmap(kind))
        self.title_label.setText(title)
        self.title_label.setVisible(bool(title))
        self.text_label.setText(text)
        self.text_label.setVisible(bool(text))
        self.show()

    def _run_action(self) -> None:
        action, self._action = self._action, None
        self.clear()
        if action is not None:
            action()

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
