"""The shell: the window opens on the demo project with the five steps in flow order, then the runs history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap


def test_opens_on_demo_project_with_five_steps_and_the_runs_history(window):
    assert window.windowTitle() == f"desktop_ift — {window.state.project.name}"
    assert window.nav.titles() == ["Data", "Templates", "Train", "Monitor", "Evaluate", "Runs"]
    assert [p.key for p in window.pages] == ["data", "templates", "train", "monitor", "evaluate", "runs"]
    assert window.stack.count() == 6
    assert window.current_page() is window.data_page
    window.show_page(3)
    assert window.current_page() is window.monitor_page
    # the demo project is ready to click through: a dataset and a template are selected
    assert window.state.dataset() is not None
    assert window.state.template() is not None
    assert window.width() >= 1024 and window.minimumWidth() >= 900


def test_menus_and_about(window):
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus[0] == "File" and menus[-1] == "Help"
    assert window.import_action.shortcut().toString() == "Ctrl+O"


def test_choices_persist_in_project_settings(window, store):
    window.state.set_split_values({"train": 0.7, "validation": 0.15, "test": 0.15, "seed": 7,
                                   "stratify_column": None})
    project = store.get_project(window.state.project.id)
    assert project.settings["split"]["seed"] == 7
    assert project.settings["dataset_id"] == window.state.dataset_id


def test_gui_start_does_not_import_training_stack(tmp_path):
    """Creating and showing the main window must not import torch or transformers (startup speed, rule)."""
    script = textwrap.dedent("""
        import json, sys
        from PySide6.QtWidgets import QApplication
        from desktop_ift.ui.app import create_application, create_main_window
        from desktop_ift.core.store import Store
        from desktop_ift.ui.tasks import wait_for_background_tasks
        app = create_application(["test"])
        store = Store.open()
        window = create_main_window(store)
        window.show()
        for _ in range(20):
            app.processEvents()
        wait_for_background_tasks()
        for _ in range(20):
            app.processEvents()
        for i in range(len(window.pages)):
            window.show_page(i)
            app.processEvents()
        heavy = sorted(m for m in ("torch", "transformers", "peft", "accelerate", "trl", "datasets")
                       if m in sys.modules)
        print(json.dumps({"heavy": heavy, "rows": window.data_page.model.rowCount()}))
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DESKTOP_IFT_HOME=str(tmp_path / "ws"))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert result["rows"] > 0


def test_a_notification_covers_no_control_on_any_page_and_never_takes_a_click(window, qtbot):
    from PySide6.QtCore import QPoint, QRect, Qt
    from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit, QSlider, QWidget

    toast = window.notifier.toast
    controls = (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit, QSlider)
    window.resize(1280, 800)
    for sizes in ((1280, 800), (1024, 680)):
        window.resize(*sizes)
        for page in window.pages:
            window.show_page(page)
            window.notifier.notify("Training failed", "demo run: The machine ran out of memory at step 12. "
                                   "What to try: lower the batch size or the maximum sequence length.", "error")
            qtbot.wait(20)
            assert toast.isVisible()
            where = toast.geometry()
            assert window.rect().contains(where)
            for widget in window.findChildren(QWidget):
                if isinstance(widget, controls) and widget.isVisible() and not toast.isAncestorOf(widget):
                    rect = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
                    assert not where.intersects(rect), f"covers {widget.text() if hasattr(widget, 'text') else widget}"
            for row in range(window.nav.count()):  # the page list is a control too
                item = window.nav.visualItemRect(window.nav.item(row))
                rect = QRect(window.nav.viewport().mapTo(window, item.topLeft()), item.size())
                assert not where.intersects(rect), f"covers the {window.nav.titles()[row]} page"
            # a click where it is goes to what is under it
            under = window.childAt(where.center())
            assert under is not toast and not toast.isAncestorOf(under)
    assert toast.testAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    window.resize(1280, 330)  # no room in the sidebar: it goes bottom right instead, still inside the window
    window.notifier.notify("Training finished", "demo run finished.", "success")
    assert window.rect().contains(toast.geometry())


