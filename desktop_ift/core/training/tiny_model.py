"""The tiny demo model: a small Llama built locally, so the whole app works with no download.

``build_tiny_model`` trains a byte-level BPE tokenizer on some texts (with ``tokenizers``), wraps it as a
transformers ``PreTrainedTokenizerFast`` with a chat template, creates a randomly initialised
``LlamaForCausalLM`` and saves both as an ordinary Hugging Face folder (``config.json``,
``model.safetensors``, ``tokenizer.json`` ...). Nothing about it is special afterwards: the worker loads it
through exactly the same :mod:`desktop_ift.core.modeling` code as a real model folder.

The folder is built in a temporary sibling and renamed into place, so another process never sees half a
model; when two processes build it at once, the first rename wins and the other build is discarded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from desktop_ift.core.data import demo_data

DEMO_MODEL_DIRNAME = "demo-tiny-llama"
DEMO_INITIALIZER_RANGE = 0.1

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")

# A plain chat template: one marker token per role, the content on the next line. The generation prompt
# ends with the assistant marker and a newline, so an answer starts right after it.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

# General English so that text outside the demo data still tokenizes into sensible pieces.
_GENERAL_TEXT = """
The quick brown fox jumps over the lazy dog. Please summarize the following text in one sentence.
Classify the message into one of these categories. Answer with a single word. Question: Answer:
What is the main topic? Translate to English. Write a short reply to the customer. Thank you for your help.
I would like to know why my order has not arrived yet. The invoice shows a wrong amount.
Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July
August September October November December one two three four five six seven eight nine ten hundred
yes no maybe true false good bad positive negative neutral high low medium urgent normal
0 1 2 3 4 5 6 7 8 9 10 100 1000 % $ EUR USD + - * / = ( ) [ ] { } < > : ; , . ! ? ' " # @ & _
"""


def _train_tokenizer(texts: Iterable[str], vocab_size: int):
    """A byte-level BPE tokenizer wrapped as a transformers fast tokenizer, with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token=None))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[PAD, BOS, EOS, UNK, *ROLE_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(list(texts) + [_GENERAL_TEXT], trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=list(ROLE_TOKENS),
        model_max_length=512,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(
    folder: Path | str,
    texts: Iterable[str],
    vocab_size: int = 2048,
    seed: int = 0,
    hidden_size: int = 128,
    intermediate_size: int = 256,
    num_layers: int = 2,
    num_heads: int = 4,
    initializer_range: float = 0.02,
) -> Path:
    """Build a tokenizer trained on ``texts`` and a randomly initialised small Llama into ``folder``.

    The result is a standard Hugging Face model folder (safetensors weights, fast tokenizer with a chat
    template, bos/eos/pad/unk set). The same ``texts`` and ``seed`` give the same model. If ``folder``
    already exists it is left as it is (someone else built it first) and returned.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    if (folder / "config.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        tokenizer = _train_tokenizer(texts, vocab_size)
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            intermediate_size=intermediate_size,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            num_key_value_heads=num_heads,
            max_position_embeddings=512,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=True,
            initializer_range=initializer_range,
        )
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "README.md").write_text(
            "# desktop_ift demo model\n\nA tiny Llama (random weights, "
            f"{sum(p.numel() for p in model.parameters()):,} parameters) with a byte-level BPE tokenizer "
            "trained on the demo data. It knows nothing until it is fine-tuned; it exists so that the "
            "app's whole flow runs offline in minutes.\n",
            encoding="utf-8",
        )
        try:
            os.rename(tmp, folder)
        except OSError:
            # Another process renamed its build into place first: use that one.
            if not (folder / "config.json").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def demo_texts() -> list[str]:
    """Texts the demo tokenizer is trained on: the demo rows rendered through the demo template, and more."""
    template = demo_data.DEMO_TEMPLATE
    texts: list[str] = [template.get("system", ""), template.get("prompt", ""), template.get("response", "")]
    for row in demo_data.generate_demo_rows():
        texts.extend(str(v) for v in row.values())
    return [t for t in texts if t]


def ensure_demo_model(workspace: Path | str) -> Path:
    """Return ``<workspace>/models/demo-tiny-llama``, building it first if it does not exist yet.

    Safe when several processes call it at once (the folder appears atomically by rename).
    """
    folder = Path(workspace) / "models" / DEMO_MODEL_DIRNAME
    if (folder / "config.json").exists():
        return folder
    # A wider initialisation than usual (0.1, not 0.02) gives the random model logits large enough that
    # LoRA alone (frozen embeddings and output head) can learn the demo task; with 0.02 it cannot.
    return build_tiny_model(folder, demo_texts(), seed=0, initializer_range=DEMO_INITIALIZER_RANGE)
