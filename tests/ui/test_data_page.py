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


def test_column_cards_show_text_lengths_and_a_histogram(window):
    from desktop_ift.ui.widgets.data_column_card import ColumnCard

    cards = [w for w in window.data_page.columns_area.widget().findChildren(ColumnCard)]
    message = next(c for c in cards if c.summary.name == "message")
    assert message.lengths_text.startswith("length ") and message.histogram is not None
    assert sum(message.histogram.counts) == window.state.dataset().n_rows


def test_cleaning_recipe_counts_undo_and_apply_as_new_version(window, qtbot):
    panel = window.data_page.cleaning_panel
    record = window.state.dataset()
    panel.add_step("filter_rows", {"column": "category", "operator": "equals", "value": "billing"}, ask=False)
    panel.add_step("drop_long_text", {"column": "message", "max_chars": 10}, ask=False)
    qtbot.waitUntil(lambda: len(panel.counts) == 2, timeout=15000)
    assert panel.counts[0] < record.n_rows and panel.counts[1] == 0
    panel.undo()  # the long-text step goes
    qtbot.waitUntil(lambda: len(panel.counts) == 1, timeout=15000)
    assert len(panel.recipe.steps) == 1
    kept = panel.counts[0]
    panel.apply()
    qtbot.waitUntil(lambda: window.state.dataset().id != record.id, timeout=20000)
    new = window.state.dataset()
    assert (new.name, new.version, new.n_rows) == (record.name, record.version + 1, kept)
    assert panel.recipe.steps == []


def test_double_click_shows_the_full_cell_text(window):
    page = window.data_page
    index = page.model.index(0, 1)
    page.show_cell(index)
    full = page.model.row(0)[page.model.headerData(1, Qt.Orientation.Horizontal)]
    assert page.cell_dialog.editor.toPlainText() == full
    page.cell_dialog.close()


def test_split_taken_from_a_column_shows_its_counts_and_trains_on_it(window, qtbot, tmp_path):
    rows = ["text,label,split"] + [f"row {i},{'a' if i % 2 else 'b'},{'train' if i < 6 else 'val' if i < 8 else 'test'}"
                                   for i in range(10)]
    path = tmp_path / "presplit.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    page = window.data_page
    window.import_file(path)
    _wait_import(qtbot, page)
    qtbot.waitUntil(lambda: page.model.rowCount() == 10, timeout=15000)
    page.split_column_combo.setCurrentIndex(page.split_column_combo.findData("split"))
    qtbot.waitUntil(lambda: "Train 6" in page.counts_label.text(), timeout=15000)
    assert "Validation 2" in page.counts_label.text() and "Test 2" in page.counts_label.text()
    assert not page.ratio_spins["train"].isEnabled()  # the ratios do not apply any more
    assert window.state.split_spec().split_column == "split"

    # a column whose values are not split names is refused with the row named
    page.split_column_combo.setCurrentIndex(page.split_column_combo.findData("label"))
    qtbot.waitUntil(lambda: bool(page.split_banner.message), timeout=15000)
    assert "Row 1" in page.split_banner.message and "label" in page.split_banner.message


def test_separate_files_combine_into_one_dataset_split_by_column(window, qtbot, tmp_path):
    from desktop_ift.ui.dialogs.combine_dialog import CombineSplitsDialog

    page = window.data_page
    ids = {}
    for split, n in (("train", 5), ("test", 2)):
        path = tmp_path / f"{split}.csv"
        path.write_text("q,a\n" + "".join(f"{split} q{i},a{i}\n" for i in range(n)), encoding="utf-8")
        window.import_file(path)
        _wait_import(qtbot, page)
        qtbot.waitUntil(lambda n=n: page.model.rowCount() == n, timeout=15000)
        ids[split] = window.state.dataset_id
    dialog = CombineSplitsDialog(window.state.datasets(), page)
    qtbot.addWidget(dialog)
    assert dialog.problem() == ""  # the newest dataset is preselected for training
    dialog.combos["train"].setCurrentIndex(dialog.combos["train"].findData(ids["train"]))
    dialog.combos["test"].setCurrentIndex(dialog.combos["test"].findData(ids["test"]))
    dialog.combos["validation"].setCurrentIndex(dialog.combos["validation"].findData(ids["test"]))
    assert "different dataset" in dialog.problem()  # one file cannot be two splits
    dialog.combos["validation"].setCurrentIndex(0)
    dialog.name_edit.setText("qa")
    assert dialog.problem() == ""
    dialog.exec = lambda: True  # accepted without a modal loop
    page.combine_splits(dialog)
    qtbot.waitUntil(lambda: window.state.dataset() is not None and window.state.dataset().name == "qa", timeout=15000)
    qtbot.waitUntil(lambda: "Train 5" in page.counts_label.text(), timeout=15000)
    assert "Test 2" in page.counts_label.text()
    assert page.split_column_combo.currentData() == "split"


def _shown_table(window, qtbot, size):
    window.resize(*size)
    page = window.data_page
    window.show_page(page)
    qtbot.waitUntil(lambda: page.model.rowCount() > 0, timeout=15000)
    qtbot.wait(50)
    header = page.table_view.horizontalHeader()
    names = [page.model.headerData(c, Qt.Orientation.Horizontal) for c in range(page.model.columnCount())]
    return page, {n: header.sectionSize(c) for c, n in enumerate(names)}


def test_columns_share_a_wide_window_by_their_content(window, qtbot):
    """At 1920×1080 the long "message" column gets the room (it was cut at 420 px while the last column,
    "summary", stretched over everything left) and the table fits without sideways scrolling."""
    page, widths = _shown_table(window, qtbot, (1920, 1080))
    assert set(widths) >= {"message", "summary"}, widths
    viewport = page.table_view.viewport().width()
    assert widths["message"] > 420 and widths["message"] > widths["summary"], widths
    assert sum(widths.values()) <= viewport + 1 and not page.table_view.horizontalScrollBar().isVisible()
    short = [n for n in widths if n not in ("message", "summary")]
    assert all(widths[n] < widths["summary"] for n in short), widths


def test_a_narrow_window_keeps_readable_columns_and_scrolls_sideways(window, qtbot):
    page, widths = _shown_table(window, qtbot, (1024, 680))
    assert widths["message"] >= 400, widths  # not squashed to fit: the table scrolls sideways instead
    assert page.table_view.horizontalScrollBar().maximum() > 0


def test_a_column_the_user_widened_keeps_its_width_when_the_window_is_resized(window, qtbot):
    page, widths = _shown_table(window, qtbot, (1920, 1080))
    header = page.table_view.horizontalHeader()
    names = [page.model.headerData(c, Qt.Orientation.Horizontal) for c in range(page.model.columnCount())]
    col = names.index("summary")
    header.resizeSection(col, widths["summary"] + 150)  # what dragging the header's edge does
    window.resize(1500, 900)
    qtbot.wait(100)
    assert header.sectionSize(col) == widths["summary"] + 150
