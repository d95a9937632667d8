"""Step 2 — Templates: turn each row into a training example (system, prompt, response) with a live preview."""

from __future__ import annotations

import html
import random

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMessageBox, QPlainTextEdit,
    QPushButton, QSplitter, QStackedWidget, QTextBrowser, QWidget,
)

from desktop_ift.core.store import StoreError
from desktop_ift.core.templates.references import (
    parse_columns, reference_columns, row_references, set_reference_columns)
from desktop_ift.core.templates.render import PromptTemplate, check_template, render_row
from desktop_ift.ui import theme
from desktop_ift.ui.app_state import AppState
from desktop_ift.ui.bounded_work import LatestOnly
from desktop_ift.ui.tasks import run_in_background
from desktop_ift.ui.widgets.banner import Banner, status_icon
from desktop_ift.ui.widgets.column_chip import ColumnChip
from desktop_ift.ui.widgets.flow_layout import FlowLayout
from desktop_ift.ui.widgets.page import Page, card, muted_label, section_label
from desktop_ift.ui.widgets.template_format_panel import TemplateFormatPanel
from desktop_ift.ui.widgets.template_tools_panel import TemplateToolsPanel

PREVIEW_DELAY_MS = 150
FIELDS = ("system", "prompt", "response")
FIELD_TITLES = {"system": "System", "prompt": "Prompt / instruction", "response": "Response"}
FIELD_HELP = {
    "system": "Optional. Standing instructions the model gets before every prompt.",
    "prompt": "What the model is asked: combine the columns of a row into a question or instruction.",
    "response": "The answer the model should learn to give (usually one column).",
}
FORMATS = (("Instruction (templates)", "instruction"), ("Multi-turn chat", "chat"),
           ("Continued pre-training", "pretrain"))
CHIPS_HINT = "click to insert, or drag into an editor"  # one line at 1024 px (two made the card overlap)
FIELD_HINTS = {"system": "optional", "prompt": "what the model is asked", "response": "what it should answer"}


