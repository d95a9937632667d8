"""Models already on this computer in other apps' stores, and any GGUF file as a base model.

- **Ollama** keeps models as content-addressed blobs: ``<root>/manifests/<registry>/<namespace>/<model>/<tag>``
  is a JSON manifest whose layer of media type ``application/vnd.ollama.image.model`` names the GGUF blob
  ``<root>/blobs/sha256-<hex>``. The root is ``$OLLAMA_MODELS`` or ``~/.ollama/models``. Names are shown
  as Ollama shows them: ``llama3.2:1b`` for the default registry's library, ``user/model:tag`` otherwise.
- **LM Studio** keeps plain ``.gguf`` files under ``~/.lmstudio/models/<publisher>/<repo>/`` (older
  versions: ``~/.cache/lm-studio/models``); vision projectors (``mmproj-*.gguf``) are not language models.

:func:`prepare_gguf_model` turns any of them (or a file the user picks) into an ordinary model folder via
:func:`core.models.gguf_convert.convert_gguf`, cached under ``<workspace>/models/gguf/`` by the file's
SHA-256, so the same file is converted once whatever its name or place. Listing reads only small headers;
nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from desktop_ift.core.models.gguf_convert import (
    SOURCE_FILE, GgufError, Progress, convert_gguf, read_gguf_header, report_to_parent,
)

OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
OLLAMA_DEFAULT_REGISTRY = "registry.ollama.ai"
GGUF_CACHE = "gguf"  # under <workspace>/models


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model found on this computer: ``name`` as its app shows it, ``source`` ("ollama",
    "lmstudio" or "file"), the GGUF ``path``, its ``size`` in bytes and, when known, its ``sha256``."""

    name: str
    source: str
    path: Path
    size: int
    sha256: str | None = None

    @property
    def label(self) -> str:
        where = {"ollama": "Ollama", "lmstudio": "LM Studio", "file": "GGUF file"}.get(self.source, self.source)
        return f"{self.name} ({where}, {self.size / 1e9:,.2f} GB)"


