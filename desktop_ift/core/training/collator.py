"""Turning prepared rows into token ids with masked labels, and padding them into batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IGNORE_INDEX = -100  # positions with this label do not count in the loss


def tokenize_rows(rows: list[dict], tokenizer, max_seq_length: int, completion_only: bool) -> list[dict]:
    """Encode prepared rows (``system``, ``prompt``, ``response``) for causal-LM training.

    Each example is the formatted prompt followed by the response and eos (see
    :func:`desktop_ift.core.modeling.format_example`). With ``completion_only`` the prompt positions get
    label -100, so the loss is computed on the answer only. Examples are cut to ``max_seq_length`` tokens
    (from the end, keeping the start of the prompt); an example whose answer is cut away entirely still
    trains on nothing and is dropped.
    """
    from desktop_ift.core.modeling import encode_example, format_example

    out = []
    for row in rows:
        prompt_text, full_text = format_example(tokenizer, row.get("system", ""), row["prompt"], row["response"])
        prompt_ids, completion_ids = encode_example(tokenizer, prompt_text, full_text)
        input_ids = (prompt_ids + completion_ids)[:max_seq_length]
        if completion_only:
            labels = ([IGNORE_INDEX] * len(prompt_ids) + completion_ids)[:max_seq_length]
        else:
            labels = list(input_ids)
        if all(label == IGNORE_INDEX for label in labels):
            continue
        out.append({"input_ids": input_ids, "labels": labels})
    return out


@dataclass
class PaddingCollator:
    """Pads a batch to its longest example (dynamic padding); padded positions get label -100."""

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        longest = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            m = self.pad_to_multiple_of
            longest = (longest + m - 1) // m * m
        ids, labels, mask = [], [], []
        for f in features:
            pad = longest - len(f["input_ids"])
            ids.append(list(f["input_ids"]) + [self.pad_token_id] * pad)
            labels.append(list(f["labels"]) + [IGNORE_INDEX] * pad)
            mask.append([1] * len(f["input_ids"]) + [0] * pad)
        return {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "attention_mask": torch.tensor(mask, dtype=torch.long),
        }
