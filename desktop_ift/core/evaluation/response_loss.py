"""Teacher-forced loss and perplexity on the response tokens, formatted exactly as in training.

Each row is turned into token ids by :func:`desktop_ift.core.training.collator.tokenize_rows` with
``completion_only=True`` -- the very function the training recipe uses -- so the prompt tokens are masked
(-100) and only the answer and its end-of-text token are scored. The result is the token-weighted mean of
the negative log-likelihood over every response token of the set (not a mean of per-example means), and
its exponential, the perplexity.

For an encoder-decoder model (T5, BART) the rows are encoded by ``collator.tokenize_seq2seq_rows``, again the
training recipe's function: the prompt goes to the encoder, and every token of the decoder's target (the
answer and its end-of-text token) is scored.
"""

from __future__ import annotations

import math
from typing import Callable

from desktop_ift.core.modeling import padding_id


def response_loss(model, tokenizer, rows: list[dict], max_seq_length: int = 512, batch_size: int = 8,
                  should_stop: Callable[[], bool] | None = None) -> dict:
    """``{"response_loss", "perplexity", "response_tokens"}`` of ``model`` on ``rows``
    (``system``/``prompt``/``response`` dicts). Rows whose answer is cut away entirely by
    ``max_seq_length`` do not count. Returns an empty dict when no response token is left."""
    import torch

    from desktop_ift.core.training.collator import IGNORE_INDEX, PaddingCollator, shortest_first, tokenize_rows

    if getattr(model.config, "is_encoder_decoder", False):
        return _seq2seq_response_loss(model, tokenizer, rows, max_seq_length, batch_size, should_stop)
    features = tokenize_rows(rows, tokenizer, max_seq_length, completion_only=True)
    if not features:
        return {}
    pad_id = padding_id(tokenizer)
    collate = PaddingCollator(pad_token_id=pad_id)
    device = next(model.parameters()).device
    total_nll, total_tokens = 0.0, 0
    for examples in shortest_first(features, lambda f: len(f["input_ids"]), batch_size):
        if should_stop is not None and should_stop():
            return {}
        batch = collate(examples)
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.inference_mode():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        # Position t predicts token t+1: shift, then sum the NLL of the unmasked (response) positions.
        logits = logits[:, :-1, :].float()
        labels = batch["labels"][:, 1:]
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
        )
        total_nll += float(nll)
        total_tokens += int((labels != IGNORE_INDEX).sum())
    return _summary(total_nll, total_tokens)


def _summary(total_nll: float, total_tokens: int) -> dict:
    if total_tokens == 0:
        return {}
    loss = total_nll / total_tokens
    return {"response_loss": loss, "perplexity": math.exp(min(loss, 700.0)), "response_tokens": total_tokens}


def _seq2seq_response_loss(model, tokenizer, rows: list[dict], max_seq_length: int, batch_size: int,
                           should_stop: Callable[[], bool] | None) -> dict:
    """The encoder-decoder version: the decoder's logits line up with the labels (the model shifts them
    right itself to make its inputs), so no shift here."""
    import torch

    from desktop_ift.core.training.collator import IGNORE_INDEX, right_padded, shortest_first, tokenize_seq2seq_rows

    features = tokenize_seq2seq_rows(rows, tokenizer, max_seq_length)
    if not features:
        return {}
    pad_id = padding_id(tokenizer)
    device = next(model.parameters()).device
    total_nll, total_tokens = 0.0, 0
    for batch in shortest_first(features, lambda f: len(f["input_ids"]), batch_size):
        if should_stop is not None and should_stop():
            return {}
        ids, mask = right_padded([f["input_ids"] for f in batch], pad_id, device)
        labels, _ = right_padded([f["labels"] for f in batch], IGNORE_INDEX, device)
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=mask, labels=labels).logits.float()
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
        )
        total_nll += float(nll)
        total_tokens += int((labels != IGNORE_INDEX).sum())
    return _summary(total_nll, total_tokens)