def _labelled(text: str, widget: QWidget) -> QWidget:
    """``widget`` with its label on the left, as one piece."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(8)
    row.addWidget(QLabel(text))
    row.addWidget(widget)
    return box


class TemplateCombo(QComboBox):
    """The template picker. Its tooltip names the whole chosen template, whatever the window cuts off."""

    HINT = "The project's saved templates: pick one to edit it"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setToolTip(self.HINT)
        self.currentIndexChanged.connect(lambda _i: self._name_in_tooltip())

    def setCurrentIndex(self, index: int) -> None:  # noqa: N802 - Qt API
        super().setCurrentIndex(index)
        self._name_in_tooltip()  # also when the page set it with signals blocked

    def _name_in_tooltip(self) -> None:
        name = self.currentText()
        self.setToolTip(f"Template: {name}\n{self.HINT}" if name else self.HINT)


def placeholder(column: str) -> str:
    try:
        from desktop_ift.core.templates.render import placeholder_for
    except ImportError:  # pragma: no cover
        return "{{ " + column + " }}"
    return placeholder_for(column)


class TemplatesPage(Page):
    key = "templates"
    title = "Templates"
    subtitle = "Turn each row into a training example; the preview shows a real row of your data."

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._loaded = {"name": "", "system": "", "prompt": "", "response": ""}
        self._row = 0
        self._focused: QPlainTextEdit | None = None
        self._loading = False

        # header: template picker, name, new, save
        self.template_combo = TemplateCombo()
        self.template_combo.setMinimumWidth(100)
        self.template_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.template_combo.currentIndexChanged.connect(self._combo_changed)
        self.new_button = QPushButton("New")
        self.new_button.setToolTip("Start a new, empty template")
        self.new_button.clicked.connect(self.new_template)
        self.dirty_label = QLabel("")
        self.dirty_label.setProperty("role", "muted")
        self.save_button = QPushButton("Save")
        self.save_button.setProperty("variant", "primary")
        # Ctrl+S is the window's File → Save template action (a button's shortcut is lost when its text changes)
        # a little less side padding on New and Save: the picker beside them needs the room for a whole name
        for button in (self.new_button, self.save_button):
            button.setStyleSheet("QPushButton { padding-left: 10px; padding-right: 10px; }")
        self.save_button.setMinimumWidth(self.save_button.fontMetrics().horizontalAdvance("Save *") + 32)
        self.save_button.clicked.connect(self.save)
        self.library_button = QPushButton("Library…")
        self.library_button.setToolTip("Ready-made phrasings for common tasks, and your own saved templates")
        self.library_button.clicked.connect(self.open_library)
        self.export_button = QPushButton("Export data…")
        self.export_button.setToolTip("Write the rendered examples for Amazon Bedrock, OpenAI, Alpaca or a "
                                      "datasets folder")
        self.export_button.clicked.connect(self.open_export)
        self.format_combo = QComboBox()
        for label, key in FORMATS:
            self.format_combo.addItem(label, key)
        self.format_combo.setToolTip("Instruction: templates turn each row into a prompt and a response. "
                                     "Multi-turn chat: rows are the messages of conversations. Continued "
                                     "pre-training: rows are raw text documents.")
        # a label stays on the same line as its combo when a narrow window wraps the header
        self.template_box = _labelled("Template", self.template_combo)
        # the template's own controls (pick, new, save, unsaved) sit on the editor card, so the header keeps
        # one line and "Unsaved changes" appearing never pushes Save onto a line of its own
        self._instruction_only = (self.library_button,)
        for w in (_labelled("Format", self.format_combo), self.library_button, self.export_button):
            self.header_actions.addWidget(w)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.setHandleWidth(12)
        splitter.addWidget(self._build_editor_card())
        splitter.addWidget(self._build_preview_card())
        splitter.setSizes([620, 520])
        splitter.setStretchFactor(0, 1)  # a wider window widens the editors too, not only the preview
        splitter.setStretchFactor(1, 1)
        self.format_panel = TemplateFormatPanel(state)
        self.format_panel.saved.connect(self._format_saved)
        self.mode_stack = QStackedWidget()
        self.mode_stack.addWidget(splitter)
        self.mode_stack.addWidget(self.format_panel)
        self.body.addWidget(self.mode_stack, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.refresh_preview)
        self._preview_work = LatestOnly(self)  # the preview renders off the GUI thread, newest request only

        state.templates_changed.connect(self.reload_templates)
        state.templates_changed.connect(self.tools.load_set)
        state.template_changed.connect(self._follow_template)
        state.template_changed.connect(lambda _id: self._load_selected())
        state.dataset_changed.connect(self._dataset_changed)
        state.table_loaded.connect(self._table_loaded)
        self.reload_templates()
        self.tools.load_set()
        self._dataset_changed()
        saved_kind = (state.setting("training_source") or {}).get("kind")
        self.format_combo.setCurrentIndex(max(self.format_combo.findData(saved_kind), 0))
        self.format_combo.currentIndexChanged.connect(lambda _i: self._format_changed())
        self._format_changed()

    # ------------------------------------------------------------------ layout
    def _build_editor_card(self) -> QWidget:
        # 5 px between rows: with Problems shown, 6 asked 9 px more than a 1024×680 window has (rows overlapped)
        frame, layout = card(spacing=5)
        pick_row = QHBoxLayout()
        # no "Template" label: at 1024 pixels its width is what the picker needs to show a whole name
        # ("Classify supp…"); the picker heads the template's card and its tooltip says what it is
        pick_row.addWidget(self.template_combo, 1)
        pick_row.addWidget(self.new_button)
        pick_row.addWidget(self.save_button)
        layout.addLayout(pick_row)
        name_row = QHBoxLayout()
        name_row.addWidget(QLabel("Name"))
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. question-answer")
        self.name_edit.setToolTip("Saving under a new name keeps the old template too.")
        self.name_edit.textChanged.connect(self._edited)
        name_row.addWidget(self.name_edit, 1)
        # its room is kept when empty: the name field does not jump when the first edit is made
        self.dirty_label.setFixedWidth(self.dirty_label.fontMetrics().horizontalAdvance("Unsaved changes") + 6)
        name_row.addWidget(self.dirty_label)
        layout.addLayout(name_row)

        columns_head = QHBoxLayout()
        columns_head.addWidget(section_label("Columns"))
        self.chips_hint = muted_label(CHIPS_HINT)
        self.chips_hint.setToolTip("Click a column to insert it at the cursor of the editor you were in, or "
                                   "drag it into an editor.")
        columns_head.addWidget(self.chips_hint, 1)
        layout.addLayout(columns_head)
        chips_host = QWidget()
        self.chips_layout = FlowLayout(chips_host, spacing=6)
        layout.addWidget(chips_host)
        self.chip_buttons: dict[str, ColumnChip] = {}

        self.editors: dict[str, QPlainTextEdit] = {}
        mono = theme.monospace_font()
        for field in FIELDS:
            head = QHBoxLayout()
            title = section_label(FIELD_TITLES[field])
            head.addWidget(title)
            hint = muted_label(FIELD_HINTS[field], wrap=False)
            hint.setToolTip(FIELD_HELP[field])
            head.addWidget(hint, 1)
            layout.addLayout(head)
            editor = QPlainTextEdit()
            editor.setFont(mono)
            editor.setTabChangesFocus(True)
            editor.setToolTip(FIELD_HELP[field])
            editor.setPlaceholderText({"system": "You are a helpful assistant.",
                                       "prompt": "Answer the question: {{ question }}",
                                       "response": "{{ answer }}"}[field])
            editor.textChanged.connect(self._edited)
            editor.installEventFilter(self)
            # at least 5 lines of prompt (2 of system and response): the Problems box never squeezes them flat
            lines = 5 if field == "prompt" else 2
            editor.setMinimumHeight(editor.fontMetrics().lineSpacing() * lines + 14)
            self.editors[field] = editor
            layout.addWidget(editor, 1 if field == "system" else 2)
        self._focused = self.editors["prompt"]
        self.system_edit, self.prompt_edit, self.response_edit = (self.editors[f] for f in FIELDS)
        refs_row = QHBoxLayout()  # evaluation only: more columns whose values are right answers too
        refs_row.addWidget(QLabel("More references"))
        self.references_edit = QLineEdit()
        self.references_edit.setPlaceholderText("other columns that are right answers too, e.g. summary2, summary3")
        self.references_edit.setToolTip("Evaluation scores the answers against the response and these columns "
                                         "(ROUGE best-of, BLEU/chrF with all). Training is not changed.")
        self.references_edit.textChanged.connect(self._edited)
        refs_row.addWidget(self.references_edit, 1)
        layout.addLayout(refs_row)

        problems_head = QHBoxLayout()
        problems_head.addWidget(section_label("Problems"))
        self.problems_ok = QLabel("✓  No problems found")
        self.problems_ok.setStyleSheet(f"color: {theme.SUCCESS};")
        problems_head.addWidget(self.problems_ok, 1)
        layout.addLayout(problems_head)
        self.problems_list = QListWidget()
        self.problems_list.setObjectName("Problems")
        self.problems_list.setWordWrap(True)
        self.problems_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.problems_list.itemActivated.connect(self._jump_to_problem)
        self.problems_list.itemClicked.connect(self._jump_to_problem)
        layout.addWidget(self.problems_list)
        return frame

    def _build_preview_card(self) -> QWidget:
        frame, layout = card()
        head = QHBoxLayout()
        head.addWidget(section_label("Preview"))
        head.addStretch(1)
        self.prev_button = QPushButton("◀")
        self.prev_button.setFixedWidth(40)
        self.next_button = QPushButton("▶")
        self.next_button.setFixedWidth(40)
        self.random_button = QPushButton("Random")
        self.prev_button.clicked.connect(lambda: self.show_row(self._row - 1))
        self.next_button.clicked.connect(lambda: self.show_row(self._row + 1))
        self.random_button.clicked.connect(self.random_row)
        self.row_label = QLabel("")
        self.row_label.setProperty("role", "muted")
        self.row_label.setMinimumWidth(80)
        self.row_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        for w in (self.prev_button, self.row_label, self.next_button, self.random_button):
            head.addWidget(w)
        layout.addLayout(head)
        self.preview_banner = Banner()
        layout.addWidget(self.preview_banner)
        self.preview = QTextBrowser()
        self.preview.setOpenLinks(False)
        self.tools = TemplateToolsPanel(self.state, self._tools_template, lambda: self._row)
        self.tools.tabs.insertTab(0, self.preview, "Example")
        self.tools.tabs.setCurrentIndex(0)
        self.tools.row_requested.connect(self._show_problem_row)
        self.tools.location_requested.connect(self.jump_to)
        self.tools.set_changed.connect(self._set_changed)
        layout.addWidget(self.tools, 1)
        return frame

    # ------------------------------------------------------------------ focus tracking for chips
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.FocusIn and isinstance(obj, QPlainTextEdit):
            self._focused = obj
        return super().eventFilter(obj, event)

    def insert_column(self, column: str) -> None:
        """Insert the placeholder of ``column`` at the cursor of the editor last focused."""
        editor = self._focused or self.prompt_edit
        editor.insertPlainText(placeholder(column))
        editor.setFocus()

    def _fill_chips(self, columns: list[str]) -> None:
        self.chips_layout.clear()
        self.chip_buttons = {}
        for name in columns:
            button = ColumnChip(name, placeholder(name))
            button.setProperty("role", "chip")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the editor keeps its cursor
            button.setToolTip(f"Click to insert {placeholder(name)} at the cursor, or drag it into an editor")
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda _=False, n=name: self.insert_column(n))
            self.chips_layout.addWidget(button)
            self.chip_buttons[name] = button
        self.chips_hint.setText(
            CHIPS_HINT
            if columns
            else "Import data on the Data page to see its columns here.")
        self.chips_layout.update()

    # ------------------------------------------------------------------ templates
    def current_texts(self) -> dict:
        return {"name": self.name_edit.text().strip(),
                **{f: self.editors[f].toPlainText() for f in FIELDS},
                "references": ", ".join(parse_columns(self.references_edit.text()))}

    @property
    def is_dirty(self) -> bool:
        return self.current_texts() != {"references": "", **self._loaded}

    def reload_templates(self) -> None:
        records = self.state.templates()
        self.template_combo.blockSignals(True)
        self.template_combo.clear()
        for record in records:
            self.template_combo.addItem(record.name, record.id)
        idx = self.template_combo.findData(self.state.template_id)
        self.template_combo.setCurrentIndex(idx if idx >= 0 else (0 if records else -1))
        self.template_combo.blockSignals(False)
        if not self.is_dirty:
            self._load_selected()

    def _combo_changed(self, index: int) -> None:
        template_id = self.template_combo.itemData(index)
        if not template_id or template_id == self.state.template_id:
            return
        if self.is_dirty and not self.confirm_discard():
            self.template_combo.blockSignals(True)
            self.template_combo.setCurrentIndex(self.template_combo.findData(self.state.template_id))
            self.template_combo.blockSignals(False)
            return
        self._loaded = {}  # force the load even though the editors hold edits
        self.state.set_template(int(template_id))

    def confirm_discard(self) -> bool:
        """Ask before replacing unsaved edits; Save keeps them, Cancel stays."""
        answer = QMessageBox.question(
            self, "Unsaved template",
            "The template has unsaved changes. Save them before switching?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def _load_selected(self) -> None:
        record = self.state.template()
        if record is None:
            texts = {"name": "", "system": "", "prompt": "", "response": ""}
        else:
            texts = {"name": record.name, "system": record.system, "prompt": record.prompt,
                     "response": record.response,
                     "references": ", ".join(reference_columns(self.state.store, record.id))}
        texts.setdefault("references", "")
        if self._loaded and self.is_dirty and texts != {"references": "", **self._loaded}:
            return  # never overwrite the user's edits silently
        if texts == self.current_texts():
            self._loaded = dict(texts)  # already shown: keep the cursor where it is
            self._edited()
        else:
            self._set_texts(texts)
        idx = self.template_combo.findData(self.state.template_id)
        if idx >= 0:
            self.template_combo.blockSignals(True)
            self.template_combo.setCurrentIndex(idx)
            self.template_combo.blockSignals(False)

    def _set_texts(self, texts: dict) -> None:
        self._loading = True
        self.name_edit.setText(texts["name"])
        self.name_edit.setCursorPosition(0)  # a long name shows its beginning, not its last letters
        for f in FIELDS:
            self.editors[f].setPlainText(texts[f])
        self.references_edit.setText(texts.get("references", ""))
        self._loading = False
        self._loaded = {"references": "", **texts}
        self._edited()

    def new_template(self) -> None:
        if self.is_dirty and not self.confirm_discard():
            return
        names = {r.name for r in self.state.templates()}
        n = 1
        while f"template {n}" in names:
            n += 1
        self._set_texts({"name": "", "system": "", "prompt": "", "response": ""})
        self.name_edit.setText(f"template {n}")
        self.prompt_edit.setFocus()

    def save(self) -> bool:
        """Save the editors as the named template (a new name creates a new template)."""
        texts = self.current_texts()
        if not texts["name"]:
            self.preview_banner.show_message("Give the template a name, then save again.", "error",
                                             "The template has no name")
            self.name_edit.setFocus()
            return False
        if not texts["prompt"].strip() or not texts["response"].strip():
            self.preview_banner.show_message(
                "A template needs a prompt and a response. Fill both in, then save again.", "error",
                "The template is incomplete")
            return False
        try:
            record = self.state.store.save_template(self.state.project.id, texts["name"], texts["prompt"],
                                                    texts["response"], texts["system"])
            set_reference_columns(self.state.store, record.id, texts["references"])
        except StoreError as exc:
            self.preview_banner.show_message(f"{exc} Your text is still in the editors.", "error",
                                             "The template could not be saved")
            return False
        self._loaded = dict(texts)
        self.state.templates_changed.emit()
        self.state.set_template(record.id)
        self._edited()
        window = self.window()
        if hasattr(window, "show_status"):
            window.show_status(f"Template “{record.name}” saved.")
        return True

    def _edited(self) -> None:
        dirty = self.is_dirty
        self.save_button.setText("Save *" if dirty else "Save")
        self.dirty_label.setText("Unsaved changes" if dirty else "")
        self.save_button.setToolTip("Save the template (Ctrl+S)" if dirty else "No unsaved changes")
        if not self._loading:
            self._timer.start()
        else:
            self.refresh_preview()

    # ------------------------------------------------------------------ dataset rows
    def _dataset_changed(self, *_args) -> None:
        record = self.state.dataset()
        self._fill_chips(record.column_names if record else [])
        self.format_panel.set_columns(record.column_names if record else [],
                                      self.state.setting("training_source") or {})
        self._row = 0
        self.state.table()  # start loading if needed
        self.refresh_preview()

    def _table_loaded(self, dataset_id: int) -> None:
        if dataset_id == self.state.dataset_id:
            self.refresh_preview()
            if self.format_mode() != "instruction":
                self.format_panel.rebuild()

    def n_rows(self) -> int:
        table = self.state.table()
        return table.num_rows if table is not None else 0

    def show_row(self, row: int) -> None:
        n = self.n_rows()
        if n:
            self._row = max(0, min(n - 1, row))
            self.refresh_preview()

    def random_row(self) -> None:
        n = self.n_rows()
        if n > 1:
            choices = [i for i in range(min(n, 1_000_000)) if i != self._row] if n < 10_000 else None
            self.show_row(random.choice(choices) if choices else random.randrange(n))

    def current_row(self) -> dict | None:
        table = self.state.table()
        if table is None or table.num_rows == 0:
            return None
        from desktop_ift.core.data.importers import table_rows

        self._row = max(0, min(self._row, table.num_rows - 1))
        return table_rows(table, self._row, 1)[0]

    # ------------------------------------------------------------------ preview
    def refresh_preview(self) -> None:
        """Render the current row and list the template's problems; never raises on a half-typed template."""
        self._timer.stop()
        self._refresh_example()
        self.tools.refresh()

    def _refresh_example(self) -> None:
        texts = self.current_texts()
        template = PromptTemplate(prompt=texts["prompt"], response=texts["response"], system=texts["system"],
                                  name=texts["name"])
        record = self.state.dataset()
        columns = record.column_names if record else []
        n = self.n_rows()
        for b, tip in ((self.prev_button, "Previous row"), (self.next_button, "Next row"),
                       (self.random_button, "Show a random row")):
            b.setEnabled(n > 1)
            b.setToolTip(tip if n > 1 else "Import a dataset with rows to browse them here.")
        self.row_label.setText(f"Row {self._row + 1:,} of {n:,}" if n else "No rows")
        self.row_label.setMinimumWidth(max(80, self.row_label.sizeHint().width()))  # never cut

        row = self.current_row()
        wanted = bool(texts["prompt"].strip() or texts["response"].strip())

        def work() -> tuple:  # off the GUI thread: a shared template may be slow until its limits stop it
            problems = check_template(template, columns) if record else []
            if record is None or row is None or not wanted:
                return problems, None
            try:
                return problems, render_row(template, row)
            except Exception as exc:  # TemplateError, or anything a half-typed template triggers
                return problems, exc

        def failed(exc: BaseException) -> None:  # a checker bug must not take the editor down
            self._show_problems([])
            self.preview_banner.show_message(str(exc), "warning")

        self._preview_work.run(work, lambda result: self._show_example(*result, record, row, wanted), failed,
                               lambda: self.preview_banner.show_message("Rendering the preview…", "info"))

    def _show_example(self, problems: list, example: object, record: object, row: object, wanted: bool) -> None:
        self._show_problems(problems)
        if record is None:
            self.preview_banner.show_message("Import data on the Data page to preview real rows.", "info")
            self.preview.setHtml("")
            return
        if row is None:
            self.preview_banner.show_message("Loading the dataset…", "info")
            return
        if not wanted:
            self.preview_banner.show_message("Write a prompt and a response to see the example here.", "info")
            self.preview.setHtml("")
            return
        if isinstance(example, BaseException):
            self.preview_banner.show_message(
                str(example), "warning", "The preview cannot be rendered yet (below: the last version that worked)"
                if self.preview.toPlainText() else "The preview cannot be rendered yet")
            return
        self.preview_banner.clear()
        columns = parse_columns(self.references_edit.text())
        refs = [f"(no column {c!r} in this dataset)" for c in columns if c not in row]
        refs += row_references(example.response, row, columns)[1:]
        self.preview.setHtml(preview_html(example.system, example.prompt, example.response, refs))

    def _show_problems(self, problems: list) -> None:
        self.problems_list.clear()
        self.problems = problems
        self.problems_ok.setVisible(not problems)
        self.problems_list.setVisible(bool(problems))
        if not problems:
            return
        for p in problems:
            where = p.text if hasattr(p, "text") else f"{p.field}: {p.message}"
            if p.column and p.line:
                where = where.replace(f"line {p.line}:", f"line {p.line}, column {p.column}:", 1)
            item = QListWidgetItem(status_icon("error" if p.severity == "error" else "warning"), where)
            item.setData(Qt.ItemDataRole.UserRole, (p.field, p.line, p.column))
            item.setToolTip(where)
            self.problems_list.addItem(item)
        # three lines of text (one long problem wraps onto two); more scroll
        self.problems_list.setFixedHeight(self.problems_list.fontMetrics().lineSpacing() * 3
                                          + 2 * self.problems_list.frameWidth() + 4)

    def problem_texts(self) -> list[str]:
        return [self.problems_list.item(i).text() for i in range(self.problems_list.count())]

    def _jump_to_problem(self, item: QListWidgetItem) -> None:
        data = item.data(Qt.ItemDataRole.UserRole)
        if not data:
            return
        self.jump_to(*data)

    def jump_to(self, field: str, line: int | None, column: int | None) -> None:
        """Put the cursor of the ``field`` editor at ``line``/``column`` (1-based)."""
        editor = self.editors.get(field)
        if editor is None:
            return
        cursor = editor.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.Start)
        if line:
            cursor.movePosition(QTextCursor.MoveOperation.Down, QTextCursor.MoveMode.MoveAnchor, line - 1)
        if column:
            cursor.movePosition(QTextCursor.MoveOperation.Right, QTextCursor.MoveMode.MoveAnchor, column - 1)
        editor.setTextCursor(cursor)
        editor.setFocus()

    def preview_text(self) -> str:
        return self.preview.toPlainText()

    # ------------------------------------------------------------------ template set, library, export
    def current_template(self):
        """The editors' texts as a PromptTemplate."""
        texts = self.current_texts()
        return PromptTemplate(prompt=texts["prompt"], response=texts["response"], system=texts["system"],
                              name=texts["name"])

    def _tools_template(self):
        record = self.state.template()
        same = record is not None and record.name == self.current_texts()["name"]
        return (record.id if same else 0), self.current_template()

    def _follow_template(self, template_id: int) -> None:
        panel = self.tools.set_panel  # only the Template set tab decides what trains: never untick here
        if template_id and not panel.ticked_ids():  # nothing ticked yet: the first template is the choice
            panel.set_tick(template_id, True)
        elif template_id and template_id not in panel.ticked_ids() and hasattr(self.window(), "show_status"):
            ticked = [r.name for r in self.state.templates() if r.id in panel.ticked_ids()]
            self.window().show_status(f"Training uses the ticked template(s): {', '.join(ticked)}. Tick this one in "
                                      "the Template set tab to train on it.")

    def _set_changed(self) -> None:
        if self.format_mode() != "instruction":
            return  # the chat / pre-training choice stays the training source until Instruction is chosen
        try:
            message = self.tools.save_as_training_choice()
        except ValueError as exc:  # a set that cannot work (weights all 0, a deleted template)
            self.preview_banner.show_message(str(exc), "warning", "The template set is not saved")
            return
        window = self.window()
        if message and hasattr(window, "show_status"):
            window.show_status(message)

    # ------------------------------------------------------------------ format: instruction, chat, pre-training
    def format_mode(self) -> str:
        """``"instruction"``, ``"chat"`` or ``"pretrain"``."""
        return self.format_combo.currentData() or "instruction"

    def set_format(self, mode: str) -> None:
        """Show the editor of ``mode`` (Instruction keeps the template editor as it is)."""
        self.format_combo.setCurrentIndex(max(self.format_combo.findData(mode), 0))

    def _format_changed(self) -> None:
        mode = self.format_mode()
        instruction = mode == "instruction"
        for w in self._instruction_only:
            w.setVisible(instruction)
        self.place_header_actions()  # fewer actions may fit beside the title again
        self.mode_stack.setCurrentIndex(0 if instruction else 1)
        self.format_panel.active = not instruction
        if instruction:
            kind = (self.state.setting("training_source") or {}).get("kind")
            if kind in ("chat", "pretrain"):  # back to templates: the ticked templates train again
                self._set_changed()
                self.preview_banner.show_message(
                    "Training uses the ticked templates again (Template set tab). Choose another format and "
                    "“Use for training” to train on chat or raw text.", "info", "Format: instruction")
        else:
            self.format_panel.set_mode(mode)

    def _format_saved(self, message: str) -> None:
        window = self.window()
        if hasattr(window, "show_status"):
            window.show_status(message)

    def _message_banner(self) -> Banner:
        return self.preview_banner if self.format_mode() == "instruction" else self.format_panel.banner

    def _export_source(self):
        if self.format_mode() == "instruction":
            return self.tools.template_set()
        return self.format_panel.spec()

    def _show_problem_row(self, row: int) -> None:
        self.show_row(row)
        self.tools.tabs.setCurrentIndex(0)

    def open_library(self) -> None:
        """The library dialog; *Use* puts the chosen phrasing (columns mapped) in the editors, unsaved."""
        from desktop_ift.ui.widgets.template_library_dialog import TemplateLibraryDialog

        record = self.state.dataset()
        dialog = TemplateLibraryDialog(self.state.store, record.column_names if record else [],
                                       self.current_template(), self)
        if dialog.exec() and dialog.chosen is not None:
            self.apply_library_template(dialog.chosen)

    def apply_library_template(self, template) -> None:
        """Show ``template`` in the editors as a new, unsaved template (Save keeps it in the project)."""
        if self.is_dirty and not self.confirm_discard():
            return
        names = {r.name for r in self.state.templates()}
        name, n = template.name, 2
        while name in names:
            name, n = f"{template.name} ({n})", n + 1
        self._set_texts({"name": "", "system": "", "prompt": "", "response": ""})
        self._loading = True
        self.name_edit.setText(name)
        self.system_edit.setPlainText(template.system or "")
        self.prompt_edit.setPlainText(template.prompt)
        self.response_edit.setPlainText(template.response)
        self._loading = False
        self._edited()
        self.preview_banner.show_message("Check the preview, then Save to add it to the project.", "info",
                                         f"“{name}” from the library")

    def open_export(self) -> None:
        from desktop_ift.core.templates.training_data import data_format_of
        from desktop_ift.ui.widgets.template_export_dialog import ExportDialog

        source = self._export_source()
        if source is None:
            self._message_banner().show_message("Tick at least one template in the Template set tab.", "error")
            return
        default = str(self.state.store.home / "exports")
        dialog = ExportDialog(data_format_of(source), default, self)
        if dialog.exec():
            values = dialog.values()
            self.export_data(values["format"], values["folder"], values["split"])

    def export_data(self, fmt: str, folder: str, split: bool = True, on_done=None) -> None:
        """Write the ticked templates' examples in ``fmt`` into ``folder`` off the GUI thread."""
        from desktop_ift.core.templates.exports import export_parts
        from desktop_ift.core.templates.training_data import build_split_lines

        table, source = self.state.table(), self._export_source()
        if table is None or source is None:
            self._message_banner().show_message("Choose a dataset and tick at least one template first.", "error")
            return
        try:
            spec = self.state.split_spec() if split else None
        except ValueError as exc:
            self._message_banner().show_message(f"{exc} (fix the split on the Data page)", "error")
            return

        def work():
            built = build_split_lines(source, table, spec)
            if built.problems:
                raise ValueError(built.problems)
            return export_parts(fmt, built.lines, folder), {k: len(v) for k, v in built.lines.items()}

        def done(result):
            paths, counts = result
            summary = ", ".join(f"{k} {n:,}" for k, n in counts.items())
            self._message_banner().show_message(f"{summary} examples written to {folder}.", "info", "Exported")
            if on_done:
                on_done(paths)

        def failed(exc):
            self._message_banner().show_message(f"{exc}", "error", "The export failed")

        run_in_background(work, done, failed)


