"""Attention over packed rows, one example at a time (padding-free packing without a block mask).

A packed row holds several examples whose position ids restart at 0. transformers' ``sdpa`` path turns that
into a block-diagonal (rows, 1, L, L) mask, which costs on the CPU: the fused kernel cannot take it, so
attention is computed over the whole row (L x L per head, most of it masked away) and its probabilities
are kept for the backward pass. ``segment_attention_forward`` instead cuts each row at its position-id
restarts and runs ``scaled_dot_product_attention(is_causal=True)`` on every example separately: the work is
the sum of the examples' squared lengths, no mask is built, and the fused kernel keeps only what it needs
for the backward pass. This is what variable-length flash attention does on a GPU, done with plain PyTorch.

The recipe switches a model to it (:func:`use_segment_attention`) only for packed training on the CPU and
only after :func:`~desktop_ift.core.training.recipe.packing_is_exact` confirmed, on the actual model, that
packed rows give the same logits as separate examples; anything else (GPU, generation, an unusual
attention module) keeps the model's own implementation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NAME = "desktop_ift_segments"


def _segments(position_ids: torch.Tensor) -> list[list[tuple[int, int]]]:
    """Per row, the ``(start, end)`` of each example: a new one wherever the position id is 0."""
    length = position_ids.shape[1]
    out = []
    for row in position_ids.tolist():
        starts = [0] + [i for i in range(1, length) if row[i] == 0]
        out.append(list(zip(starts, starts[1:] + [length])))
    return out


def segment_attention_forward(module, query, key, value, attention_mask, dropout: float = 0.0,
                              scaling: float | None = None, **kwargs):
    """An attention function for transformers' ``AttentionInterface``: causal attention within each packed
    example. Falls back to the ``sdpa`` function when there is nothing to split (no position ids, a cache,
    a single query token, or an attention mask from padding)."""
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    position_ids = kwargs.get("position_ids")
    if (position_ids is None or attention_mask is not None or query.shape[2] <= 1
            or query.shape[2] != key.shape[2] or tuple(position_ids.shape) != (query.shape[0], query.shape[2])):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    # split (not slice): the backward pass of a split concatenates the pieces' gradients once, where each
    # slice would allocate a zero tensor of the whole batch and add it up (measured: ~15 % of a CPU step)
    rows = []
    for segments, q, k, v in zip(_segments(position_ids), query.split(1), key.split(1), value.split(1)):
        sizes = [e - s for s, e in segments]
        parts = [F.scaled_dot_product_attention(qs, ks, vs, dropout_p=dropout, scale=scaling, is_causal=True)
                 for qs, ks, vs in zip(q.split(sizes, dim=2), k.split(sizes, dim=2), v.split(sizes, dim=2))]
        rows.append(parts[0] if len(parts) == 1 else torch.cat(parts, dim=2))
    out = torch.cat(rows, dim=0) if len(rows) > 1 else rows[0]
    return out.transpose(1, 2).contiguous(), None


def _mask(*args, **kwargs):
    """The mask function paired with the segment attention: none for packed rows (the position ids say
    where each example starts), the usual ``sdpa`` mask when the batch is padded (then the attention falls
    back to ``sdpa`` too)."""
    if kwargs.get("attention_mask") is None:
        return None
    from transformers.masking_utils import sdpa_mask

    return sdpa_mask(*args, **kwargs)


def register() -> None:
    """Make :data:`NAME` known to transformers (attention and mask interfaces); safe to call again."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, segment_attention_forward)
    AttentionMaskInterface.register(NAME, _mask)


def use_segment_attention(model) -> str | None:
    """Switch ``model`` to the segment attention; returns the implementation it had (to restore before
    saving), or None when the model cannot switch (then it is unchanged)."""
    register()
    previous = getattr(model.config, "_attn_implementation", None)
    if previous not in ("sdpa", "eager"):
        return None
    try:
        model.set_attn_implementation(NAME)
    except Exception:  # a model class that only accepts its known implementations
        return None
    return previous
