"""The import dialog: detected settings shown, overrides change the live preview, bad settings explained."""

from __future__ import annotations

import openpyxl
from PySide6.QtCore import Qt


def _dialog(qtbot, path):
    from desktop_ift.ui.dialogs.import_dialog import ImportDialog

    dialog = ImportDialog(path)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.model.rowCount() > 0 or bool(dialog.preview_error), timeout=15000)
    return dialog


def test_csv_settings_detected_and_overrides_update_the_preview(qtbot, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes("id;note\n1;Café, très bien\n2;ok\n".encode("cp1252"))
    dialog = _dialog(qtbot, path)
    assert dialog.delimiter_combo.currentData() == ";" and "(detected)" in dialog.delimiter_combo.currentText()
    assert dialog.encoding_combo.currentData() == "cp1252"
    model = dialog.model
    assert model.headerData(1, Qt.Orientation.Horizontal) == "note"
    assert model.data(model.index(0, 1)) == "Café, très bien"
    assert dialog.import_button.isEnabled()

    dialog.header_check.setChecked(False)  # the first row becomes data
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 3, timeout=15000)
    assert dialog.model.headerData(0, Qt.Orientation.Horizontal) == "column_1"
    assert dialog.options().has_header is False

    dialog.header_check.setChecked(True)
    dialog.delimiter_combo.setCurrentIndex(dialog.delimiter_combo.findData(","))  # wrong: "id;note" + blank
    qtbot.waitUntil(lambda: bool(dialog.preview_error), timeout=15000)
    assert "orders.csv" in dialog.banner.message and not dialog.import_button.isEnabled()


def test_excel_sheet_and_header_row_choice(qtbot, tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.title = "Cover"
    workbook.active.append(["Report"])
    sheet = workbook.create_sheet("Data")
    sheet.append(["exported 2024"])
    sheet.append(["question", "answer"])
    sheet.append(["Why?", "Because"])
    path = tmp_path / "book.xlsx"
    workbook.save(path)
    dialog = _dialog(qtbot, path)
    assert [dialog.sheet_combo.itemText(i) for i in range(dialog.sheet_combo.count())] == ["Cover", "Data"]
    dialog.sheet_combo.setCurrentIndex(1)
    dialog.header_row_spin.setValue(2)
    qtbot.waitUntil(lambda: dialog.model.headerData(0, Qt.Orientation.Horizontal) == "question", timeout=15000)
    assert dialog.options().sheet == "Data" and dialog.options().header_row == 2


def test_dialog_import_uses_the_chosen_settings(window, qtbot, tmp_path):
    path = tmp_path / "pipes.txt"
    path.write_text("a|b\n1|x\n2|y\n")
    page = window.data_page
    dialog = page.open_import_dialog(path, modal=False)
    qtbot.waitUntil(lambda: dialog.import_button.isEnabled(), timeout=15000)
    dialog.name_edit.setText("piped")
    dialog.accept()
    qtbot.waitUntil(lambda: not page.importing and window.state.dataset().name == "piped", timeout=20000)
    assert window.state.dataset().column_names == ["a", "b"]
