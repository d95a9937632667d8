"""Checking a model choice before a run is prepared: "demo", the bundled SmolLM2, a model folder, a hub id
in the local Hugging Face cache, or a GGUF choice (converted once into a folder). Cheap and torch-free
(the GUI calls it when a folder is chosen); training and evaluation preparation both use it."""

from __future__ import annotations

import json
from pathlib import Path

from desktop_ift.core.job_format import DEMO_MODEL, JobError
from desktop_ift.core.hub_cache import find_in_hub_cache, hub_cache_dir, looks_like_hub_id
from desktop_ift.core.models.bundled import (
    BUNDLED_DIRNAME, BUNDLED_MODEL, INSTALL_HINT, bundled_available, bundled_model_dir, is_bundled_converted,
)
from desktop_ift.core.models.discovery import is_gguf_choice, resolve_gguf_choice
from desktop_ift.core.models.gguf_convert import GgufError


def validate_model_choice(model: str, allow_download: bool = False, workspace=None, progress=None) -> str:
    """Return ``model`` ("demo", an absolute folder path, or a hub id) if it looks usable, else raise JobError.

    This is a cheap check that needs no torch (the GUI calls it when a folder is chosen): a folder must
    exist and hold a ``config.json`` with a ``model_type``; a hub id (``org/name``, not a path here) must be
    in the local Hugging Face cache unless ``allow_download``. The worker does the full load later.
    A GGUF choice (a ``.gguf`` file, ``ollama:NAME[:TAG]``, ``lmstudio:PATH``) gives its converted folder
    in ``workspace`` (converted once, cached by the file's hash, ``progress(message, fraction)`` along the
    way; that conversion loads torch); without ``workspace`` it is a JobError saying how to choose it.
    """
    if model == DEMO_MODEL:
        return model
    if model == BUNDLED_MODEL:
        # the bundled SmolLM2 before its one conversion: planned as it is (its tokenizer alone counts the
        # lengths), converted before a job is written (write_train_job refuses it as it is)
        if workspace is not None and is_bundled_converted(workspace):
            return str(bundled_model_dir(workspace))
        if not bundled_available():
            raise JobError(f"The model installed with the app ({BUNDLED_DIRNAME}) is missing. Install it: "
                           f"{INSTALL_HINT}")
        return model
    if is_gguf_choice(model):
        if workspace is None:
            raise JobError(f"{model} is a GGUF model, not a model folder: choose it with “GGUF, Ollama or LM "
                           "Studio model…” on the Train page (or pass it to --model); it is converted once "
                           "into an ordinary model folder.")
        try:
            model = str(resolve_gguf_choice(workspace, model, progress))
        except GgufError as exc:
            raise JobError(str(exc)) from exc
    if looks_like_hub_id(model):
        hub_id = model.strip()
        if allow_download or find_in_hub_cache(hub_id) is not None:
            return hub_id
        raise JobError(f"The model {hub_id} is not on this computer (not in the Hugging Face cache at "
                       f"{hub_cache_dir()}), and downloading is off. Allow downloading this model (it needs an "
                       "internet connection), or download it once and choose its folder.")
    path = Path(model).expanduser()
    if not path.is_dir():
        raise JobError(f"Model folder not found: {path}. Choose a folder that holds a downloaded model.")
    config = path / "config.json"
    if not config.exists():
        raise JobError(
            f"{path} is not a model folder: it has no config.json. Choose the folder that holds config.json, "
            "the tokenizer files and the weights (*.safetensors) — a Hugging Face model folder."
        )
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError) as exc:
        raise JobError(f"{config} cannot be read as JSON ({exc}). The model folder looks damaged.") from exc
    if not model_type:
        raise JobError(f"{config} names no model_type, so it is not a transformers model configuration.")
    return str(path.resolve())
