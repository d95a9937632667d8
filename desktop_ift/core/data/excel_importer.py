"""Excel workbooks (``.xlsx``/``.xlsm``): the user picks the sheet and the row holding the column names."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from desktop_ift.core.data.import_common import (
    DataImportError,
    ImportNotice,
    ImportOptions,
    column_from_values,
    drop_unnamed_blank_columns,
    short,
    to_text,
)

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # an encrypted (password-protected) .xlsx is an OLE container


def excel_sheet_names(path: Path) -> list[str]:
    """The worksheet names of the workbook, in order (raises :class:`DataImportError` if it cannot open)."""
    workbook = _open(path)
    try:
        return [ws.title for ws in workbook.worksheets]
    finally:
        workbook.close()


def read_excel(path: Path, options: ImportOptions | None = None, max_rows: int | None = None,
               notices: list | None = None) -> pa.Table:
    """The chosen sheet (``options.sheet``: name or 0-based index; default the first) as a table, with column
    names from ``options.header_row`` (1-based; default the first non-empty row). ``max_rows`` stops early
    (for a preview). Formula cells whose result was never saved (they would import as empty) and columns
    kept as text for mixing types are reported in ``notices``."""
    options = options or ImportOptions()
    workbook = _open(path)
    try:
        sheet = _choose_sheet(workbook, path, options.sheet)
        header: list | None = None
        header_row = 0
        rows: list[tuple] = []
        numbers: list[int] = []  # the sheet row of each data row
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if options.header_row is not None and number < options.header_row:
                continue
            if header is None and options.header_row is None and not _filled(values):
                continue
            if header is None:
                header, header_row = list(values), number
            elif _filled(values):
                rows.append(values)
                numbers.append(number)
                if max_rows is not None and len(rows) >= max_rows:
                    break
        if header is None or not _filled(header) or not rows:
            if header is None or not _filled(header):
                what = "is empty" if options.header_row is None else f"has nothing in row {options.header_row}"
            else:
                what = f"has column names (row {header_row}) but no data rows below them"
            raise DataImportError(
                f'"{path.name}": the sheet "{sheet.title}" {what}. Choose the sheet that holds the data and the '
                "row with its column names in the import options, or move the data there, and import again.",
                path, f"sheet {sheet.title}")
        width = _width(header, rows)
        names = [("" if v is None else to_text(v)) for v in header[:width]] + [""] * (width - len(header))
        columns = [[r[i] if i < len(r) else None for r in rows] for i in range(width)]
        sheet_title = sheet.title
    finally:
        workbook.close()
    if notices is not None and any(v is None for c in columns for v in c):
        notice = _formulas_without_results(path, sheet_title, numbers, columns)
        if notice is not None:
            notices.append(notice)
    table = pa.table([column_from_values(c, names[i], notices, "data row") for i, c in enumerate(columns)],
                     names=[str(i) for i in range(width)])
    table = table.rename_columns(names)
    table = drop_unnamed_blank_columns(table)
    return table


def _formulas_without_results(path: Path, sheet_title: str, numbers: list[int], columns: list[list]):
    """A notice for formula cells that were saved without their result (openpyxl reads them as empty)."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    wanted = {n: i for i, n in enumerate(numbers)}
    found: list[str] = []
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        sheet = workbook[sheet_title]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if number > (numbers[-1] if numbers else 0):
                break
            index = wanted.get(number)
            if index is None:
                continue
            for j, value in enumerate(values[: len(columns)]):
                if isinstance(value, str) and value.startswith("=") and columns[j][index] is None:
                    found.append(f"{get_column_letter(j + 1)}{number}")
    finally:
        workbook.close()
    if not found:
        return None
    return ImportNotice("formula", (
        f'"{path.name}", sheet "{sheet_title}": {len(found):,} cell(s) hold a formula whose result was never saved '
        f"(first: cell {found[0]}), so they would be imported as empty. Open the workbook in Excel or "
        "LibreOffice, let it calculate, save it, and import again."))


def excel_column_label(i: int) -> str:
    """``column A`` ... for the 0-based column ``i``."""
    from openpyxl.utils import get_column_letter

    return f"column {get_column_letter(i + 1)}"


def _open(path: Path):
    import zipfile

    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(_OLE_MAGIC):
        raise DataImportError(
            f'"{path.name}" is password-protected (encrypted) or an old .xls workbook saved as .xlsx. Open it in '
            "Excel, remove the password (File > Info > Protect Workbook) or save it as a plain .xlsx or .csv, "
            "and import that.", path)
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError) as exc:
        raise DataImportError(
            f'"{path.name}" cannot be opened as an Excel workbook ({short(exc)}). It may be damaged, '
            "password-protected or another kind of file: open it in Excel, save it again as .xlsx or .csv, "
            "and import that.", path) from exc


def _choose_sheet(workbook, path: Path, choice: str | int | None):
    sheets = workbook.worksheets
    if not sheets:
        raise DataImportError(f'"{path.name}" has no worksheets. Add the data to a sheet and import again.', path)
    if choice is None or choice == "":
        return sheets[0]
    names = [ws.title for ws in sheets]
    if isinstance(choice, str) and choice in names:
        return sheets[names.index(choice)]
    try:
        index = int(choice)
    except (TypeError, ValueError):
        index = -1
    if 0 <= index < len(sheets) and not (isinstance(choice, str) and not choice.strip().isdigit()):
        return sheets[index]
    raise DataImportError(
        f'"{path.name}" has no sheet {choice!r}. Its sheets: {", ".join(repr(n) for n in names)}.', path)


def _filled(values) -> bool:
    return any(v is not None and (not isinstance(v, str) or v.strip()) for v in values)


def _width(header: list, rows: list[tuple]) -> int:
    """The number of columns that hold a name or any value."""
    width = 0
    for row in [tuple(header), *rows]:
        for i in range(len(row) - 1, -1, -1):
            if row[i] is not None and not (isinstance(row[i], str) and not row[i].strip()):
                width = max(width, i + 1)
                break
    return width
