"""Runs page, as the user sees it at 1920×1080 and 1024×680: the overlay's legend is a row above the plot (the
Monitor's LegendRow), never a box over the curves, and the tick column shows the tick box alone."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor

from test_runs_page import _row, _run


@pytest.mark.parametrize("size", [(1920, 1080), (1024, 680)])
def test_the_overlay_legend_is_a_row_above_the_plot(window, store, qtbot, size):
    from desktop_ift.ui.widgets.run_plots import LegendRow

    a = _run(store, window, "Classify support tickets on support_tickets v1", [2.0, 1.0, 0.5], val=0.7)
    b = _run(store, window, "second run", [3.0, 2.0])
    page = window.runs_page
    window.resize(*size)
    window.show_page(page)
    page.set_checked([a.id, b.id])
    qtbot.wait(100)
    plot_item = page._plot.getPlotItem()
    assert plot_item.legend is None  # no legend box inside the plotted area
    legend = page.legend
    assert isinstance(legend, LegendRow)  # the Monitor's widget, not a copy
    assert [label.text() for label in legend.names] == ["second run", "Classify support tickets on support_tickets v1",
                                                        "validation (dashed)"]
    box = plot_item.getViewBox()
    view = page._plot.mapFromScene(box.sceneBoundingRect()).boundingRect()
    view = QRect(page._plot.mapTo(page, view.topLeft()), view.size())
    shown = QRect(legend.mapTo(page, QPoint(0, 0)), legend.size())
    assert legend.isVisible() and not shown.intersects(view), (shown, view)
    assert window.width() == size[0]  # a long run name never widens the window
    assert not legend.names[-1].is_elided()  # "validation (dashed)" is whole, even at 1024×680
    page.set_checked([b.id])
    assert [label.text() for label in legend.names] == ["second run"]


def test_the_tick_column_shows_only_the_tick_box(window, store, qtbot):
    """Ticking a run left a thin empty box beside the tick (the focus frame around the cell's empty text)."""
    a = _run(store, window, "a", [2.0, 1.0, 0.5])
    page = window.runs_page
    window.resize(1920, 1080)
    window.show_page(page)
    window.activateWindow()
    qtbot.wait(50)
    table = page.table
    row = _row(page, a.id)
    table.setFocus()
    table.setCurrentCell(row, 0)
    page.table.item(row, 0).setCheckState(Qt.CheckState.Checked)
    qtbot.wait(50)
    rect = table.visualItemRect(table.item(row, 0))
    image = table.viewport().grab(rect).toImage()
    # right of the tick box (16 px from x=3): only the row's background up to the cell's grid line
    colours = {QColor(image.pixel(x, y)).name() for x in range(20, image.width() - 1)
               for y in range(2, image.height() - 2)}
    assert len(colours) == 1, colours
