"""The playground tab: chat with the base model or a fine-tuned run, answers streamed token by token.

The model runs in a long-lived worker process (job kind ``chat``) started with QProcess: requests are JSON
lines written to its stdin, answers come back as ``output`` events on its stdout. Closing the tab's session
(or the window) closes stdin, and the worker ends by itself; nothing heavy runs in the GUI.
"""

from __future__ import annotations

import html
import json
import time

from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtWidgets import (
    QApplication, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QPlainTextEdit, QPushButton, QSpinBox,
    QTextBrowser, QVBoxLayout, QWidget,
)

from desktop_ift.core import events as ev
from desktop_ift.core.job_format import JobError, worker_command
from desktop_ift.core.training.config import GenerationConfig
from desktop_ift.ui import theme
from desktop_ift.ui.widgets.page import card, muted_label, section_label


class ChatInput(QPlainTextEdit):
    """The message box: several lines; Enter sends, Shift+Enter starts a new line (as in chat apps)."""

    send_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setTabChangesFocus(True)
        lines = 3
        self.setFixedHeight(self.fontMetrics().lineSpacing() * lines + 16)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.AltModifier):
            self.send_requested.emit()
            return
        if enter:  # Shift+Enter: a new line, whatever the platform sends for it
            self.insertPlainText("\n")
            return
        super().keyPressEvent(event)

    def text(self) -> str:
        return self.toPlainText()

    def setText(self, text: str) -> None:  # noqa: N802 - the QLineEdit name, kept for callers
        self.setPlainText(text)


