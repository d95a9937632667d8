"""Attention per packed example must give the block-mask result, gradients included."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from desktop_ift.core import modeling  # noqa: E402
from desktop_ift.core.training.collator import PackingCollator, PaddingCollator, tokenize_rows  # noqa: E402
from desktop_ift.core.training.segment_attention import NAME, _segments, use_segment_attention  # noqa: E402


def _loss_and_grads(model, batch):
    model.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _training_model(model_dir):
    tokenizer = modeling.load_tokenizer(model_dir, padding_side="right")
    model = modeling.load_causal_lm(model_dir, for_training=True)
    model.config.use_cache = False  # as in training: packed position ids are used
    model.train()
    return tokenizer, model


@pytest.mark.parametrize("collate", ["packed", "padded"])
def test_segments_give_the_same_loss_and_gradients_as_sdpa(tiny_model_dir, toy, collate):
    tokenizer, model = _training_model(tiny_model_dir)
    features = tokenize_rows(toy.rows(7), tokenizer, 128, completion_only=True)
    # lengths from 8 to 38 tokens (the answer kept at the end of each), so rows can hold several
    features = [{k: v[:2] + v[-(6 + 5 * i):] for k, v in f.items()} for i, f in enumerate(features)]
    if collate == "packed":
        batch = PackingCollator(tokenizer.pad_token_id, capacity=256, hidden_size=64)(features)
        assert batch["input_ids"].shape[0] < len(features), "several examples share a row"
    else:  # an attention mask from padding: the segment function hands over to sdpa
        batch = PaddingCollator(tokenizer.pad_token_id)(features)
    expected_loss, expected = _loss_and_grads(model, batch)
    assert use_segment_attention(model) == "sdpa" and model.config._attn_implementation == NAME
    loss, got = _loss_and_grads(model, batch)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for name, grad in expected.items():
        assert torch.allclose(grad, got[name], atol=1e-6, rtol=1e-4), name
    model.set_attn_implementation("sdpa")
    assert model.config._attn_implementation == "sdpa"


def test_one_row_per_batch_trains_exactly_like_padded_examples_without_any_padding(tiny_model_dir, toy):
    """With attention per example the whole batch goes into one row (no row padding at all, even past the
    maximum length); loss and gradients are those of the examples padded one per row with plain sdpa."""
    tokenizer, model = _training_model(tiny_model_dir)
    features = tokenize_rows(toy.rows(6), tokenizer, 128, completion_only=True)
    features = [{k: v[:2] + v[-(6 + 7 * i):] for k, v in f.items()} for i, f in enumerate(features)]
    useful = sum(len(f["input_ids"]) for f in features)
    expected_loss, expected = _loss_and_grads(model, PaddingCollator(tokenizer.pad_token_id)(features))
    batch = PackingCollator(tokenizer.pad_token_id, capacity=32, one_row=True)(features)
    assert tuple(batch["input_ids"].shape) == (1, useful), "one row, nothing but the examples"
    assert use_segment_attention(model) == "sdpa"
    loss, got = _loss_and_grads(model, batch)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for name, grad in expected.items():
        assert torch.allclose(grad, got[name], atol=1e-6, rtol=1e-4), name


def test_rows_are_cut_where_position_ids_restart():
    positions = torch.tensor([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 4, 5]])
    assert _segments(positions) == [[(0, 3), (3, 5), (5, 6)], [(0, 6)]]
