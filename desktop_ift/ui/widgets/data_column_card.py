"""A column's summary card on the Data page: type, empty and distinct cells and, for text, the length range
with a small histogram of lengths."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget


class LengthHistogram(QWidget):
    """A tiny bar chart of counts (the text-length histogram of one column)."""

    def __init__(self, counts: list[int], parent: QWidget | None = None):
        super().__init__(parent)
        self.counts = list(counts)
        self.setFixedSize(QSize(72, 30))

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        if not self.counts or max(self.counts) <= 0:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#6366f1"))
        top = max(self.counts)
        width = self.width() / len(self.counts)
        for i, count in enumerate(self.counts):
            height = 0 if count == 0 else max(2.0, (self.height() - 2) * count / top)
            painter.drawRect(QRectF(i * width + 1, self.height() - height, max(width - 2, 1), height))
        painter.end()


class ColumnCard(QFrame):
    """The summary of one column (a ``ColumnSummary``)."""

    def __init__(self, summary, parent: QWidget | None = None):
        super().__init__(parent)
        self.summary = summary
        self.setObjectName("ColumnCard")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(8)
        text = QVBoxLayout()
        text.setSpacing(1)
        s = summary
        empty = f"{s.n_empty:,} empty" if s.n_empty else "no empty cells"
        distinct = f"{s.n_distinct:,}{'+' if s.distinct_capped else ''} distinct"
        name = QLabel(f"<b>{s.name}</b>")
        facts = QLabel(f"<span style='color:#6b7280'>{s.type} · {empty} · {distinct}</span>")
        text.addWidget(name)
        text.addWidget(facts)
        tip = [f"{s.name}: {s.type}", f"{empty}, {distinct}"]
        if getattr(s, "max_length", None) is not None:
            self.lengths_text = (f"length {s.min_length:,}–{s.max_length:,} chars, median {s.median_length:,.0f}")
            text.addWidget(QLabel(f"<span style='color:#6b7280'>{self.lengths_text}</span>"))
            tip.append(f"Text length (characters): min {s.min_length:,}, median {s.median_length:,.0f}, "
                       f"max {s.max_length:,}")
        else:
            self.lengths_text = ""
        if s.example:
            tip.append(f"Example: {s.example}")
        layout.addLayout(text)
        self.histogram = None
        if getattr(s, "length_bins", None):
            self.histogram = LengthHistogram(s.length_bins)
            self.histogram.setToolTip("How many cells have each text length, shortest on the left.")
            layout.addWidget(self.histogram, 0, Qt.AlignmentFlag.AlignBottom)
        self.setToolTip("\n".join(tip))
