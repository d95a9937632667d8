"""Batched answer generation for evaluation: the same prompts and settings for every model compared."""

from __future__ import annotations

from typing import Callable

from desktop_ift.core.modeling import encode_prompt, encode_source, padding_id
from desktop_ift.core.training.config import GenerationConfig


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
) -> list[str]:
    """Answer each formatted prompt; returns the answers (new tokens only, stripped) in the prompts' order.

    Prompts are encoded with :func:`~desktop_ift.core.modeling.encode_prompt` (the exact ids used in
    training), sorted by length and generated ``gen.batch_size`` at a time with LEFT padding. Temperature 0
    means greedy decoding. ``on_batch(done, total)`` is called after each batch; when ``should_stop()``
    turns true, :class:`GenerationStopped` is raised before the next batch.

    An encoder-decoder model (T5, BART) gets each prompt as its encoder input
    (:func:`~desktop_ift.core.modeling.encode_source`, cut to ``max_source_length`` as in training, right
    padding) and its decoder writes the answer from the start token: the answer is everything it generates.
    """
    import torch

    total = len(prompts)
    if total == 0:
        return []
    seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
    if seq2seq:
        encoded = [encode_source(tokenizer, p, max_source_length) for p in prompts]
    else:
        encoded = [encode_prompt(tokenizer, p) for p in prompts]
    order = sorted(range(total), key=lambda i: len(encoded[i]))
    answers: list[str] = [""] * total
    pad_id = padding_id(tokenizer)
    device = next(model.parameters()).device
    kwargs: dict = {
        "max_new_tokens": gen.max_new_tokens,
        "pad_token_id": pad_id,
        "eos_token_id": tokenizer.eos_token_id,
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
        for i, text in zip(batch, texts):
            answers[i] = text.strip()
        done += len(batch)
        if on_batch is not None:
            on_batch(done, total)
    return answers
