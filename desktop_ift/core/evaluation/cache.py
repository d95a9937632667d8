"""The evaluation cache: a model's answers on a test set, reused when the same thing is evaluated again.

A cache entry is keyed by a fingerprint of everything that decides the answers and the loss:

* the model: ``config.json`` and the weight files of the model folder (name, size, modification time --
  hashing several GB of weights on every evaluation would take longer than some evaluations; a changed
  file changes its size or time), and the adapter folder's **content** (adapters are small, and a
  re-trained adapter in the same folder must not be mistaken for the old one);
* the exact prompts the model sees (so the test data, its version and the template are all in it) and the
  references (they decide the loss);
* the generation settings and the maximum sequence length used for the loss.

Continued pre-training test documents are cached the same way: their texts take the prompts' place, and the
settings are the maximum length the documents are cut at and the batch size (nothing is generated).

Only greedy answers (temperature 0) are cached: sampled answers are one random draw, and reusing them
would hide how much they vary. The table is owned by this module (``store.ensure_schema("evaluation")``).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

AREA = "evaluation"
MIGRATIONS = [
    """
    CREATE TABLE eval_cache (
        key TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        adapter TEXT NOT NULL DEFAULT '',
        n_examples INTEGER NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        used_at REAL NOT NULL
    );
    """,
]

#: Files above this size are fingerprinted by size and modification time instead of their content.
_CONTENT_HASH_LIMIT = 64 * 2**20


def _hash_file(h, path: Path) -> None:
    stat = path.stat()
    h.update(f"{path.name}\0{stat.st_size}\0".encode())
    if stat.st_size <= _CONTENT_HASH_LIMIT:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    else:
        h.update(str(stat.st_mtime_ns).encode())


def folder_fingerprint(folder: Path | str | None) -> str:
    """A hex digest that changes when the model or adapter files in ``folder`` change ("" for None)."""
    if not folder:
        return ""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.suffix in (".json", ".safetensors", ".bin", ".model", ".txt", ".pt", ".pth", ".jinja"):
            _hash_file(h, path)
    return h.hexdigest()


def cache_key(model_fp: str, adapter_fp: str, prompts: list[str], references: list[str], settings: dict) -> str:
    """The cache key of one model's evaluation (see the module docstring for what goes in)."""
    h = hashlib.sha256()
    payload = {"model": model_fp, "adapter": adapter_fp, "settings": settings}
    h.update(json.dumps(payload, sort_keys=True).encode())
    for prompt, ref in zip(prompts, references):
        h.update(b"\1" + prompt.encode() + b"\2" + ref.encode())
    h.update(str(len(prompts)).encode())
    return h.hexdigest()


def cacheable(generation: dict) -> bool:
    """Whether answers made with these settings may be reused (greedy decoding only)."""
    return float(generation.get("temperature", 0.0)) == 0.0


def lookup(store, key: str) -> dict | None:
    """The cached payload for ``key`` (``{"outputs", "loss", "cut"}`` for answers, ``{"loss", "per_doc"}`` for
    test documents), or None."""
    store.ensure_schema(AREA, MIGRATIONS)
    row = store.conn.execute("SELECT payload FROM eval_cache WHERE key=?", (key,)).fetchone()
    if row is None:
        return None
    # The connection is in autocommit mode: each statement below is its own short transaction.
    store.conn.execute("UPDATE eval_cache SET used_at=? WHERE key=?", (time.time(), key))
    return json.loads(row[0])


def save(store, key: str, model: str, adapter: str | None, payload: dict) -> None:
    """Remember ``payload`` (answers and loss, or per-document losses) under ``key``."""
    store.ensure_schema(AREA, MIGRATIONS)
    now = time.time()
    store.conn.execute(
        "INSERT OR REPLACE INTO eval_cache (key, model, adapter, n_examples, payload, created_at, used_at)"
        " VALUES (?,?,?,?,?,?,?)",
        (key, str(model), str(adapter or ""), len(payload.get("outputs") or payload.get("per_doc") or []),
         json.dumps(payload), now, now),
    )


def clear(store) -> int:
    """Forget every cached answer; returns how many entries were removed."""
    store.ensure_schema(AREA, MIGRATIONS)
    cur = store.conn.execute("DELETE FROM eval_cache")
    return int(cur.rowcount)