def test_page_header_actions_wrap_instead_of_overlapping_in_a_narrow_window(window, qtbot):
    """At the smallest window size every header button, combo and label keeps its full width and none
    covers another (the actions move under the explanation and wrap onto more lines)."""
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QWidget

    window.resize(1024, 680)
    for page in window.pages:
        window.show_page(page)
        qtbot.wait(20)
        widgets = [w for w in page.findChildren(QWidget) if w.isVisible() and w.parentWidget() is not None
                   and (page.header_actions.indexOf(w) >= 0
                        or (page._actions_flow is not None and page._actions_flow.indexOf(w) >= 0))]
        rects = [QRect(w.mapTo(page, w.rect().topLeft()), w.size()) for w in widgets]
        for w, r in zip(widgets, rects):
            assert w.width() >= w.minimumSizeHint().width(), (page.key, w)
            assert r.right() <= page.width(), (page.key, w)
        for i, a in enumerate(rects):
            for b in rects[i + 1:]:
                assert not a.intersects(b), page.key


def test_nothing_is_cut_off_on_the_train_and_monitor_pages_at_the_smallest_size(window, qtbot):
    """At 1024×680 the Train page's settings fit their column (they were cut off at the right edge, the
    Hub checkbox forcing a wider column), and the Monitor's small plots show their whole titles."""
    from PySide6.QtWidgets import QScrollArea

    window.resize(1024, 680)
    window.show_page(window.train_page)
    qtbot.wait(50)
    scroll = window.train_page.findChildren(QScrollArea)[0]
    assert scroll.widget().minimumSizeHint().width() <= scroll.viewport().width()
    window.show_page(window.monitor_page)
    qtbot.wait(50)
    for name, title in window.monitor_page.side_titles.items():
        assert title.isVisible() and title.width() >= title.sizeHint().width(), (name, title.text())
    stage = window.monitor_page.stage_label
    stage.setText("Done. Compare the fine-tuned model with the base on the Evaluate page.")
    assert stage.width() >= stage.sizeHint().width(), "the run's state is not cut off beside its name"


def test_no_control_on_any_page_is_squeezed_below_its_size_at_1024x680(window, qtbot):
    """Buttons, combos, spin boxes and check boxes keep the room their text needs on every page of the
    smallest window (Runs' buttons were cut to "port run bundle", Evaluate's decoding fields squashed flat)."""
    from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QTabBar, QWidget

    window.resize(1024, 680)
    for page in window.pages:
        window.show_page(page)
        qtbot.wait(30)
        for w in page.findChildren(QWidget):
            if not isinstance(w, (QAbstractButton, QComboBox, QAbstractSpinBox)) or not w.isVisible():
                continue
            if isinstance(w.parentWidget(), QTabBar):  # the tab bar's own scroll arrows
                continue
            hint = w.minimumSizeHint()
            # a spin box's hint is its widest possible value: only its height is checked
            wide_enough = isinstance(w, QAbstractSpinBox) or w.width() >= hint.width()
            assert wide_enough and w.height() >= 0.8 * hint.height(), (
                page.key, type(w).__name__, getattr(w, "text", lambda: "")(), w.size(), hint)


def test_what_will_be_trained_shows_every_row_whole_at_the_smallest_size(window, qtbot):
    """At 1024×680 the plan's rows on the Train page were squeezed: wrapped values ("SmolLM2-135M-Instruct
    (installed with the app)", "(135M parameters)") lost their second line, and a long button widened the
    column past the card so every value was cut at the right. The rows now scroll inside the card, whole,
    with Start training in view."""
    window.resize(1024, 680)
    page = window.train_page
    window.show_page(page)
    qtbot.waitUntil(lambda: page.summary_values["split"].text() != "—", timeout=30000)
    qtbot.wait(100)
    rows = page.summary_scroll
    assert rows.widget().width() <= rows.viewport().width(), "the plan's rows are wider than their card"
    for key, value in page.summary_values.items():
        if value.isVisible() and value.text():
            needed = value.heightForWidth(value.width())
            assert value.height() >= needed, (key, value.text(), value.height(), needed)
    start = page.start_button
    assert start.isVisible() and start.visibleRegion().boundingRect().height() == start.height()
