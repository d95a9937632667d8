"""The playground tab: chat with the base model or a fine-tuned run, answers streamed token by token.

The model runs in a long-lived worker process (job kind ``chat``) started with QProcess: requests are JSON
lines written to its stdin, answers come back as ``output`` events on its stdout. Closing the tab's session
(or the window) closes stdin, and the worker ends by itself; nothing heavy runs in the GUI.
"""

from __future__ import annotations

import html
import json
import time

from PySide6.QtCore import QProcess, Signal
from PySide6.QtWidgets import (
    QApplication, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLineEdit, QPlainTextEdit, QPushButton, QSpinBox,
    QTextBrowser, QWidget,
)

from desktop_ift.core import events as ev
from desktop_ift.core.jobs import JobError, worker_command
from desktop_ift.core.training.config import GenerationConfig
from desktop_ift.ui import theme
from desktop_ift.ui.widgets.page import card, muted_label, section_label


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
        side_layout.addWidget(self.system_edit)
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
        self.clear_button = QPushButton("New conversation")
        self.clear_button.clicked.connect(self.clear)
        head.addWidget(self.clear_button)
        chat_layout.addLayout(head)
        self.transcript = QTextBrowser()
        chat_layout.addWidget(self.transcript, 1)
        row = QHBoxLayout()
        self.input = QLineEdit()
        self.input.setPlaceholderText("Type a message and press Enter")
        self.input.returnPressed.connect(self.send)
        self.send_button = QPushButton("Send")
        self.send_button.setProperty("variant", "primary")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_answer)
        row.addWidget(self.input, 1)
        row.addWidget(self.send_button)
        row.addWidget(self.stop_button)
        chat_layout.addLayout(row)
        outer.addWidget(chat, 1)
        self.reload_models()
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
        text = self.input.text().strip()
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
        for m in self.messages + ([{"role": "assistant", "content": self.partial + " ▍"}]
                                  if self.pending is not None else []):
            mine = m["role"] == "user"
            bg = theme.ACCENT_SOFT if mine else "#f3f4f6"
            who = "You" if mine else "Model"
            parts.append(f"<p style='margin:10px 0 2px 0; font-size:11px; font-weight:600; color:{theme.MUTED}'>"
                         f"{who}</p><table width='100%' cellpadding='8' style='background:{bg}'><tr><td "
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
        if not self.transcript.toPlainText():
            self._render()
