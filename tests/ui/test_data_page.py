"""Data page: importing shows rows lazily; bad files get a clear message and leave nothing behind."""

from __future__ import annotations

from PySide6.QtCore import Qt


def _wait_import(qtbot, page):
    qtbot.waitUntil(lambda: not page.importing, timeout=20000)


def test_import_csv_shows_its_rows(window, qtbot, tmp_path):
    path = tmp_path / "questions.csv"
    path.write_text("question,answer\nWhat is 2+2?,4\nCapital of France?,Paris\nColour of the sky?,blue\n",
                    encoding="utf-8")
    page = window.data_page
    before = len(window.state.datasets())
    window.import_file(path)
    assert page.busy_bar.isVisible()
    _wait_import(qtbot, page)
    qtbot.waitUntil(lambda: page.model.rowCount() == 3, timeout=15000)
    assert len(window.state.datasets()) == before + 1
    assert window.state.dataset().name == "questions"
    model = page.model
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(2)] == ["question", "answer"]
    assert model.data(model.index(1, 1)) == "Paris"
    assert "questions" in page.dataset_combo.currentText()
    assert page.banner.message and "imported" in page.banner.message
    assert "Train" in page.counts_label.text()


def test_table_model_fetches_lazily(window):
    model = window.data_page.model
    assert model.rowCount() == window.state.dataset().n_rows
    # only the blocks the view needed were converted to Python, not the whole table
    assert model.fetches <= 2
    long_value = model.data(model.index(0, 1), Qt.ItemDataRole.ToolTipRole)
    assert long_value and "<p" in long_value


def test_bad_file_shows_a_clear_message_and_no_dataset(window, qtbot, tmp_path):
    bad = tmp_path / "photo.csv"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    page = window.data_page
    before = len(window.state.datasets())
    window.import_file(bad)
    _wait_import(qtbot, page)
    assert not page.banner.isHidden()
    message = page.banner.message
    assert "photo.csv" in message
    assert "Traceback" not in message
    assert len(window.state.datasets()) == before
    assert page.import_button.isEnabled()


def test_missing_and_empty_files(window, qtbot, tmp_path):
    page = window.data_page
    before = len(window.state.datasets())
    window.import_file(tmp_path / "nowhere.csv")
    _wait_import(qtbot, page)
    assert "nowhere.csv" in page.banner.message
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    window.import_file(empty)
    _wait_import(qtbot, page)
    assert "empty.csv" in page.banner.message
    assert len(window.state.datasets()) == before


def test_bad_split_ratios_show_inline_error(window, qtbot):
    page = window.data_page
    page.ratio_spins["train"].setValue(50)
    assert not page.split_banner.isHidden()
    assert "add up to" in page.split_banner.message
    assert not window.train_page.start_button.isEnabled()
    page.ratio_spins["train"].setValue(80)
    assert page.split_banner.isHidden()
    assert "Train 320" in page.counts_label.text()
