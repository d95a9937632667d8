"""Token lengths for the training plan, counted before any model is loaded, and the one rule that cuts a
too-long example (used by the plan's counts *and* by the worker's collator, so the two always agree).

* :func:`cut_instruction` -- the overflow rule for a prompt/response example.
* :func:`cut_chat` -- the same rule for a conversation: its final assistant turn is the response, everything
  before it (system prompt, earlier turns) the prompt.
* :func:`plan_tokenizer` -- the tokenizer the worker will use, read without transformers (building the tiny
  demo model in a child process first when it does not exist yet: a few seconds).
* :func:`measure` -- per split: examples longer than the maximum, examples the worker will make, the
  token-length histogram of the training split and the maximum length that covers 95% of it.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

from desktop_ift.core.hub_cache import find_in_hub_cache, looks_like_hub_id
from desktop_ift.core.models.bundled import BUNDLED_DIRNAME, bundled_model_dir, bundled_tokenizer_dir
from desktop_ift.core.templates.format_lengths import chat_lengths, document_examples, document_lengths
from desktop_ift.core.templates.token_preview import LightTokenizer, PreviewError, example_lengths
from desktop_ift.core.training.tiny_model import DEMO_MODEL_DIRNAME

HISTOGRAM_BINS = 30  # as the Templates page's validation histogram


def cut_instruction(prompt: list, completion: list, max_len: int, side: str = "middle") -> tuple[list, list]:
    """``prompt`` and ``completion`` token lists cut to ``max_len`` tokens together.

    The whole completion (response + eos) is kept when it leaves room for the prompt; the prompt is then cut
    in the ``middle`` (its first and last tokens stay: the model's prompt header and the lines just before
    the answer) or at the ``start`` (its end stays). A completion too long for that keeps the prompt's last
    ``max_len // 4`` tokens (cut the same way) and is itself cut at its end. Examples that fit are returned
    unchanged. Every cut example keeps at least one completion token.
    """
    if len(prompt) + len(completion) <= max_len:
        return prompt, completion
    keep_prompt = max(max_len - len(completion), min(len(prompt), max_len // 4))
    keep_prompt = min(keep_prompt, max_len - 1, len(prompt))
    if keep_prompt <= 0:
        cut_prompt = []
    elif side == "start":
        cut_prompt = prompt[len(prompt) - keep_prompt:]
    else:
        head = keep_prompt // 2
        cut_prompt = prompt[:head] + prompt[len(prompt) - (keep_prompt - head):]
    return cut_prompt, completion[:max_len - len(cut_prompt)]


def _last_answer_start(trained: list) -> int | None:
    """Index of the first token of the last run of assistant tokens (None when there is none)."""
    end = len(trained)
    while end and not trained[end - 1]:
        end -= 1
    if not end:
        return None
    start = end
    while start and trained[start - 1]:
        start -= 1
    return start


def cut_chat(ids: list, trained: list, max_len: int, side: str = "middle") -> tuple[list, list]:
    """A conversation's token ``ids`` and per-token assistant flags ``trained`` cut to ``max_len`` tokens.

    The final assistant turn (with what follows it) is kept whole where possible: everything before it is
    cut as :func:`cut_instruction` cuts a prompt -- in the ``middle`` (its first tokens stay: the system
    prompt and the model's header; then the turns just before the answer; the earliest turns after the
    system prompt go first) or at the ``start`` (the oldest context goes first, the system prompt with it).
    A conversation without an assistant token is cut at its end. Conversations that fit are unchanged.
    """
    if len(ids) <= max_len:
        return ids, trained
    start = _last_answer_start(trained)
    if start is None:
        return ids[:max_len], trained[:max_len]
    head, tail = cut_instruction(list(range(start)), list(range(start, len(ids))), max_len, side)
    keep = head + tail
    return [ids[i] for i in keep], [trained[i] for i in keep]


def chat_dropped(found, max_len: int, completion_only: bool = True, overflow: str = "truncate",
                 side: str = "middle") -> np.ndarray:
    """Per measured conversation (:class:`~desktop_ift.core.templates.format_lengths.ChatLengths`): True
    when the collator leaves it out -- longer than ``max_len`` with ``overflow="drop"``, or nothing left to
    learn after its first token once cut by :func:`cut_chat` (e.g. a conversation without an answer)."""
    dropped = np.zeros(len(found.total), dtype=bool)
    for c, (total, spans) in enumerate(zip(found.total.tolist(), found.trained_spans)):
        if total > max_len and overflow == "drop":
            dropped[c] = True
            continue
        trained = [False] * total
        for a, b in spans:
            trained[a:b] = [True] * (b - a)
        _, kept = cut_chat(list(range(total)), trained, max_len, side)
        labelled = kept if completion_only else [True] * len(kept)
        dropped[c] = not any(labelled[1:])
    return dropped


def _demo_folder(workspace: Path | str) -> Path:
    return Path(workspace) / "models" / DEMO_MODEL_DIRNAME


def ensure_demo_tokenizer(workspace: Path | str, timeout: float = 300) -> Path:
    """The demo model's folder, built first in a child process when it does not exist (torch stays out of
    the caller). Raises ``RuntimeError`` with the child's message when the build fails."""
    folder = _demo_folder(workspace)
    if (folder / "tokenizer.json").exists():
        return folder
    code = ("import sys; from desktop_ift.core.training.tiny_model import ensure_demo_model; "
            "ensure_demo_model(sys.argv[1])")
    done = subprocess.run([sys.executable, "-c", code, str(workspace)], capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0 or not (folder / "tokenizer.json").exists():
        raise RuntimeError(f"The demo model could not be built: {done.stderr.strip()[-500:]}")
    return folder


def model_folder(model: str, workspace: Path | str) -> Path | None:
    """The folder the worker loads ``model`` from, when it is on this computer (None for a hub id that is
    not in the local cache)."""
    if model == "demo":
        return _demo_folder(workspace)
    if looks_like_hub_id(model):
        return find_in_hub_cache(model.strip())
    return Path(model).expanduser()


def plan_tokenizer(model: str, workspace: Path | str, build_demo: bool = True):
    """``(LightTokenizer or None, label)``: the tokenizer of the chosen model, or why there is none."""
    if model == "smollm2":  # the bundled model before it is converted: its tokenizer alone, from its GGUF

        converted = bundled_model_dir(workspace)
        folder = converted if (converted / "tokenizer.json").exists() else bundled_tokenizer_dir(workspace)
        if not (folder / "tokenizer.json").exists() and build_demo:
            code = ("import sys; from desktop_ift.core.models.bundled import ensure_bundled_tokenizer; "
                    "ensure_bundled_tokenizer(sys.argv[1])")
            try:  # in a child process: transformers stays out of the caller
                done = subprocess.run([sys.executable, "-c", code, str(workspace)], capture_output=True,
                                      text=True, timeout=300)
            except (OSError, subprocess.SubprocessError) as exc:
                return None, f"the tokenizer of {BUNDLED_DIRNAME} could not be prepared ({exc})"
            if done.returncode != 0:
                return None, (f"the tokenizer of {BUNDLED_DIRNAME} could not be prepared: "
                              f"{done.stderr.strip()[-300:]}")
        if not (folder / "tokenizer.json").exists():
            return None, f"the tokenizer of {BUNDLED_DIRNAME} is not prepared yet"
        label = BUNDLED_DIRNAME
    elif model == "demo":
        if build_demo:
            try:
                ensure_demo_tokenizer(workspace)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                return None, str(exc)
        folder, label = _demo_folder(workspace), "demo model"
        if not (folder / "tokenizer.json").exists():
            return None, "the demo model is not built yet"
    else:
        folder = model_folder(model, workspace)
        if folder is None:
            return None, f"{model} is not on this computer yet"
        label = folder.name if not model.count("/") == 1 else model
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    if config.get("is_encoder_decoder"):
        return None, "an encoder-decoder model: its prompt and response are cut separately"
    try:
        return LightTokenizer(folder), label
    except (PreviewError, OSError, ValueError) as exc:
        return None, str(exc)


def _instruction_counts(tok, lines: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    prompt, completion = example_lengths(tok, [str(x.get("system") or "") for x in lines],
                                         [x["prompt"] for x in lines], [x["response"] for x in lines])
    return prompt + completion, np.ones(len(lines), dtype=bool)


def _part_lengths(tok, data_format: str, lines: list[dict], max_len: int, overflow: str,
                  completion_only: bool, side: str = "middle") -> tuple[np.ndarray, int]:
    """(token length of each line, examples the worker makes from these lines)."""
    if not lines:
        return np.zeros(0, dtype=np.int64), 0
    if data_format == "text":
        totals = document_lengths(tok, [x["text"] for x in lines])
        return totals, int(document_examples(totals, max_len).sum())
    if data_format == "chat":
        found = chat_lengths(tok, lines)
        return found.total, int((~chat_dropped(found, max_len, completion_only, overflow, side)).sum())
    totals, _ = _instruction_counts(tok, lines)
    made = int((totals <= max_len).sum()) if overflow == "drop" else len(lines)
    return totals, made


def train_lengths(tok, data_format: str, lines: list[dict]) -> list[int]:
    """The token length of each of ``lines`` (whole, before any cut), as :func:`measure` counts them."""
    return [int(n) for n in _part_lengths(tok, data_format, lines, 1 << 30, "truncate", True)[0]]


def cover_length(totals: np.ndarray, share: float = 0.95) -> int:
    """The smallest maximum length that holds ``share`` of the examples whole (0 without examples)."""
    if len(totals) == 0:
        return 0
    ordered = np.sort(totals)
    return int(ordered[max(math.ceil(share * len(ordered)) - 1, 0)])


def measure(tok, data_format: str, lines: dict[str, list[dict]], max_len: int, overflow: str,
            completion_only: bool = True, truncate_side: str = "middle") -> dict:
    """The :class:`~desktop_ift.core.training.plan.PlanLengths` counts of ``lines`` (per split)."""
    longer, trained, train_totals = {}, {}, np.zeros(0, dtype=np.int64)
    for part, part_lines in lines.items():
        totals, made = _part_lengths(tok, data_format, part_lines, max_len, overflow, completion_only,
                                     truncate_side)
        longer[part] = int((totals > max_len).sum())
        trained[part] = made
        if part == "train":
            train_totals = totals
    histogram, edges = [], []
    if len(train_totals):
        top = max(int(train_totals.max()), max_len) + 1
        counts, bin_edges = np.histogram(train_totals, bins=HISTOGRAM_BINS, range=(0, top))
        histogram, edges = [int(c) for c in counts], [float(e) for e in bin_edges]
    return {"longer": longer, "trained": trained, "histogram": histogram, "edges": edges,
            "cover95": cover_length(train_totals), "longest": int(train_totals.max()) if len(train_totals) else 0}
