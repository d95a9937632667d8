"""GUI fixtures: a main window on a fresh workspace (with the demo project), offscreen."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def store(workspace_home):
    from desktop_ift.core.store import Store
    from desktop_ift.ui.tasks import wait_for_background_tasks

    from PySide6.QtCore import QCoreApplication

    s = Store.open(workspace_home)
    yield s
    from desktop_ift.ui import tasks

    wait_for_background_tasks()
    if QCoreApplication.instance() is not None:
        # A finished task's result reaches its page through the event loop: deliver it while the store is
        # open (a result saved later hit a closed database). A delivered result may start another task (the
        # plan after the devices are known): deliver until none is left.
        for _ in range(20):
            QCoreApplication.processEvents()
            if not tasks._ACTIVE:
                break
            wait_for_background_tasks()
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        # no timer of any window may fire once the store is closed (a delivered result can restart one: the
        # Train page's plan timer did, and its plan then read a closed database)
        for widget in QApplication.topLevelWidgets():
            for timer in widget.findChildren(QTimer):
                timer.stop()
    s.close()


@pytest.fixture
def themed_app(qapp):
    from desktop_ift.ui import theme

    theme.apply(qapp)
    return qapp


@pytest.fixture
def window(themed_app, qtbot, store, request):
    """The main window on the demo project, shown, with the demo table loaded. A test that asks for
    ``demo_model_in_workspace`` gets the tiny model chosen on the Train page (the default is the bundled
    SmolLM2, which is converted only when a test asks for it)."""
    from desktop_ift.ui.app import create_main_window

    win = create_main_window(store)
    if "demo_model_in_workspace" in request.fixturenames:
        win.train_page.demo_radio.click()
    # Never block on a question box in tests: "Quit without saving" / "Cancel run and quit".
    win.ask_question = lambda *args, **kwargs: 1
    win.templates_page.confirm_discard = lambda: True
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.data_page.model.rowCount() > 0, timeout=15000)
    yield win
    from PySide6.QtCore import QTimer

    for timer in win.findChildren(QTimer):  # none may fire once the store is closed (a pending plan did)
        timer.stop()
    win.run_controller.detach()
    if win.run_controller.process is not None:
        win.run_controller.process.kill()
        win.run_controller.process.waitForFinished(5000)
