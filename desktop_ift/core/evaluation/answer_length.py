"""How long the generated answers may be, from the lengths of the references being evaluated.

An answer cut before it ends is scored as wrong, silently: summaries of 56 tokens cut to 8 came out as three
words. So the default ``max_new_tokens`` of an evaluation is derived from the references of the evaluated
split, counted in the tokens of the model that answers: their 99th percentile, plus a margin (a quarter of
it, at least 8 tokens) for answers a little longer than the references, capped at :data:`MAX_DERIVED`.
Generation still stops at the model's end-of-turn token, so a generous limit costs nothing on short answers.

Torch-free; loading a tokenizer imports transformers (seconds), so the GUI calls this off its thread.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

PERCENTILE = 99
MIN_MARGIN = 8
MARGIN_FRACTION = 0.25
MAX_DERIVED = 1024
MIN_DERIVED = 16


@dataclass(frozen=True)
class AnswerLength:
    """A ``max_new_tokens`` value and where it came from (shown by the CLI, the page and the report)."""

    value: int
    origin: str  # "references" (derived) or "user"
    text: str  # one sentence for people
    percentile_tokens: int = 0
    references: int = 0
    longest_tokens: int = 0
    longer_than_value: int = 0  # references longer than ``value`` (only when capped or set by the user)
    counted_with: str = ""  # the tokenizer's folder, or "characters / 4" when no tokenizer was usable

    def to_dict(self) -> dict:
        return asdict(self)


def percentile(values: list[int], q: float) -> int:
    """The ``q``-th percentile of ``values`` by the nearest-rank method (an actual value, rounded up)."""
    ordered = sorted(values)
    if not ordered:
        return 0
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def derive(lengths: list[int], counted_with: str = "") -> AnswerLength:
    """The derived ``max_new_tokens`` for references of these token ``lengths`` (see the module text)."""
    if not lengths:
        return AnswerLength(MIN_DERIVED, "references", f"{MIN_DERIVED} tokens: there are no references to "
                            "measure.", counted_with=counted_with)
    p = percentile(lengths, PERCENTILE)
    margin = max(MIN_MARGIN, math.ceil(p * MARGIN_FRACTION))
    value = min(MAX_DERIVED, max(MIN_DERIVED, p + margin))
    longer = sum(1 for n in lengths if n > value)
    text = (f"{value} tokens, from the {len(lengths)} references: their {PERCENTILE}th percentile is {p} tokens "
            f"(longest {max(lengths)}), plus a margin of {margin}")
    if value == MAX_DERIVED and p + margin > MAX_DERIVED:
        text += f", capped at {MAX_DERIVED}: {longer} reference(s) are longer and their answers may be cut"
    return AnswerLength(value, "references", text + ".", p, len(lengths), max(lengths), longer, counted_with)


def chosen(value: int, lengths: list[int], counted_with: str = "") -> AnswerLength:
    """A value the user set, with what the references would suggest and how many of them are longer."""
    value = int(value)
    if not lengths:
        return AnswerLength(value, "user", f"{value} tokens, set by you.", counted_with=counted_with)
    suggestion = derive(lengths, counted_with)
    longer = sum(1 for n in lengths if n > value)
    text = f"{value} tokens, set by you (the references suggest {suggestion.value})"
    if longer:
        text += f"; {longer} of {len(lengths)} references are longer, so their answers may be cut"
    return AnswerLength(value, "user", text + ".", suggestion.percentile_tokens, len(lengths), max(lengths),
                        longer, counted_with)


def count_tokens(references: list[str], tokenizer) -> list[int]:
    """Tokens of each reference as the model writes it (no special tokens), plus one for its end token."""
    if not references:
        return []
    encoded = tokenizer(list(references), add_special_tokens=False)["input_ids"]
    return [len(ids) + 1 for ids in encoded]


def reference_lengths(references: list[str], tokenizer_folder: str | None) -> tuple[list[int], str]:
    """Token lengths of ``references`` in the tokenizer saved in ``tokenizer_folder``, and what counted them.

    Without a usable tokenizer (a folder that is gone) lengths are estimated as characters / 4."""
    if tokenizer_folder:
        try:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_folder), local_files_only=True)
            return count_tokens(references, tokenizer), "the model's tokenizer"
        except Exception:  # noqa: BLE001 - any unusable tokenizer falls back to the estimate, which says so
            pass
    return [math.ceil(len(r) / 4) + 1 for r in references], "characters / 4 (the model's tokenizer was not found)"


def measure(references: list[str], tokenizer_folder: str | None, value: int | None = None) -> AnswerLength:
    """The derived value (``value`` None) or the user's ``value``, measured on ``references``."""
    lengths, counted_with = reference_lengths(references, tokenizer_folder)
    result = derive(lengths, counted_with) if value is None else chosen(value, lengths, counted_with)
    if counted_with.startswith("characters"):
        result = AnswerLength(**{**result.to_dict(), "text": result.text[:-1] + " (lengths estimated as "
                                 "characters / 4: the model's tokenizer could not be loaded)."})
    return result
