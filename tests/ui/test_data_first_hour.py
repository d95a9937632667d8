"""Data page in a first user's hour: the split fields stay put when their error appears, the dataset menu
shows whole names, *Stratify by* offers label columns only, and duplicate rows get a hint."""

from __future__ import annotations

from PySide6.QtCore import QPoint


def _wait_import(qtbot, page):
    qtbot.waitUntil(lambda: not page.importing, timeout=20000)


def test_split_fields_do_not_move_when_their_error_appears(window, qtbot):
    window.resize(1024, 680)
    page = window.data_page
    window.show_page(page)
    qtbot.wait(50)
    fields = [*page.ratio_spins.values(), page.seed_spin, page.stratify_combo, page.split_column_combo]
    before = [f.mapTo(window, QPoint(0, 0)) for f in fields]
    page.ratio_spins["train"].setValue(50)  # no longer adds up to 100 %
    qtbot.wait(50)
    assert page.split_banner.isVisible() and "add up to" in page.split_banner.message
    assert [f.mapTo(window, QPoint(0, 0)) for f in fields] == before  # the next click lands where aimed
    page.ratio_spins["train"].setValue(80)
    qtbot.wait(50)
    assert not page.split_banner.isVisible()
    assert [f.mapTo(window, QPoint(0, 0)) for f in fields] == before


def test_the_dataset_menu_shows_whole_names(window, qtbot, tmp_path):
    path = tmp_path / "customer support tickets exported from the helpdesk in december.csv"
    path.write_text("question,answer\nA?,a\nB?,b\n", encoding="utf-8")
    page = window.data_page
    window.import_file(path)
    _wait_import(qtbot, page)
    combo = page.dataset_combo
    widest = max(combo.view().fontMetrics().horizontalAdvance(combo.itemText(i)) for i in range(combo.count()))
    combo.showPopup()
    qtbot.wait(50)
    assert combo.view().width() >= widest + 20
    combo.hidePopup()
    assert "helpdesk in december" in combo.toolTip()


def test_stratify_offers_label_columns_fewest_values_first_never_ids_or_text(window, qtbot, tmp_path):
    page = window.data_page
    qtbot.waitUntil(lambda: bool(window.state.column_summaries()), timeout=15000)
    offered = [page.stratify_combo.itemData(i) for i in range(page.stratify_combo.count())]
    assert offered == [None, "category"]  # the demo: ticket_id is an id, message and summary are free text
    rows = ["id,text,label,source"] + [
        f"{i},This is a longer free text sentence number {i} about something,{['a', 'b', 'c'][i % 3]},"
        f"{['web', 'mail'][i % 2]}" for i in range(60)]
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    window.import_file(path)
    _wait_import(qtbot, page)
    qtbot.waitUntil(lambda: page.stratify_combo.count() == 3, timeout=15000)
    assert [page.stratify_combo.itemData(i) for i in range(3)] == [None, "source", "label"]
    assert "(2 values)" in page.stratify_combo.itemText(1)


def test_duplicate_rows_get_a_hint_with_the_step_that_drops_them(window, qtbot, tmp_path):
    rows = ["question,answer"] + [f"Question {i}?,answer {i}" for i in range(30)] + ["Same?,same"] * 21
    path = tmp_path / "dups.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    page = window.data_page
    window.import_file(path)
    _wait_import(qtbot, page)
    qtbot.waitUntil(lambda: "Duplicate rows" in page.banner.message, timeout=15000)
    assert "20 rows repeat an earlier row" in page.banner.message
    assert page.banner.action_button.isVisible()
    steps = len(page.cleaning_panel.recipe.steps)
    page.cleaning_panel.add_step = lambda kind, params=None, ask=True, panel=page.cleaning_panel: \
        type(panel).add_step(panel, kind, params, ask=False)  # the step's dialog is not what is tested
    page.banner.action_button.click()
    assert [s.kind for s in page.cleaning_panel.recipe.steps][steps:] == ["drop_duplicates"]
