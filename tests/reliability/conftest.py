"""Fixtures for the reliability suite: the real CLI on a temporary workspace, and the main window."""

from __future__ import annotations

import pytest


@pytest.fixture
def store(workspace_home):
    from desktop_ift.core.store import Store

    s = Store.open(workspace_home)
    yield s
    try:
        from desktop_ift.ui.tasks import wait_for_background_tasks

        wait_for_background_tasks()
    except ImportError:  # pragma: no cover - core-only environment
        pass
    s.close()


@pytest.fixture
def window(qapp, qtbot, store):
    """The main window on the demo project, shown, with the demo table loaded."""
    from desktop_ift.ui import theme
    from desktop_ift.ui.app import create_main_window

    theme.apply(qapp)
    win = create_main_window(store)
    win.ask_question = lambda *args, **kwargs: 1
    win.templates_page.confirm_discard = lambda: True
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.data_page.model.rowCount() > 0, timeout=15000)
    yield win
    win.run_controller.detach()
