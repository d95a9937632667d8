"""Turn a GGUF file (llama.cpp's format, as used by Ollama and LM Studio) into an ordinary Hugging Face
model folder that the rest of the app trains, evaluates and exports like any other.

transformers' own GGUF loader does the hard part (``from_pretrained(folder, gguf_file=name)`` reads the
metadata, rebuilds the config and tokenizer and dequantizes every tensor to float). The dequantized
weights are then copied into a plain model built with ``from_config`` (so no ``quantization_config`` or
GGUF trace is left in ``config.json``) and saved as safetensors with the tokenizer and a model card.

Everything is written to ``<dest>.partial`` and renamed to ``<dest>`` at the very end: another process,
or the next launch after a crash or a full disk, never sees half a model. The source file is only read.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

GGUF_MAGIC = b"GGUF"
# Written into the folder so that callers (and people) can tell where it came from.
SOURCE_FILE = "desktop_ift_source.json"

Progress = Callable[[str, float], None]


class GgufError(Exception):
    """A GGUF file that cannot be converted; the message says what is wrong and what to do."""


def _say(progress: Progress | None, message: str, fraction: float) -> None:
    if progress is not None:
        progress(message, fraction)


def read_gguf_header(gguf_path: Path | str) -> dict:
    """The file's basic facts without loading any weights: ``architecture``, ``name``, ``file_type``
    (llama.cpp's quantization name, e.g. ``Q4_1``), ``tensor_types`` (set of tensor quantization names)
    and ``size`` in bytes. Raises :class:`GgufError` for a missing, truncated or non-GGUF file."""
    path = Path(gguf_path)
    if not path.is_file():
        raise GgufError(f"{path} does not exist or is not a file.")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise GgufError(f"{path.name} is not a GGUF file (it does not start with 'GGUF'). Choose a .gguf model "
                        "file as written by llama.cpp, Ollama or LM Studio.")
    try:
        from gguf import GGUFReader
    except ImportError as exc:  # pragma: no cover - set-up installs it
        raise GgufError("The 'gguf' package is not installed, so GGUF files cannot be read. "
                        "Run 'bash packaging/setup.sh' again.") from exc
    try:
        reader = GGUFReader(str(path))
    except Exception as exc:  # numpy/struct errors on a cut-off file
        raise GgufError(f"{path.name} is damaged or incomplete ({size:,} bytes; the reader stopped with: "
                        f"{exc}). Download or copy the file again.") from exc

    def field(name):
        f = reader.fields.get(name)
        if f is None or not f.data:
            return None
        from gguf import GGUFValueType

        value = f.parts[f.data[0]]
        if f.types and f.types[0] == GGUFValueType.STRING:
            return bytes(value).decode("utf-8", errors="replace")
        return value.tolist()[0] if hasattr(value, "tolist") else value

    tensor_types = {t.tensor_type.name for t in reader.tensors}
    # A truncated file can still have a complete header: check the tensors' data fits in the file.
    end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    if end > size:
        raise GgufError(f"{path.name} is incomplete: its tensors need {end:,} bytes but the file has {size:,}. "
                        "Download or copy the file again.")
    file_type = field("general.file_type")
    try:
        from gguf import LlamaFileType

        file_type = LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_") if file_type is not None else None
    except Exception:
        file_type = str(file_type) if file_type is not None else None
    return {"architecture": field("general.architecture"), "name": field("general.name"),
            "file_type": file_type, "tensor_types": tensor_types, "size": size}


def _check_supported(path: Path, header: dict) -> None:
    """Raise GgufError before any work if transformers cannot load this architecture or quantization."""
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    arch = header["architecture"] or "?"
    norm = {a.replace("_", "") for a in GGUF_SUPPORTED_ARCHITECTURES}
    if arch.replace("_", "").replace("-", "") not in norm:
        raise GgufError(f"{path.name} is a '{arch}' model; this version of transformers can only load these "
                        f"architectures from GGUF: {', '.join(a for a in GGUF_SUPPORTED_ARCHITECTURES if a not in ('general', 'tokenizer'))}. "
                        "Use the model's original Hugging Face folder instead.")
    try:
        from gguf import GGMLQuantizationType
        from gguf.quants import _type_traits  # the quantizations gguf can dequantize
    except ImportError:  # pragma: no cover - older gguf: let the loader decide
        return
    plain = {"F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64"}
    known = {t.name for t in _type_traits} | plain
    unknown = sorted(t for t in header["tensor_types"] if t not in known and t in GGMLQuantizationType.__members__)
    if unknown:
        raise GgufError(f"{path.name} uses the quantization {', '.join(unknown)}, which cannot be converted back "
                        "to ordinary weights. Choose a file quantized as Q8_0, Q4_K_M, F16 or similar.")


def default_model_card(path: Path, header: dict, n_params: int, dtype: str) -> str:
    """A README.md for a converted folder: where it came from and what the conversion did."""
    return (f"# {header.get('name') or path.stem}\n\n"
            f"Converted by desktop_ift from the GGUF file `{path.name}` ({header['size'] / 1e6:.0f} MB, "
            f"quantization {header.get('file_type') or '?'}, architecture {header.get('architecture')}).\n\n"
            f"The quantized weights were dequantized to {dtype} ({n_params / 1e6:.0f}M parameters) with "
            "transformers' GGUF loader and saved as safetensors. Dequantizing does not restore the precision "
            "the quantization removed: this folder behaves like the GGUF file, not like the original "
            "unquantized model.\n")


def convert_gguf(gguf_path: Path | str, dest_dir: Path | str, progress: Progress | None = None, *,
                 dtype: str = "float32", model_card: str | None = None) -> Path:
    """Convert ``gguf_path`` into a Hugging Face model folder at ``dest_dir`` and return ``dest_dir``.

    Promises: the source file is only read; ``dest_dir`` appears complete or not at all (the work happens
    in ``<dest_dir>.partial``, removed on any failure, renamed at the end); ``config.json`` carries no
    ``quantization_config``; weights are ``dtype`` safetensors; the tokenizer (with its chat template, if
    the file has one) and a ``README.md`` model card (``model_card`` or a default one) are saved beside
    them. If ``dest_dir`` already holds a model (``config.json``), it is returned untouched. ``progress``
    is called as ``progress(message, fraction)`` with fraction in [0, 1]. Every failure the user can
    cause (not a GGUF file, a truncated one, an architecture or quantization transformers cannot load,
    a full disk) raises :class:`GgufError` with a plain message.
    """
    path = Path(gguf_path).expanduser()
    dest = Path(dest_dir).expanduser()
    if (dest / "config.json").exists():
        _say(progress, f"{dest.name} is already converted", 1.0)
        return dest
    if dest.exists() and any(dest.iterdir()):
        raise GgufError(f"{dest} already exists and is not a converted model; choose another folder.")
    _say(progress, f"Reading {path.name}", 0.0)
    header = read_gguf_header(path)
    _check_supported(path, header)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    partial = dest.with_name(dest.name + ".partial")
    try:
        if partial.exists():
            shutil.rmtree(partial)  # left by a crash or a full disk: start again
        partial.mkdir(parents=True)
        _say(progress, f"Loading the tokenizer from {path.name}", 0.05)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        except Exception as exc:
            raise GgufError(f"The tokenizer in {path.name} cannot be rebuilt ({type(exc).__name__}: {exc}). "
                            "Use the model's original Hugging Face folder instead.") from exc
        _say(progress, f"Dequantizing the {header.get('file_type') or ''} weights (about a minute)", 0.15)
        torch_dtype = getattr(torch, dtype)
        try:
            loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch_dtype)
        except (NotImplementedError, ValueError, KeyError, RuntimeError) as exc:
            raise GgufError(f"transformers cannot load {path.name} ({header.get('architecture')}, "
                            f"{header.get('file_type')}): {exc}") from exc
        _say(progress, "Rebuilding a plain model", 0.7)
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.dtype = torch_dtype
        model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
        missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
        # Tied output heads appear as "missing" (they share the embedding); anything else is a real gap.
        tied = set(getattr(model, "_tied_weights_keys", None) or [])
        real_missing = [k for k in missing if k not in tied and not k.startswith("lm_head.")] if getattr(
            config, "tie_word_embeddings", False) else list(missing)
        if real_missing or unexpected:
            raise GgufError(f"{path.name} does not match its own config (missing {real_missing[:3]}, "
                            f"unexpected {list(unexpected)[:3]}); it cannot be converted.")
        if getattr(config, "tie_word_embeddings", False):
            model.tie_weights()
        del loaded
        model.generation_config = model.generation_config.from_model_config(config)
        if tokenizer.pad_token_id is not None:
            model.generation_config.pad_token_id = tokenizer.pad_token_id
        _say(progress, "Writing safetensors", 0.8)
        model.save_pretrained(str(partial), safe_serialization=True)
        tokenizer.save_pretrained(str(partial))
        n_params = sum(p.numel() for p in model.parameters())
        (partial / "README.md").write_text(model_card or default_model_card(path, header, n_params, dtype),
                                           encoding="utf-8")
        import json

        (partial / SOURCE_FILE).write_text(json.dumps({
            "gguf_file": str(path), "size": header["size"], "architecture": header["architecture"],
            "file_type": header["file_type"], "dtype": dtype, "parameters": n_params}, indent=2),
            encoding="utf-8")
        _say(progress, "Finishing", 0.98)
        try:
            os.rename(partial, dest)
        except OSError:
            if not (dest / "config.json").exists():  # not another process winning the race
                raise
    except GgufError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise GgufError(f"Could not write the converted model to {dest.parent} ({exc.strerror or exc}). "
                        "Free some disk space (it needs about 4 bytes per parameter) and try again.") from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _say(progress, f"{dest.name} is ready", 1.0)
    return dest


def report_to_parent(convert: Callable[[Progress], Path], errors: tuple[type[BaseException], ...] = (GgufError,)) -> int:
    """Run ``convert(progress)`` in a conversion child process and speak the protocol its parent reads
    (``ui/conversion_process.py``): ``progress <fraction> <message>`` lines, then ``folder <path>`` and exit
    code 0; on one of ``errors``, ``error <message>`` on one line and exit code 2."""
    try:
        folder = convert(lambda message, fraction: print(f"progress {fraction:.3f} {message}", flush=True))
    except errors as exc:
        print(f"error {' '.join(str(exc).split())}", flush=True)
        return 2
    print(f"folder {folder}", flush=True)
    return 0
