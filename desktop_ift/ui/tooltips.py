"""Tooltips that wrap: a plain-text tooltip longer than ~60 characters is shown on several lines instead of
one line as wide as the screen. One application-wide event filter does it for every widget and item view,
so no call site has to remember it."""

from __future__ import annotations

import textwrap

from PySide6.QtCore import QEvent, QObject, QRect
from PySide6.QtGui import Qt  # the QtGui Qt namespace has mightBeRichText
from PySide6.QtGui import QHelpEvent  # noqa: F401 - the event type handled
from PySide6.QtWidgets import QAbstractItemView, QApplication, QHeaderView, QToolTip, QWidget

WRAP_CHARS = 60


def wrap_tooltip(text: str, width: int = WRAP_CHARS) -> str:
    """``text`` with every paragraph wrapped at ``width`` characters (rich text is left alone: Qt wraps it)."""
    if not text or Qt.mightBeRichText(text):
        return text
    lines = []
    for paragraph in text.split("\n"):
        lines.append(textwrap.fill(paragraph, width, break_long_words=False, break_on_hyphens=False)
                     if len(paragraph) > width else paragraph)
    return "\n".join(lines)


def _tooltip_of(obj: QObject, event: QHelpEvent) -> tuple[str, QWidget | None, QRect]:
    """The tooltip text Qt would show for ``event`` on ``obj``, the widget it belongs to and its area."""
    if not isinstance(obj, QWidget):
        return "", None, QRect()
    view = obj.parentWidget()
    if isinstance(view, QAbstractItemView) and not isinstance(view, QHeaderView) and obj is view.viewport():
        index = view.indexAt(event.pos())
        text = index.data(Qt.ItemDataRole.ToolTipRole) if index.isValid() else None
        return (str(text) if text else ""), obj, view.visualRect(index) if index.isValid() else QRect()
    return obj.toolTip(), obj, QRect()


class TooltipWrapper(QObject):
    """Shows long plain-text tooltips wrapped at :data:`WRAP_CHARS` characters."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() != QEvent.Type.ToolTip:
            return False
        text, widget, rect = _tooltip_of(obj, event)
        wrapped = wrap_tooltip(text)
        if widget is None or wrapped == text:
            return False
        QToolTip.showText(event.globalPos(), wrapped, widget, rect, widget.toolTipDuration())
        return True


def install(app: QApplication) -> None:
    """Wrap long tooltips in the whole application (once per application)."""
    if getattr(app, "_tooltip_wrapper", None) is None:
        wrapper = TooltipWrapper(app)
        app.installEventFilter(wrapper)
        app._tooltip_wrapper = wrapper  # noqa: SLF001 - kept alive with the application
