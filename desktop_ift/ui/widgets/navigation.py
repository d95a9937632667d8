"""The left navigation: the five steps of the flow, numbered, with an icon and a one-line hint."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from desktop_ift.ui import theme

SUBTITLE_ROLE = Qt.ItemDataRole.UserRole + 1
STEP_ROLE = Qt.ItemDataRole.UserRole + 2
BADGE_ROLE = Qt.ItemDataRole.UserRole + 3
KEY_ROLE = Qt.ItemDataRole.UserRole + 4


class StepDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        return QSize(200, 58)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = option.rect.adjusted(2, 3, -2, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        if selected or hovered:
            path = QPainterPath()
            path.addRoundedRect(QRectF(rect), 8, 8)
            painter.fillPath(path, QColor("#ffffff") if selected else QColor("#e5e8ee"))
            if selected:
                painter.setPen(QPen(QColor(theme.BORDER), 1))
                painter.drawPath(path)
                bar = QRectF(rect.left() + 1, rect.top() + 10, 3, rect.height() - 20)
                bar_path = QPainterPath()
                bar_path.addRoundedRect(bar, 1.5, 1.5)
                painter.fillPath(bar_path, QColor(theme.ACCENT))
        # step number
        step = str(index.data(STEP_ROLE) or "")
        circle = QRectF(rect.left() + 12, rect.center().y() - 11, 22, 22)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(theme.ACCENT) if selected else QColor("#d5d9e1"))
        painter.drawEllipse(circle)
        number_font = QFont(option.font)
        number_font.setPointSizeF(max(8.0, option.font.pointSizeF() - 1))
        number_font.setBold(True)
        painter.setFont(number_font)
        painter.setPen(QColor("#ffffff") if selected else QColor("#4b5563"))
        painter.drawText(circle, Qt.AlignmentFlag.AlignCenter, step)
        # icon
        x = int(circle.right()) + 10
        icon = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(icon, QIcon) and not icon.isNull():
            icon.paint(painter, QRect(x, rect.center().y() - 10, 20, 20),
                       mode=QIcon.Mode.Normal if selected else QIcon.Mode.Normal)
            x += 30
        # texts
        title_font = QFont(option.font)
        title_font.setBold(selected)
        title_font.setPointSizeF(option.font.pointSizeF() + 0.5)
        painter.setFont(title_font)
        painter.setPen(QColor(theme.TEXT if selected else "#374151"))
        text_rect = QRect(x, rect.top() + 9, rect.right() - x - 8, 20)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, index.data() or "")
        sub_font = QFont(option.font)
        sub_font.setPointSizeF(max(7.5, option.font.pointSizeF() - 1.5))
        painter.setFont(sub_font)
        painter.setPen(QColor(theme.MUTED))
        sub_rect = QRect(x, rect.top() + 29, rect.right() - x - 8, 18)
        painter.drawText(sub_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         index.data(SUBTITLE_ROLE) or "")
        # activity dot (a run is going)
        badge = index.data(BADGE_ROLE)
        if badge:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(theme.ACCENT))
            painter.drawEllipse(QRectF(rect.right() - 18, rect.center().y() - 4, 8, 8))
        painter.restore()


SIDEBAR_WIDTH = 212  # narrow enough to leave the pages their room in a 1024-pixel window


class StepNavigation(QListWidget):
    """Emits ``currentRowChanged`` like any QListWidget; rows are the pages in flow order."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("Sidebar")
        self.setItemDelegate(StepDelegate(self))
        self.setMouseTracking(True)
        self.setFrameShape(QListWidget.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedWidth(SIDEBAR_WIDTH)

    def add_step(self, key: str, title: str, subtitle: str, icon: QIcon) -> QListWidgetItem:
        item = QListWidgetItem(icon, title)
        item.setData(SUBTITLE_ROLE, subtitle)
        item.setData(STEP_ROLE, self.count() + 1)
        item.setData(KEY_ROLE, key)
        item.setToolTip(f"Step {self.count() + 1}: {title} — {subtitle}")
        self.addItem(item)
        return item

    def set_badge(self, row: int, on: bool) -> None:
        item = self.item(row)
        if item is not None:
            item.setData(BADGE_ROLE, on)

    def titles(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]
