"""Finding Hugging Face hub models on this computer, cheaply and without torch: whether a string is a hub id
(``org/name``), where the local hub cache is, and which snapshot folder holds a model. Imports nothing of
the project."""

from __future__ import annotations

import os
from pathlib import Path


def has_hub_id_shape(spec: str) -> bool:
    """True when ``spec`` has the shape of a hub id (``org/name``, name characters only), wherever it points."""
    parts = spec.split("/")
    return (len(parts) == 2 and all(parts) and not spec.startswith((".", "~"))
            and all(c.isalnum() or c in "-_." for c in spec.replace("/", "")))


def looks_like_hub_id(spec: str) -> bool:
    """True for ``org/name`` strings that can only be a Hugging Face hub id (not a path on this computer)."""
    spec = spec.strip()
    return has_hub_id_shape(spec) and not Path(spec).expanduser().exists()


def hub_cache_dir() -> Path:
    """The local Hugging Face hub cache, read from the environment now (not when a library was imported):
    ``HF_HUB_CACHE``, else ``HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, else
    ``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub`` -- huggingface_hub's own order."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.path.expandvars(os.environ[name])).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


def find_in_hub_cache(hub_id: str) -> Path | None:
    """The snapshot folder of ``hub_id`` (``org/name``) in the local hub cache, or None when it is not there.

    Cheap and torch-free (the GUI calls it before launch): the cache layout is
    ``models--org--name/snapshots/<revision>/`` with ``refs/main`` naming the revision. The revision of
    ``refs/main`` is preferred; otherwise the most recent snapshot that has a ``config.json``.
    """
    if not has_hub_id_shape(hub_id.strip()):
        return None
    repo = hub_cache_dir() / ("models--" + hub_id.strip().replace("/", "--"))
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    try:
        revision = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        revision = ""
    if revision and (snapshots / revision / "config.json").exists():
        return snapshots / revision
    candidates = [d for d in snapshots.iterdir() if (d / "config.json").exists()]
    return max(candidates, key=lambda d: d.stat().st_mtime) if candidates else None
