"""Loading models and tokenizers from local folders, and formatting examples the same way everywhere.

Training and evaluation both format a row with :func:`format_prompt` / :func:`format_example` and encode
the prompt with :func:`encode_prompt`, so a fine-tuned model is asked questions exactly as it was taught.
Every problem with a folder the user chose ends in a :class:`ModelFolderError` whose message says what is
wrong in plain words.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

#: Used when a tokenizer has no chat template (base models): an Alpaca-like layout.
PLAIN_INSTRUCTION = "### Instruction:\n"
PLAIN_RESPONSE = "\n\n### Response:\n"

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth")


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


def _looks_like_hub_id(spec: str) -> bool:
    parts = spec.split("/")
    return (len(parts) == 2 and all(parts) and not spec.startswith((".", "~"))
            and all(c.isalnum() or c in "-_." for c in spec.replace("/", "")))


def looks_like_hub_id(spec: str) -> bool:
    """True for ``org/name`` strings that can only be a Hugging Face hub id (not a path on this computer)."""
    spec = spec.strip()
    return _looks_like_hub_id(spec) and not Path(spec).expanduser().exists()


def hub_cache_dir() -> Path:
    """The local Hugging Face hub cache, read from the environment now (not when a library was imported):
    ``HF_HUB_CACHE``, else ``HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, else
    ``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub`` -- huggingface_hub's own order."""
    import os

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
    if not _looks_like_hub_id(hub_id.strip()):
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


def resolve_model(spec: str, workspace: Path | str, allow_download: bool = False) -> Path:
    """The folder for a job's ``model`` entry.

    ``"demo"`` builds/returns the tiny model; a path must be an existing folder; a Hugging Face hub id
    (``org/name``) is looked up in the local Hugging Face cache, and downloaded only when
    ``allow_download`` is true (the user enabled online access).
    """
    from desktop_ift.core.job_format import DEMO_MODEL

    if spec == DEMO_MODEL:
        from desktop_ift.core.training.tiny_model import ensure_demo_model

        return ensure_demo_model(Path(workspace))
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if _looks_like_hub_id(spec):
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


def seq2seq_source(system: str, prompt: str) -> str:
    """The encoder input of an encoder-decoder model for one example: ``{system}\n\n{prompt}``, or the
    prompt alone without a system text -- the layout training uses (``collator.tokenize_seq2seq_rows``)."""
    return f"{system}\n\n{prompt}" if system else prompt


def encode_source(tokenizer, text: str, max_length: int = 512) -> list[int]:
    """Encoder token ids of ``text`` (with the tokenizer's special tokens), cut to ``max_length`` as in
    training."""
    return tokenizer(text, truncation=True, max_length=max_length)["input_ids"]


def format_model_prompt(tokenizer, system: str, prompt: str, seq2seq: bool) -> str:
    """What a model is given for one example: the encoder text for an encoder-decoder model
    (:func:`seq2seq_source`), else the decoder-only prompt of :func:`format_prompt`."""
    return seq2seq_source(system, prompt) if seq2seq else format_prompt(tokenizer, system, prompt)


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


def format_prompt(tokenizer, system: str, prompt: str) -> str:
    """The text a model sees before its answer.

    With a chat template: ``tokenizer.apply_chat_template`` with the system (if any) and user messages and
    the generation prompt. Without one (base models)::

        {system}\\n\\n### Instruction:\\n{prompt}\\n\\n### Response:\\n

    (the system part and its blank line only when ``system`` is not empty).
    """
    if getattr(tokenizer, "chat_template", None):
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}
        ]
        try:
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception:
            if not system:
                raise
            # Some templates reject a system role: put it in front of the user message instead.
            messages = [{"role": "user", "content": f"{system}\n\n{prompt}"}]
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    head = f"{system}\n\n" if system else ""
    return f"{head}{PLAIN_INSTRUCTION}{prompt}{PLAIN_RESPONSE}"


def format_example(tokenizer, system: str, prompt: str, response: str) -> tuple[str, str]:
    """``(prompt_text, full_text)`` with ``full_text = prompt_text + response + eos``: one training example."""
    prompt_text = format_prompt(tokenizer, system, prompt)
    return prompt_text, prompt_text + response + (tokenizer.eos_token or "")


def adds_bos_itself(tokenizer, text: str) -> bool:
    """True when ``text`` already starts with the bos token (chat templates often write it themselves)."""
    bos = getattr(tokenizer, "bos_token", None)
    return bool(bos) and text.startswith(bos)


