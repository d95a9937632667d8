"""The Templates page in *Multi-turn chat* and *Continued pre-training* formats: choose the columns, see the
conversations (or documents) built from real rows, the exact training text token by token (*Tokens* tab),
every problem and the token lengths of all of them (*Validation* tab, each problem linked to its
conversation), and save the choice as the project's training source.

Building, tokenizing and measuring run off the GUI thread; the measurement of all conversations goes a
chunk at a time so the histogram fills in while it runs and a change of settings abandons it."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox, QFormLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QSplitter,
    QStackedWidget, QTabWidget, QTextBrowser, QVBoxLayout, QWidget,
)

from desktop_ift.ui import theme
from desktop_ift.ui.tasks import run_in_background
from desktop_ift.ui.widgets.banner import Banner, status_icon
from desktop_ift.ui.widgets.page import card, muted_label, section_label
from desktop_ift.ui.widgets.template_token_view import TokenView
from desktop_ift.ui.widgets.template_tools_panel import model_folder
from desktop_ift.ui.widgets.template_validation_panel import ValidationPanel

NONE = "— none —"
FILE_ORDER = "— file order —"
SEPARATORS = {"Blank line": "\n\n", "New line": "\n", "Space": " "}
MEASURE_CHUNK = 2000  # conversations/documents measured per background step (about a second each)
MEASURE_DELAY_MS = 400
GUESSES = {
    "conversation": ("conversation", "conv", "dialog", "dialogue", "session", "thread", "chat_id", "chat"),
    "turn": ("turn", "order", "seq", "sequence", "position", "step", "index", "msg_index"),
    "role": ("role", "speaker", "author", "from", "sender", "who"),
    "content": ("content", "text", "message", "utterance", "value", "body"),
    "system": ("system", "system_prompt"),
    "text": ("text", "content", "document", "body", "article", "passage"),
}


def guess_column(columns: list[str], kind: str, taken: set[str] = frozenset()) -> str | None:
    """The column whose name best matches ``kind`` (exact name first, then a name containing it)."""
    free = [c for c in columns if c not in taken]
    for word in GUESSES[kind]:
        for c in free:
            if c.lower() == word:
                return c
    for word in GUESSES[kind]:
        for c in free:
            if word in c.lower() and len(word) > 2:
                return c
    return None


class TemplateFormatPanel(QWidget):
    """Chat or pre-training settings + preview. :meth:`set_mode` picks ``"chat"`` or ``"pretrain"``;
    ``saved(str)`` is emitted with a status line once the choice is the project's training source."""

    saved = Signal(str)

    def __init__(self, state, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.mode = "chat"
        self._columns: list[str] = []
        self._generation = 0
        self._index = 0
        self.items: list[dict] = []  # conversations or documents, from the last build
        self.problems: list = []
        self.error = ""
        self.building = False
        self.active = False  # the page shows this panel (no background builds while Instruction is chosen)
        self._tokenizer = (None, None)  # (folder, LightTokenizer), loaded off the GUI thread
        self._token_generation = 0
        self.tokens_busy = False
        self._lengths = None  # MeasuredLengths of the current build and tokenizer
        self._lengths_key = None
        self._measuring = False
        self._measure_again = False
        self.last_report = None
        self.last_preview = None  # the TokenPreview the Tokens tab shows
        self._measure_timer = QTimer(self)
        self._measure_timer.setSingleShot(True)
        self._measure_timer.setInterval(MEASURE_DELAY_MS)
        self._measure_timer.timeout.connect(self._measure_now)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.setHandleWidth(12)
        splitter.addWidget(self._build_settings())
        splitter.addWidget(self._build_preview())
        splitter.setSizes([480, 680])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    # ------------------------------------------------------------------ layout
    def _combo(self, tip: str) -> QComboBox:
        combo = QComboBox()
        combo.setToolTip(tip)
        combo.setMinimumWidth(200)
        combo.currentIndexChanged.connect(lambda _i: self.rebuild())
        return combo

    def _build_settings(self) -> QWidget:
        frame, layout = card()
        self.settings_title = section_label("Columns")
        layout.addWidget(self.settings_title)
        self.settings_help = muted_label("")
        layout.addWidget(self.settings_help)
        self.stack = QStackedWidget()
        # chat
        chat = QWidget()
        form = QFormLayout(chat)
        form.setContentsMargins(0, 4, 0, 0)
        form.setVerticalSpacing(10)
        self.conversation_combo = self._combo("Rows with the same value here belong to one conversation.")
        self.turn_combo = self._combo("Orders the messages of a conversation (numbers sort as numbers); "
                                      "file order when none.")
        self.role_combo = self._combo("Who speaks: user (or human, customer) / assistant (or bot, agent); "
                                      "an optional system row may come first.")
        self.content_combo = self._combo("The text of each message.")
        self.system_combo = self._combo("Optional: standing instructions for the whole conversation.")
        form.addRow("Conversation id", self.conversation_combo)
        form.addRow("Turn / order", self.turn_combo)
        form.addRow("Role", self.role_combo)
        form.addRow("Message text", self.content_combo)
        form.addRow("System prompt", self.system_combo)
        self.stack.addWidget(chat)
        # pre-training
        pre = QWidget()
        pre_layout = QVBoxLayout(pre)
        pre_layout.setContentsMargins(0, 4, 0, 0)
        self.text_list = QListWidget()
        self.text_list.setToolTip("Tick the columns whose text makes the documents (joined in this order).")
        self.text_list.itemChanged.connect(lambda _item: self.rebuild())
        self.text_list.setStyleSheet("QListWidget::item { padding: 5px 4px; }")
        self.text_list.setMaximumHeight(280)
        pre_layout.addWidget(self.text_list)
        sep_row = QHBoxLayout()
        sep_row.addWidget(QLabel("Join columns with"))
        self.separator_combo = QComboBox()
        self.separator_combo.addItems(list(SEPARATORS))
        self.separator_combo.currentIndexChanged.connect(lambda _i: self.rebuild())
        sep_row.addWidget(self.separator_combo, 1)
        pre_layout.addLayout(sep_row)
        pre_layout.addStretch(1)
        self.stack.addWidget(pre)
        layout.addWidget(self.stack, 1)

        self.use_button = QPushButton("Use for training")
        self.use_button.setProperty("variant", "primary")
        self.use_button.setToolTip("The Train page will train on this data.")
        self.use_button.clicked.connect(self.use_for_training)
        self.current_label = muted_label("")
        row = QHBoxLayout()
        row.addWidget(self.current_label, 1)
        row.addWidget(self.use_button)
        layout.addLayout(row)
        return frame

    def _build_preview(self) -> QWidget:
        frame, layout = card()
        head = QHBoxLayout()
        self.preview_title = section_label("Preview")
        head.addWidget(self.preview_title)
        head.addStretch(1)
        self.prev_button = QPushButton("◀")
        self.prev_button.setFixedWidth(40)
        self.next_button = QPushButton("▶")
        self.next_button.setFixedWidth(40)
        self.prev_button.clicked.connect(lambda: self.show_item(self._index - 1))
        self.next_button.clicked.connect(lambda: self.show_item(self._index + 1))
        self.position_label = QLabel("")
        self.position_label.setProperty("role", "muted")
        self.position_label.setMinimumWidth(150)
        self.position_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        for w in (self.prev_button, self.position_label, self.next_button):
            head.addWidget(w)
        layout.addLayout(head)
        self.banner = Banner()
        layout.addWidget(self.banner)
        self.preview = QTextBrowser()
        self.preview.setOpenLinks(False)
        self.tokens = TokenView()
        self.validation = ValidationPanel()
        self.validation.unit_requested.connect(self._show_unit)
        self.validation.row_requested.connect(self.show_rows)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.preview, "Conversation")
        self.tabs.addTab(self.tokens, "Tokens")
        self.tabs.addTab(self.validation, "Validation")
        self.tabs.currentChanged.connect(lambda _i: self.refresh_tab())
        layout.addWidget(self.tabs, 3)
        problems_head = QHBoxLayout()
        self.problems_title = section_label("Problems")
        problems_head.addWidget(self.problems_title)
        self.problems_ok = QLabel("✓  No problems found")
        self.problems_ok.setStyleSheet(f"color: {theme.SUCCESS};")
        problems_head.addWidget(self.problems_ok, 1)
        layout.addLayout(problems_head)
        self.problems_list = QListWidget()
        self.problems_list.setWordWrap(True)
        self.problems_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.problems_list.setMaximumHeight(150)
        self.problems_list.setToolTip("Click to see this conversation's rows.")
        self.problems_list.itemClicked.connect(lambda item: self._show_problem(self.problems_list.row(item)))
        layout.addWidget(self.problems_list)
        return frame

    # ------------------------------------------------------------------ state
    def set_mode(self, mode: str) -> None:
        """Show the ``"chat"`` or ``"pretrain"`` settings and rebuild the preview."""
        self.mode = mode
        self.active = True
        chat = mode == "chat"
        self.stack.setCurrentIndex(0 if chat else 1)
        self.settings_title.setText("Conversation columns" if chat else "Text columns")
        self.settings_help.setText(
            "One row per message: rows sharing a conversation id form one conversation, ordered by the turn "
            "column; roles must alternate user, assistant, … and end with the assistant." if chat else
            "Each row becomes one document of raw text (no template); the model learns to continue it.")
        self.preview_title.setText("Conversations" if chat else "Documents")
        self.tabs.setTabText(0, "Conversation" if chat else "Document")
        self.refresh_tab_problems()
        self.rebuild()

    def set_columns(self, columns: list[str], source: dict | None = None) -> None:
        """Fill the column choices (keeping the saved ``source``'s choice, else guessing by name)."""
        self._columns = list(columns)
        source = source or {}
        combos = [(self.conversation_combo, "conversation", "conversation_column", None),
                  (self.turn_combo, "turn", "turn_column", FILE_ORDER),
                  (self.role_combo, "role", "role_column", None),
                  (self.content_combo, "content", "content_column", None),
                  (self.system_combo, "system", "system_column", NONE)]
        taken: set[str] = set()
        for combo, kind, key, empty in combos:
            combo.blockSignals(True)
            combo.clear()
            if empty:
                combo.addItem(empty, None)
            for c in columns:
                combo.addItem(c, c)
            wanted = source.get(key) if source.get("kind") == "chat" else guess_column(columns, kind, taken)
            idx = combo.findData(wanted) if wanted else -1
            if idx < 0 and not empty and combo.count():
                idx = 0
            combo.setCurrentIndex(max(idx, 0))
            if combo.currentData():
                taken.add(combo.currentData())
            combo.blockSignals(False)
        ticked = source.get("text_columns") if source.get("kind") == "pretrain" else None
        if ticked is None:
            guess = guess_column(columns, "text")
            ticked = [guess] if guess else columns[:1]
        self.text_list.blockSignals(True)
        self.text_list.clear()
        for c in columns:
            item = QListWidgetItem(c)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if c in ticked else Qt.CheckState.Unchecked)
            self.text_list.addItem(item)
        self.text_list.blockSignals(False)
        if source.get("kind") == "pretrain":
            label = next((k for k, v in SEPARATORS.items() if v == source.get("separator")), "Blank line")
            self.separator_combo.blockSignals(True)
            self.separator_combo.setCurrentText(label)
            self.separator_combo.blockSignals(False)
        self._show_current()
        self.rebuild()

    def set_column(self, role: str, column: str | None) -> None:
        """Choose ``column`` for ``role`` (conversation, turn, role, content, system)."""
        combo = {"conversation": self.conversation_combo, "turn": self.turn_combo, "role": self.role_combo,
                 "content": self.content_combo, "system": self.system_combo}[role]
        combo.setCurrentIndex(max(combo.findData(column), 0))

    def set_text_columns(self, columns: list[str]) -> None:
        """Tick exactly ``columns`` as the pre-training text columns."""
        self.text_list.blockSignals(True)
        for i in range(self.text_list.count()):
            item = self.text_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in columns else Qt.CheckState.Unchecked)
        self.text_list.blockSignals(False)
        self.rebuild()

    def spec(self):
        """The ConversationSpec / PretrainSpec the controls describe."""
        from desktop_ift.core.templates.conversation import ConversationSpec, PretrainSpec

        if self.mode == "chat":
            return ConversationSpec(conversation_column=self.conversation_combo.currentData() or "",
                                    role_column=self.role_combo.currentData() or "",
                                    content_column=self.content_combo.currentData() or "",
                                    turn_column=self.turn_combo.currentData(),
                                    system_column=self.system_combo.currentData())
        texts = [self.text_list.item(i).text() for i in range(self.text_list.count())
                 if self.text_list.item(i).checkState() == Qt.CheckState.Checked]
        return PretrainSpec(text_columns=texts, separator=SEPARATORS[self.separator_combo.currentText()])

    # ------------------------------------------------------------------ build (off the GUI thread)
    def rebuild(self) -> None:
        """Build every conversation/document of the table in the background, then show the first."""
        from desktop_ift.core.templates.conversation import build_conversations, build_documents

        if not self.active:
            return
        self._generation += 1
        generation = self._generation
        table, spec = self.state.table(), self.spec()
        if self.state.dataset() is None:
            self._finish(generation, ([], [], "Import data on the Data page first."))
            return
        if table is None:
            self.banner.show_message("Loading the dataset…", "info")
            return
        if self.mode == "chat":
            chosen = [c for c in (spec.conversation_column, spec.role_column, spec.content_column) if c]
            if len(set(chosen)) < len(chosen):
                self._finish(generation, ([], [], self._columns_message()))
                return
        self.building = True
        mode = self.mode

        def work():
            if mode == "chat":
                items, problems = build_conversations(table, spec)
                return items, problems, ""
            return build_documents(table, spec), [], ""

        run_in_background(work, lambda result: self._finish(generation, result),
                          lambda exc: self._finish(generation, ([], [], str(exc))))

    def _columns_message(self) -> str:
        """Why the chosen chat columns cannot work: this table is not laid out as conversations (no column
        looks like a role), or the same column is chosen twice."""
        if guess_column(self._columns, "role") is None:
            shown = ", ".join(self._columns[:8]) + (", …" if len(self._columns) > 8 else "")
            return ("This table has no conversation columns. Multi-turn chat needs one row per message: a "
                    "conversation id, a role (user or assistant) and the message text — here the columns are "
                    f"{shown}. To make one example from each row, choose Format “Instruction (templates)”; "
                    "or pick the three columns above if they exist under other names.")
        return "Choose different columns for the conversation id, the role and the message text."

    def _finish(self, generation: int, result) -> None:
        if generation != self._generation:
            return
        self.building = False
        self.items, self.problems, self.error = result
        self._index = 0
        self.problems_list.clear()
        for p in self.problems:
            item = QListWidgetItem(status_icon("error"), p.text)
            item.setToolTip(p.text)
            self.problems_list.addItem(item)
        self.refresh_tab_problems()
        self._fit_problems_list()
        if self.error:
            not_chat = self.mode == "chat" and self.error == self._columns_message() \
                and guess_column(self._columns, "role") is None
            self.banner.show_message(self.error, "error", "This data is not in a conversation layout" if not_chat
                                     else "These settings cannot be used")
        elif self.problems:
            n = len(self.problems)
            self.banner.show_message(
                f"{n:,} conversation{'s' if n > 1 else ''} cannot be used (listed below); training is refused "
                "until they are fixed or removed on the Data page.", "error",
                f"{self.problems[0].text}")
        elif not self.items:
            self.banner.show_message("No conversation or document could be built from these columns.", "error")
        elif self.mode == "pretrain" and len(self.items) < self._n_rows():
            skipped = self._n_rows() - len(self.items)
            self.banner.show_message(f"{skipped:,} row{'s have' if skipped > 1 else ' has'} no text in these "
                                     "columns and will be left out.", "info")
        else:
            self.banner.clear()
        self.use_button.setEnabled(not self.error and not self.problems and bool(self.items))
        self._lengths, self._lengths_key, self.last_report = None, None, None
        self.show_item(0)
        if self.tabs.currentWidget() is self.validation:
            self.schedule_validation()

    def _n_rows(self) -> int:
        table = self.state.table()
        return table.num_rows if table is not None else 0

    def show_item(self, index: int) -> None:
        """Show conversation/document ``index`` of the last build."""
        n = len(self.items)
        word = "Conversation" if self.mode == "chat" else "Document"
        self.prev_button.setEnabled(n > 1)
        self.next_button.setEnabled(n > 1)
        if not n:
            self.position_label.setText(f"No {word.lower()}s")
            self.preview.setHtml("")
            return
        self._index = max(0, min(n - 1, index))
        item = self.items[self._index]
        self.position_label.setText(f"{word} {self._index + 1:,} of {n:,}")
        if self.mode == "chat":
            self.preview.setHtml(conversation_html(item))
        else:
            self.preview.setHtml(document_html(item))
        if self.tabs.currentWidget() is self.tokens:
            self.refresh_tokens()

    def _show_unit(self, index: int) -> None:
        """Show conversation/document ``index`` (a validation problem was clicked)."""
        self.tabs.setCurrentWidget(self.preview)
        self.show_item(index)

    def _show_problem(self, index: int) -> None:
        if 0 <= index < len(self.problems):
            self._show_broken(self.problems[index])

    def show_rows(self, row: int) -> None:
        """Show the conversation that holds table row ``row`` (built or not), or say the row has no text."""
        for u, item in enumerate(self.items):
            if row in item.get("rows", [item["idx"]]):
                self._show_unit(u)
                return
        broken = next((p for p in self.problems if row in p.rows), None)
        self.tabs.setCurrentWidget(self.preview)
        if broken is not None:
            self._show_broken(broken)
        else:
            self.position_label.setText(f"Row {row + 1:,}")
            self.preview.setHtml(f"<p style='color:#6b7280'>Row {row + 1:,} has no text in the chosen columns, so "
                                 "it is left out of training.</p>")

    def _show_broken(self, problem) -> None:
        """A conversation that cannot be used, as its rows say it (raw roles, in turn order)."""
        table, spec = self.state.table(), self.spec()
        if table is None or self.mode != "chat":
            return
        rows = problem.rows[:200]
        taken = table.take(rows)
        roles = taken.column(spec.role_column).to_pylist()
        texts = taken.column(spec.content_column).to_pylist()
        self.tabs.setCurrentWidget(self.preview)
        self.position_label.setText(f"Conversation {problem.conversation!r}")
        self.preview.setHtml(broken_html(problem, rows, roles, texts))

    # ------------------------------------------------------------------ tokens and validation (off the GUI thread)
    def _train_settings(self) -> tuple[int, bool]:
        cfg = self.state.setting("train_config") or {}
        return int(cfg.get("max_seq_length") or 256), bool(cfg.get("train_on_completion_only", True))

    def _load_tokenizer(self, folder):
        """The LightTokenizer of ``folder`` (runs in a worker thread; reuses the one loaded before)."""
        from desktop_ift.core.templates.token_preview import LightTokenizer

        loaded_folder, tok = self._tokenizer
        return tok if loaded_folder == folder else LightTokenizer(folder)

    def _prepare_demo_tokenizer(self) -> str:
        """Before the first run the demo model is not built: build it in the background (the tab refreshes
        when it is ready) and return what to show meanwhile ("" when the chosen model is not the demo)."""
        from desktop_ift.ui.preview_tokenizer import prepare_preview_tokenizer

        return prepare_preview_tokenizer(self, self.state, self.refresh_tab)

    def _fit_problems_list(self) -> None:
        """As tall as its problems (at most 150 px), so one problem does not leave a large empty box."""
        rows = sum(max(self.problems_list.sizeHintForRow(i), 20) for i in range(min(self.problems_list.count(), 6)))
        self.problems_list.setFixedHeight(min(150, rows + 8) if rows else 40)

    def refresh_tab_problems(self) -> None:
        """Show the inline problem list except on the Validation tab (which lists them itself)."""
        on_validation = self.tabs.currentWidget() is self.validation
        chat = self.mode == "chat" and not on_validation
        # "no problems" only when conversations were built: never beside a message saying nothing can be used
        all_good = chat and not self.problems and not self.error and bool(self.items) and not self.building
        self.problems_ok.setVisible(all_good)
        self.problems_title.setVisible(chat and (bool(self.problems) or all_good))
        self.problems_list.setVisible(bool(self.problems) and not on_validation)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        """Back on this page: the Train page's model or maximum length may have changed."""
        super().showEvent(event)
        self.refresh_tab()

    def refresh_tab(self) -> None:
        """Recompute what the visible tab shows (the page calls this when it is shown)."""
        self.refresh_tab_problems()  # the Validation tab lists the blocking problems itself
        if not self.active:
            return
        if self.tabs.currentWidget() is self.tokens:
            self.refresh_tokens()
        elif self.tabs.currentWidget() is self.validation:
            self.schedule_validation()

    def refresh_tokens(self) -> None:
        """The current conversation/document as the exact training text, token by token (in the background)."""
        from desktop_ift.core.templates.token_preview import preview_example

        self._token_generation += 1
        generation = self._token_generation
        folder, label = model_folder(self.state)
        if folder is None:
            why = self._prepare_demo_tokenizer()
            self.tokens.show_message(why or f"No tokenizer to preview with ({label}). Choose a model on the "
                                     "Train page.")
            return
        self.last_preview = None
        if not self.items:
            self.tokens.show_message("Nothing to show: no " + ("conversation" if self.mode == "chat" else "document")
                                     + " could be built from these columns.")
            return
        item = self.items[self._index]
        chat = self.mode == "chat"
        line = {"system": item.get("system", ""), "messages": item["messages"]} if chat else {"text": item["text"]}
        max_len, completion_only = self._train_settings()
        self.tokens_busy = True
        self.tokens.header.setText("Tokenizing…")

        def work():
            from desktop_ift.core.templates.format_lengths import uses_plain_chat_format

            tok = self._load_tokenizer(folder)
            preview = preview_example(tok, line, max_len, completion_only)
            plain = chat and uses_plain_chat_format(tok, line["system"], line["messages"])
            return tok, preview, plain

        def done(result):
            tok, preview, plain = result
            self._tokenizer = (folder, tok)
            if generation != self._token_generation:
                return
            self.tokens_busy = False
            self.last_preview = preview
            note = ""
            if plain:
                why = ("This model's tokenizer has no chat template" if not tok.chat_template else
                       "This model's chat template does not accept this conversation")
                note = (f"⚠ {why}, so training uses the plain layout shown here: each user turn as “### "
                        "Instruction:” … “### Response:”, then the answer and the end-of-text token.")
            n = len(self.items)
            where = f"{'Conversation' if chat else 'Document'} {self._index + 1:,} of {n:,} · {label}"
            self.tokens.show_preview(preview, where, note, split=not chat)

        def failed(exc):
            if generation == self._token_generation:
                self.tokens_busy = False
                self.tokens.show_message(f"The tokens cannot be shown: {exc}")

        run_in_background(work, done, failed)

    def schedule_validation(self) -> None:
        """Check all conversations/documents again shortly (only while the Validation tab is shown)."""
        if self.active and self.tabs.currentWidget() is self.validation:
            self._measure_timer.start()

    def _measure_now(self) -> None:
        """One background step: measure the next chunk of token lengths, then rebuild the report; repeats
        until everything is measured, unless the settings changed meanwhile."""
        from desktop_ift.core.templates.format_lengths import MeasuredLengths
        from desktop_ift.core.templates.validation import format_report

        if not self.active or self.building:
            return
        if self._measuring:
            self._measure_again = True
            return
        if self.error or self.state.dataset() is None:
            self.validation.show_error(self.error or "Import data on the Data page first.")
            return
        folder, _label = model_folder(self.state)
        self.validation.set_no_tokenizer_note(self._prepare_demo_tokenizer() if folder is None else "")
        key = (self._generation, str(folder))
        if key != self._lengths_key:
            self._lengths, self._lengths_key = MeasuredLengths(self.mode), key
        lengths, items, problems, kind = self._lengths, self.items, self.problems, self.mode
        n_rows, (max_len, completion_only) = self._n_rows(), self._train_settings()
        self._measuring = True
        if not self.last_report:
            self.validation.show_busy()

        def work():
            tok = self._load_tokenizer(folder) if folder is not None else None
            if tok is not None:
                lengths.extend(tok, items, MEASURE_CHUNK)
            report = format_report(kind, items, problems, n_rows, max_len, lengths if tok else None,
                                   completion_only)
            return tok, report

        def done(result):
            tok, report = result
            self._measuring = False
            if tok is not None:
                self._tokenizer = (folder, tok)
            current = key == self._lengths_key
            if current:
                self.last_report = report
                self.validation.show_report(report)
            unfinished = tok is not None and lengths.measured < len(items)
            if self._measure_again or (current and unfinished):
                self._measure_again = False
                if self.active and self.isVisible():
                    self._measure_now()

        def failed(exc):
            self._measuring = False
            self.validation.show_error(f"The check stopped: {exc}")

        run_in_background(work, done, failed)

    def measuring(self) -> bool:
        """True while token lengths are still being measured (or a measurement is about to start)."""
        return self._measuring or self._measure_timer.isActive() or self.building

    def preview_text(self) -> str:
        """The preview as plain text (for tests and accessibility)."""
        return self.preview.toPlainText()

    def problem_texts(self) -> list[str]:
        """Every problem shown, as text."""
        return [self.problems_list.item(i).text() for i in range(self.problems_list.count())]

    # ------------------------------------------------------------------ save
    def use_for_training(self) -> bool:
        """Save the spec as the project's training source (refused while anything is wrong)."""
        from desktop_ift.core.templates.library import set_training_source

        if self.building or self.error or self.problems or not self.items:
            self.banner.show_message(self.error or (self.problems[0].text if self.problems else
                                                    "Nothing to train on yet."), "error",
                                     "Fix the problems first; the training data is unchanged")
            return False
        spec = self.spec()
        set_training_source(self.state.store, self.state.project.id, spec.to_dict())
        self.state.project = self.state.store.get_project(self.state.project.id)
        self._show_current()
        what = "multi-turn chat" if self.mode == "chat" else "continued pre-training"
        self.saved.emit(f"Training will use {len(self.items):,} {what} "
                        f"{'conversations' if self.mode == 'chat' else 'documents'}.")
        return True

    def _show_current(self) -> None:
        source = self.state.setting("training_source") or {}
        kind = source.get("kind")
        if kind == "chat":
            text = (f"Training uses: multi-turn chat ({source.get('conversation_column')}, "
                    f"{source.get('role_column')}, {source.get('content_column')})")
        elif kind == "pretrain":
            text = f"Training uses: continued pre-training ({', '.join(source.get('text_columns') or [])})"
        else:
            text = "Training uses: instruction templates"
        self.current_label.setText(text)


