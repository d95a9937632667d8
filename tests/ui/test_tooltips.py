"""Long tooltips wrap at about 60 characters, in widgets and in table cells, everywhere in the app."""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtGui import QFontMetrics, QHelpEvent
from PySide6.QtWidgets import QApplication, QLabel, QTableWidgetItem, QToolTip

from desktop_ift.ui.tooltips import wrap_tooltip

LONG = ("Tick other finished runs to compare them in the same table; they must share the test split, "
        "else the scores would mix different questions and the comparison would say nothing useful.")


def _tip_label():
    return next((w for w in QApplication.topLevelWidgets() if w.objectName() == "qtooltip_label"
                 and w.isVisible()), None)


def _hover(widget, qtbot, pos: QPoint | None = None):
    pos = pos or widget.rect().center()
    QApplication.sendEvent(widget, QHelpEvent(QHelpEvent.Type.ToolTip, pos, widget.mapToGlobal(pos)))
    qtbot.waitUntil(lambda: _tip_label() is not None, timeout=3000)
    return _tip_label()


def test_wrap_keeps_paragraphs_and_short_text():
    assert wrap_tooltip("Short.") == "Short."
    wrapped = wrap_tooltip(LONG + "\n(Ctrl+O)")
    assert all(len(line) <= 60 for line in wrapped.splitlines())
    assert wrapped.splitlines()[-1] == "(Ctrl+O)"
    assert " ".join(wrapped.split()) == " ".join((LONG + " (Ctrl+O)").split())
    assert wrap_tooltip("<b>rich</b> text " * 10) == "<b>rich</b> text " * 10


def test_a_long_tooltip_shows_at_most_about_60_characters_wide(window, qtbot):
    window.show_page(window.evaluate_page)
    field = window.evaluate_page.labels_edit
    assert len(field.toolTip()) > 150  # one of the app's long tooltips, as written
    label = _hover(field, qtbot)
    metrics = QFontMetrics(label.font())
    limit = metrics.horizontalAdvance("x" * 66)
    assert label.width() <= limit, (label.width(), limit)
    assert label.text().count("\n") >= 2
    QToolTip.hideText()


def test_a_table_cell_tooltip_wraps_too(themed_app, qtbot):
    from PySide6.QtWidgets import QTableWidget

    table = QTableWidget(1, 1)
    qtbot.addWidget(table)
    item = QTableWidgetItem("cell")
    item.setToolTip(LONG)
    table.setItem(0, 0, item)
    table.show()
    qtbot.waitExposed(table)
    rect = table.visualItemRect(item)
    label = _hover(table.viewport(), qtbot, rect.center())
    assert label.text() == wrap_tooltip(LONG)
    assert label.width() <= QFontMetrics(label.font()).horizontalAdvance("x" * 66)
    QToolTip.hideText()