def ollama_root() -> Path:
    """Ollama's model store: ``$OLLAMA_MODELS`` or ``~/.ollama/models``."""
    env = os.environ.get("OLLAMA_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".ollama" / "models"


def lmstudio_roots() -> list[Path]:
    """LM Studio's model folders, current and older layout."""
    return [Path.home() / ".lmstudio" / "models", Path.home() / ".cache" / "lm-studio" / "models"]


def _ollama_name(parts: tuple[str, ...]) -> str:
    registry, namespace, model, tag = parts
    if registry == OLLAMA_DEFAULT_REGISTRY:
        return f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
    return f"{registry}/{namespace}/{model}:{tag}"


def ollama_models(root: Path | str | None = None) -> list[LocalModel]:
    """The models in Ollama's store, by name (sorted); manifests without a model layer (adapters, projectors
    only) or whose blob is missing are left out."""
    root = Path(root) if root is not None else ollama_root()
    manifests = root / "manifests"
    found: list[LocalModel] = []
    if not manifests.is_dir():
        return found
    for manifest in sorted(p for p in manifests.rglob("*") if p.is_file()):
        parts = manifest.relative_to(manifests).parts
        if len(parts) != 4:
            continue
        try:
            layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers") or []
        except (OSError, ValueError, AttributeError):
            continue
        layer = next((x for x in layers if isinstance(x, dict) and x.get("mediaType") == OLLAMA_MODEL_LAYER), None)
        digest = str((layer or {}).get("digest", ""))
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            continue
        blob = root / "blobs" / digest.replace(":", "-")
        if blob.is_file():
            found.append(LocalModel(_ollama_name(parts), "ollama", blob, blob.stat().st_size, digest[7:]))
    return sorted(found, key=lambda m: m.name)


def lmstudio_models(roots: list[Path] | None = None) -> list[LocalModel]:
    """The ``.gguf`` language models in LM Studio's folders, named ``publisher/repo/file.gguf`` (sorted)."""
    found: dict[str, LocalModel] = {}
    for root in roots if roots is not None else lmstudio_roots():
        if not Path(root).is_dir():
            continue
        for path in sorted(Path(root).rglob("*.gguf")):
            if path.name.lower().startswith("mmproj") or not path.is_file():
                continue
            name = path.relative_to(root).as_posix()
            found.setdefault(name, LocalModel(name, "lmstudio", path, path.stat().st_size))
    return sorted(found.values(), key=lambda m: m.name)


def local_models() -> list[LocalModel]:
    """Every model of :func:`ollama_models` and :func:`lmstudio_models`, Ollama's first."""
    return ollama_models() + lmstudio_models()


def file_sha256(path: Path | str, chunk: int = 8 * 2**20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def cached_model_dir(workspace: Path | str, sha256: str, name: str) -> Path:
    """Where the conversion of the GGUF with this hash lives: ``<workspace>/models/gguf/<name>-<hash[:12]>``,
    or the folder an earlier conversion of the same content made under another name."""
    cache = Path(workspace) / "models" / GGUF_CACHE
    for done in sorted(cache.glob(f"*-{sha256[:12]}")) if cache.is_dir() else []:
        if (done / "config.json").exists():
            return done
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:60] or "model"
    return cache / f"{stem}-{sha256[:12]}"


def _known_hash(workspace: Path | str, path: Path) -> tuple[str | None, Path, str]:
    """The SHA-256 recorded for this file (same path, size and modification time) if any, the index file,
    and the index key; hashing a multi-GB file on every use would cost seconds."""
    index = Path(workspace) / "models" / GGUF_CACHE / "hashes.json"
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    try:
        return json.loads(index.read_text(encoding="utf-8")).get(key), index, key
    except (OSError, ValueError, AttributeError):
        return None, index, key


def _remember_hash(index: Path, key: str, sha: str) -> None:
    try:
        known = json.loads(index.read_text(encoding="utf-8")) if index.exists() else {}
    except (OSError, ValueError):
        known = {}
    known[key] = sha
    index.parent.mkdir(parents=True, exist_ok=True)
    tmp = index.with_suffix(".tmp")
    tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
    tmp.replace(index)


def prepare_gguf_model(workspace: Path | str, model: LocalModel | Path | str,
                       progress: Progress | None = None) -> Path:
    """An ordinary model folder for a GGUF (a :class:`LocalModel` or a file path), converted on first use
    and cached by the file's SHA-256 under the workspace's models folder; later calls return the cached
    folder at once. GgufError with a plain message for a missing, truncated or non-GGUF file, a damaged
    Ollama blob, or an architecture / quantization transformers cannot load (checked before anything is
    written). The source file is only read."""
    if not isinstance(model, LocalModel):
        path = Path(model).expanduser()
        if not path.is_file():
            raise GgufError(f"{path} does not exist or is not a file.")
        model = LocalModel(path.stem, "file", path, path.stat().st_size)
    read_gguf_header(model.path)  # a plain message before hashing a large non-GGUF or cut-off file
    sha, index, key = model.sha256, None, ""
    if sha is None:
        sha, index, key = _known_hash(workspace, model.path)
    dest = cached_model_dir(workspace, sha or "", model.name.replace(":", "-").replace("/", "-")) if sha else None
    if dest is not None and (dest / "config.json").exists():
        return _record_origin(dest, model, sha)
    if progress:
        progress(f"Checking {model.path.name} (SHA-256)", 0.0)
    actual = file_sha256(model.path)
    if model.sha256 and actual != model.sha256:
        raise GgufError(f"Ollama's file for {model.name} does not match its digest (it is damaged). "
                        f"Pull it again: ollama pull {model.name}")
    if index is not None:
        _remember_hash(index, key, actual)
    dest = cached_model_dir(workspace, actual, model.name.replace(":", "-").replace("/", "-"))
    return _record_origin(convert_gguf(model.path, dest, progress), model, actual)


WHERE = {"ollama": "Ollama", "lmstudio": "LM Studio", "file": "GGUF file"}


def _record_origin(folder: Path, model: LocalModel, sha: str) -> Path:
    """Note in the converted folder's source file which model was chosen last (``source``, ``name``,
    ``path``, ``sha256``; what :func:`model_origin` gives the plan), and name it in its README.md once."""
    info_path = folder / SOURCE_FILE
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict):
        info = {}
    info.update(source=model.source, name=model.name, path=str(model.path), sha256=sha)
    try:
        tmp = info_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2), encoding="utf-8")
        tmp.replace(info_path)
        readme = folder / "README.md"
        line = f"{WHERE.get(model.source, model.source)} model `{model.name}`"
        if readme.exists() and line not in readme.read_text(encoding="utf-8"):
            with open(readme, "a", encoding="utf-8") as fh:
                fh.write(f"\nChosen in desktop_ift as the {line} ({model.path}, SHA-256 {sha}).\n")
    except OSError:
        pass  # a read-only cache still gives a usable model; the origin is then the conversion's own
    return folder


