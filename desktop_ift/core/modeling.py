"""Loading models, tokenizers and LoRA adapters from local folders (torch, transformers and peft are
imported inside the functions that need them, so importing this module stays cheap).

Every problem with a folder the user chose ends in a :class:`~desktop_ift.core.errors.ModelFolderError`
whose message says what is wrong in plain words. How examples are laid out for a model is
:mod:`desktop_ift.core.prompt_format`; finding hub models in the local cache is :mod:`desktop_ift.core.hub_cache`.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from desktop_ift.core.errors import ModelFolderError
from desktop_ift.core.hub_cache import find_in_hub_cache, has_hub_id_shape, hub_cache_dir
from desktop_ift.core.job_format import DEMO_MODEL
from desktop_ift.core.training.tiny_model import ensure_demo_model

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth")


def resolve_model(spec: str, workspace: Path | str, allow_download: bool = False) -> Path:
    """The folder for a job's ``model`` entry.

    ``"demo"`` builds/returns the tiny model; a path must be an existing folder; a Hugging Face hub id
    (``org/name``) is looked up in the local Hugging Face cache, and downloaded only when
    ``allow_download`` is true (the user enabled online access).
    """
    if spec == DEMO_MODEL:
        return ensure_demo_model(Path(workspace))
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if has_hub_id_shape(spec):
        cached = find_in_hub_cache(spec)
        if cached is not None:
            return cached
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(spec, cache_dir=str(hub_cache_dir()), local_files_only=not allow_download))
        except Exception as exc:
            if allow_download:
                raise ModelFolderError(
                    f"The model {spec} could not be downloaded ({type(exc).__name__}).",
                    hint="Check the name and the network connection, or download it and choose its folder.",
                ) from exc
            raise ModelFolderError(
                f"The model {spec} is not in the local Hugging Face cache, and online access is off.",
                hint="Choose a model folder on this computer, or enable online access to download it.",
            ) from exc
    raise ModelFolderError(f"The model folder {path} does not exist (was it moved or deleted?).")


def _check_model_folder(path: Path, need_weights: bool = True, allow_encoder_decoder: bool = False) -> dict:
    if not path.is_dir():
        raise ModelFolderError(f"The model folder {path} does not exist (was it moved or deleted?).")
    config_path = path / "config.json"
    if not config_path.exists():
        if (path / "adapter_config.json").exists():
            raise ModelFolderError(
                f"{path} holds a LoRA adapter, not a whole model. Choose the base model folder and give "
                "this folder as the adapter."
            )
        raise ModelFolderError(
            f"{path} is not a model folder: it has no config.json. Choose the folder that holds config.json, "
            "the tokenizer files and the weights (*.safetensors)."
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"{config_path} cannot be read ({exc}); the model folder looks damaged.") from exc
    if config.get("is_encoder_decoder") and not allow_encoder_decoder:
        raise ModelFolderError(
            f"{path} holds an encoder-decoder model ({config.get('model_type')}, like T5 or BART), but it was "
            "loaded as a decoder-only model (Llama, Qwen, Mistral, GPT-2, ...). Training, evaluation and the "
            "playground load encoder-decoder models through their own path; this is a bug if you see it there.",
            hint="Choose a decoder-only model folder here.",
        )
    if need_weights and not any(any(path.glob(p)) for p in WEIGHT_PATTERNS):
        raise ModelFolderError(
            f"{path} has a config.json but no weights (*.safetensors or *.bin). The download may be "
            "incomplete: download the model again, with its weight files."
        )
    return config


def load_tokenizer(path: Path | str, padding_side: str = "right"):
    """Load the tokenizer of a model folder; a missing pad token becomes eos (or unk).

    Raises :class:`ModelFolderError` when the folder has no usable tokenizer files.
    """
    from transformers import AutoTokenizer

    path = Path(path)
    _check_model_folder(path, need_weights=False, allow_encoder_decoder=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # transformers raises OSError/ValueError/TypeError depending on what is missing
        raise ModelFolderError(
            f"The tokenizer in {path} cannot be loaded ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
            "The folder needs tokenizer files (tokenizer.json or tokenizer.model + tokenizer_config.json)."
        ) from exc
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token
        else:
            raise ModelFolderError(f"The tokenizer in {path} has no pad, end-of-text or unknown token.")
    tokenizer.padding_side = padding_side
    return tokenizer


def _resolve_dtype(dtype: Any):
    import torch

    if dtype in (None, "auto"):
        # Keep full precision on CPU; on a GPU use bf16 where supported (halves memory, same quality).
        if torch.cuda.is_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if isinstance(dtype, str):
        return getattr(torch, dtype)
    return dtype


def load_causal_lm(path: Path | str, adapter: str | Path | None = None, for_training: bool = False,
                   dtype: Any = "auto", quantization_config=None):
    """Load a decoder-only model from a folder, optionally with a LoRA adapter on top.

    With ``for_training`` the adapter's weights stay trainable (resuming); otherwise the model is put in
    eval mode. Raises :class:`ModelFolderError` for a folder that is not a model, an encoder-decoder model,
    or an adapter made for a different base model.
    """
    import torch
    from transformers import AutoModelForCausalLM

    path = Path(path)
    config = _check_model_folder(path)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=_resolve_dtype(dtype), local_files_only=True,
                                                     quantization_config=quantization_config)
    except (torch.OutOfMemoryError, MemoryError):
        raise
    except ValueError as exc:
        raise ModelFolderError(
            f"{path} holds a {config.get('model_type')!r} model, which cannot generate text "
            f"(transformers has no causal language model class for it). Choose a text-generation model."
        ) from exc
    except (OSError, RuntimeError, KeyError) as exc:
        raise _weights_error(path, exc) from exc
    if adapter:
        model = attach_adapter(model, adapter, is_trainable=for_training)
    if not for_training:
        model.eval()
    return model


def is_encoder_decoder(path: Path | str) -> bool:
    """True when the model folder holds an encoder-decoder model (T5, BART, ...); reads config.json only."""
    try:
        return bool(json.loads((Path(path) / "config.json").read_text(encoding="utf-8")).get("is_encoder_decoder"))
    except (OSError, ValueError):
        return False


def load_seq2seq_lm(path: Path | str, dtype: Any = "auto", quantization_config=None):
    """Load an encoder-decoder model (T5/FLAN-T5, BART, ...) for training from a folder."""
    from transformers import AutoModelForSeq2SeqLM

    path = Path(path)
    config = _check_model_folder(path, allow_encoder_decoder=True)
    try:
        return AutoModelForSeq2SeqLM.from_pretrained(str(path), dtype=_resolve_dtype(dtype), local_files_only=True,
                                                     quantization_config=quantization_config)
    except ValueError as exc:
        raise ModelFolderError(
            f"{path} holds a {config.get('model_type')!r} model, which is not a text-to-text model "
            "transformers can train."
        ) from exc
    except (OSError, RuntimeError, KeyError) as exc:
        raise _weights_error(path, exc) from exc


def load_generation_model(path: Path | str, adapter: str | Path | None = None, dtype: Any = "auto"):
    """Load any model that answers prompts, in eval mode, for evaluation and the playground.

    Decoder-only folders go through :func:`load_causal_lm`; encoder-decoder folders (T5/FLAN-T5, BART) through
    :func:`load_seq2seq_lm`. A LoRA adapter (either kind: peft reads its task type) is attached on top.
    Callers tell the two kinds apart with ``model.config.is_encoder_decoder``.
    """
    if not is_encoder_decoder(path):
        return load_causal_lm(path, adapter=adapter, dtype=dtype)
    model = load_seq2seq_lm(path, dtype=dtype)
    if adapter:
        model = attach_adapter(model, adapter)
    model.eval()
    return model


def adapter_base_model(folder: Path | str) -> str | None:
    """The base model named by a LoRA adapter folder's ``adapter_config.json`` (None when ``folder`` is not
    an adapter folder or names no base). Lets a user give a fine-tuned adapter folder as "the model"."""
    folder = Path(folder)
    if (folder / "config.json").exists() or not (folder / "adapter_config.json").exists():
        return None
    try:
        base = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError):
        return None
    return str(base) if base else None


def attach_adapter(model, adapter: str | Path, is_trainable: bool = False):
    """Wrap ``model`` with the LoRA adapter saved in ``adapter`` (peft). Mismatches -> ModelFolderError."""
    from peft import PeftModel

    adapter = Path(adapter)
    if not (adapter / "adapter_config.json").exists():
        if (adapter / "config.json").exists():
            raise ModelFolderError(
                f"{adapter} holds a whole model, not a LoRA adapter. Evaluate it as a model of its own."
            )
        raise ModelFolderError(f"{adapter} is not a LoRA adapter folder: it has no adapter_config.json.")
    try:
        cfg = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"{adapter}/adapter_config.json cannot be read ({exc}).") from exc
    base_type = getattr(model.config, "model_type", "?")
    hint = ("Choose the base model the adapter was trained on (its adapter_config.json names it: "
            f"{cfg.get('base_model_name_or_path') or 'unknown'}).")
    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter), is_trainable=is_trainable)
    except (RuntimeError, ValueError, KeyError, AttributeError) as exc:
        # The library's own words (shape mismatches, missing modules) go to the log with the traceback.
        raise ModelFolderError(
            f"The adapter in {adapter} does not fit the base model {model.name_or_path} ({base_type}): "
            "it was trained on a different model.",
            hint=hint,
        ) from exc
    return peft_model


@contextmanager
def checking(model) -> Iterator[Any]:
    """``model`` in eval mode without gradients for a quick check on real batches (yields its device); its
    training mode comes back afterwards, whatever happens."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield next(model.parameters()).device
    finally:
        model.train(was_training)


def describe_device() -> str:
    """``"cuda:0 (NVIDIA ...)"`` or ``"cpu"``."""
    import torch

    if torch.cuda.is_available():
        return f"cuda:0 ({torch.cuda.get_device_name(0)})"
    return "cpu"


def memory_mb() -> float | None:
    """Peak GPU memory allocated (MiB) on CUDA, else this process's resident memory (MiB)."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.max_memory_allocated() / 2**20
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except Exception:  # pragma: no cover - monitoring must never break a run
        return None


def _weights_error(path, exc: BaseException) -> ModelFolderError:
    """The plain message for a model folder whose weights do not load."""
    return ModelFolderError(
        f"The weights in {path} cannot be loaded ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
        "The folder may be damaged or incomplete."
    )
