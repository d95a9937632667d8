"""Train page → "GGUF, Ollama or LM Studio model…": pick a model already on this computer (Ollama's store,
LM Studio's folder, listed by name) or any ``.gguf`` file; it is converted once, in a child process, into
an ordinary model folder in the workspace (cached by the file's hash) and then chosen as the model folder.

The page needs ``model_banner`` (a Banner) and ``set_model_folder(path)``; :func:`add_gguf_picker` adds the
button to the page's model card layout."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QProcess
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from desktop_ift.core.models.discovery import WHERE, LocalModel, local_models, lmstudio_roots, ollama_root
from desktop_ift.ui.conversion_process import start_conversion


class GgufModelDialog(QDialog):
    """The models found in Ollama's and LM Studio's stores, plus "Choose a .gguf file…"; :attr:`choice` is
    the LocalModel or file path picked (None when cancelled)."""

    def __init__(self, parent=None, models: list[LocalModel] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Use a GGUF model (Ollama, LM Studio, llama.cpp)")
        self.choice: LocalModel | Path | None = None
        self.models = local_models() if models is None else models
        layout = QVBoxLayout(self)
        where = f"Ollama: {ollama_root()} · LM Studio: {', '.join(str(p) for p in lmstudio_roots())}"
        intro = QLabel(("Models found on this computer:" if self.models else "No Ollama or LM Studio models were "
                        "found on this computer.") + f"\n{where}")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.list = QListWidget()
        for model in self.models:
            item = QListWidgetItem(model.label)
            item.setToolTip(str(model.path))
            self.list.addItem(item)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        self.list.setVisible(bool(self.models))
        layout.addWidget(self.list)
        file_button = QPushButton("Choose a .gguf file…")
        file_button.clicked.connect(self.choose_file)
        layout.addWidget(file_button)
        note = QLabel("The file is converted once into an ordinary model folder in the workspace (it is only "
                      "read). Quantized weights are dequantized: the result behaves like the GGUF file.")
        note.setWordWrap(True)
        layout.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model file", str(Path.home()),
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.choice = Path(path)
            super().accept()

    def accept(self) -> None:
        row = self.list.currentRow()
        if self.choice is None and 0 <= row < len(self.models):
            self.choice = self.models[row]
        super().accept()


def prepare_in_child(page, target: LocalModel | Path | str) -> QProcess:
    """Convert ``target`` in a child process, showing its progress in ``page.model_banner``; on success the
    converted folder becomes the page's model folder, on failure the banner gives the plain reason."""
    model = target if isinstance(target, LocalModel) else None
    path = model.path if model else Path(target)
    args = ["-m", "desktop_ift.core.models.discovery", str(page.state.store.home), str(path)]
    if model is not None and model.sha256:
        args += [model.name, model.sha256]
    title = f"Preparing {model.name if model else path.name}"
    page.model_banner.show_message("Starting…", "info", title)

    def progress(message: str, fraction: float) -> None:
        page.model_banner.show_message(f"{fraction:.0%} — {message}", "info", title)

    def ended(folder: str | None, reason: str) -> None:
        page._gguf_prepare = None
        if getattr(page, "gguf_button", None) is not None:
            page.gguf_button.setEnabled(True)
        if folder:
            if page.set_model_folder(folder):
                what = f"{WHERE.get(model.source, model.source)} model {model.name}" if model else path.name
                page.model_banner.show_message(f"{what}, converted into {folder} (reused next time: "
                                               "it is cached by the file's hash). This folder is the run's model.",
                                               "success", "Ready")
        else:
            page.model_banner.show_message(reason, "error", f"{model.name if model else path.name} cannot be used")

    if getattr(page, "gguf_button", None) is not None:
        page.gguf_button.setEnabled(False)  # one conversion at a time
    proc = start_conversion(page, args, progress, ended)
    page._gguf_prepare = proc
    return proc


def choose_gguf_model(page) -> QProcess | None:
    """Ask which GGUF model (the dialog), then prepare it in a child process; None when cancelled or while
    another one is being prepared."""
    if getattr(page, "_gguf_prepare", None) is not None:
        return None
    dialog = GgufModelDialog(page)
    if dialog.exec() != QDialog.DialogCode.Accepted or dialog.choice is None:
        return None
    return prepare_in_child(page, dialog.choice)


def add_gguf_picker(page, layout) -> QPushButton:
    """Add the "GGUF, Ollama or LM Studio model…" button to ``layout`` (the page's model card)."""
    button = QPushButton("GGUF, Ollama or LM Studio model…")
    button.setToolTip("Use a .gguf file, or a model already installed in Ollama or LM Studio, as the base model "
                      "(converted once into the workspace).")
    button.clicked.connect(lambda: choose_gguf_model(page))
    layout.addWidget(button)
    page.gguf_button = button
    page._gguf_prepare = None
    return button
