"""The exact training text and its tokens, without transformers (fast enough for the GUI).

:class:`LightTokenizer` reads a model folder's ``tokenizer.json`` with the ``tokenizers`` library and its
chat template (``chat_template.jinja`` or ``tokenizer_config.json``) with a sandboxed Jinja environment set
up like transformers' own (``messages``, ``add_generation_prompt``, the special tokens, ``raise_exception``,
``tojson``). It offers the few members of a transformers tokenizer that
:mod:`desktop_ift.core.modeling` uses, so the preview formats and encodes examples through the *same*
functions as the training worker (``format_example``/``encode_example``, ``format_chat_segments``/
``encode_segments``) and shows exactly what the model is trained on.

:func:`example_lengths` measures many examples at once (batch encoding, duplicate texts encoded once) and
:class:`TokenLengthCache` keeps the results, so an unchanged template is never tokenized twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from desktop_ift.core import modeling, prompt_format
from desktop_ift.core.templates.segment_counts import SegmentCounter
from desktop_ift.core.templates.template_set import assignments


class PreviewError(ValueError):
    """The model folder has no tokenizer the preview can read; the text says what is missing."""


def _token_text(value) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value or None


def _chat_template(folder: Path, config: dict) -> str | None:
    jinja = folder / "chat_template.jinja"
    if jinja.exists():
        return jinja.read_text(encoding="utf-8")
    template = config.get("chat_template")
    if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), None)
    if template is None and (folder / "chat_template.json").exists():
        template = json.loads((folder / "chat_template.json").read_text(encoding="utf-8")).get("chat_template")
    return template or None


def _chat_environment():
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


class LightTokenizer:
    """A model folder's fast tokenizer and chat template, with no transformers import."""

    def __init__(self, folder: Path | str):
        """Load ``folder/tokenizer.json``; raises :class:`PreviewError` when the folder lacks it."""
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        path = self.folder / "tokenizer.json"
        if not path.exists():
            raise PreviewError(f"{self.folder} has no tokenizer.json, so the token preview cannot be shown "
                               "(models with only a slow tokenizer are previewed when training starts).")
        try:
            self._tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a plain Exception for a damaged file
            raise PreviewError(f"{path} cannot be read ({exc}).") from exc
        cfg_path = self.folder / "tokenizer_config.json"
        config = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.exists() else {}
        self.bos_token = _token_text(config.get("bos_token"))
        self.eos_token = _token_text(config.get("eos_token"))
        self.unk_token = _token_text(config.get("unk_token"))
        self.pad_token = _token_text(config.get("pad_token"))
        self.eos_token_id = self._tok.token_to_id(self.eos_token) if self.eos_token else None
        self.chat_template = _chat_template(self.folder, config)
        self._compiled = _chat_environment().from_string(self.chat_template) if self.chat_template else None
        digest = hashlib.sha256(path.read_bytes())
        digest.update(json.dumps(config, sort_keys=True).encode())
        digest.update((self.chat_template or "").encode())
        self.fingerprint = digest.hexdigest()[:16]
        self._counter = None

    # --- the part of the transformers tokenizer interface prompt_format.py uses
    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        return {"input_ids": self._tok.encode(text, add_special_tokens=add_special_tokens).ids}

    def apply_chat_template(self, messages: list[dict], tokenize: bool = False, add_generation_prompt: bool = False,
                            **kwargs) -> str:
        """The chat template rendered like transformers does (text only)."""
        if self._compiled is None:
            raise ValueError("this tokenizer has no chat template")
        return self._compiled.render(messages=messages, add_generation_prompt=add_generation_prompt,
                                     bos_token=self.bos_token or "", eos_token=self.eos_token or "",
                                     unk_token=self.unk_token or "", pad_token=self.pad_token or "", **kwargs)

    def is_added_token(self, text: str) -> bool:
        """True when ``text`` is one of the tokenizer's added (special) tokens, matched whole in any text."""
        return bool(text) and text in {t.content for t in self._tok.get_added_tokens_decoder().values()}

    # --- batch helpers
    def encode_batch(self, texts: list[str], add_special_tokens: bool) -> list[list[int]]:
        """Token ids of many texts at once (the Rust tokenizer spreads them over the CPU cores)."""
        # the "fast" variant skips the character offsets, which nothing here uses (same ids)
        return [e.ids for e in self._tok.encode_batch_fast(texts, add_special_tokens=add_special_tokens)]

    def count_tokens(self, texts: list[str], add_special_tokens: bool) -> list[int]:
        """The token count of each text, exactly as :meth:`encode_batch` would give, each distinct word-piece
        tokenized once where the tokenizer allows it (see :mod:`~desktop_ift.core.templates.segment_counts`)."""
        if self._counter is None:
            self._counter = SegmentCounter(self._tok)
        return self._counter.counts(texts, add_special_tokens)

    def counts_and_eos(self, texts: list[str], add_special_tokens: bool) -> tuple[list[int], list[bool]]:
        """Each text's token count (:meth:`count_tokens`) and whether its last token is eos, without
        building the ids where the answer follows from the text: eos ends an encoding when the tokenizer
        appends it itself, or when the text ends with the eos token's text (an added token, matched whole)."""
        counts = self.count_tokens(texts, add_special_tokens)
        eos = self.eos_token or ""
        if self.eos_token_id is None or not texts:
            return counts, [False] * len(texts)
        probe = self._tok.encode("a", add_special_tokens=add_special_tokens).ids
        if probe and probe[-1] == self.eos_token_id:  # the post-processor appends eos to every text
            return counts, [True] * len(texts)
        if not eos:
            return counts, [False] * len(texts)
        if self.is_added_token(eos):
            return counts, [t.endswith(eos) for t in texts]
        last = [False] * len(texts)
        ending = [i for i, t in enumerate(texts) if t.endswith(eos)]
        for i, ids in zip(ending, self.encode_batch([texts[i] for i in ending], add_special_tokens)):
            last[i] = bool(ids) and ids[-1] == self.eos_token_id
        return counts, last

    def token_texts(self, ids: list[int]) -> list[str]:
        """Each token id as the text it stands for."""
        return [self._tok.decode([i], skip_special_tokens=False) for i in ids]


