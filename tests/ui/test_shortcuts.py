"""Every menu action shows its shortcut, and each shortcut works after an edit and after a dialog closed."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox


def _press(window, sequence_text: str) -> None:
    """Press a shortcut as the user does: on whatever has the keyboard focus (else the window)."""
    from PySide6.QtGui import QKeySequence

    combo = QKeySequence(sequence_text)[0]
    target = QApplication.focusWidget() or window
    QTest.keyClick(target, combo.key(), combo.keyboardModifiers())


def _close_a_dialog(window, qtbot) -> None:
    """Open and close a real modal message box of the window (the user read it and pressed OK)."""
    timer = QTimer(window)

    def close_it():  # once the box is shown and has the keyboard, as when a user reads it and presses OK
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and QApplication.activeWindow() is box:
            timer.stop()
            box.accept()

    timer.timeout.connect(close_it)
    timer.start(50)
    QMessageBox.information(window, "Note", "A dialog the user closes.")
    # the window takes the keyboard back by itself (without it no window is active and no shortcut works)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)


def test_every_menu_action_shows_a_shortcut_that_works_anywhere(window):
    actions = window.menu_actions()
    assert len(actions) >= 11
    for action in actions:
        assert not action.shortcut().isEmpty(), action.text()
        assert action.shortcutContext() == Qt.ShortcutContext.ApplicationShortcut
        assert action.isShortcutVisibleInContextMenu()
    texts = {a.text().replace("&", ""): a.shortcut().toString() for a in actions}
    assert texts["Save template"] == "Ctrl+S" and texts["Import data…"] == "Ctrl+O"


def test_ctrl_s_saves_after_every_edit_not_only_the_first(window, qtbot):
    page = window.templates_page
    window.show_page(page)
    page.prompt_edit.setFocus()
    for n in (1, 2, 3):
        page.prompt_edit.moveCursor(page.prompt_edit.textCursor().MoveOperation.End)
        QTest.keyClicks(page.prompt_edit, f" edit{n}")
        assert page.is_dirty and page.save_button.text() == "Save *"
        _press(window, "Ctrl+S")
        qtbot.waitUntil(lambda: not page.is_dirty, timeout=3000)
        saved = window.state.template()
        assert saved.prompt.endswith(f" edit{n}")
        assert page.save_button.text() == "Save"


def test_shortcuts_work_after_an_edit_and_after_a_dialog_closed(window, qtbot, monkeypatch):
    opened = []
    monkeypatch.setattr(window.data_page, "choose_file", lambda: opened.append("import"))
    monkeypatch.setattr(window, "open_projects", lambda create=False: opened.append(("projects", create)))
    monkeypatch.setattr(window, "show_about", lambda: opened.append("about"))
    page = window.templates_page
    window.show_page(page)
    page.system_edit.setFocus()
    QTest.keyClicks(page.system_edit, "Be brief.")  # an edit, focus in an editor
    _close_a_dialog(window, qtbot)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)

    for row in (5, 0, 3, 1, 4, 2):
        _press(window, f"Ctrl+{row + 1}")
        assert window.nav.currentRow() == row and window.current_page() is window.pages[row]
        _close_a_dialog(window, qtbot)
    _press(window, "Ctrl+O")
    assert opened[-1] == "import" and window.current_page() is window.data_page
    _close_a_dialog(window, qtbot)
    _press(window, "Ctrl+Shift+P")
    assert opened[-1] == ("projects", False)
    _press(window, "Ctrl+N")
    assert opened[-1] == ("projects", True)
    _press(window, "F1")
    assert opened[-1] == "about"
    _press(window, "Ctrl+S")  # from the Data page: the template edit is saved, shown on its page
    qtbot.waitUntil(lambda: not page.is_dirty, timeout=3000)
    assert window.state.template().system.startswith("Be brief.")
    assert window.current_page() is page
    _press(window, "Ctrl+Q")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=3000)
