"""Token lengths of many chat conversations or pre-training documents at once, equal to what the training
worker's collator (:func:`desktop_ift.core.training.collator.tokenize_rows`) computes one by one.

* Chat: each conversation is cut into pieces by the worker's own :func:`prompt_format.format_chat_segments`
  (the chat template, or the plain fallback); all pieces of all conversations are then encoded in two
  batch calls (first pieces with the tokenizer's special tokens, the rest without), each distinct piece
  once. The result keeps, per conversation, its length and the token ranges the loss counts, so the
  findings for another maximum length need no tokenizing (:func:`chat_findings`).
* Pre-training: documents are encoded in one batch call plus eos, as the collator does; a document
  longer than the maximum length is *split* into several examples, not cut (:func:`document_examples`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from desktop_ift.core import prompt_format


@dataclass
class ChatLengths:
    """Per conversation: ``total`` tokens and the ``(start, end)`` token ranges of its assistant pieces;
    ``plain`` counts the conversations formatted with the worker's plain fallback (no usable chat template)."""

    total: np.ndarray
    trained_spans: list[list[tuple[int, int]]] = field(default_factory=list)
    plain: int = 0


def _encode_counts(tok, texts: list[str], add_special_tokens: bool, strip_eos: bool) -> dict[str, int]:
    """Token count of each distinct text; with ``strip_eos`` an eos the tokenizer appends as a special token
    (not written in the text) is not counted, as :func:`prompt_format.encode_segments` does."""
    unique = list(dict.fromkeys(texts))
    if not unique:
        return {}
    eos = tok.eos_token or "\0"
    counts = {}
    for text, n, last_is_eos in zip(unique, *tok.counts_and_eos(unique, add_special_tokens)):
        if strip_eos and n and last_is_eos and not text.endswith(eos):
            n -= 1
        counts[text] = n
    return counts


def uses_plain_chat_format(tok, system: str, messages: list[dict]) -> bool:
    """True when the worker formats this conversation with its plain ``### Instruction:`` layout (the
    tokenizer has no chat template, or the template rejects the conversation)."""
    if not getattr(tok, "chat_template", None):
        return True
    return _is_plain(tok, system, messages, prompt_format.format_chat_segments(tok, system, messages))


def _is_plain(tok, system: str, messages: list[dict], segments: list[tuple[str, bool]]) -> bool:
    return segments == prompt_format.plain_chat_segments(tok, system, messages)


def chat_lengths(tok, conversations: list[dict]) -> ChatLengths:
    """Token lengths of ``conversations`` (``{"system", "messages"}`` dicts) as the worker encodes them."""
    all_segments = [prompt_format.format_chat_segments(tok, c.get("system", ""), c["messages"]) for c in conversations]
    firsts, rest = [], []
    first_special = []
    for segments in all_segments:
        for i, (text, _trained) in enumerate(segments):
            if i == 0:
                special = not prompt_format.adds_bos_itself(tok, text)
                first_special.append(special)
                firsts.append(text)
            else:
                rest.append(text)
    with_special = _encode_counts(tok, [t for t, s in zip(firsts, first_special) if s], True, strip_eos=True)
    without_first = _encode_counts(tok, [t for t, s in zip(firsts, first_special) if not s], False, False)
    without = _encode_counts(tok, rest, False, strip_eos=False)
    totals = np.zeros(len(all_segments), dtype=np.int64)
    spans: list[list[tuple[int, int]]] = []
    k = 0
    for c, segments in enumerate(all_segments):
        pos, trained = 0, []
        for i, (text, is_assistant) in enumerate(segments):
            if i == 0:
                n = with_special[text] if first_special[k] else without_first[text]
                k += 1
            else:
                n = without[text]
            if is_assistant and n:
                trained.append((pos, pos + n))
            pos += n
        totals[c] = pos
        spans.append(trained)
    plain = sum(_is_plain(tok, c.get("system", ""), c["messages"], segments)
                for c, segments in zip(conversations, all_segments))
    return ChatLengths(totals, spans, plain)


def chat_findings(lengths: ChatLengths, max_seq_length: int, completion_only: bool = True) -> dict[str, np.ndarray]:
    """For a maximum length: which conversations are ``cut`` (longer than it). Which of them training
    leaves out is :func:`desktop_ift.core.training.plan_lengths.chat_dropped` (the collator's cutting rule)."""
    return {"cut": lengths.total > max_seq_length}


def document_lengths(tok, texts: list[str]) -> np.ndarray:
    """Tokens of each pre-training document: the text with the tokenizer's special tokens, plus eos when
    the tokenizer does not end it with one (as the worker encodes ``{"text"}`` rows)."""
    eos_id = tok.eos_token_id
    unique = list(dict.fromkeys(texts))
    counts = {}
    for text, n, last_is_eos in zip(unique, *tok.counts_and_eos(unique, True)):
        counts[text] = n + int(eos_id is not None and (not n or not last_is_eos))
    return np.fromiter((counts[t] for t in texts), dtype=np.int64, count=len(texts))


def document_examples(lengths: np.ndarray, max_seq_length: int) -> np.ndarray:
    """How many training examples each document becomes: the worker splits a document into pieces of
    ``max_seq_length`` tokens and leaves out a last piece of a single token (nothing to predict)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    full, last = np.divmod(lengths, max_seq_length)
    return full + (last > 1).astype(np.int64)


@dataclass
class MeasuredLengths:
    """Token lengths of the first :attr:`measured` conversations (``kind="chat"``) or documents
    (``kind="pretrain"``) of a list, grown a chunk at a time (:meth:`extend`) so a long measurement can
    report progress and be abandoned when the settings change."""

    kind: str
    total: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    trained_spans: list[list[tuple[int, int]]] = field(default_factory=list)
    plain: int = 0

    @property
    def measured(self) -> int:
        """How many items (from the start of the list) are measured."""
        return len(self.total)

    def extend(self, tok, items: list[dict], chunk: int) -> int:
        """Measure the next ``chunk`` items of ``items``; returns how many are measured now."""
        todo = items[self.measured: self.measured + chunk]
        if not todo:
            return self.measured
        if self.kind == "chat":
            found = chat_lengths(tok, todo)
            self.total = np.concatenate([self.total, found.total])
            self.trained_spans += found.trained_spans
            self.plain += found.plain
        else:
            self.total = np.concatenate([self.total, document_lengths(tok, [d["text"] for d in todo])])
        return self.measured

    def as_chat(self) -> ChatLengths:
        """The measured part as :class:`ChatLengths` (for :func:`chat_findings`)."""
        return ChatLengths(self.total, self.trained_spans, self.plain)
