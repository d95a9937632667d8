"""The per-example view: prompt, reference, each model's answer and score, sortable by gain or loss
against the base and filterable by class; the selected example is shown in full beside the table."""

from __future__ import annotations

import html
import os

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QSplitter, QTableWidget, QTableWidgetItem,
    QTextBrowser, QVBoxLayout, QWidget,
)

from desktop_ift.core.evaluation.results import Comparison, ExampleRow
from desktop_ift.ui import theme
from desktop_ift.ui.widgets.elided_label import ElidedLabel

SORTS = ["Test order", "Biggest gain first", "Biggest loss first"]
ALL_CLASSES = "All classes"
_CHARS = 160
ANSWER_ROOM = 280  # pixels each model's answer gets before the prompt column takes more than a fifth


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _CHARS else text[:_CHARS] + "…"


def shared_parts(prompts: list[str], minimum: int = 8) -> tuple[str, str]:
    """The text every prompt starts with and ends with (cut at a word boundary; "" when shorter than
    ``minimum`` characters or fewer than two prompts), so the table can show only what differs."""
    prompts = [str(p) for p in prompts]
    if len(prompts) < 2:
        return "", ""
    head = os.path.commonprefix(prompts)
    if head and not all(len(p) == len(head) for p in prompts):
        cut = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
        head = head[:cut + 1] if not head[-1].isspace() else head
    if len(head.strip()) < minimum or any(len(p) <= len(head) for p in prompts):
        head = ""  # short, or a whole prompt: nothing would be left to show
    rest = [p[len(head):] for p in prompts]
    tail = os.path.commonprefix([r[::-1] for r in rest])[::-1]
    if tail and not all(len(r) == len(tail) for r in rest):
        cut = min((i for i in (tail.find(" "), tail.find("\n"), tail.find("\t")) if i >= 0), default=-1)
        tail = tail[cut:] if cut >= 0 and not tail[0].isspace() else (tail if tail[0].isspace() else "")
    if len(tail.strip()) < minimum or any(len(r) <= len(tail) for r in rest):
        tail = ""
    return head, tail


def _differing(prompt: str, head: str, tail: str) -> str:
    text = str(prompt)
    text = text[len(head):] if head and text.startswith(head) else text
    return text[:len(text) - len(tail)] if tail and text.endswith(tail) else text


class _Num(QTableWidgetItem):
    """A cell that sorts by its number (None last)."""

    def __init__(self, value: float | None, text: str):
        super().__init__(text)
        self.value = value
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other):  # noqa: D401 - Qt sort hook
        a = self.value if self.value is not None else float("inf")
        b = getattr(other, "value", None)
        return a < (b if b is not None else float("inf"))