def model_origin(model: str | Path) -> dict:
    """Where a converted model folder came from, read from its ``desktop_ift_source.json`` (no torch): the
    GGUF ``gguf_file``, ``architecture``, ``file_type`` (quantization) and, for a model chosen through
    :func:`prepare_gguf_model`, ``source`` (ollama, lmstudio, file), ``name`` and ``sha256``. Empty for any
    other model (a hub id, "demo", an ordinary folder)."""
    try:
        info = json.loads((Path(str(model)).expanduser() / SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def origin_text(origin: dict) -> str:
    """``Ollama model smollm2:135m (GGUF, Q4_1, llama)``; empty for an empty origin."""
    if not origin:
        return ""
    what = f"{WHERE[origin['source']]} model {origin.get('name')}" if origin.get("source") in ("ollama", "lmstudio") \
        else Path(str(origin.get("path") or origin.get("gguf_file") or "?")).name
    facts = ", ".join(str(x) for x in ("GGUF", origin.get("file_type"), origin.get("architecture")) if x)
    return f"{what} ({facts})"


def is_gguf_choice(spec: str) -> bool:
    """True when a model choice names a GGUF: a ``*.gguf`` path, ``ollama:…`` or ``lmstudio:…``."""
    spec = str(spec).strip()
    return spec.startswith(("ollama:", "lmstudio:")) or spec.lower().endswith(".gguf")


def resolve_gguf_choice(workspace: Path | str, spec: str, progress: Progress | None = None) -> Path | None:
    """The model folder for a model choice that names a GGUF: a ``*.gguf`` path, ``ollama:NAME[:TAG]`` or
    ``lmstudio:PUBLISHER/REPO/FILE.gguf`` (converted once, see :func:`prepare_gguf_model`); None when
    ``spec`` names none of these (a folder, a hub id, "demo"…). GgufError when the named model is not
    found (the message lists the names there are)."""
    spec = str(spec)
    for prefix, finder in (("ollama:", ollama_models), ("lmstudio:", lmstudio_models)):
        if spec.startswith(prefix):
            name = spec[len(prefix):]
            models = finder()
            if prefix == "ollama:" and ":" not in name:
                name += ":latest"
            match = next((m for m in models if m.name == name), None)
            if match is None:
                where = "Ollama" if prefix == "ollama:" else "LM Studio"
                known = ", ".join(m.name for m in models) or "none"
                raise GgufError(f"No {where} model named {name} on this computer (found: {known}).")
            return prepare_gguf_model(workspace, match, progress)
    if spec.lower().endswith(".gguf"):
        return prepare_gguf_model(workspace, Path(spec), progress)
    return None


def main(argv: list[str] | None = None) -> int:
    """``python -m desktop_ift.core.models.discovery WORKSPACE GGUF_PATH [OLLAMA_NAME SHA256]``: prepare the
    model in a child process (the GUI's way: conversion loads torch and the whole model). Prints
    ``progress <fraction> <message>`` lines, then ``folder <path>``; on a GgufError ``error <message>`` and
    exit code 2."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 4):
        print("usage: python -m desktop_ift.core.models.discovery WORKSPACE GGUF_PATH [OLLAMA_NAME SHA256]",
              file=sys.stderr)
        return 1
    workspace, path = Path(args[0]), Path(args[1])
    target: LocalModel | Path = path
    if len(args) == 4:
        target = LocalModel(args[2], "ollama", path, path.stat().st_size if path.exists() else 0, args[3])
    return report_to_parent(lambda progress: prepare_gguf_model(workspace, target, progress))


if __name__ == "__main__":
    raise SystemExit(main())
