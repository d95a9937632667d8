"""The raw cells at the top of an Excel sheet, with their row numbers, so the user can point at the row that
holds the column names when it is not the first filled row (a title, a date or notes above the table)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from desktop_ift.core.data.excel_importer import _choose_sheet, _open
from desktop_ift.core.data.import_common import to_text


@dataclass
class SheetGrid:
    """``rows``: ``(row number as Excel shows it, cell texts)`` for the first filled rows of the sheet;
    ``width``: the number of columns shown; ``header_guess``: the row number that most likely holds the
    column names (the first row as wide as the table below it)."""

    sheet: str
    rows: list[tuple[int, list[str]]]
    width: int
    header_guess: int | None

    @property
    def first_filled(self) -> int | None:
        return self.rows[0][0] if self.rows else None


def _text(value) -> str:
    return "" if value is None else to_text(value).strip()


def read_sheet_grid(path: Path | str, sheet: str | int | None = None, max_rows: int = 30) -> SheetGrid:
    """The first ``max_rows`` filled rows of ``sheet`` (name or 0-based index; default the first) as text,
    empty rows skipped but counted. Raises :class:`DataImportError` when the workbook cannot be opened."""
    path = Path(path)
    workbook = _open(path)
    try:
        ws = _choose_sheet(workbook, path, sheet)
        rows: list[tuple[int, list[str]]] = []
        for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [_text(v) for v in values]
            if any(cells):
                rows.append((number, cells))
                if len(rows) >= max_rows:
                    break
        title = ws.title
    finally:
        workbook.close()
    width = max((max((i + 1 for i, c in enumerate(cells) if c), default=0) for _n, cells in rows), default=0)
    rows = [(n, (cells + [""] * width)[:width]) for n, cells in rows]
    return SheetGrid(title, rows, width, guess_header_row(rows))


def guess_header_row(rows: list[tuple[int, list[str]]]) -> int | None:
    """The first row whose filled cells are as many as in the widest rows below the top (a title or a note
    fills one cell; the header fills one per column), with text (not numbers) in every filled cell."""
    if not rows:
        return None
    counts = [sum(1 for c in cells if c) for _n, cells in rows]
    widest = max(counts)
    for (number, cells), count in zip(rows, counts):
        if count == widest and all(not _is_number(c) for c in cells if c):
            return number
    return rows[counts.index(widest)][0]


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True
