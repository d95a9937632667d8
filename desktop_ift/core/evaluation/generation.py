"""Batched answer generation for evaluation: the same prompts and settings for every model compared."""

from __future__ import annotations

from typing import Callable

from desktop_ift.core.modeling import encode_prompt
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
) -> list[str]:
    """Answer each formatted prompt; returns the answers (new tokens only, stripped) in the prompts' order.

    Prompts are encoded with :func:`~desktop_ift.core.modeling.encode_prompt` (the exact ids used in
    training), sorted by length and generated ``gen.batch_size`` at a time with LEFT padding. Temperature 0
    means greedy decoding. ``on_batch(done, total)`` is called after each batch; when ``should_stop()``
    turns true, :class:`GenerationStopped` is raised before the next batch.
    """
    import torch

    total = len(prompts)
    if total == 0:
        return []
    encoded = [encode_prompt(tokenizer, p) for p in prompts]
    order = sorted(range(total), key=lambda i: len(encoded[i]))
    answers: list[str] = [""] * total
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
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
        ids = [[pad_id] * (width - len(encoded[i])) + encoded[i] for i in batch]
        mask = [[0] * (width - len(encoded[i])) + [1] * len(encoded[i]) for i in batch]
        input_ids = torch.tensor(ids, dtype=torch.long, device=device)
        attention_mask = torch.tensor(mask, dtype=torch.long, device=device)
        with torch.inference_mode():
            out = model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        new_tokens = out[:, width:]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        for i, text in zip(batch, texts):
            answers[i] = text.strip()
        done += len(batch)
        if on_batch is not None:
            on_batch(done, total)
    return answers
