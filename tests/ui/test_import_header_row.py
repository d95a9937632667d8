"""An Excel sheet whose column names are not on the first filled row (a title above the table): the import
dialog shows the sheet's raw rows with their Excel row numbers and the user clicks the header row."""

from __future__ import annotations

import openpyxl
from PySide6.QtCore import Qt


def _report_workbook(path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Sales report 2024"])
    sheet.append([])
    sheet.append(["region", "product", "units"])
    sheet.append(["north", "tea", 3])
    sheet.append(["south", "coffee", 5])
    workbook.save(path)
    return path


def test_a_title_above_the_table_shows_the_raw_rows_to_pick_the_header(qtbot, tmp_path):
    from desktop_ift.ui.dialogs.import_dialog import ImportDialog

    dialog = ImportDialog(_report_workbook(tmp_path / "report.xlsx"))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.preview_stack.currentIndex() == 1 and dialog.grid is not None, timeout=15000)
    grid = dialog.grid_table
    assert grid.isVisible() and grid.rowCount() == 4
    assert [grid.verticalHeaderItem(r).text() for r in range(4)] == ["1", "3", "4", "5"]  # as Excel numbers them
    assert grid.item(1, 0).text() == "region" and grid.item(0, 0).text() == "Sales report 2024"
    qtbot.waitUntil(lambda: "like row 3" in dialog.banner.message, timeout=5000)
    assert "Row 1 looks like a title" in dialog.banner.message and not dialog.banner.isHidden()
    assert "Traceback" not in dialog.banner.message

    grid.cellClicked.emit(1, 0)  # the user clicks the row "region, product, units"
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 2 and dialog.preview_stack.currentIndex() == 0,
                    timeout=15000)
    assert [dialog.model.headerData(c, Qt.Orientation.Horizontal) for c in range(3)] == ["region", "product", "units"]
    assert dialog.options().header_row == 3 and dialog.import_button.isEnabled()
    assert dialog.banner.isHidden()


def test_a_sheet_with_its_header_on_top_goes_straight_to_the_preview(qtbot, tmp_path):
    from desktop_ift.ui.dialogs.import_dialog import ImportDialog

    workbook = openpyxl.Workbook()
    workbook.active.append(["question", "answer"])
    workbook.active.append(["Why?", "Because"])
    path = tmp_path / "plain.xlsx"
    workbook.save(path)
    dialog = ImportDialog(path)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 1 and dialog.grid is not None, timeout=15000)
    qtbot.wait(100)
    assert dialog.preview_stack.currentIndex() == 0 and dialog.banner.isHidden()
    dialog.grid_button.click()  # the raw rows stay one click away
    assert dialog.preview_stack.currentIndex() == 1
