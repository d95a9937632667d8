"""The error types a user can fix: each carries a plain ``message`` (what happened) and a ``hint`` (what to
try). The worker reports them as a ``failed`` event with both; the CLI prints them without a traceback.
Imports nothing of the project."""

from __future__ import annotations


class WorkerError(Exception):
    """A problem the user can fix; ``message`` says what happened, ``hint`` what to try."""

    default_hint = ""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint


class ModelFolderError(WorkerError):
    """A model or adapter folder that cannot be used; the message says why."""

    default_hint = ("Choose a Hugging Face model folder (config.json, tokenizer files, *.safetensors), "
                    "or the built-in demo model.")


class DataError(WorkerError):
    """The prepared data cannot be used (an empty split, unreadable file)."""

    default_hint = "Import data with some rows, check the template, and check the split ratios."
