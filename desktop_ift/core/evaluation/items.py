"""What is asked and what is expected, for each test line of any data format.

* ``instruction`` lines (``system``/``prompt``/``response``): the prompt is asked; the response is the
  reference, and a line may carry more references in ``references`` (a list, the response first).
* ``chat`` lines (``system``/``messages``): the last assistant turn is the reference; the conversation
  before it (the history) is the context, laid out by the model's chat template exactly as in training.
* ``text`` lines (continued pre-training): nothing is asked; the documents are scored by their loss.

Torch-free and Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from desktop_ift.core.training.collator import detect_format


class EvalDataError(ValueError):
    """A test line that cannot be evaluated (no assistant turn, no response); the message names it."""


@dataclass
class EvalItem:
    """One test example: ``shown`` is the question as the user wrote it (for the example table)."""

    idx: int
    system: str
    references: list[str]
    shown: str
    prompt: str = ""  # instruction lines
    history: list[dict] = field(default_factory=list)  # chat lines: the turns before the scored answer
    answer: str = ""  # chat lines: the scored (last) assistant turn

    @property
    def reference(self) -> str:
        return self.references[0] if self.references else ""


def data_format(rows: list[dict]) -> str:
    """``instruction``, ``chat`` or ``text`` (see :func:`desktop_ift.core.training.collator.detect_format`)."""
    try:
        return detect_format(rows)
    except ValueError as exc:
        raise EvalDataError(f"The test data cannot be evaluated: {exc}.") from exc


def _references(row: dict, first: str) -> list[str]:
    extra = row.get("references")
    refs = [str(r) for r in extra] if isinstance(extra, list) and extra else [first]
    return [r for r in refs if r.strip()] or [first]


def _shown_history(messages: list[dict]) -> str:
    return "\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in messages)


def eval_items(rows: list[dict]) -> list[EvalItem]:
    """One :class:`EvalItem` per line of an instruction or chat test file (text lines have none).

    Raises :class:`EvalDataError` naming the first chat line without an assistant turn."""
    fmt = data_format(rows)
    items: list[EvalItem] = []
    for i, row in enumerate(rows):
        idx = int(row.get("idx", i))
        if fmt == "instruction":
            response = str(row.get("response", ""))
            items.append(EvalItem(idx, str(row.get("system", "") or ""), _references(row, response),
                                  str(row["prompt"]), prompt=str(row["prompt"])))
        elif fmt == "chat":
            messages = list(row.get("messages") or [])
            last = max((k for k, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
            if last < 0:
                raise EvalDataError(f"Test conversation {idx} has no assistant turn, so there is no answer to "
                                    "compare with. Every conversation needs at least one assistant message.")
            answer = str(messages[last].get("content", ""))
            items.append(EvalItem(idx, str(row.get("system", "") or ""), _references(row, answer),
                                  _shown_history(messages[:last]), history=messages[:last], answer=answer))
    return items
