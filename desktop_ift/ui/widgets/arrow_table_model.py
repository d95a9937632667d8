"""A read-only Qt table model over a pyarrow Table that converts rows to Python only when they are shown.

Rows are fetched in blocks through ``importers.table_rows`` (an Arrow slice) and a few recent blocks are
cached, so a million-row table costs no more than the rows on screen.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

BLOCK_ROWS = 256
CACHED_BLOCKS = 16
DISPLAY_CHARS = 300
TOOLTIP_CHARS = 4000

_Index = QModelIndex | QPersistentModelIndex


def display_text(value: Any, limit: int = DISPLAY_CHARS) -> str:
    """One line of a cell: newlines shown as ⏎, cut at ``limit`` characters (the view elides the rest)."""
    if value is None:
        return "null"
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return text.replace("\r\n", "\n").replace("\n", " ⏎ ")


def tooltip_text(value: Any) -> str:
    if value is None:
        return "Empty (null)"
    text = str(value)
    if len(text) > TOOLTIP_CHARS:
        text = text[:TOOLTIP_CHARS] + f"… ({len(str(value)):,} characters in all)"
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"


class ArrowTableModel(QAbstractTableModel):
    def __init__(self, table=None, types: dict[str, str] | None = None, parent=None):
        super().__init__(parent)
        self._table = None
        self._names: list[str] = []
        self._types: dict[str, str] = {}
        self._blocks: OrderedDict[int, list[dict]] = OrderedDict()
        self.fetches = 0  # number of slices read (tests check the model stays lazy)
        self.set_table(table, types)

    def set_table(self, table, types: dict[str, str] | None = None) -> None:
        self.beginResetModel()
        self._table = table
        self._names = list(table.column_names) if table is not None else []
        self._types = types or {}
        self._blocks.clear()
        self.endResetModel()

    @property
    def table(self):
        return self._table

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() or self._table is None else self._table.num_rows

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._names)

    def row(self, row: int) -> dict:
        """The row as a dict (from the block cache)."""
        block_no, offset = divmod(row, BLOCK_ROWS)
        block = self._blocks.get(block_no)
        if block is None:
            from desktop_ift.core.data.importers import table_rows

            block = table_rows(self._table, block_no * BLOCK_ROWS, BLOCK_ROWS)
            self.fetches += 1
            self._blocks[block_no] = block
            while len(self._blocks) > CACHED_BLOCKS:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(block_no)
        return block[offset]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self._table is None:
            return None
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
                        Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.TextAlignmentRole):
            return None
        name = self._names[index.column()]
        value = self.row(index.row()).get(name)
        if role == Qt.ItemDataRole.DisplayRole:
            return display_text(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip_text(value)
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor("#9ca3af") if value is None else None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self._names):
            name = self._names[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return name
            if role == Qt.ItemDataRole.ToolTipRole:
                kind = self._types.get(name)
                return f"{name} ({kind})" if kind else name
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return str(section + 1)
        return None
