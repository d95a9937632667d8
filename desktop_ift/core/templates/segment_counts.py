"""Exact token counts of many texts, each distinct word-piece tokenized once.

Byte-level BPE tokenizers (GPT-2, Llama 3, Qwen 2/2.5/3, most recent models) first cut a text into pieces
with a regular expression, then apply BPE inside each piece, so a text's tokens are the concatenation of
its pieces' tokens. At a single space that sits between two non-space characters, every one of those
expressions starts a new piece (the space joins the word after it, and nothing before it can absorb it),
and neither side's pieces depend on the other side's characters (no look-behind; the only look-ahead,
``\\s+(?!\\S)``, concerns runs of whitespace, which cannot end at such a space). So::

    count("a b c") == count("a") + count(" b") + count(" c")

exactly, for texts whose spaces are all of that kind (others are encoded whole). Training data repeats
its words and the constant parts of templates all the time, and several templates embed the same column
values, so tokenizing each distinct piece once turns most of the work into dictionary look-ups.

:class:`SegmentCounter` switches itself on only for tokenizer layouts where the reasoning above holds
(read from the tokenizer's own JSON: no normalizer or NFC; the GPT-2 byte-level expression, or a split on
the Llama 3 / Qwen 2 expression followed by byte-level; plain BPE without dropout; no added token that
eats neighbouring spaces; no truncation or padding), and checks itself against whole-text encoding on
the first texts it sees. Anything else is counted by encoding whole texts, as before.
"""

from __future__ import annotations

import json
import re
from itertools import repeat

# a space followed by another whitespace character (searched in the text and in the reversed text, which
# finds a space preceded by one): not a safe cut
_SPACE_THEN_WHITESPACE = re.compile(r" \s")
_MISSING = -(1 << 40)


def _unsafe(text: str) -> bool:
    """True when a space of ``text`` is at its start or end or next to another whitespace character."""
    search = _SPACE_THEN_WHITESPACE.search
    return text[:1] == " " or text[-1:] == " " or search(text) is not None or search(text[::-1]) is not None

# the expressions Split pre-tokenizers use in Llama 3 and Qwen 2 (the only ones accepted besides GPT-2's)
_KNOWN_SPLIT_PATTERNS = {
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}
VERIFY_TEXTS = 64
MAX_PIECES = 2_000_000


def _byte_level(step: dict, use_regex: bool) -> bool:
    return step.get("type") == "ByteLevel" and bool(step.get("use_regex", True)) == use_regex


def supports_segments(tokenizer_json: dict) -> tuple[bool, str]:
    """``(True, "")`` when texts may be counted by pieces cut at single spaces; else ``(False, why)``."""
    normalizer = tokenizer_json.get("normalizer")
    if normalizer is not None and normalizer.get("type") != "NFC":
        return False, f"normalizer {normalizer.get('type')}"
    pre = tokenizer_json.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel":
        if not _byte_level(pre, use_regex=True):
            return False, "byte-level pre-tokenizer without its expression"
    elif pre.get("type") == "Sequence":
        steps = pre.get("pretokenizers") or []
        if not (len(steps) == 2 and steps[0].get("type") == "Split" and _byte_level(steps[1], use_regex=False)
                and (steps[0].get("pattern") or {}).get("Regex") in _KNOWN_SPLIT_PATTERNS
                and steps[0].get("behavior") == "Isolated" and not steps[0].get("invert")):
            return False, "pre-tokenizer sequence not recognised"
    else:
        return False, f"pre-tokenizer {pre.get('type')}"
    model = tokenizer_json.get("model") or {}
    if model.get("type") != "BPE" or model.get("dropout"):
        return False, "not a deterministic BPE model"
    if tokenizer_json.get("truncation") or tokenizer_json.get("padding"):
        return False, "truncation or padding set in the tokenizer"
    for added in tokenizer_json.get("added_tokens") or []:
        if added.get("lstrip") or added.get("rstrip") or added.get("single_word"):
            return False, f"added token {added.get('content')!r} depends on its neighbours"
    return True, ""


class SegmentCounter:
    """Token counts of texts with a ``tokenizers.Tokenizer``; exact, and much faster on repetitive data.

    ``counts(texts, add_special_tokens)`` equals ``[len(tok.encode(t, add_special_tokens)) for t in texts]``.
    """

    def __init__(self, tokenizer, tokenizer_json: dict | None = None):
        self._tok = tokenizer
        if tokenizer_json is None:
            tokenizer_json = json.loads(tokenizer.to_str())
        self.enabled, self.reason = supports_segments(tokenizer_json)
        self.verified = False
        self._first: dict[str, int] = {}  # a text's first piece -> its token count
        self._rest: dict[str, int] = {}   # a later piece (without its leading space) -> count of " " + piece
        self._special = {flag: tokenizer.num_special_tokens_to_add(False) if flag else 0 for flag in (False, True)}

    def _whole(self, texts: list[str], add_special_tokens: bool) -> list[int]:
        return [len(e) for e in self._tok.encode_batch_fast(texts, add_special_tokens=add_special_tokens)]

    def counts(self, texts: list[str], add_special_tokens: bool = False) -> list[int]:
        """The number of tokens of each text (as ``encode`` would give)."""
        if not self.enabled or not texts:
            return self._whole(texts, add_special_tokens)
        if len(self._first) + len(self._rest) > MAX_PIECES:
            self._first.clear()
            self._rest.clear()
        first, rest = self._first, self._rest
        first_get, rest_get = first.get, rest.get
        out = [0] * len(texts)
        special = self._special[add_special_tokens]
        whole_idx, pending = [], []
        for i, text in enumerate(texts):  # texts whose pieces are all known are counted on the spot
            if _unsafe(text):
                whole_idx.append(i)
                continue
            pieces = text.split(" ")
            n = first_get(pieces[0], _MISSING) + sum(map(rest_get, pieces[1:], repeat(_MISSING, len(pieces) - 1)))
            if n >= 0:
                out[i] = n + special
            else:
                pending.append((i, pieces))
        if pending:
            new_first, new_rest = set(), set()
            for _, pieces in pending:
                if pieces[0] not in first:
                    new_first.add(pieces[0])
                new_rest.update(pieces[1:])
            new_rest.difference_update(rest.keys())
            if new_first:
                keys = list(new_first)
                first.update(zip(keys, self._whole(keys, False)))
            if new_rest:
                keys = list(new_rest)
                rest.update(zip(keys, self._whole([" " + k for k in keys], False)))
            get = rest.__getitem__
            for i, pieces in pending:
                out[i] = first[pieces[0]] + sum(map(get, pieces[1:])) + special
        if whole_idx:
            for i, n in zip(whole_idx, self._whole([texts[i] for i in whole_idx], add_special_tokens)):
                out[i] = n
        if not self.verified:
            self._verify(texts, out, add_special_tokens)
            if not self.enabled:
                return self._whole(texts, add_special_tokens)
        return out

    def _verify(self, texts: list[str], counted: list[int], add_special_tokens: bool) -> None:
        sample = texts[:VERIFY_TEXTS]
        if self._whole(sample, add_special_tokens) != counted[: len(sample)]:
            self.enabled, self.reason = False, "pieces did not add up on this tokenizer"
        elif len(sample) >= VERIFY_TEXTS:
            self.verified = True
