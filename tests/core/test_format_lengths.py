"""Batch token lengths of chat conversations and pre-training documents equal what the worker trains on:
the one-by-one preview (``preview_example``) and the collator's own ``tokenize_rows``."""

from __future__ import annotations

import random

import numpy as np
import pytest

from desktop_ift.core.templates.format_lengths import (
    MeasuredLengths, chat_findings, chat_lengths, document_examples, document_lengths, uses_plain_chat_format)
from desktop_ift.core.templates.token_preview import LightTokenizer, preview_example
from desktop_ift.core.training.collator import tokenize_rows
from desktop_ift.core.training.plan_lengths import chat_dropped

WORDS = "my invoice package arrived late refund error login page please help the not".split()


def _conversations(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        messages = []
        for _ in range(rng.choice([1, 2, 3])):
            for role in ("user", "assistant"):
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0 if role == "assistant" else 1, 40)))
                messages.append({"role": role, "content": text})
        out.append({"system": "Be brief." if i % 3 == 0 else "", "messages": messages})
    return out


@pytest.mark.parametrize("which", ["chat", "plain"])
def test_chat_lengths_equal_the_one_by_one_preview_and_the_collator(which, tiny_model_dir, plain_model_dir):
    tok = LightTokenizer(tiny_model_dir if which == "chat" else plain_model_dir)
    convs = _conversations(60)
    found = chat_lengths(tok, convs)
    previews = [preview_example(tok, c, 10_000) for c in convs]
    assert found.total.tolist() == [p.n_tokens for p in previews]
    for spans, p in zip(found.trained_spans, previews):  # the loss ranges are the preview's trained tokens
        mask = np.zeros(p.n_tokens, dtype=bool)
        for start, end in spans:
            mask[start:end] = True
        assert mask.tolist() == p.trained
    assert found.plain == (0 if which == "chat" else 60)
    assert uses_plain_chat_format(tok, "", convs[0]["messages"]) == (which == "plain")

    # short maxima: the conversations the collator keeps are exactly those not reported as dropped
    rows = [{"idx": i, **c} for i, c in enumerate(convs)]
    for max_len in (12, 24, int(np.percentile(found.total, 30))):
        findings = chat_findings(found, max_len)
        assert findings["cut"].sum() == sum(p.n_tokens > max_len for p in previews) > 0
        for overflow in ("truncate", "drop"):
            kept = tokenize_rows(rows, tok, max_len, True, "chat", overflow=overflow)
            dropped = chat_dropped(found, max_len, True, overflow)
            assert len(kept) == len(convs) - int(dropped.sum())
        # truncating keeps every answered conversation: the last answer stays, earlier context is cut
        assert not chat_dropped(found, max_len, True, "truncate").any()


def test_document_lengths_and_split_examples_equal_the_collator(tiny_model_dir):
    tok = LightTokenizer(tiny_model_dir)
    rng = random.Random(1)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 120))) for _ in range(50)] + ["help"] * 3
    lengths = document_lengths(tok, texts)
    assert lengths.tolist() == [preview_example(tok, {"text": t}, 64).n_tokens for t in texts]
    for max_len in (16, 33, 64):
        pieces = document_examples(lengths, max_len)
        one_by_one = [len(tokenize_rows([{"text": t}], tok, max_len, True, "text")) for t in texts]
        assert pieces.tolist() == one_by_one
        assert (pieces[lengths > max_len] > 1).all()  # long documents are split, not cut


def test_measured_lengths_grow_chunk_by_chunk(tiny_model_dir):
    tok = LightTokenizer(tiny_model_dir)
    convs = _conversations(25, seed=2)
    measured = MeasuredLengths("chat")
    assert measured.extend(tok, convs, 10) == 10
    assert measured.extend(tok, convs, 10) == 20
    assert measured.extend(tok, convs, 10) == 25 and measured.extend(tok, convs, 10) == 25
    assert measured.total.tolist() == chat_lengths(tok, convs).total.tolist()
    assert len(measured.as_chat().trained_spans) == 25
