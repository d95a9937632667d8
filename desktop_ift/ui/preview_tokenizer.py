"""The demo model's tokenizer for the Templates page's token counts, from the very first launch.

Before any training run the demo model's folder does not exist yet (the first demo run builds it). The
Validation and Tokens tabs need its tokenizer, so the demo model is built here once, in a child process
(it imports torch and transformers, which the GUI never does), and the tabs refresh when it is ready. The
first demo training run then finds the same model already built (same seed, same texts).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal
from PySide6.QtWidgets import QApplication

from desktop_ift.core.models.bundled import bundled_available

BUILD_CODE = ("import sys; from desktop_ift.core.training.tiny_model import ensure_demo_model; "
              "ensure_demo_model(sys.argv[1])")
#: the bundled SmolLM2 (the default since #14): its tokenizer alone, read from its GGUF (seconds; the weights
#: are converted when training needs them)
BUNDLED_BUILD_CODE = ("import sys; from desktop_ift.core.models.bundled import ensure_bundled_tokenizer; "
                      "ensure_bundled_tokenizer(sys.argv[1])")
PREPARING = ("Preparing the demo model's tokenizer to count tokens (first launch only, a few seconds)…")


def demo_chosen(state) -> bool:
    """Whether the Train page's model is one the app builds itself (the tiny demo model, or the bundled
    SmolLM2 when installed), whose tokenizer may not be there yet; the builder then prepares it."""
    chosen = state.setting("train_model") or "demo"
    if chosen == "smollm2":
        return bundled_available()
    return chosen == "demo"


class DemoTokenizerBuilder(QObject):
    """Builds ``<workspace>/models/<demo>`` once in a child process; ``ready`` when done, ``failed(str)``
    with the reason otherwise. One per workspace (:meth:`for_workspace`)."""

    ready = Signal()
    failed = Signal(str)
    _instances: dict[str, DemoTokenizerBuilder] = {}

    def __init__(self, workspace: Path, parent: QObject | None = None):
        super().__init__(parent)
        self.workspace = Path(workspace)
        self.process: QProcess | None = None
        self.error = ""

    @classmethod
    def for_workspace(cls, workspace: Path | str) -> DemoTokenizerBuilder:
        key = str(Path(workspace).resolve())
        builder = cls._instances.get(key)
        if builder is None:
            builder = cls(Path(key), QApplication.instance())
            cls._instances[key] = builder
        return builder

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def ensure(self, model: str = "demo") -> bool:
        """Start the build of ``model``'s tokenizer ("demo" or "smollm2") unless a build runs already or failed
        before; True while it is under way."""
        if self.running:
            return True
        if self.error:
            return False
        process = QProcess(self)
        process.setProgram(sys.executable)
        process.setArguments(["-c", BUNDLED_BUILD_CODE if model == "smollm2" else BUILD_CODE, str(self.workspace)])
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.finished.connect(self._finished)
        self.process = process
        process.start()
        return True

    def _finished(self, code: int, _status) -> None:
        process, self.process = self.process, None
        if code == 0:
            self.ready.emit()
            return
        tail = bytes(process.readAll()).decode("utf-8", "replace").strip().splitlines()[-3:] if process else []
        self.error = ("The demo model's tokenizer could not be prepared, so tokens are not counted: "
                      + (" ".join(tail) or f"exit code {code}"))
        self.failed.emit(self.error)

    def wait(self, ms: int = 60000) -> bool:
        """Block until the build ends (tests); True when it succeeded."""
        if self.process is not None:
            self.process.waitForFinished(ms)
        return not self.error


def prepare_preview_tokenizer(owner, state, on_ready) -> str:
    """For a panel that previews tokens: before the chosen model's tokenizer exists (the demo model not yet
    built, the installed SmolLM2 not yet read), prepare it in the background, calling ``on_ready`` once it is
    there, and return what to show meanwhile ("" when the chosen model needs nothing prepared)."""
    if not demo_chosen(state):
        return ""
    builder = DemoTokenizerBuilder.for_workspace(state.store.home)
    if not getattr(owner, "_builder_connected", False):
        builder.ready.connect(on_ready)
        owner._builder_connected = True
    return PREPARING if builder.ensure(state.setting("train_model") or "demo") else builder.error
