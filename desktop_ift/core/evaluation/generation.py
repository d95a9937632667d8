"""Batched answer generation for evaluation: the same prompts and settings for every model compared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from desktop_ift.core.prompt_format import encode_prompt, encode_source, padding_id
from desktop_ift.core.training.config import GenerationConfig


#: End-of-turn markers of common chat templates: generation stops at any of them that the tokenizer knows.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>")


def stop_token_ids(tokenizer, model=None) -> list[int]:
    """Every id generation stops at: the tokenizer's eos, the model's generation-config eos id(s), and the
    end-of-turn tokens of :data:`END_OF_TURN_TOKENS` the vocabulary holds as single tokens."""
    ids: list[int] = []

    def add(value) -> None:
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, int) and v >= 0 and v not in ids:
                ids.append(v)

    add(tokenizer.eos_token_id)
    config = getattr(model, "generation_config", None)
    if config is not None:
        add(getattr(config, "eos_token_id", None))
    unk = getattr(tokenizer, "unk_token_id", None)
    vocab = tokenizer.get_vocab()
    for token in END_OF_TURN_TOKENS:
        tid = vocab.get(token)
        if tid is not None and tid != unk:
            add(tid)
    return ids


@dataclass
class Answers:
    """The generated answers, in the prompts' order, and which ones hit the ``max_new_tokens`` limit
    before an end token (cut: their scores are lower than the model deserves)."""

    texts: list[str]
    cut: list[bool]

    @property
    def cut_count(self) -> int:
        return sum(self.cut)


class GenerationStopped(Exception):
    """Generation stopped between batches because a stop was requested; ``done`` answers were made."""

    def __init__(self, done: int):
        super().__init__(f"stopped after {done} answers")
        self.done = done


def generate_answers(
    model,
    tokenizer,
    prompts: list[str],
    gen: GenerationConfig,
    on_batch: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_source_length: int = 512,
    encoded: list[list[int]] | None = None,
) -> Answers:
    """Answer each formatted prompt; returns the answers (new tokens only, stripped) in the prompts' order
    and which of them were cut by ``gen.max_new_tokens`` (:class:`Answers`). Generation stops at any of
    :func:`stop_token_ids` (eos and the chat template's end-of-turn token).

    ``encoded`` gives the prompts' token ids directly (chat histories, encoded piece by piece exactly as in
    training); otherwise each prompt text is encoded here.

    Prompts are encoded with :func:`~desktop_ift.core.prompt_format.encode_prompt` (the exact ids used in
    training), sorted by length and generated ``gen.batch_size`` at a time with LEFT padding. Temperature 0
    means greedy decoding. ``on_batch(done, total)`` is called after each batch; when ``should_stop()``
    turns true, :class:`GenerationStopped` is raised before the next batch.

    An encoder-decoder model (T5, BART) gets each prompt as its encoder input
    (:func:`~desktop_ift.core.prompt_format.encode_source`, cut to ``max_source_length`` as in training, right
    padding) and its decoder writes the answer from the start token: the answer is everything it generates.
    """
    import torch

    total = len(encoded) if encoded is not None else len(prompts)
    if total == 0:
        return Answers([], [])
    seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
    if encoded is not None:
        encoded = [list(ids) for ids in encoded]
    elif seq2seq:
        encoded = [encode_source(tokenizer, p, max_source_length) for p in prompts]
    else:
        encoded = [encode_prompt(tokenizer, p) for p in prompts]
    order = sorted(range(total), key=lambda i: len(encoded[i]))
    answers: list[str] = [""] * total
    cut: list[bool] = [False] * total
    pad_id = padding_id(tokenizer)
    stops = stop_token_ids(tokenizer, model)
    device = next(model.parameters()).device
    kwargs: dict = {
        "max_new_tokens": gen.max_new_tokens,
        "pad_token_id": pad_id,
        "eos_token_id": stops or None,
        "repetition_penalty": gen.repetition_penalty,
    }
    if gen.temperature > 0:
        kwargs.update(do_sample=True, temperature=gen.temperature, top_p=gen.top_p)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    done = 0
    for start in range(0, total, gen.batch_size):
        if should_stop is not None and should_stop():
            raise GenerationStopped(done)
        batch = order[start:start + gen.batch_size]
        width = max(len(encoded[i]) for i in batch)
        if seq2seq:  # the encoder sees the whole prompt at once: padding on the right is the usual layout
            ids = [encoded[i] + [pad_id] * (width - len(encoded[i])) for i in batch]
            mask = [[1] * len(encoded[i]) + [0] * (width - len(encoded[i])) for i in batch]
        else:
            ids = [[pad_id] * (width - len(encoded[i])) + encoded[i] for i in batch]
            mask = [[0] * (width - len(encoded[i])) + [1] * len(encoded[i]) for i in batch]
        input_ids = torch.tensor(ids, dtype=torch.long, device=device)
        attention_mask = torch.tensor(mask, dtype=torch.long, device=device)
        with torch.inference_mode():
            out = model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        # decoder-only: the output repeats the prompt; encoder-decoder: it starts with the decoder start token
        new_tokens = out[:, 1:] if seq2seq else out[:, width:]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        stop_set = set(stops)
        for i, text, row in zip(batch, texts, new_tokens.tolist()):
            answers[i] = text.strip()
            produced = row[: gen.max_new_tokens]
            cut[i] = len(produced) >= gen.max_new_tokens and not any(t in stop_set for t in produced)
        done += len(batch)
        if on_batch is not None:
            on_batch(done, total)
    return Answers(answers, cut)
