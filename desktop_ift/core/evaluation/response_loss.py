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

from desktop_ift.core.prompt_format import encode_segments, format_chat_segments, padding_id
from desktop_ift.core.training.collator import (
    IGNORE_INDEX,
    PaddingCollator,
    right_padded,
    shortest_first,
    tokenize_rows,
    tokenize_seq2seq_rows,
)


def response_loss(model, tokenizer, rows: list[dict], max_seq_length: int = 512, batch_size: int = 8,
                  should_stop: Callable[[], bool] | None = None) -> dict:
    """``{"response_loss", "perplexity", "response_tokens"}`` of ``model`` on ``rows``
    (``system``/``prompt``/``response`` dicts). Rows whose answer is cut away entirely by
    ``max_seq_length`` do not count. Returns an empty dict when no response token is left."""
    import torch

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


def chat_answer_encoding(tokenizer, item) -> tuple[list[int], list[int]]:
    """``(context_ids, answer_ids)`` of a chat :class:`~desktop_ift.core.evaluation.items.EvalItem`: the
    history through the model's chat template and the last assistant turn with its end-of-turn marker,
    laid out and tokenized piece by piece exactly as training does (``prompt_format.format_chat_segments`` and
    ``encode_segments``). The context ids are what the model is given to write the answer."""
    messages = list(item.history) + [{"role": "assistant", "content": item.answer}]
    segments = format_chat_segments(tokenizer, item.system, messages)
    ids, trained = encode_segments(tokenizer, segments)
    context, _ = encode_segments(tokenizer, segments[:-1]) if len(segments) > 1 else ([], [])
    if ids[: len(context)] != context or not segments[-1][1]:  # cannot happen with piecewise encoding
        raise ValueError("the chat history does not encode as a prefix of the conversation")
    return context, ids[len(context):]


def chat_answer_loss(model, tokenizer, items: list, max_seq_length: int = 512, batch_size: int = 8,
                     should_stop: Callable[[], bool] | None = None) -> dict:
    """Loss and perplexity on the last assistant turn of each test conversation, with the history as
    context (cut from its start when the whole exceeds ``max_seq_length``, so the answer is kept)."""
    features = []
    for item in items:
        context, answer = chat_answer_encoding(tokenizer, item)
        ids = (context + answer)[-max_seq_length:]
        labels = ([IGNORE] * len(context) + answer)[-max_seq_length:]
        if any(label != IGNORE for label in labels[1:]):
            features.append({"input_ids": ids, "labels": labels})
    total_nll, total_tokens, _ = _causal_nll(model, tokenizer, features, batch_size, should_stop)
    return _summary(total_nll, total_tokens)


def document_losses(model, tokenizer, rows: list[dict], max_seq_length: int = 512, batch_size: int = 8,
                    should_stop: Callable[[], bool] | None = None) -> tuple[dict, list[float | None]]:
    """Held-out loss on continued pre-training documents (``{"text"}`` rows), every token counted, long
    documents cut into pieces of ``max_seq_length`` as in training (``collator.tokenize_rows``).

    Returns ``({"text_loss", "perplexity", "text_tokens"}, per-document mean loss)``; the first is empty
    when stopped or when no document has two tokens."""
    features, owner = [], []
    for i, row in enumerate(rows):
        for feature in tokenize_rows([row], tokenizer, max_seq_length, completion_only=False, data_format="text"):
            features.append(feature)
            owner.append(i)
    total_nll, total_tokens, per_feature = _causal_nll(model, tokenizer, features, batch_size, should_stop)
    if not total_tokens:
        return {}, [None] * len(rows)
    sums = [[0.0, 0] for _ in rows]
    for i, (nll, count) in zip(owner, per_feature):
        sums[i][0] += nll
        sums[i][1] += count
    loss = total_nll / total_tokens
    summary = {"text_loss": loss, "perplexity": math.exp(min(loss, 700.0)), "text_tokens": total_tokens}
    return summary, [s / n if n else None for s, n in sums]


IGNORE = -100


def _causal_nll(model, tokenizer, features: list[dict], batch_size: int,
                should_stop: Callable[[], bool] | None) -> tuple[float, int, list[tuple[float, int]]]:
    """Summed NLL and token count of the labelled positions of ``features`` (next-token prediction), in
    total and per feature; ``(0, 0, [])`` when stopped."""
    import torch

    if not features:
        return 0.0, 0, []
    order = {id(f): k for k, f in enumerate(features)}
    per_feature: list[tuple[float, int]] = [(0.0, 0)] * len(features)
    collate = PaddingCollator(pad_token_id=padding_id(tokenizer))
    device = next(model.parameters()).device
    total_nll, total_tokens = 0.0, 0
    for examples in shortest_first(features, lambda f: len(f["input_ids"]), batch_size):
        if should_stop is not None and should_stop():
            return 0.0, 0, []
        batch = {k: v.to(device) for k, v in collate(examples).items()}
        with torch.inference_mode():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        logits = logits[:, :-1, :].float()
        labels = batch["labels"][:, 1:]
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1),
                                                ignore_index=IGNORE_INDEX, reduction="none").view(labels.shape)
        counted = labels != IGNORE_INDEX
        row_nll = (nll * counted).sum(dim=1).tolist()
        row_tokens = counted.sum(dim=1).tolist()
        for example, s, n in zip(examples, row_nll, row_tokens):
            per_feature[order[id(example)]] = (float(s), int(n))
            total_nll += float(s)
            total_tokens += int(n)
    return total_nll, total_tokens, per_feature
