"""Logits only at trained positions must give the model's own loss and the same gradients."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from desktop_ift.core import modeling  # noqa: E402
from desktop_ift.core.training.collator import PackingCollator, PaddingCollator, tokenize_rows  # noqa: E402
from desktop_ift.core.training.response_logits import (  # noqa: E402
    response_loss,
    response_loss_is_exact,
    trained_positions,
)


@pytest.fixture(scope="module")
def model_and_features(tiny_model_dir, toy):
    tokenizer = modeling.load_tokenizer(tiny_model_dir, padding_side="right")
    model = modeling.load_causal_lm(tiny_model_dir, for_training=True)
    model.config.use_cache = False
    rows = toy.rows(6)
    return model, tokenizer, tokenize_rows(rows, tokenizer, 128, completion_only=True)


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("packed", [False, True])
def test_same_loss_and_gradients_as_the_models_own_loss(model_and_features, packed):
    model, tokenizer, features = model_and_features
    collate = PackingCollator(tokenizer.pad_token_id, capacity=128) if packed else PaddingCollator(tokenizer.pad_token_id)
    batch = collate(features)
    n_items = int((batch["labels"][:, 1:] != -100).sum())
    model.train()
    torch.manual_seed(0)
    model.zero_grad()
    theirs = model(**batch, num_items_in_batch=n_items).loss
    theirs.backward()
    expected = _grads(model)
    model.zero_grad()
    ours, outputs = response_loss(model, batch, num_items_in_batch=n_items)
    ours.backward()
    got = _grads(model)
    assert float(ours.detach()) == pytest.approx(float(theirs.detach()), rel=1e-5)
    assert expected.keys() == got.keys() and expected
    for name, grad in expected.items():
        assert torch.allclose(grad, got[name], atol=1e-6, rtol=1e-4), name
    # only the positions whose next token is trained were projected onto the vocabulary
    assert outputs.logits.shape[0] == n_items < batch["labels"].numel() / 2
    assert response_loss_is_exact(model, batch)


def test_positions_kept_are_those_before_a_trained_label():
    labels = torch.tensor([[-100, -100, 5, 6, -100], [-100, 7, -100, -100, -100]])
    assert trained_positions(labels).tolist() == [[False, True, True, False, False],
                                                   [True, False, False, False, False]]


def test_a_batch_with_nothing_trained_is_not_used_to_check(model_and_features):
    model, tokenizer, features = model_and_features
    batch = PaddingCollator(tokenizer.pad_token_id)(features[:2])
    batch["labels"][:] = -100
    assert not response_loss_is_exact(model, batch)
