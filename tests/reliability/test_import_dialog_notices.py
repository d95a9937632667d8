"""#13 import item in the dialog: a BOM + Windows-1252 file shows its accents and says what it did; choosing
utf-8-sig stops with the count, the first line and the encoding that reads the file cleanly."""

from __future__ import annotations

import codecs

from PySide6.QtCore import Qt


def test_bom_with_cp1252_in_the_import_dialog(qtbot, tmp_path):
    from desktop_ift.ui.dialogs.import_dialog import ImportDialog

    path = tmp_path / "people.csv"
    path.write_bytes(codecs.BOM_UTF8 + "name,city\nJosé,Málaga\nRenée,Zürich\n".encode("cp1252"))
    dialog = ImportDialog(path)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.model.rowCount() > 0 or bool(dialog.preview_error), timeout=15000)
    assert dialog.encoding_combo.currentData() == "cp1252"
    assert dialog.model.headerData(0, Qt.Orientation.Horizontal) == "name"  # no "ï»¿name"
    assert dialog.model.data(dialog.model.index(0, 0)) == "José"
    assert "byte-order mark" in dialog.banner.message and dialog.import_button.isEnabled()

    dialog.encoding_combo.setCurrentIndex(dialog.encoding_combo.findData("utf-8-sig"))
    qtbot.waitUntil(lambda: bool(dialog.preview_error), timeout=15000)
    assert "4 character(s) on 2 line(s)" in dialog.banner.message and "first: line 2" in dialog.banner.message
    assert "reads cleanly as cp1252" in dialog.banner.message and not dialog.import_button.isEnabled()