# -------------------------------------------------------------------------------------------- one example
@dataclass
class TokenPreview:
    """One training example as the model sees it. ``spans`` are ``(text, trained)`` pieces that join to
    ``text``; ``trained`` says per token whether the loss counts it; tokens past ``max_seq_length`` are cut."""

    text: str
    spans: list[tuple[str, bool]]
    ids: list[int]
    trained: list[bool]
    max_seq_length: int
    token_strings: list[str] = field(default_factory=list)

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    @property
    def n_trained(self) -> int:
        """Tokens the loss counts, after the cut."""
        return sum(self.trained[: self.max_seq_length])

    @property
    def truncated(self) -> bool:
        return len(self.ids) > self.max_seq_length


def preview_example(tok: LightTokenizer, line: dict, max_seq_length: int = 256,
                    completion_only: bool = True) -> TokenPreview:
    """The training text, tokens and loss mask of one data line (instruction, chat or text format),
    computed with the worker's own formatting functions."""
    if "messages" in line:
        segments = prompt_format.format_chat_segments(tok, line.get("system", ""), line["messages"])
        ids, trained = prompt_format.encode_segments(tok, segments)
        spans = list(segments)
    elif "prompt" in line:
        prompt_text, full_text = prompt_format.format_example(tok, line.get("system", ""), line["prompt"], line["response"])
        prompt_ids, completion_ids = prompt_format.encode_example(tok, prompt_text, full_text)
        ids, trained = prompt_ids + completion_ids, [False] * len(prompt_ids) + [True] * len(completion_ids)
        spans = [(prompt_text, False), (full_text[len(prompt_text):], True)]
    else:
        ids = tok(line["text"], add_special_tokens=True)["input_ids"]
        if tok.eos_token_id is not None and (not ids or ids[-1] != tok.eos_token_id):
            ids.append(tok.eos_token_id)
        trained, spans = [True] * len(ids), [(line["text"], True)]
        completion_only = False
    if not completion_only:
        trained = [True] * len(ids)
    return TokenPreview(text="".join(s for s, _ in spans), spans=spans, ids=ids, trained=trained,
                        max_seq_length=max_seq_length, token_strings=tok.token_texts(ids))


# -------------------------------------------------------------------------------------------- many examples
_SYS, _USR = "\x00\x01SYSTEM\x01\x00", "\x00\x01PROMPT\x01\x00"


def _prompt_formatter(tok: LightTokenizer, systems: list[str], prompts: list[str]):
    """A function (system, prompt) -> formatted prompt. Renders the chat template once with markers and
    substitutes, when that is verified to equal the real rendering on sample rows; else per-row rendering."""
    def exact(system: str, prompt: str) -> str:
        return prompt_format.format_prompt(tok, system, prompt)

    try:
        shells = {has: exact(_SYS if has else "", _USR) for has in (False, True)}
    except Exception:
        return exact
    if any(shell.count(_USR) != 1 or shell.count(_SYS) != int(has) for has, shell in shells.items()):
        return exact

    def fast(system: str, prompt: str) -> str:
        shell = shells[bool(system)]
        return shell.replace(_SYS, system).replace(_USR, prompt) if system else shell.replace(_USR, prompt)

    sample = list(range(min(len(prompts), 8)))
    if all(fast(systems[i], prompts[i]) == exact(systems[i], prompts[i]) for i in sample):
        return fast
    return exact


