"""A model conversion in a child process, read line by line (the window never imports torch).

The child (``python -m desktop_ift.core.models.bundled …`` or ``… .discovery …``) prints
``progress FRACTION MESSAGE`` lines, then ``folder PATH`` or ``error MESSAGE``.
"""

from __future__ import annotations

import sys
from typing import Callable

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment


def start_conversion(parent: QObject, args: list[str], on_progress: Callable[[str, float], None],
                     on_end: Callable[[str | None, str], None]) -> QProcess:
    """Run ``python args…`` offline; ``on_progress(message, fraction)`` for each progress line, then
    ``on_end(folder, "")`` on success or ``on_end(None, reason)`` with the plain reason it failed."""
    proc = QProcess(parent)
    env = QProcessEnvironment.systemEnvironment()
    env.insert("HF_HUB_OFFLINE", "1")
    proc.setProcessEnvironment(env)
    proc.setStandardInputFile(QProcess.nullDevice())
    proc.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
    result: dict[str, str] = {}

    def read() -> None:
        while proc.canReadLine():
            kind, _, rest = bytes(proc.readLine()).decode("utf-8", "replace").rstrip("\n").partition(" ")
            if kind == "progress":
                fraction, _, message = rest.partition(" ")
                on_progress(message, float(fraction))
            elif kind in ("folder", "error"):
                result[kind] = rest

    def finished(code: int, _status) -> None:
        read()
        err = bytes(proc.readAllStandardError()).decode("utf-8", "replace").strip().splitlines()
        proc.deleteLater()
        if code == 0 and "folder" in result:
            on_end(result["folder"], "")
        else:
            on_end(None, result.get("error") or (err[-1] if err else f"the conversion ended with exit code {code}"))

    proc.readyReadStandardOutput.connect(read)
    proc.finished.connect(finished)
    proc.start(sys.executable, args)
    return proc