def encode_prompt(tokenizer, prompt_text: str) -> list[int]:
    """Token ids of a formatted prompt, with the tokenizer's special tokens unless the text has them."""
    return tokenizer(prompt_text, add_special_tokens=not adds_bos_itself(tokenizer, prompt_text))["input_ids"]


def encode_example(tokenizer, prompt_text: str, full_text: str) -> tuple[list[int], list[int]]:
    """``(prompt_ids, completion_ids)`` of an example; prompt ids equal :func:`encode_prompt`'s exactly.

    The two parts are tokenized separately so the boundary is exact and the model is asked, at evaluation,
    with the very tokens it was trained on.
    """
    prompt_ids = encode_prompt(tokenizer, prompt_text)
    completion_ids = tokenizer(full_text[len(prompt_text):], add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None and (not completion_ids or completion_ids[-1] != tokenizer.eos_token_id):
        completion_ids.append(tokenizer.eos_token_id)
    return prompt_ids, completion_ids


def _plain_chat_segments(tokenizer, system: str, messages: list[dict]) -> list[tuple[str, bool]]:
    eos = tokenizer.eos_token or ""
    segments: list[tuple[str, bool]] = []
    head = f"{system}\n\n" if system else ""
    for message in messages:
        if message.get("role") == "assistant":
            segments.append((f"{message.get('content', '')}{eos}", True))
        else:
            segments.append((f"{head}{PLAIN_INSTRUCTION}{message.get('content', '')}{PLAIN_RESPONSE}", False))
            head = "\n\n"
    return segments


def format_chat_segments(tokenizer, system: str, messages: list[dict]) -> list[tuple[str, bool]]:
    """A multi-turn conversation as ``[(text, is_assistant), ...]`` whose texts joined are the whole chat.

    With a chat template every piece is the difference between the template's rendering of successive
    prefixes of the conversation, so the joined text is exactly what the template writes, and each
    assistant piece is what the model must produce at that turn (its content and the template's
    end-of-turn marker, plus eos when the template writes none). Without a template, or with one whose
    renderings are not prefixes of each other, the plain ``### Instruction:`` / ``### Response:`` layout
    is used, one block per turn.
    """
    if not getattr(tokenizer, "chat_template", None):
        return _plain_chat_segments(tokenizer, system, messages)
    base = [{"role": "system", "content": system}] if system else []
    eos = tokenizer.eos_token or ""
    segments: list[tuple[str, bool]] = []
    done = ""
    try:
        for i, message in enumerate(messages):
            if message.get("role") != "assistant":
                continue
            before = tokenizer.apply_chat_template(base + messages[:i], tokenize=False, add_generation_prompt=True)
            after = tokenizer.apply_chat_template(base + messages[: i + 1], tokenize=False)
            if not before.startswith(done) or not after.startswith(before):
                return _plain_chat_segments(tokenizer, system, messages)
            answer = after[len(before):]
            if eos and eos not in answer:
                answer += eos
            segments += [(before[len(done):], False), (answer, True)]
            done = after  # the template's own rendering; an eos we appended is not part of it
    except Exception:  # a template that rejects the roles or the system message
        return _plain_chat_segments(tokenizer, system, messages)
    return [(text, trainable) for text, trainable in segments if text]


def encode_segments(tokenizer, segments: list[tuple[str, bool]]) -> tuple[list[int], list[bool]]:
    """Token ids of ``segments`` joined, and per token whether it belongs to an assistant (trained) piece.

    Each piece is tokenized on its own so the boundaries are exact; the tokenizer's special tokens are
    added in front only when the first piece does not write the bos token itself.
    """
    ids: list[int] = []
    trained: list[bool] = []
    for i, (text, is_assistant) in enumerate(segments):
        special = i == 0 and not adds_bos_itself(tokenizer, text)
        piece = tokenizer(text, add_special_tokens=special)["input_ids"]
        if special and tokenizer.eos_token_id is not None and piece and piece[-1] == tokenizer.eos_token_id \
                and not text.endswith(tokenizer.eos_token or "\0"):
            piece = piece[:-1]  # some tokenizers append eos as a special token: only the text's own eos counts
        ids += piece
        trained += [is_assistant] * len(piece)
    return ids, trained


def padding_id(tokenizer) -> int:
    """The id to pad batches with: the tokenizer's pad token, else its end-of-sequence token (else 0); the
    padded positions are masked, so only its being a valid id matters."""
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    return tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0


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
