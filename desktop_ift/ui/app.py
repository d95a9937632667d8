"""Start the desktop application: ``desktop-ift-gui`` or ``python -m desktop_ift.ui.app``."""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop_ift.core.store import Store, StoreError
from desktop_ift.ui import theme, unexpected_errors
from desktop_ift.ui.main_window import MainWindow

ORGANIZATION = "desktop_ift"
APP_NAME = "desktop_ift"


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication with name, icon, Fusion style and our stylesheet (reuses a running one)."""
    app = QApplication.instance()
    if app is None:
        QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_DontShowIconsInMenus, False)
        app = QApplication(list(argv) if argv is not None else sys.argv)
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APP_NAME)
    app.setApplicationDisplayName("desktop_ift")
    app.setDesktopFileName("desktop_ift")
    app.setWindowIcon(theme.app_icon())
    theme.apply(app)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]


def create_main_window(store: Store) -> MainWindow:
    """The main window on the project used last, or on the demo project (created on first launch, so a
    newcomer can try the whole flow)."""
    from desktop_ift.core.demo import ensure_demo_project
    from desktop_ift.core.projects import last_opened_project, mark_opened

    project = last_opened_project(store) or ensure_demo_project(store)
    try:
        project = mark_opened(store, project)
    except StoreError:
        pass  # remembering is a convenience
    return MainWindow(store, project)


class Windows:
    """The app's main windows: one is shown at a time; switching project opens a new window on it and closes
    the old one (which asks, as on quit, about unsaved templates and a run still going). Closed windows are
    kept until the app ends: a run left going in the background belongs to its window's process object."""

    def __init__(self, store: Store, first: MainWindow):
        self.store = store
        self.all: list[MainWindow] = []
        self._adopt(first)

    @property
    def current(self) -> MainWindow:
        return self.all[-1]

    def _adopt(self, window: MainWindow) -> None:
        window.project_switch_requested.connect(lambda project_id, w=window: self.switch(w, project_id))
        self.all.append(window)

    def switch(self, old: MainWindow, project_id: int) -> MainWindow | None:
        """Open ``project_id`` in a new window in place of ``old``; None (and nothing changes) when the old
        window refuses to close."""
        from desktop_ift.core.projects import mark_opened

        project = mark_opened(self.store, self.store.get_project(project_id))
        new = MainWindow(self.store, project)
        new.setGeometry(old.geometry())
        new.show()
        if not old.close():
            new.close()
            new.deleteLater()
            return None
        self._adopt(new)
        return new

    @property
    def keep_worker_on_exit(self) -> bool:
        return any(w.keep_worker_on_exit for w in self.all)


def main(argv: list[str] | None = None) -> int:
    """Run the GUI; returns the exit code (1 when the workspace cannot be opened)."""
    app = create_application(argv)
    try:
        store = Store.open()
        window = create_main_window(store)
    except StoreError as exc:
        QMessageBox.critical(None, "desktop_ift cannot start",
                             f"The workspace cannot be opened.\n\n{exc}")
        return 1
    unexpected_errors.install(store.home)  # an error nobody caught is shown, and logged in the workspace
    windows = Windows(store, window)
    window.show()
    code = app.exec()
    if windows.keep_worker_on_exit:
        # A run goes on in the background. Deleting its QProcess would kill it, so leave without running
        # destructors; the worker writes its progress to the workspace and the next start re-attaches.
        store.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    store.close()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