def conversation_html(conv: dict) -> str:
    """A conversation as labelled bubbles (system, then user/assistant), assistant turns highlighted."""
    parts = [f"<p style='color:#6b7280; font-size:11px'>Conversation {html.escape(conv['conversation'])} · "
             f"rows {', '.join(str(r + 1) for r in conv['rows'][:12])}{' …' if len(conv['rows']) > 12 else ''}</p>"]
    if conv.get("system"):
        parts.append(_bubble("SYSTEM", conv["system"], "#f9fafb", "#e5e7eb"))
    for m in conv["messages"]:
        if m["role"] == "assistant":
            parts.append(_bubble("ASSISTANT", m["content"], theme.ACCENT_SOFT, "#c7d2fe",
                                 "what the model learns to answer"))
        else:
            parts.append(_bubble("USER", m["content"], "#f9fafb", "#e5e7eb"))
    return "<div style='font-size:13px; color:#1f2937'>" + "".join(parts) + "</div>"


def broken_html(problem, rows: list[int], roles: list, texts: list) -> str:
    """A conversation that cannot be used: the problem, then its rows as the table has them."""
    parts = [f"<p style='color:{theme.DANGER}; font-size:12px'><b>This conversation cannot be used:</b> "
             f"{html.escape(problem.message)}</p>"]
    for row, role, text in zip(rows, roles, texts):
        parts.append(_bubble(f"ROW {row + 1:,} · {str(role).upper()}", "" if text is None else str(text),
                             "#fef2f2", "#fecaca"))
    return "<div style='font-size:13px; color:#1f2937'>" + "".join(parts) + "</div>"


def document_html(doc: dict) -> str:
    """A pre-training document, whole."""
    return ("<div style='font-size:13px; color:#1f2937'>"
            f"<p style='color:#6b7280; font-size:11px'>Row {doc['idx'] + 1:,} · {len(doc['text']):,} characters</p>"
            + _bubble("TEXT", doc["text"], "#f9fafb", "#e5e7eb", "the model learns every token") + "</div>")


def _bubble(label: str, text: str, bg: str, border: str, note: str = "") -> str:
    body = html.escape(text) if text else "<span style='color:#9ca3af'>(empty)</span>"
    note_html = f" <span style='color:#9ca3af; font-weight:normal'>— {note}</span>" if note else ""
    return (f"<p style='margin:0 0 4px 0; font-size:11px; font-weight:600; color:#6b7280; letter-spacing:1px'>"
            f"{label}{note_html}</p><table width='100%' cellspacing='0' cellpadding='10' style='margin-bottom:12px; "
            f"background:{bg}; border:1px solid {border}'><tr><td style='white-space:pre-wrap'>{body}</td></tr>"
            "</table>")