class PlaygroundWidget(QWidget):
    """Pick a model, load it once, then chat. ``state`` is the app's AppState (store, runs)."""

    status_changed = Signal(str)

    def __init__(self, state, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.proc: QProcess | None = None
        self.buffer = ev.LineBuffer()
        self.ready = False
        self.messages: list[dict] = []
        self.pending: int | None = None
        self.partial = ""
        self.request_no = 0
        self.run_id = ""

        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(12)
        side, side_layout = card()
        side.setFixedWidth(320)
        side_layout.addWidget(section_label("Model"))
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The base model, or a finished training run's fine-tuned model.")
        side_layout.addWidget(self.model_combo)
        row = QHBoxLayout()
        self.load_button = QPushButton("Load model")
        self.load_button.setProperty("variant", "primary")
        self.load_button.clicked.connect(self.load)
        self.unload_button = QPushButton("Unload")
        self.unload_button.clicked.connect(self.unload)
        row.addWidget(self.load_button)
        row.addWidget(self.unload_button)
        side_layout.addLayout(row)
        self.status = muted_label("No model loaded.")
        side_layout.addWidget(self.status)
        side_layout.addSpacing(6)
        side_layout.addWidget(section_label("System prompt"))
        self.system_edit = QPlainTextEdit()
        self.system_edit.setPlaceholderText("Optional: instructions the model sees before the conversation.")
        self.system_edit.setFixedHeight(70)
        self.system_edit.setToolTip("Filled in from the system text of the template the model was trained with "
                                    "(the same words it learned with). Edit it freely.")
        side_layout.addWidget(self.system_edit)
        self.system_note = muted_label("")
        side_layout.addWidget(self.system_note)
        self._prefilled = ""  # the system text put in by the app (replaced on a model change unless edited)
        side_layout.addWidget(section_label("Decoding"))
        form = QFormLayout()
        defaults = GenerationConfig(max_new_tokens=128)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 4096)
        self.max_tokens.setValue(defaults.max_new_tokens)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.7)
        self.top_p = QDoubleSpinBox()
        self.top_p.setRange(0.05, 1.0)
        self.top_p.setSingleStep(0.05)
        self.top_p.setValue(0.95)
        self.repetition = QDoubleSpinBox()
        self.repetition.setRange(0.5, 2.0)
        self.repetition.setSingleStep(0.05)
        self.repetition.setValue(1.1)
        helps = {f.name: f.metadata.get("help", "") for f in GenerationConfig.__dataclass_fields__.values()}
        for label, widget, name in (("Max new tokens", self.max_tokens, "max_new_tokens"),
                                    ("Temperature", self.temperature, "temperature"),
                                    ("Top-p", self.top_p, "top_p"),
                                    ("Repetition penalty", self.repetition, "repetition_penalty")):
            widget.setToolTip(helps.get(name, ""))
            form.addRow(label, widget)
        side_layout.addLayout(form)
        side_layout.addStretch(1)
        outer.addWidget(side, 0)

        chat, chat_layout = card()
        head = QHBoxLayout()
        head.addWidget(section_label("Conversation"))
        head.addStretch(1)
        self.copy_button = QPushButton("Copy answer")
        self.copy_button.setToolTip("Copy the model's last answer to the clipboard.")
        self.copy_button.clicked.connect(lambda: self.copy_answer())
        head.addWidget(self.copy_button)
        self.clear_button = QPushButton("New conversation")
        self.clear_button.clicked.connect(self.clear)
        head.addWidget(self.clear_button)
        chat_layout.addLayout(head)
        self.transcript = QTextBrowser()
        self.transcript.setOpenLinks(False)
        self.transcript.anchorClicked.connect(self._link_clicked)  # "Copy" under each answer
        chat_layout.addWidget(self.transcript, 1)
        row = QHBoxLayout()
        self.input = ChatInput()
        self.input.setPlaceholderText("Type a message. Enter sends, Shift+Enter starts a new line.")
        self.input.send_requested.connect(self.send)
        self.send_button = QPushButton("Send")
        self.send_button.setProperty("variant", "primary")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_answer)
        self.stop_button.setToolTip("Stop the answer being written (what came so far is kept).")
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        row.addWidget(self.input, 1)
        row.addLayout(buttons)
        chat_layout.addLayout(row)
        outer.addWidget(chat, 1)
        self.reload_models()
        self.model_combo.currentIndexChanged.connect(lambda _i: self.prefill_system())
        self.prefill_system()
        self._update()
        app = QApplication.instance()
        if app is not None:  # quitting the app ends the chat worker cleanly (its run is marked finished)
            app.aboutToQuit.connect(self.unload)

    # ------------------------------------------------------------------ models
    def reload_models(self) -> None:
        """Fill the model list: the base model of the project's runs, then each finished run."""
        current = self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        runs = [r for r in self.state.runs("train") if r.status == "finished"]
        bases = []
        for run in runs:
            base = (run.config or {}).get("model") or "demo"
            if base not in bases:
                bases.append(base)
        for base in bases or ["demo"]:
            name = "the demo model" if base == "demo" else base.rstrip("/").split("/")[-1]
            self.model_combo.addItem(f"Base: {name}", ("base", base))
        for run in runs:
            when = time.strftime("%d %b %H:%M", time.localtime(run.created_at))
            self.model_combo.addItem(f"Fine-tuned: {run.name or run.id} — {when}", ("run", run.id))
        idx = self.model_combo.findData(current) if current else -1
        self.model_combo.setCurrentIndex(max(idx, 0))
        self.model_combo.blockSignals(False)

    def training_system(self) -> tuple[str, str]:
        """The system text the chosen model was trained with, and where it comes from: a fine-tuned run's
        template (as recorded in the run), else the project's current template."""
        data = self.model_combo.currentData()
        if data and data[0] == "run":
            try:
                run = self.state.store.get_run(data[1])
            except Exception:  # a deleted run: nothing to prefill
                return "", ""
            template = ((run.config or {}).get("source") or {}).get("template") or {}
            if template:
                return str(template.get("system") or ""), f"the template “{template.get('name') or '?'}” that " \
                    "trained this model"
            return "", ""
        record = self.state.template() if hasattr(self.state, "template") else None
        if record is None:
            return "", ""
        return record.system or "", f"the template “{record.name}”"

    def prefill_system(self) -> None:
        """Put the training template's system text in the system field, unless the user wrote their own."""
        if self.system_edit.toPlainText() not in ("", self._prefilled):
            return
        text, where = self.training_system()
        self._prefilled = text
        self.system_edit.setPlainText(text)
        self.system_note.setText(f"From {where}, as in training. Edit it freely." if text else
                                 "The training template has no system text.")

    def copy_answer(self, index: int | None = None) -> str:
        """Copy the model's answer ``index`` (of the conversation's messages; default the last) to the
        clipboard; returns it."""
        answers = [i for i, m in enumerate(self.messages) if m["role"] == "assistant"]
        if index is None:
            index = answers[-1] if answers else -1
        if index not in answers:
            return ""
        text = self.messages[index]["content"]
        QApplication.clipboard().setText(text)
        self._set_status("Answer copied to the clipboard.")
        return text

    def _link_clicked(self, url) -> None:
        if url.scheme() == "copy":
            self.copy_answer(int(url.path() or url.host() or -1))

    def _target(self) -> tuple[str, str | None, str]:
        kind, value = self.model_combo.currentData()
        if kind == "base":
            return value, None, "base"
        from desktop_ift.core.evaluation.eval_jobs import chat_target

        model, adapter = chat_target(self.state.store, value)
        return model, adapter, "fine-tuned"

    # ------------------------------------------------------------------ process
    def load(self) -> None:
        """Start a chat worker for the chosen model (a running one is closed first)."""
        self.unload()
        from desktop_ift.core.evaluation.eval_jobs import prepare_chat_job

        try:
            model, adapter, label = self._target()
            run, job_path = prepare_chat_job(self.state.store, model, adapter=adapter, label=label,
                                             project_id=getattr(self.state.project, "id", None))
        except JobError as exc:
            self._set_status(str(exc), error=True)
            return
        self.run_id = run.id
        self.buffer = ev.LineBuffer()
        proc = QProcess(self)
        command = worker_command(job_path)
        proc.setProgram(command[0])
        proc.setArguments(command[1:])
        proc.readyReadStandardOutput.connect(self._read)
        proc.finished.connect(self._ended)
        self.proc = proc
        self.ready = False
        proc.start()
        self._set_status("Starting the model process…")
        self._update()

    def unload(self) -> None:
        """Close the worker's stdin (it ends by itself) and forget the process."""
        proc, self.proc = self.proc, None
        self.ready = False
        if proc is not None and proc.state() != QProcess.ProcessState.NotRunning:
            if self.pending is not None:
                proc.write((json.dumps({"cancel": self.pending}) + "\n").encode("utf-8"))
            proc.closeWriteChannel()  # the worker finishes its run and exits by itself
            if not proc.waitForFinished(1000):
                proc.terminate()  # SIGTERM: the worker stops and records its end
        self.pending = None
        self._set_status("No model loaded.")
        self._update()

    def _read(self) -> None:
        if self.proc is None:
            return
        for line in self.buffer.feed(bytes(self.proc.readAllStandardOutput())):
            try:
                self.on_event(ev.decode(line))
            except ev.EventDecodeError:
                continue

    def _ended(self, *_args) -> None:
        if self.proc is not None:
            self._read()
            self.proc = None
            self.ready = False
            if not self.status.text().startswith("The model"):
                self._set_status("The model process ended.")
            self._update()

    def on_event(self, event: ev.Event) -> None:
        """Apply one event from the chat worker."""
        if isinstance(event, ev.Progress):
            if event.stage == "ready":
                self.ready = True
            self._set_status(event.message or event.stage)
        elif isinstance(event, ev.Output):
            if event.request != self.pending:
                return
            if event.done:
                self.messages.append({"role": "assistant", "content": event.text})
                self.pending = None
                self.partial = ""
            else:
                self.partial += event.text
            self._render()
        elif isinstance(event, ev.Failed):
            self._set_status(f"The model could not be loaded: {event.message} {event.hint}", error=True)
            self.ready = False
        self._update()

    # ------------------------------------------------------------------ chat
    def generation(self) -> dict:
        """The decoding settings of the side panel, as GenerationConfig fields."""
        return GenerationConfig(max_new_tokens=self.max_tokens.value(), temperature=self.temperature.value(),
                                top_p=self.top_p.value(), repetition_penalty=self.repetition.value()).to_dict()

    def send(self) -> None:
        """Send the typed message with the whole conversation so far."""
        text = self.input.toPlainText().strip()
        if not text or not self.ready or self.pending is not None or self.proc is None:
            return
        self.request_no += 1
        self.messages.append({"role": "user", "content": text})
        self.pending = self.request_no
        self.partial = ""
        request = {"request": self.request_no, "messages": self.messages,
                   "system": self.system_edit.toPlainText().strip(), "generation": self.generation()}
        self.proc.write((json.dumps(request) + "\n").encode("utf-8"))
        self.input.clear()
        self._render()
        self._update()

    def stop_answer(self) -> None:
        """Ask the worker to stop the answer being generated (what came so far is kept)."""
        if self.proc is not None and self.pending is not None:
            self.proc.write((json.dumps({"cancel": self.pending}) + "\n").encode("utf-8"))

    def clear(self) -> None:
        """Start a new conversation (the model stays loaded)."""
        if self.pending is None:
            self.messages = []
            self._render()

    def _render(self) -> None:
        parts = []
        shown = self.messages + ([{"role": "assistant", "content": self.partial + " ▍"}]
                                 if self.pending is not None else [])
        for i, m in enumerate(shown):
            mine = m["role"] == "user"
            bg = theme.ACCENT_SOFT if mine else "#f3f4f6"
            who = "You" if mine else "Model"
            copy = (f" · <a href='copy:{i}' style='color:{theme.ACCENT}; font-weight:normal'>Copy</a>"
                    if not mine and i < len(self.messages) else "")
            parts.append(f"<p style='margin:10px 0 2px 0; font-size:11px; font-weight:600; color:{theme.MUTED}'>"
                         f"{who}{copy}</p><table width='100%' cellpadding='8' style='background:{bg}'><tr><td "
                         f"style='white-space:pre-wrap'>{html.escape(m['content'])}</td></tr></table>")
        self.transcript.setHtml("".join(parts) or f"<p style='color:{theme.MUTED}'>Load a model, then type a "
                                "message. Answers appear word by word as the model writes them.</p>")
        bar = self.transcript.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color:{theme.DANGER}" if error else "")
        self.status_changed.emit(text)

    def _update(self) -> None:
        running = self.proc is not None
        self.unload_button.setEnabled(running)
        can_send = self.ready and self.pending is None
        self.send_button.setEnabled(can_send)
        self.input.setEnabled(self.ready)
        self.stop_button.setEnabled(self.pending is not None)
        self.clear_button.setEnabled(self.pending is None and bool(self.messages))
        self.copy_button.setEnabled(any(m["role"] == "assistant" for m in self.messages))
        if not self.transcript.toPlainText():
            self._render()
