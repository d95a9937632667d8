"""Turning prepared rows into token ids with masked labels, and batching them without wasted compute.

Three data formats are recognised per file from the keys of its rows (:func:`detect_format`):

* ``instruction``: ``{"system", "prompt", "response"}`` -> the prompt formatted for the model, then the
  response and eos; with completion-only loss the prompt positions do not count.
* ``chat``: ``{"system", "messages": [{"role", "content"}, ...]}`` -> the conversation through the chat
  template (or the plain fallback); the loss counts every assistant turn.
* ``text`` (continued pre-training): ``{"text"}`` -> the loss counts every token; long texts are cut into
  several examples of the maximum length so nothing is thrown away.

Batches are built either by :class:`PackingCollator` (several examples per row, each attending only to
itself through restarting position ids: no padding compute) or :class:`PaddingCollator` (pad to the
longest example in the batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from desktop_ift.core.prompt_format import (
    encode_example, encode_segments, encode_source, format_chat_segments, format_example, seq2seq_source,
)
from desktop_ift.core.training.plan_lengths import cut_chat, cut_instruction

IGNORE_INDEX = -100  # positions with this label do not count in the loss
FORMATS = ("instruction", "chat", "text")


def detect_format(rows: list[dict]) -> str:
    """``"instruction"``, ``"chat"`` or ``"text"`` from the keys of the first row (``"instruction"`` if empty).

    Raises ``ValueError`` with the keys found when a row fits none of the formats.
    """
    if not rows:
        return "instruction"
    keys = set(rows[0])
    if "messages" in keys:
        return "chat"
    if "prompt" in keys and "response" in keys:
        return "instruction"
    if "text" in keys:
        return "text"
    raise ValueError(f"a data row has the keys {sorted(keys)}; expected prompt+response, messages, or text")


def _encode_instruction_parts(row: dict, tokenizer) -> tuple[list[int], list[int]]:
    prompt_text, full_text = format_example(tokenizer, row.get("system", ""), row["prompt"], row["response"])
    return encode_example(tokenizer, prompt_text, full_text)


def _encode_instruction(row: dict, tokenizer) -> tuple[list[int], list[bool]]:
    prompt_ids, completion_ids = _encode_instruction_parts(row, tokenizer)
    return prompt_ids + completion_ids, [False] * len(prompt_ids) + [True] * len(completion_ids)


def _encode_chat(row: dict, tokenizer) -> tuple[list[int], list[bool]]:
    return encode_segments(tokenizer, format_chat_segments(tokenizer, row.get("system", ""), row["messages"]))


def _encode_text(row: dict, tokenizer) -> list[int]:
    ids = tokenizer(row["text"], add_special_tokens=True)["input_ids"]
    if tokenizer.eos_token_id is not None and (not ids or ids[-1] != tokenizer.eos_token_id):
        ids.append(tokenizer.eos_token_id)
    return ids


def tokenize_rows(rows: list[dict], tokenizer, max_seq_length: int, completion_only: bool,
                  data_format: str | None = None, overflow: str = "truncate",
                  truncate_side: str = "middle") -> list[dict]:
    """Encode prepared rows for causal-LM training: ``[{"input_ids", "labels"}, ...]``.

    ``data_format`` defaults to :func:`detect_format`. With ``completion_only`` only response (assistant)
    tokens get a label; otherwise every token does (text rows always train on every token). Examples longer
    than ``max_seq_length``: with ``overflow="drop"`` instruction and chat examples are left out; with
    ``"truncate"`` an instruction example keeps its whole response where possible and its prompt is cut
    (:func:`~desktop_ift.core.training.plan_lengths.cut_instruction`, ``truncate_side``), a chat example keeps
    its final assistant turn whole where possible and loses the earlier context the same way
    (:func:`~desktop_ift.core.training.plan_lengths.cut_chat`; one left with nothing to train on is left out). Text
    rows longer than ``max_seq_length`` become several examples. The plan counts the same way beforehand.
    """
    data_format = data_format or detect_format(rows)
    out = []
    for row in rows:
        if data_format == "instruction":
            prompt_ids, completion_ids = _encode_instruction_parts(row, tokenizer)
            if len(prompt_ids) + len(completion_ids) > max_seq_length:
                if overflow == "drop":
                    continue
                prompt_ids, completion_ids = cut_instruction(prompt_ids, completion_ids, max_seq_length,
                                                             truncate_side)
            ids = prompt_ids + completion_ids
            labels = ([IGNORE_INDEX] * len(prompt_ids) + list(completion_ids)) if completion_only else list(ids)
            out.append({"input_ids": ids, "labels": labels})
            continue
        if data_format == "text":
            ids = _encode_text(row, tokenizer)
            for start in range(0, len(ids), max_seq_length):
                chunk = ids[start:start + max_seq_length]
                if len(chunk) > 1:
                    out.append({"input_ids": chunk, "labels": list(chunk)})
            continue
        ids, trained = _encode_chat(row, tokenizer)
        if overflow == "drop" and len(ids) > max_seq_length:
            continue
        ids, trained = cut_chat(ids, trained, max_seq_length, truncate_side)
        if completion_only:
            labels = [t if keep else IGNORE_INDEX for t, keep in zip(ids, trained)]
        else:
            labels = list(ids)
        if all(label == IGNORE_INDEX for label in labels[1:]):
            continue
        out.append({"input_ids": ids, "labels": labels})
    return out


def tokenize_seq2seq_rows(rows: list[dict], tokenizer, max_seq_length: int) -> list[dict]:
    """Encode instruction rows for an encoder-decoder model: the prompt (system first) goes to the encoder,
    the response is the decoder's target. Rows in other formats raise ``ValueError``."""
    data_format = detect_format(rows)
    if data_format != "instruction":
        raise ValueError(f"encoder-decoder models train on prompt/response rows, not {data_format} rows")

    out = []
    for row in rows:
        # the same encoder input as evaluation and the playground give the model
        input_ids = encode_source(tokenizer, seq2seq_source(row.get("system", ""), row["prompt"]), max_seq_length)
        labels = tokenizer(text_target=row["response"], truncation=True, max_length=max_seq_length)["input_ids"]
        eos = tokenizer.eos_token_id
        if eos is not None and (not labels or labels[-1] != eos):
            labels = labels[: max_seq_length - 1] + [eos]  # the decoder must learn where the answer ends
        if labels:
            out.append({"input_ids": input_ids, "labels": labels})
    return out


