"""A cache of tokenized training data, so a second run on the same data starts training at once.

The key is a hash of everything that decides the token ids: the prepared data file's bytes (which encode
the dataset version and the template it was rendered through), the template and dataset version recorded
in the job, the tokenizer (its files and its effective special tokens and chat template), the maximum
length, the loss mode, the model kind and :data:`CACHE_FORMAT` (bumped when tokenization code changes).
Entries are Arrow IPC files under ``<workspace>/cache/tokenized/``; a damaged entry is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

CACHE_FORMAT = 2
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "vocab.json", "merges.txt", "chat_template.jinja", "chat_template.json", "spiece.model")


def file_digest(path: Path | str) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tokenizer_fingerprint(tokenizer, model_dir: Path | str | None = None) -> str:
    """A hash of a tokenizer: its files in ``model_dir`` and the settings that change encoding."""
    h = hashlib.sha256()
    if model_dir is not None:
        for name in TOKENIZER_FILES:
            p = Path(model_dir) / name
            if p.exists():
                h.update(name.encode())
                h.update(file_digest(p).encode())
    settings = {
        "class": type(tokenizer).__name__,
        "vocab": len(tokenizer),
        "special": {k: getattr(tokenizer, k, None) for k in ("bos_token", "eos_token", "pad_token", "unk_token")},
        "chat_template": getattr(tokenizer, "chat_template", None),
    }
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()


def cache_key(data_path: Path | str, tokenizer_hash: str, settings: dict) -> str:
    """The cache key for one data file tokenized with one tokenizer and ``settings`` (JSON-able)."""
    payload = {"format": CACHE_FORMAT, "data": file_digest(data_path), "tokenizer": tokenizer_hash,
               "settings": settings}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _write(path: Path, features: list[dict]) -> None:
    import pyarrow as pa

    columns = sorted(features[0]) if features else ["input_ids", "labels"]
    table = pa.table({c: pa.array([f[c] for f in features], type=pa.list_(pa.int32())) for c in columns})
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(tmp, path)  # another process never sees half an entry


def _read(path: Path) -> list[dict]:
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        table = pa.ipc.open_file(source).read_all()
    return table.to_pylist()


def cached_tokenize(cache_dir: Path | str | None, key: str, build: Callable[[], list[dict]]) -> tuple[list[dict], bool]:
    """``(features, hit)``: the cached features for ``key``, or ``build()`` stored under it.

    With ``cache_dir`` None nothing is cached. A cache that cannot be written (full or read-only disk) is
    skipped silently: caching must never stop a run.
    """
    if cache_dir is None:
        return build(), False
    path = Path(cache_dir) / f"{key}.arrow"
    if path.exists():
        try:
            return _read(path), True
        except Exception:  # a damaged entry: rebuild it
            path.unlink(missing_ok=True)
    features = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, features)
    except OSError:
        pass
    return features, False
