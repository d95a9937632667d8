"""The right-hand tools of the Templates page: the template set, the validation of every row, and the
token preview of the current row. Heavy work (rendering every row, tokenizing) runs off the GUI thread and
is cached, so typing stays fluid."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from desktop_ift.core.models.bundled import bundled_model_dir, bundled_tokenizer_dir
from desktop_ift.core.templates.render import TemplateError
from desktop_ift.core.templates.template_set import TemplateSet, render_set
from desktop_ift.ui.tasks import run_in_background
from desktop_ift.ui.widgets.template_set_panel import TemplateSetPanel
from desktop_ift.ui.widgets.template_token_view import TokenView
from desktop_ift.ui.widgets.template_validation_panel import ValidationPanel

VALIDATE_DELAY_MS = 600


def model_folder(state) -> tuple[Path | None, str]:
    """The folder whose tokenizer the preview uses (the Train page's choice; the demo model if built)."""
    from desktop_ift.core.training.tiny_model import DEMO_MODEL_DIRNAME

    chosen = state.setting("train_model") or "demo"
    if chosen == "smollm2":  # the bundled model: its converted folder, else its tokenizer saved alone
        converted, alone = bundled_model_dir(state.store.home), bundled_tokenizer_dir(state.store.home)
        chosen = str(alone if not (converted / "tokenizer.json").exists() else converted)
        if not (Path(chosen) / "tokenizer.json").exists():
            return None, converted.name
    if chosen == "demo":
        folder = state.store.models_dir / DEMO_MODEL_DIRNAME
        return (folder if (folder / "tokenizer.json").exists() else None), "demo model"
    folder = Path(chosen)
    return (folder if folder.is_dir() else None), folder.name


class TemplateToolsPanel(QWidget):
    """Tabs: *Template set*, *Validation*, *Tokens*. The page calls :meth:`refresh` when the template
    text, the row or the data change; ``row_requested`` asks the page to show a row."""

    row_requested = Signal(int)
    location_requested = Signal(str, int, int)
    set_changed = Signal()

    def __init__(self, state, current_template, current_row, parent: QWidget | None = None):
        """``current_template()`` -> (template id or 0, PromptTemplate or None); ``current_row()`` -> row index."""
        super().__init__(parent)
        self.state = state
        self._current_template = current_template
        self._current_row = current_row
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget()
        self.set_panel = TemplateSetPanel()
        self.validation = ValidationPanel()
        self.tokens = TokenView()
        self.tabs.addTab(self.set_panel, "Template set")
        self.tabs.addTab(self.validation, "Validation")
        self.tabs.addTab(self.tokens, "Tokens")
        layout.addWidget(self.tabs)
        self.set_panel.changed.connect(self._set_edited)
        self.validation.row_requested.connect(self.row_requested)
        self.validation.location_requested.connect(self.location_requested)
        self.tabs.currentChanged.connect(lambda _i: self.refresh())
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(VALIDATE_DELAY_MS)
        self._timer.timeout.connect(self._validate_now)
        self._tokenizer = None
        self._tokenizer_folder = None
        self._cache = None
        self._generation = 0
        self.last_report = None
        self._shown_for = None  # the Train page's choice the shown lengths were computed with (refresh)

    # ------------------------------------------------------------------ the set
    def load_set(self) -> None:
        """Show the project's templates, ticked as in the project's current choice."""
        settings = self.state.project.settings
        source = settings.get("training_source") or {}
        ticked, weights, mode, seed = [self.state.template_id] if self.state.template_id else [], {}, "random", 0
        if source.get("kind") == "template" and source.get("template_id"):
            ticked = [int(source["template_id"])]
        elif source.get("kind") == "nothing":
            ticked = []
        if source.get("kind") == "template_set" and source.get("set_id"):
            from desktop_ift.core.templates.library import LibraryError, get_set

            try:
                rec = get_set(self.state.store, int(source["set_id"]))
                ticked, mode, seed = rec.template_ids, rec.mode, rec.seed
                weights = dict(zip(rec.template_ids, rec.weights or []))
            except LibraryError:
                pass
        self.set_panel.set_templates(self.state.templates(), ticked, weights, mode, seed)
        if not source and ticked:  # what the tab shows ticked is the training choice from now on
            self.save_as_training_choice()
        self._show_counts()

    def template_set(self):
        """The ticked templates (the one being edited with its unsaved text), or None."""
        template_id, template = self._current_template()
        try:
            return self.set_panel.template_set({template_id: template} if template_id and template else None)
        except ValueError:
            return None

    def save_as_training_choice(self) -> str:
        """Remember the ticked templates as what the project trains on; returns a sentence saying what."""
        from desktop_ift.core.templates.library import save_set

        ids = self.set_panel.ticked_ids()
        if len(ids) == 1:
            self.state.remember(training_source={"kind": "template", "template_id": ids[0]})
            return "Training will use this template."
        if not ids:
            self.state.remember(training_source={"kind": "nothing"})
            return "No template is ticked: tick one in the Template set tab to train."
        weights = self.set_panel.weights() if self.set_panel.mode() == "random" else None
        record = save_set(self.state.store, self.state.project.id, "Template set", ids, self.set_panel.mode(),
                          weights, self.set_panel.seed_spin.value())
        self.state.remember(training_source={"kind": "template_set", "set_id": record.id})
        return f"Training will use the set of {len(ids)} templates ({self.set_panel.mode().replace('_', '-')})."

    def _set_edited(self) -> None:
        self._show_counts()
        self.set_changed.emit()
        self.schedule_validation()

    def _show_counts(self) -> None:
        dataset = self.state.dataset()
        self.set_panel.show_counts(dataset.n_rows if dataset else 0)

    # ------------------------------------------------------------------ validation
    def schedule_validation(self) -> None:
        """Check every row again shortly (only while the Validation tab is shown: it is the costly part)."""
        if self.tabs.currentWidget() is self.validation:
            self._timer.start()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        """Back on this page: when the Train page's model or maximum length changed meanwhile, the lengths,
        truncation and validation shown are recomputed with them."""
        super().showEvent(event)
        choice = self._training_choice()
        if self._shown_for is not None and self._shown_for != choice:
            self.refresh()
        self._shown_for = choice

    def _training_choice(self) -> tuple:
        """What the lengths shown depend on, from the Train page: the tokenizer's folder and the maximum length."""
        return model_folder(self.state)[0], self._max_len()

    def refresh(self) -> None:
        """Recompute what the visible tab shows (validation is debounced)."""
        self._shown_for = self._training_choice()
        self._show_counts()
        self.schedule_validation()
        if self.tabs.currentWidget() is self.tokens:
            self.refresh_tokens()

    def _ensure_tokenizer(self):
        from desktop_ift.core.templates.token_preview import LightTokenizer, PreviewError, TokenLengthCache

        folder, label = model_folder(self.state)
        if folder is None:
            return None, self._prepare_demo_tokenizer() or label
        if folder != self._tokenizer_folder:
            try:
                self._tokenizer = LightTokenizer(folder)
            except (PreviewError, OSError, ValueError) as exc:
                self._tokenizer, self._tokenizer_folder = None, None
                return None, str(exc)
            self._tokenizer_folder = folder
            self._cache = TokenLengthCache()
        return self._tokenizer, label

    def _prepare_demo_tokenizer(self) -> str:
        """Before the first run the demo model is not built: build it in the background (the tabs refresh
        when it is ready) and return what to show meanwhile ("" when the chosen model is not the demo)."""
        from desktop_ift.ui.preview_tokenizer import prepare_preview_tokenizer

        return prepare_preview_tokenizer(self, self.state, self.refresh)

    def _max_len(self) -> int:
        from desktop_ift.core.demo import DEMO_TRAIN_CONFIG

        # the Train page's setting; before it saved one, the same default training starts from
        return int((self.state.setting("train_config") or {}).get("max_seq_length")
                   or DEMO_TRAIN_CONFIG.max_seq_length)

    def _validate_now(self) -> None:
        from desktop_ift.core.templates.validation import validate

        if not self.isVisible():
            return
        try:
            dataset = self.state.dataset()
            table = self.state.table() if dataset else None
        except Exception:  # the workspace was closed under us (the window is going away)
            return
        template_set = self.template_set()
        if table is None or template_set is None:
            self.validation.show_error("Choose a dataset and tick at least one template to check it.")
            return
        tokenizer, why = self._ensure_tokenizer()
        self.validation.set_no_tokenizer_note(why if tokenizer is None else "")
        cache, max_len = self._cache, self._max_len()
        data_key = f"{dataset.id}:{dataset.version}"
        self._generation += 1
        generation = self._generation
        self.validation.show_busy()

        def work():
            return validate(template_set, table, tokenizer, max_len, cache, data_key)

        def done(report):
            if generation == self._generation:
                self.last_report = report
                self.validation.show_report(report)

        def failed(exc):
            if generation == self._generation:
                self.validation.show_error(f"The check stopped: {exc}")

        run_in_background(work, done, failed)

    # ------------------------------------------------------------------ tokens
    def refresh_tokens(self) -> None:
        from desktop_ift.core.templates.token_preview import preview_example

        tokenizer, label = self._ensure_tokenizer()
        if tokenizer is None:
            from desktop_ift.ui.preview_tokenizer import PREPARING

            self.tokens.show_message(label if label == PREPARING or label.startswith("The demo model") else
                                     f"No tokenizer to preview with ({label}). Choose a model on the Train page.")
            return
        table = self.state.table() if self.state.dataset() else None
        template_id, template = self._current_template()
        if table is None or template is None or table.num_rows == 0:
            self.tokens.show_message("Choose a dataset with rows to preview the tokens.")
            return
        row = min(max(self._current_row(), 0), table.num_rows - 1)
        try:
            line = render_set(TemplateSet.single(template), table.slice(row, 1))[0]
            preview = preview_example(tokenizer, line, self._max_len())
        except TemplateError as exc:
            self.tokens.show_message(f"Fix the template first: {exc}")
            return
        except Exception as exc:  # a chat template that rejects the messages, ...
            self.tokens.show_message(f"The model's chat template cannot format this example ({exc}).")
            return
        self.tokens.show_preview(preview, label)