def shortest_first(items: list, length: Callable[[Any], int], batch_size: int) -> Iterator[list]:
    """``items`` in batches of ``batch_size``, shortest first, so each batch pads little (evaluation)."""
    order = sorted(range(len(items)), key=lambda i: length(items[i]))
    for start in range(0, len(order), batch_size):
        yield [items[i] for i in order[start:start + batch_size]]


def right_padded(seqs: list[list[int]], value: int, device=None):
    """``(tensor, attention_mask)``: the sequences padded on the right with ``value`` to the longest one,
    and 1 where a real token is, 0 on padding."""
    import torch

    width = max(len(s) for s in seqs)
    padded = torch.tensor([list(s) + [value] * (width - len(s)) for s in seqs], dtype=torch.long, device=device)
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], dtype=torch.long, device=device)
    return padded, mask


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


def best_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Group item indices into bins whose total length is at most ``capacity`` (an item longer than
    ``capacity`` gets a bin of its own), longest items first, each into the fullest bin it fits."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda k: -lengths[k]):
        best = -1
        for b, free in enumerate(room):
            if lengths[i] <= free and (best < 0 or free < room[best]):
                best = b
        if best < 0:
            bins.append([i])
            room.append(capacity - lengths[i])
        else:
            bins[best].append(i)
            room[best] -= lengths[i]
    return bins