def preview_html(system: str, prompt: str, response: str, references: list[str] = ()) -> str:
    """The rendered example as the model will see it, one labelled block per part (and the template's more
    ``references`` for this row: what evaluation also accepts)."""

    def block(label: str, text: str, bg: str, border: str, note: str = "") -> str:
        body = html.escape(text) if text else "<span style='color:#9ca3af'>(empty)</span>"
        note_html = f" <span style='color:#9ca3af; font-weight:normal'>— {note}</span>" if note else ""
        return (
            f"<p style='margin:0 0 4px 0; font-size:11px; font-weight:600; color:#6b7280; "
            f"letter-spacing:1px'>{label}{note_html}</p>"
            f"<table width='100%' cellspacing='0' cellpadding='10' style='margin-bottom:14px; "
            f"background:{bg}; border:1px solid {border}'><tr><td style='white-space:pre-wrap'>{body}</td></tr></table>"
        )

    parts = []
    if system:
        parts.append(block("SYSTEM", system, "#f9fafb", "#e5e7eb"))
    parts.append(block("PROMPT", prompt, "#f9fafb", "#e5e7eb"))
    parts.append(block("RESPONSE", response, theme.ACCENT_SOFT, "#c7d2fe", "what the model learns to answer"))
    for i, ref in enumerate(references, start=2):
        parts.append(block(f"REFERENCE {i}", ref, "#f9fafb", "#e5e7eb", "also a right answer at evaluation"))
    return "<div style='font-size:13px; color:#1f2937'>" + "".join(parts) + "</div>"