def _encode_unique(tok: LightTokenizer, texts: list[str], add_special_tokens: bool) -> list[int]:
    """Token counts of ``texts``; each distinct text is encoded once."""
    unique = list(dict.fromkeys(texts))
    if len(unique) == len(texts):
        return tok.count_tokens(texts, add_special_tokens)
    counts = dict(zip(unique, tok.count_tokens(unique, add_special_tokens)))
    return [counts[t] for t in texts]


def example_lengths(tok: LightTokenizer, systems: list[str], prompts: list[str],
                    responses: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(prompt_tokens, completion_tokens)`` per instruction example, equal to what
    :func:`prompt_format.encode_example` gives one by one."""
    fmt = _prompt_formatter(tok, systems, prompts)
    prompt_texts = [fmt(s, p) for s, p in zip(systems, prompts)]
    eos = tok.eos_token or ""
    with_bos = [prompt_format.adds_bos_itself(tok, t) for t in prompt_texts[:1]]
    prompt_lens = np.zeros(len(prompt_texts), dtype=np.int64)
    if prompt_texts:
        if all(prompt_format.adds_bos_itself(tok, t) == with_bos[0] for t in prompt_texts):
            prompt_lens[:] = _encode_unique(tok, prompt_texts, add_special_tokens=not with_bos[0])
        else:
            prompt_lens[:] = [len(tok(t, add_special_tokens=not prompt_format.adds_bos_itself(tok, t))["input_ids"])
                              for t in prompt_texts]
    completions = [r + eos for r in responses]
    unique = list(dict.fromkeys(completions))
    per_unique = {}
    if tok.eos_token_id is None or tok.is_added_token(eos):
        # the eos text ends each completion and is matched as one token, so no eos needs adding
        per_unique.update(zip(unique, tok.count_tokens(unique, add_special_tokens=False)))
    else:
        for text, ids in zip(unique, tok.encode_batch(unique, add_special_tokens=False)):
            per_unique[text] = len(ids) + int(not ids or ids[-1] != tok.eos_token_id)
    completion_lens = np.fromiter((per_unique[c] for c in completions), dtype=np.int64, count=len(completions))
    return prompt_lens, completion_lens


def template_key(template) -> str:
    """A hash of a template's three texts (what the cache keys on)."""
    text = json.dumps([template.system or "", template.prompt, template.response])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class TokenLengthCache:
    """Token lengths per (template text, tokenizer, data version): computed once, reused until one changes.

    Lengths are kept for every row of a table, filled in as rows are asked for, so switching between
    rows, modes and sets re-uses all work done before.
    """

    def __init__(self, max_entries: int = 32):
        self.max_entries = max_entries
        self._entries: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self.encoded_rows = 0  # how many (row, template) examples were actually tokenized

    def lengths(self, tok: LightTokenizer, template, renderer, data_key: str,
                rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(prompt_tokens, completion_tokens)`` of ``template`` on table rows ``rows`` (rendered with
        ``renderer``, a :class:`~desktop_ift.core.templates.batch_render.TableRenderer`)."""
        import pyarrow as pa

        key = (template_key(template), tok.fingerprint, data_key)
        n = renderer.table.num_rows
        if key not in self._entries:
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64))
        prompt_lens, completion_lens = self._entries[key]
        rows = np.asarray(rows, dtype=np.int64)
        missing = np.unique(rows[prompt_lens[rows] < 0])
        if len(missing):
            fields = renderer.render(template, pa.array(missing, type=pa.int64()))
            p, c = example_lengths(tok, fields["system"], fields["prompt"], fields["response"])
            prompt_lens[missing], completion_lens[missing] = p, c
            self.encoded_rows += len(missing)
        return prompt_lens[rows], completion_lens[rows]


def set_lengths(tok: LightTokenizer, template_set, renderer, data_key: str,
                cache: TokenLengthCache | None = None) -> dict[str, np.ndarray]:
    """Token counts of every example a TemplateSet makes from the renderer's table:
    ``{"row", "template", "prompt", "completion", "total"}`` arrays, in example order."""
    cache = cache or TokenLengthCache()
    row_idx, tmpl_idx = assignments(template_set, renderer.table.num_rows)
    prompt = np.zeros(len(row_idx), dtype=np.int64)
    completion = np.zeros(len(row_idx), dtype=np.int64)
    for k, template in enumerate(template_set.templates):
        where = np.nonzero(tmpl_idx == k)[0]
        if len(where):
            prompt[where], completion[where] = cache.lengths(tok, template, renderer, data_key, row_idx[where])
    return {"row": row_idx, "template": tmpl_idx, "prompt": prompt, "completion": completion,
            "total": prompt + completion}