class ExamplesView(QWidget):
    """Shows a :class:`Comparison`'s examples; ``set_comparison`` fills it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.comp: Comparison | None = None
        self.shown: list[ExampleRow] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Sort"))
        self.sort_combo = QComboBox()
        self.sort_combo.addItems(SORTS)
        self.sort_combo.setToolTip("Gain = a model's per-example score minus the base model's on the same example.")
        self.sort_combo.currentIndexChanged.connect(self.refresh)
        bar.addWidget(self.sort_combo)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Compare"))
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The model whose gain or loss against the base the sort uses.")
        self.model_combo.currentIndexChanged.connect(self.refresh)
        bar.addWidget(self.model_combo)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Class"))
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Show only examples whose reference (or subject) is this class.")
        self.class_combo.currentIndexChanged.connect(self.refresh)
        bar.addWidget(self.class_combo)
        self.count_label = QLabel()
        self.count_label.setProperty("role", "muted")
        bar.addWidget(self.count_label, 1, Qt.AlignmentFlag.AlignRight)
        layout.addLayout(bar)
        # the prompt text every example shares, once, so the table's prompt column shows what differs
        # one line cut to the width with "…" (the whole text on hover): a long prefix widened the page past
        # a 1024-pixel window and cut the table's right edge
        self.shared_label = ElidedLabel()
        self.shared_label.setProperty("role", "muted")
        self.shared_label.hide()
        layout.addWidget(self.shared_label)
        self.shared = ("", "")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(28)
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.table.viewport().installEventFilter(self)  # the answers keep their share of the width when it changes
        self.detail = QTextBrowser()
        self.detail.setMinimumWidth(260)
        split.addWidget(self.table)
        split.addWidget(self.detail)
        split.setSizes([800, 260])
        split.setStretchFactor(0, 3)  # the table (the answers) gets the room a wider window adds
        layout.addWidget(split, 1)

    # ------------------------------------------------------------------ data
    def set_comparison(self, comp: Comparison | None) -> None:
        """Show ``comp``'s examples (None clears)."""
        self.comp = comp
        for combo in (self.model_combo, self.class_combo):
            combo.blockSignals(True)
            combo.clear()
        if comp is not None:
            others = [label for label in comp.labels if label != comp.baseline]
            self.model_combo.addItems(others or comp.labels)
            self.class_combo.addItem(ALL_CLASSES)
            categories = comp.categories()
            if len(categories) <= 50:
                self.class_combo.addItems(categories)
        self.class_combo.setEnabled(self.class_combo.count() > 1)
        for combo in (self.model_combo, self.class_combo):
            combo.blockSignals(False)
        self.refresh()

    def visible_rows(self) -> list[ExampleRow]:
        """The examples shown, in the order shown (after the class filter and the sort)."""
        comp = self.comp
        if comp is None:
            return []
        rows = list(comp.examples)
        wanted = self.class_combo.currentText()
        if wanted and wanted != ALL_CLASSES:
            rows = [r for r in rows if r.category() == wanted]
        sort = self.sort_combo.currentText()
        label = self.model_combo.currentText()
        if sort != SORTS[0] and label:
            sign = -1 if sort == SORTS[1] else 1
            rows.sort(key=lambda r: (comp.gain(r, label) is None, sign * (comp.gain(r, label) or 0.0), r.idx))
        return rows

    def refresh(self) -> None:
        """Refill the table from the comparison with the current sort and filter."""
        comp = self.comp
        table = self.table
        table.setSortingEnabled(False)
        table.clear()
        table.setRowCount(0)
        self.shown = self.visible_rows()
        if comp is None:
            table.setColumnCount(0)
            self.count_label.setText("")
            self.detail.setHtml(f"<p style='color:{theme.MUTED}'>Every model's answers appear here after an "
                                "evaluation.</p>")
            return
        self._show_shared(comp)
        key = comp.example_score_key()
        key_name = "correct" if key == "correct" else "ROUGE-L"
        headers = ["#", "Prompt", "Reference"]
        for label in comp.labels:
            headers += [label, key_name]
        gain_label = self.model_combo.currentText()
        if gain_label and gain_label != comp.baseline:
            headers.append("Gain")
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setRowCount(len(self.shown))
        for r, row in enumerate(self.shown):
            table.setItem(r, 0, _Num(row.idx, str(row.idx)))
            for c, text in ((1, row.prompt), (2, row.reference)):
                item = QTableWidgetItem(_short(_differing(text, *self.shared) if c == 1 else text))
                item.setToolTip(f"<p style='white-space:pre-wrap'>{html.escape(text)[:3000]}</p>")
                table.setItem(r, c, item)
            col = 3
            for label in comp.labels:
                out = row.outputs.get(label)
                item = QTableWidgetItem(_short(out) if out is not None else "—")
                score = row.score(label, key)
                if score is not None and key == "correct":
                    item.setForeground(QBrush(QColor(theme.SUCCESS if score >= 1 else theme.DANGER)))
                table.setItem(r, col, item)
                table.setItem(r, col + 1, _Num(score, "—" if score is None else f"{score:.2f}"))
                col += 2
            if col < len(headers):
                gain = comp.gain(row, gain_label)
                item = _Num(gain, "—" if gain is None else f"{gain:+.2f}")
                if gain:
                    item.setForeground(QBrush(QColor(theme.SUCCESS if gain > 0 else theme.DANGER)))
                table.setItem(r, col, item)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        table.resizeColumnToContents(0)
        self._score_columns = [c for c in range(3, len(headers)) if headers[c] in (key_name, "Gain")]
        self.fit_columns()
        table.setSortingEnabled(True)  # clicking a header sorts by that column too
        table.horizontalHeader().setSortIndicatorShown(False)
        self.count_label.setText(f"{len(self.shown)} of {len(comp.examples)} examples")
        if self.shown:
            table.selectRow(0)
        else:
            self.detail.clear()

    def fit_columns(self) -> None:
        """Share the table's width: scores narrow, the reference at most a seventh and no wider than its text,
        then the prompt (only what differs) at least a fifth and no wider than its text: as wide as each
        model's answer when the table has room for ANSWER_ROOM per answer besides; the answers the rest,
        equally."""
        table = self.table
        n = table.columnCount()
        if n < 4:
            return
        scores = [c for c in getattr(self, "_score_columns", []) if c < n]
        answers = [c for c in range(3, n) if c not in scores]
        metrics = table.horizontalHeader().fontMetrics()
        headers = [table.horizontalHeaderItem(c) for c in scores]  # None while a table is being refilled
        score_w = max(metrics.horizontalAdvance(h.text() if h else "") + 34 for h in headers) if scores else 0
        for c in scores:
            table.setColumnWidth(c, score_w)
        available = table.viewport().width() - table.columnWidth(0) - score_w * len(scores)
        table.resizeColumnToContents(2)
        table.setColumnWidth(2, max(70, min(table.columnWidth(2), int(available * 0.14))))
        # a narrow table keeps the answers readable first (ANSWER_ROOM each); the width beyond that is shared
        # fairly: the prompt as wide as each answer
        text_room = available - table.columnWidth(2)
        fair = max(0.2 * available, min(text_room / (1 + len(answers)), text_room - ANSWER_ROOM * len(answers)))
        table.resizeColumnToContents(1)
        table.setColumnWidth(1, max(70, min(table.columnWidth(1), int(fair))))
        rest = available - table.columnWidth(1) - table.columnWidth(2)
        for c in answers:
            table.setColumnWidth(c, max(120, rest // max(1, len(answers))))

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if obj is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_columns()
        return super().eventFilter(obj, event)

    def _show_shared(self, comp: Comparison) -> None:
        """Find (once per comparison) and show the prompt text that every example shares."""
        self.shared = shared_parts([r.prompt for r in comp.examples])
        head, tail = self.shared
        parts = []
        if head:
            parts.append(f"Every prompt starts with: “{_short(head.strip())}”")
        if tail:
            parts.append(f"and ends with: “{_short(tail.strip())}”")
        self.shared_label.set_full_text(
            " ".join(parts) + (" — the table shows the rest." if parts else ""),
            f"<p style='white-space:pre-wrap'>{html.escape(head + '…' + tail)[:3000]}</p>" if parts else "")
        self.shared_label.setVisible(bool(parts))

    def _show_selected(self) -> None:
        model = self.table.selectionModel()
        rows = model.selectedRows() if model else []
        if not rows or self.comp is None:
            return
        idx_item = self.table.item(rows[0].row(), 0)
        row = next((r for r in self.shown if idx_item and r.idx == getattr(idx_item, "value", None)), None)
        if row is None:
            return
        key = self.comp.example_score_key()

        def part(title: str, text, bg: str) -> str:
            body = html.escape(str(text)) if text is not None else f"<span style='color:{theme.MUTED}'>—</span>"
            return (f"<p style='margin:8px 0 3px 0; font-size:11px; font-weight:600; color:{theme.MUTED}'>"
                    f"{html.escape(title)}</p><table width='100%' cellpadding='8' style='background:{bg}'><tr><td "
                    f"style='white-space:pre-wrap'>{body}</td></tr></table>")

        parts = [part("PROMPT", row.prompt, "#f9fafb"), part("REFERENCE", row.reference, "#f0fdf4")]
        for label in self.comp.labels:
            score = row.score(label, key)
            title = label.upper() + ("" if score is None else f"  ·  {key} {score:.2f}")
            parts.append(part(title, row.outputs.get(label), "#f9fafb" if label == self.comp.baseline
                              else theme.ACCENT_SOFT))
        self.detail.setHtml("".join(parts))