def plan_rows(lengths: list[int], capacity: int, hidden_size: int = 0) -> list[list[int]]:
    """Group examples (by length) into rows of at most ``capacity`` tokens at the lowest compute cost.

    The cost of R rows padded to length L is R x (L + L^2 / (6 x hidden_size)): the first term is the
    work of the linear layers, the second that of attention over a row (which without variable-length
    kernels grows with the square of the row). Candidate row lengths between the longest example and
    ``capacity`` are tried with best-fit decreasing; ``hidden_size`` 0 counts the linear work only.
    """
    longest, total = max(lengths), sum(lengths)
    cap = max(capacity, longest)
    candidates = {cap, longest} | {min(cap, max(longest, -(-total // k))) for k in range(1, len(lengths) + 1)}
    best, best_cost = None, None
    for c in sorted(candidates):
        rows = best_fit_decreasing(lengths, c)
        width = max(sum(lengths[i] for i in r) for r in rows)
        cost = len(rows) * (width + (width * width / (6 * hidden_size) if hidden_size else 0))
        if best_cost is None or cost < best_cost:
            best, best_cost = rows, cost
    return best


@dataclass
class PackingCollator:
    """Packs the examples of a batch into as few rows as possible, padding-free.

    The examples are grouped into rows of at most ``capacity`` tokens (:func:`plan_rows`). Each example
    keeps its own position ids starting at 0 and no attention mask is passed: transformers then builds a
    block-diagonal causal mask from the restarting position ids (or uses variable-length flash attention),
    so an example never attends to another. The first label of each example is -100, so the last token of
    one example is never trained to predict the first of the next. A batch gives the same loss as the same
    examples padded one per row (tested); only the padding compute is saved. The number of examples per
    step (and so the number of steps) does not change. The model must run without a key/value cache
    (``config.use_cache = False``, as in training): with one, transformers ignores the position ids.

    ``one_row`` puts the whole batch in a single row with no padding at all, whatever its length: for
    attention computed example by example (:mod:`~desktop_ift.core.training.segment_attention`), where a
    long row costs no more than its examples and row padding would be pure waste (about 12 % of the
    positions with the row planner on examples of 20 to 400 tokens).
    """

    pad_token_id: int
    capacity: int
    hidden_size: int = 0
    one_row: bool = False

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        lengths = [len(f["input_ids"]) for f in features]
        rows = [list(range(len(lengths)))] if self.one_row else plan_rows(lengths, self.capacity, self.hidden_size)
        rows.sort(key=lambda r: min(r))  # keep the batch's order as far as possible (reproducible either way)
        ids, labels, positions = [], [], []
        for row in rows:
            row_ids, row_labels, row_pos = [], [], []
            for i in sorted(row):
                f = features[i]
                row_ids += list(f["input_ids"])
                row_labels += [IGNORE_INDEX] + list(f["labels"])[1:]
                row_pos += list(range(len(f["input_ids"])))
            ids.append(row_ids)
            labels.append(row_labels)
            positions.append(row_pos)
        longest = max(len(r) for r in ids)
        for r_ids, r_labels, r_pos in zip(ids, labels, positions):
            pad = longest - len(r_ids)
            r_ids += [self.pad_token_id] * pad
            r_labels += [IGNORE_INDEX] * pad
            r_pos += list(range(pad))  # padding is a "sequence" of its own that nothing attends to
        return {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "position_ids": torch.tensor(positions, dtype=torch.long),
        }


def padding_waste(features: list[dict], batch_size: int, packed: bool, capacity: int) -> float:
    """Share of the token positions that would be padding, batching ``features`` in order (for reports)."""
    useful = total = 0
    for start in range(0, len(features), batch_size):
        lengths = [len(f["input_ids"]) for f in features[start:start + batch_size]]
        useful += sum(lengths)
        if packed:
            rows = plan_rows(lengths, capacity)
            total += len(rows) * max(sum(lengths[i] for i in r) for r in rows)
        else:
            total += len(lengths) * max(lengths)
    return 1.0 - useful / total if total else 0.0
