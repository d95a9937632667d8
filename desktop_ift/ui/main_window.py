"""The main window: step navigation on the left, the pages, menus, status bar, the run controller and the
notifications when a run ends."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QStackedWidget, QVBoxLayout, QWidget,
)

from desktop_ift.core import events as ev
from desktop_ift.core import runs as run_ops
from desktop_ift.core.paths import icons_dir
from desktop_ift.core.store import Project, Store, StoreError
from desktop_ift.ui import theme
from desktop_ift.ui.app_state import AppState
from desktop_ift.ui.pages.data_page import DataPage
from desktop_ift.ui.pages.evaluate_page import EvaluatePage
from desktop_ift.ui.notifications import Notifier
from desktop_ift.ui.pages.monitor_page import MonitorPage
from desktop_ift.ui.pages.runs_page import RunsPage
from desktop_ift.ui.pages.templates_page import TemplatesPage
from desktop_ift.ui.pages.train_page import TrainPage
from desktop_ift.ui.run_controller import RunController
from desktop_ift.ui.widgets.navigation import SIDEBAR_WIDTH, StepNavigation

NAV_HINTS = {
    "data": "Import a table",
    "templates": "Rows to examples",
    "train": "Fine-tune a model",
    "monitor": "Watch the loss",
    "evaluate": "Base vs fine-tuned",
    "runs": "History, compare",
}


class MainWindow(QMainWindow):
    """One project's window. Pages are attributes (``data_page`` ... ``evaluate_page``) for tests."""

    project_switch_requested = Signal(int)  # the id of another project to open in place of this window

    def __init__(self, store: Store, project: Project, parent: QWidget | None = None):
        super().__init__(parent)
        self.store = store
        self.state = AppState(store, project, self)
        self.run_controller = RunController(store, self)
        self.run_kind = ""
        self.keep_worker_on_exit = False

        self.setWindowTitle(f"desktop_ift — {project.name}")
        self.setWindowIcon(theme.app_icon())
        self.setMinimumSize(1024, 680)
        self._fit_to_screen(1280, 800)
        self.setAcceptDrops(True)

        self.data_page = DataPage(self.state)
        self.templates_page = TemplatesPage(self.state)
        self.train_page = TrainPage(self.state)
        self.monitor_page = MonitorPage(self.state)
        self.evaluate_page = EvaluatePage(self.state)
        self.runs_page = RunsPage(self.state)
        self.pages = [self.data_page, self.templates_page, self.train_page, self.monitor_page, self.evaluate_page,
                      self.runs_page]
        self.notifier = Notifier(self, self._toast_area)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._build_sidebar())
        self.stack = QStackedWidget()
        for page in self.pages:
            self.stack.addWidget(page)
            icon = theme.page_icon(page.key)
            if icon.isNull() and (icons_dir() / f"page-{page.key}.svg").is_file():
                icon = QIcon(str(icons_dir() / f"page-{page.key}.svg"))
            self.nav.add_step(page.key, page.title, NAV_HINTS[page.key], icon)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)

        self.run_label = QLabel("")
        self.statusBar().addPermanentWidget(self.run_label)
        self.statusBar().setSizeGripEnabled(False)
        # A fixed height: a status text that grows the bar by a pixel would resize and repaint every plot.
        line = self.run_label.fontMetrics().height()
        self.run_label.setFixedHeight(line + 2)
        self.statusBar().setFixedHeight(line + 10)
        self._build_menus()
        self._connect()
        QApplication.instance().focusChanged.connect(self._focus_changed)
        QTimer.singleShot(0, self._restore_runs)

    def _fit_to_screen(self, width: int, height: int) -> None:
        """Open at ``width``×``height``, or at the screen's free area when it is smaller (a 1024×680 screen
        showed a 1280×800 window cut at the right and the bottom)."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            self.resize(width, height)
            return
        free = screen.availableGeometry()
        self.resize(min(width, free.width()), min(height, free.height()))
        if width > free.width() or height > free.height():
            self.move(free.topLeft())

    def _toast_area(self) -> QRect:
        """Where a notification covers no control: the sidebar below its last page, its footer text
        included (window coordinates)."""
        view = self.nav.viewport()
        last = self.nav.visualItemRect(self.nav.item(self.nav.count() - 1)) if self.nav.count() else QRect()
        top = view.mapTo(self, QPoint(0, last.bottom() + 1 if last.isValid() else 0))
        sidebar = self.nav.parentWidget()
        bottom = sidebar.mapTo(self, QPoint(0, sidebar.height())).y()
        return QRect(top.x(), top.y(), view.width(), bottom - top.y())

    # ------------------------------------------------------------------ building
    def _build_sidebar(self) -> QWidget:
        host = QWidget()
        host.setObjectName("SidebarHeader")
        host.setFixedWidth(SIDEBAR_WIDTH)
        layout = QVBoxLayout(host)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        header = QHBoxLayout()
        header.setContentsMargins(18, 18, 12, 6)
        header.setSpacing(10)
        icon = QLabel()
        pixmap = theme.app_icon().pixmap(32, 32)
        if not pixmap.isNull():
            icon.setPixmap(pixmap)
            header.addWidget(icon)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        title = QLabel("desktop_ift")
        title.setObjectName("SidebarTitle")
        self.project_label = QLabel(self.state.project.name)
        self.project_label.setObjectName("SidebarProject")
        self.project_label.setToolTip(f"The open project: {self.state.project.name}")
        # a long project name is cut with "…" (whole in the tooltip), never clipped mid-letter
        room = SIDEBAR_WIDTH - 18 - 12 - 10 - 32
        self.project_label.setText(self.project_label.fontMetrics().elidedText(
            self.state.project.name, Qt.TextElideMode.ElideRight, room))
        titles.addWidget(title)
        titles.addWidget(self.project_label)
        header.addLayout(titles, 1)
        layout.addLayout(header)
        self.nav = StepNavigation()
        layout.addWidget(self.nav, 1)
        footer = QLabel("Everything stays on this computer.")
        footer.setObjectName("SidebarProject")
        footer.setWordWrap(True)
        footer.setContentsMargins(18, 6, 12, 14)
        layout.addWidget(footer)
        return host

    def _build_menus(self) -> None:
        """The menus. Every action has a shortcut shown in its menu, added to the window too and active for
        the whole application (not only for the focused widget): it works whatever has the focus, after an
        edit and after a dialog closed."""
        file_menu = self.menuBar().addMenu("&File")
        self.import_action = self._action("&Import data…", QKeySequence.StandardKey.Open, lambda: self._import_from_menu())
        file_menu.addAction(self.import_action)
        self.save_template_action = self._action("&Save template", QKeySequence.StandardKey.Save,
                                                 self.save_template)
        file_menu.addAction(self.save_template_action)
        file_menu.addSeparator()
        open_project = self._action("Open &project…", QKeySequence("Ctrl+Shift+P"), lambda: self.open_projects())
        file_menu.addAction(open_project)
        new_project = self._action("&New project…", QKeySequence.StandardKey.New,
                                   lambda: self.open_projects(create=True))
        file_menu.addAction(new_project)
        file_menu.addSeparator()
        quit_action = self._action("&Quit", QKeySequence("Ctrl+Q"), lambda: self.close())
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        file_menu.addAction(quit_action)
        go_menu = self.menuBar().addMenu("&Go")
        self.page_actions = []
        for i, page in enumerate(self.pages):
            action = self._action(f"&{i + 1}  {page.title}", QKeySequence(f"Ctrl+{i + 1}"),
                                  lambda row=i: self.show_page(row))
            go_menu.addAction(action)
            self.page_actions.append(action)
        help_menu = self.menuBar().addMenu("&Help")
        about = self._action("&About desktop_ift", QKeySequence("F1"), lambda: self.show_about())
        about.setMenuRole(QAction.MenuRole.AboutRole)
        help_menu.addAction(about)

    def _action(self, text: str, shortcut, slot) -> QAction:
        """A menu action whose shortcut works in the whole window, whatever widget has the focus."""
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        action.setShortcutVisibleInContextMenu(True)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)  # active even while the menu bar is hidden or native
        return action

    def menu_actions(self) -> list[QAction]:
        """Every action of the menu bar's menus (for tests and the shortcut list)."""
        found = []
        for menu_action in self.menuBar().actions():
            menu = menu_action.menu()
            if menu is not None:
                found += [a for a in menu.actions() if not a.isSeparator()]
        return found

    def save_template(self) -> None:
        """Ctrl+S: save the template being edited (shown on the Templates page when it was elsewhere)."""
        page = self.templates_page
        if page.format_mode() != "instruction":
            self.show_page(page)
            page.format_panel.use_for_training()
            return
        if not page.is_dirty:
            self.show_status("The template has no unsaved changes.")
            return
        if self.current_page() is not page:
            self.show_page(page)
        page.save()

    def _focus_changed(self, old: QWidget | None, now: QWidget | None) -> None:
        # A dialog of this window closed and left no window active (a bare X server, some desktops): give this
        # window the keyboard back, so its shortcuts work at once. Switching to another application while
        # the dialog is open leaves the dialog shown: nothing changes then.
        if now is not None or old is None:
            return
        dialog = old.window()
        parent = dialog.parentWidget() if isinstance(dialog, QDialog) else None
        if parent is not None and parent.window() is self:
            QTimer.singleShot(0, lambda: self._reactivate(dialog))
        elif dialog is self:  # this window lost the keyboard: to one of its dialogs (watch it close)?
            QTimer.singleShot(0, self._watch_modal_dialog)

    def _watch_modal_dialog(self) -> None:
        dialog = QApplication.activeModalWidget()
        if (isinstance(dialog, QDialog) and dialog.parentWidget() is not None
                and dialog.parentWidget().window() is self):
            dialog.installEventFilter(self)  # its Hide is seen in eventFilter (a dialog that never had focus)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if isinstance(obj, QDialog) and event.type() == QEvent.Type.Hide:
            obj.removeEventFilter(self)
            QTimer.singleShot(0, lambda: self._reactivate(obj))
        return super().eventFilter(obj, event)

    def _reactivate(self, dialog: QDialog) -> None:
        """Activate this window again after ``dialog`` closed, when no window has the keyboard."""
        try:
            if dialog.isVisible():
                return
        except RuntimeError:  # the dialog is already deleted: it was closed
            pass
        if self.isVisible() and QApplication.activeModalWidget() is None and QApplication.activeWindow() is None:
            self.activateWindow()

    def open_projects(self, create: bool = False) -> None:
        """Choose (or create) another project; the app then opens it in place of this window."""
        from desktop_ift.ui.dialogs.project_dialog import ProjectDialog

        dialog = ProjectDialog(self.store, self.state.project.id, self, create=create)
        if dialog.exec() and dialog.chosen_id and dialog.chosen_id != self.state.project.id:
            self.project_switch_requested.emit(dialog.chosen_id)

    def _connect(self) -> None:
        c = self.run_controller
        c.event.connect(self._on_event)
        c.log_line.connect(self.monitor_page.append_log_line)
        c.ended.connect(self._on_run_ended)
        self.train_page.start_requested.connect(lambda run_id, job: self.start_run(run_id, job, "train"))
        self.evaluate_page.start_requested.connect(lambda run_id, job: self.start_run(run_id, job, "evaluate"))
        self.monitor_page.cancel_requested.connect(self.cancel_run)
        self.monitor_page.pause_requested.connect(self.pause_run)
        self.monitor_page.resume_requested.connect(self.resume_run)
        self.runs_page.open_requested.connect(self.open_train_run)
        self.runs_page.resume_requested.connect(self.resume_run)
        self.runs_page.clone_requested.connect(self.clone_run)
        self.monitor_page.run_selected.connect(self.show_train_run)
        self.templates_page.save_button.clicked.connect(lambda: self.train_page.update_summary())

    # ------------------------------------------------------------------ navigation
    def show_page(self, page: int | QWidget) -> None:
        row = page if isinstance(page, int) else self.pages.index(page)
        self.nav.setCurrentRow(row)

    def current_page(self) -> QWidget:
        return self.stack.currentWidget()

    def show_status(self, text: str, ms: int = 6000) -> None:
        self.statusBar().showMessage(text, ms)

    def show_about(self) -> None:
        QMessageBox.about(
            self, "About desktop_ift",
            "<h3>desktop_ift</h3><p>Fine-tune language models on your own tabular data, on your own "
            "computer, without writing code.</p><p>Data, templates, runs and results are kept in the "
            f"workspace folder:<br><code>{self.store.home}</code></p>",
        )

    # ------------------------------------------------------------------ import (menu, drop)
    def _import_from_menu(self) -> None:
        self.show_page(self.data_page)
        self.data_page.choose_file()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not files:
            return
        event.acceptProposedAction()
        self.import_file(files[0])
        if len(files) > 1:
            self.show_status("Only the first dropped file is imported; drop the others one at a time.")

    def import_file(self, path: str | Path) -> None:
        self.show_page(self.data_page)
        self.data_page.import_file(path)

    # ------------------------------------------------------------------ runs
    def start_run(self, run_id: str, job_path: str, kind: str = "train", command: list[str] | None = None) -> None:
        """Start a prepared run's worker; a training run is shown on the Monitor page."""
        if self.run_controller.is_running:
            QMessageBox.information(self, "A run is in progress",
                                    "Wait for the current run to finish, or cancel it on the Monitor page.")
            return
        self.run_kind = kind
        self.state.runs_changed.emit()
        if kind == "train":
            self.state.set_train_run(run_id)
            self.monitor_page.load_run(run_id)
            self.show_page(self.monitor_page)
        try:
            self.run_controller.start(run_id, job_path, command=command)
        except RuntimeError as exc:
            QMessageBox.warning(self, "The run cannot start", str(exc))
            return
        self._set_active(True)
        self.show_status("Training started." if kind == "train" else "Evaluation started.")

    def attach_run(self, run_id: str) -> bool:
        """Follow a run whose worker is alive but was started by another session."""
        if self.run_controller.is_running:
            return False
        run = self.store.get_run(run_id)
        if run.kind == "train":
            self.monitor_page.load_run(run_id)
            after = self.monitor_page.last_seq
        else:
            self.evaluate_page.show_eval(run_id)
            after = None
        self.run_kind = run.kind
        alive = self.run_controller.attach(run_id, after_seq=after)
        if alive:
            self._set_active(True)
            self.show_status(f"Re-attached to the running {'training' if run.kind == 'train' else 'evaluation'}.")
        return alive

    def show_train_run(self, run_id: str) -> None:
        """Show a training run on the Monitor page (re-attaching when its worker is still going)."""
        self.state.set_train_run(run_id)
        try:
            state = run_ops.run_state(self.store, run_id)
        except StoreError:
            return
        if state.is_live and not self.run_controller.is_running:
            self.attach_run(run_id)
        else:  # over (a lost run included: it shows Lost with its Resume, without a new notification)
            self.monitor_page.load_run(run_id)

    def _restore_runs(self) -> None:
        """At start: follow any run of this project still going (re-attach), say which runs were lost (their
        worker vanished without a final event), and show the last training run."""
        try:
            lost = run_ops.lost_runs(self.store, self.state.project.id)
        except StoreError:
            lost = []
        for run in self.state.runs("train")[:5] + self.state.runs("evaluate")[:5]:
            if run.status in ("running", "queued") and run.id not in {s.run_id for s in lost} \
                    and self.attach_run(run.id):
                break
        if lost:
            names = ", ".join(self.store.get_run(s.run_id).name or s.run_id for s in lost[:3])
            steps = ", ".join(f"step {s.step}" for s in lost[:3])
            self.notifier.notify("A run's process was lost",
                                 f"{names} stopped without a final report ({steps}). Resume it from its last "
                                 "checkpoint on the Monitor or Runs page.", "error")
        if self.run_controller.is_running:
            return
        # the run this window showed last, else the newest (one trained from the command line too: the Monitor
        # named it in its run list over empty plots and "Start a run on the Train page")
        runs = self.state.runs("train")
        run_id = self.state.train_run_id or (runs[0].id if runs else "")
        if run_id:
            try:
                self.store.get_run(run_id)
            except StoreError:
                return
            self.monitor_page.load_run(run_id)

    def _on_event(self, event: ev.Event) -> None:
        self.monitor_page.on_event(event)
        self.evaluate_page.on_event(event)
        if isinstance(event, ev.Log) and event.total_steps:
            self.run_label.setText(f"{self.run_controller.run_state.summary()}  ")
        elif isinstance(event, ev.Progress) and event.total:
            self.run_label.setText(f"{event.message or event.stage}: {event.done} of {event.total}  ")

    def _on_run_ended(self, status: str) -> None:
        self._set_active(False)
        self.run_label.setText("")
        state = self.run_controller.run_state
        if status == "busy":
            self.show_status("Another worker is already working on this run; it is followed on the Monitor page.")
            self.state.runs_changed.emit()
            return
        self.show_status(state.summary() if state.run_id else status.capitalize(), 10000)
        self.notify_run_end(self.run_controller.run_id, status)
        self.state.runs_changed.emit()
        self.monitor_page.reload_runs()

    def notify_run_end(self, run_id: str, status: str = "") -> None:
        """A tray message (or in-app toast) saying how a run ended, in the words of its RunState (a failure
        carries its plain reason and what to try)."""
        try:
            run = self.store.get_run(run_id)
            state = run_ops.run_state(self.store, run_id)
        except StoreError:
            return
        what = "Training" if run.kind == "train" else "Evaluation"
        name = run.name or run.id
        hint = f" What to try: {state.hint}" if state.hint else ""
        if state.status == "finished":
            follow = ("Compare it with the base model on the Evaluate page." if run.kind == "train"
                      else "The scores are on the Evaluate page.")
            self.notifier.notify(f"{what} finished", f"{name}. {follow}", "success")
        elif state.status in ("failed", "lost"):
            self.notifier.notify(f"{what} {state.words.lower()}", f"{name}: {state.reason}{hint}", "error")
        elif state.status == "paused":
            self.notifier.notify(f"{what} paused", f"{name}: {state.reason} Resume it on the Monitor page.", "info")
        elif state.status == "cancelled":
            self.notifier.notify(f"{what} cancelled", f"{name}: {state.reason}", "info")

    def open_train_run(self, run_id: str) -> None:
        """Show a run of the history on the Monitor page."""
        self.show_train_run(run_id)
        self.show_page(self.monitor_page)

    def pause_run(self, run_id: str = "") -> None:
        """Save a checkpoint and stop (the run shows as paused and can be resumed)."""
        if not self.run_controller.is_running or self.run_kind != "train":
            return
        self.run_controller.pause()
        self.show_status("Pausing… the worker is saving a checkpoint.")

    def resume_run(self, run_id: str) -> None:
        """Continue a paused, cancelled or lost training run from its latest checkpoint (same run)."""
        if self.run_controller.is_running:
            QMessageBox.information(self, "A run is in progress",
                                    "Wait for the current run to finish, or cancel it, before resuming another.")
            return
        try:
            job_path = run_ops.prepare_resume(self.store, run_id)
        except (run_ops.RunActionError, StoreError) as exc:
            QMessageBox.warning(self, "The run cannot be resumed", str(exc))
            return
        self.start_run(run_id, str(job_path), "train")

    def clone_run(self, run_id: str) -> None:
        """Prefill the Train page with a run's model, data, template, split and settings."""
        try:
            settings = run_ops.clone_settings(self.store, run_id)
        except (run_ops.RunActionError, StoreError, ValueError) as exc:
            QMessageBox.warning(self, "The settings cannot be copied", str(exc))
            return
        missing = []
        if settings["dataset_id"]:
            self.state.set_dataset(settings["dataset_id"])
        else:
            missing.append("its dataset was deleted")
        if settings["template_id"]:
            self.state.set_template(settings["template_id"])
        if settings["missing_templates"] or not (settings["template_id"] or settings["format_spec"]):
            gone = ", ".join(repr(n) for n in settings["missing_templates"]) or "its template"
            missing.append(f"{gone} was renamed or deleted")
        try:  # the whole set (or the chat/pre-training spec) becomes the Template set tab's training choice
            source = run_ops.clone_training_source(self.store, self.state.project.id, settings)
            if source:
                self.state.remember(training_source=source)
        except ValueError as exc:
            missing.append(f"its template set cannot be used: {exc}")
        if settings["split"]:
            self.state.set_split_values(settings["split"])
        config = settings["config"]
        self.state.remember(train_config=config, train_model=settings["model"])
        page = self.train_page
        page.form.set_values(config)
        page.advanced_form.set_values(config)
        page.set_method(config.get("method", "lora"))
        if settings["model"] == "demo":
            page.demo_radio.setChecked(True)
        elif not page.set_model_folder(settings["model"]):
            missing.append(f"its model folder {settings['model']} is not usable any more")
        page.update_summary()
        self.show_page(page)
        note = f" Note: {'; '.join(missing)}." if missing else ""
        self.show_status(f"Settings of {settings['name'] or run_id} loaded: change what you want and start.{note}",
                         12000)

    def _set_active(self, active: bool) -> None:
        self.state.set_run_active(active)
        self.monitor_page.set_controller_running(active)
        self.nav.set_badge(self.pages.index(self.monitor_page if self.run_kind == "train" else self.evaluate_page), active)
        self.nav.viewport().update()
        self.train_page.update_summary()

    def cancel_run(self, run_id: str = "") -> None:
        """Cancel the run going on, or give up a paused or lost run (it then no longer offers Resume)."""
        if not self.run_controller.is_running:
            if not run_id:
                return
            answer = self.ask_question(
                "Cancel the run?", "It will not be resumed. Its curves, log and checkpoints stay in the workspace.",
                "Cancel run", "Keep it")
            if answer == 0:
                try:
                    self.show_status(f"{run_ops.cancel_run(self.store, run_id).capitalize()}.")
                except (run_ops.RunActionError, StoreError) as exc:
                    QMessageBox.warning(self, "The run cannot be cancelled", str(exc))
                self.state.runs_changed.emit()
                self.monitor_page.load_run(run_id)
            return
        answer = self.ask_question(
            "Cancel the run?",
            "The worker saves a checkpoint and stops. The curves and the log stay in the workspace.",
            "Cancel run", "Keep running")
        if answer == 0:
            self.run_controller.cancel()
            self.show_status("Cancelling… the worker is saving a checkpoint.")

    def ask_question(self, title: str, text: str, *buttons: str) -> int:
        """A question with custom buttons; returns the index of the one clicked (-1 for Escape).
        Tests replace this method."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self)
        made = []
        for i, label in enumerate(buttons):
            role = QMessageBox.ButtonRole.AcceptRole if i == 0 else (
                QMessageBox.ButtonRole.RejectRole if i == len(buttons) - 1 else QMessageBox.ButtonRole.DestructiveRole)
            made.append(box.addButton(label, role))
        box.setDefaultButton(made[-1])
        box.exec()
        clicked = box.clickedButton()
        return made.index(clicked) if clicked in made else -1

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self.templates_page.is_dirty:
            answer = self.ask_question(
                "Unsaved template",
                "The template has unsaved changes. Save them before quitting?",
                "Save", "Quit without saving", "Cancel")
            if answer == 0 and not self.templates_page.save():
                event.ignore()
                return
            if answer in (2, -1):
                event.ignore()
                return
        if self.run_controller.is_running:
            what = "training" if self.run_kind == "train" else "evaluation"
            answer = self.ask_question(
                f"The {what} is still running",
                f"Keep the {what} running in the background? It writes its progress to the workspace, "
                "and the app shows it again when you reopen it. Or cancel it now (a checkpoint is saved).",
                "Keep running", "Cancel run and quit", "Don't quit")
            if answer in (2, -1):
                event.ignore()
                return
            if answer == 1:
                self.run_controller.cancel()
            self.run_controller.detach()
            self.keep_worker_on_exit = True
        event.accept()
