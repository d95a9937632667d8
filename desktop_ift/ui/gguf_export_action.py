"""Runs page → Export → GGUF…: ask the type, the Ollama name and the folder, then run
``desktop-ift runs export-gguf`` in a child process (merging and converting load the model: never in the GUI)
and tell the outcome in the page's banner (where the file went and the ``ollama create`` command, or what
went wrong in plain words)."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QProcess, QProcessEnvironment
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

TYPES = [("q8_0", "q8_0: 8-bit, half the size of f16, nearly identical answers"),
         ("f16", "f16: exact 16-bit (Ollama can quantize it further, e.g. to q4_K_M)"),
         ("bf16", "bf16: exact 16-bit, bfloat16")]


class GgufExportDialog(QDialog):
    """The three choices of a GGUF export; :meth:`values` gives ``(dest, type, ollama name)``."""

    def __init__(self, parent, run_id: str):
        super().__init__(parent)
        self.setWindowTitle("Export as GGUF (llama.cpp, Ollama, LM Studio)")
        form = QFormLayout(self)
        self.type_box = QComboBox()
        for value, label in TYPES:
            self.type_box.addItem(label, value)
        self.name_edit = QLineEdit(run_id)
        self.name_edit.setToolTip("The model's name in Ollama (ollama run NAME)")
        self.folder_edit = QLineEdit(str(Path.home() / f"{run_id}-gguf"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.addWidget(self.folder_edit, 1)
        row_layout.addWidget(browse)
        form.addRow("Number format", self.type_box)
        form.addRow("Name in Ollama", self.name_edit)
        form.addRow("New folder", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export GGUF to a new folder", self.folder_edit.text(),
                                              "Folder (no extension)")
        if path:
            self.folder_edit.setText(path)

    def values(self) -> tuple[str, str, str]:
        return self.folder_edit.text().strip(), self.type_box.currentData(), self.name_edit.text().strip()

    @classmethod
    def ask(cls, parent, run_id: str) -> tuple[str, str, str] | None:
        """The user's ``(dest, type, name)``, or None when cancelled."""
        dialog = cls(parent, run_id)
        return dialog.values() if dialog.exec() == QDialog.DialogCode.Accepted and dialog.values()[0] else None


def _can_export(page) -> bool:
    s = page.selected_summary()
    return bool(s and s.status == "finished" and getattr(page, "_gguf_export", None) is None)


def add_gguf_export(page, menu):
    """Add "GGUF…" to ``menu`` (after "Model…"); it is enabled for a finished run when no GGUF export runs."""
    action = menu.addAction("GGUF…", lambda: choose_gguf_export(page))
    action.setToolTip("Convert the fine-tuned model (a LoRA adapter merged first) to a GGUF file for llama.cpp, "
                      "Ollama or LM Studio, with an Ollama Modelfile and the command to register it.")
    after_model = getattr(page, "export_button", None)  # "Metrics as CSV…", the entry after "Model…"
    if after_model is not None:
        menu.removeAction(action)
        menu.insertAction(after_model, action)
    menu.aboutToShow.connect(lambda: action.setEnabled(_can_export(page)))
    page._gguf_export = None
    page.gguf_action = action
    return action


def choose_gguf_export(page) -> None:
    s = page.selected_summary()
    if s is None:
        return
    answer = GgufExportDialog.ask(page, s.id)
    if answer:
        dest, outtype, name = answer
        start_gguf_export(page, s.id, dest, outtype, name or None)


def start_gguf_export(page, run_id: str, dest: str | Path, outtype: str = "q8_0", name: str | None = None):
    """Run ``runs export-gguf`` for ``run_id`` in a child process; the banner tells the result."""
    proc = QProcess(page)
    env = QProcessEnvironment.systemEnvironment()
    env.insert("DESKTOP_IFT_HOME", str(page.state.store.home))
    env.insert("HF_HUB_OFFLINE", "1")
    proc.setProcessEnvironment(env)
    proc.setStandardInputFile(QProcess.nullDevice())
    page._gguf_export = proc
    page.gguf_action.setEnabled(False)
    page.banner.show_message(f"Converting the model of {run_id} to GGUF ({outtype}) in {dest}… (a minute or more: "
                             "the adapter is merged and llama.cpp's converter writes the file)", "info")

    def finished(code: int, _status) -> None:
        out = bytes(proc.readAllStandardOutput()).decode("utf-8", "replace").strip().splitlines()
        err = bytes(proc.readAllStandardError()).decode("utf-8", "replace").strip().splitlines()
        page._gguf_export = None
        proc.deleteLater()
        page.gguf_action.setEnabled(_can_export(page))
        if code == 0 and out:
            page.banner.show_message("\n".join(out[:-1]), "success", "GGUF exported")  # the last line is JSON
        else:
            said = [line.removeprefix("desktop-ift: ") for line in err if line.startswith("desktop-ift: ")]
            page.banner.show_message(said[-1] if said else (err[-1] if err else f"exit code {code}"), "error",
                                     "GGUF export failed")

    proc.finished.connect(finished)
    args = ["-m", "desktop_ift", "runs", "export-gguf", run_id, str(dest), "--type", outtype]
    proc.start(sys.executable, args + (["--ollama", name] if name else []))
    return proc
