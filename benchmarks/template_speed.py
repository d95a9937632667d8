"""Rendering and tokenizing a dataset through several templates: our pipeline vs a naive per-row loop.

Baseline (naive): what a straightforward script -- and the training collator -- does: for every row and
template, ``render_row`` (Jinja), format the training text with
:func:`desktop_ift.core.prompt_format.format_example` and encode it with
:func:`desktop_ift.core.prompt_format.encode_example`, calling the transformers tokenizer of the same folder once
per text.
Ours: :func:`desktop_ift.core.templates.token_preview.set_lengths` -- column-wise rendering
(:class:`~desktop_ift.core.templates.batch_render.TableRenderer`), the chat template rendered once and
verified, ``encode_batch`` over distinct texts, results kept in a :class:`TokenLengthCache`.

Both measure the same examples with the same tokenizer (a byte-level BPE trained here on the generated
rows, with a chat template; ours reads its tokenizer.json with ``tokenizers``, the baseline loads it with
transformers); the token counts must be identical, and the script fails otherwise. Also reported: the
cached pass (the same templates again: no tokenization at all) and ``session_ratio``, an editing session
of 1 + ``--edits`` passes in which one template is rewritten each time (ours re-measures only it).

    .venv/bin/python benchmarks/template_speed.py [--rows 200000] [--templates 3] [--naive-rows N]

``--naive-rows`` (default 20,000) times the baseline on the first N rows only -- its rows/s is per row
either way, and all 200,000 would take minutes; 0 runs it on every row. The last line printed is one JSON object: rows/s of both,
``ratio`` (ours / naive, one cold pass; target >= 5), ``cached_rows_per_s``, ``session_ratio``,
``identical`` and the settings.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import tempfile
import time
from pathlib import Path

CHAT_TEMPLATE = ("{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
                 "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
_COMMON = ("invoice refund parcel delivery login password error crash order account billing shipping late "
           "broken screen update charge twice tracking courier help please thanks urgent customer the a to and "
           "of is my it in was for not on with have this but".split())


def _vocabulary(n: int, rng: random.Random) -> tuple[list[str], list[float]]:
    """``n`` words with Zipf weights (rank r -> 1/r), like natural text: a few very frequent words, a long
    tail of rare ones. Common support words first, then generated words of 2-12 letters (some capitalised,
    some with trailing punctuation)."""
    words = list(_COMMON)
    letters = "abcdefghijklmnopqrstuvwxyz"
    while len(words) < n:
        word = "".join(rng.choice(letters) for _ in range(rng.randint(2, 12)))
        if rng.random() < 0.1:
            word = word.capitalize()
        if rng.random() < 0.08:
            word += rng.choice(",.;:!?")
        words.append(word)
    return words, [1.0 / rank for rank in range(1, n + 1)]


CATEGORIES = ["billing", "shipping", "technical", "account", "returns"]


def make_rows(n: int, seed: int = 0, vocabulary: int = 30_000) -> dict[str, list]:
    """``n`` support-ticket-like rows: ``subject``, ``message`` (an order number and 10-60 words drawn from a
    Zipf-distributed vocabulary of ``vocabulary`` words), ``category``, ``priority``."""
    rng = random.Random(seed)
    words, weights = _vocabulary(vocabulary, rng)
    cum = list(itertools.accumulate(weights))
    subjects, messages, categories, priorities = [], [], [], []
    for i in range(n):
        subjects.append(" ".join(rng.choices(words, cum_weights=cum, k=rng.randint(2, 6))))
        messages.append(f"Order #{rng.randint(1000, 99999)}: "
                        + " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(10, 60))))
        categories.append(rng.choice(CATEGORIES))
        priorities.append(rng.randint(1, 3))
    return {"subject": subjects, "message": messages, "category": categories, "priority": priorities}


def build_tokenizer(folder: Path, texts: list[str]) -> Path:
    """A byte-level BPE tokenizer (vocab 4096) with bos/eos and role tokens, saved as a model folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    raw = Tokenizer(models.BPE(unk_token=None))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>"]
    trainer = trainers.BpeTrainer(vocab_size=4096, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    raw.train_from_iterator(texts, trainer=trainer)
    folder.mkdir(parents=True, exist_ok=True)
    raw.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}))
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    return folder


TEMPLATES = [
    ("Classify this support ticket.\n\nSubject: {{ subject }}\nMessage: {{ message }}", "{{ category }}",
     "You are a support triage assistant."),
    ("{{ message }}\n\nWhich team should handle this (priority {{ priority }})?", "{{ category }}", ""),
    ("Ticket: {{ subject }} -- {{ message }}\nCategory:", "{{ category }}", "Answer with one word."),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--templates", type=int, default=3, choices=[1, 2, 3])
    parser.add_argument("--edits", type=int, default=2, help="template edits in the editing-session figure")
    parser.add_argument("--naive-rows", type=int, default=20_000, help="time the baseline on this many rows (0: all)")
    args = parser.parse_args()

    import pyarrow as pa

    from desktop_ift.core import modeling, prompt_format
    from desktop_ift.core.templates.batch_render import TableRenderer
    from desktop_ift.core.templates.render import PromptTemplate, render_row
    from desktop_ift.core.templates.template_set import TemplateSet
    from desktop_ift.core.templates.token_preview import LightTokenizer, TokenLengthCache, set_lengths

    data = make_rows(args.rows)
    table = pa.table(data)
    templates = [PromptTemplate(prompt=p, response=r, system=s, name=f"t{i}")
                 for i, (p, r, s) in enumerate(TEMPLATES[: args.templates])]
    template_set = TemplateSet(templates, mode="all")
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_tokenizer(Path(tmp) / "tok", data["message"][:20_000])
        tok = LightTokenizer(folder)
        (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
        hf_tokenizer = modeling.load_tokenizer(folder)

        cache = TokenLengthCache()
        start = time.perf_counter()
        ours = set_lengths(tok, template_set, TableRenderer(table), "bench:v1", cache)
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        set_lengths(tok, template_set, TableRenderer(table), "bench:v1", cache)
        cached_s = time.perf_counter() - start

        # An editing session: the expert rewrites one of the templates twice more. Ours measures only the
        # edited template again; the naive loop re-renders and re-tokenizes every template each time.
        start = time.perf_counter()
        for attempt in range(args.edits):
            edited = list(templates)
            edited[0] = PromptTemplate(prompt=templates[0].prompt + f"\n(attempt {attempt + 2})",
                                       response=templates[0].response, system=templates[0].system, name="t0")
            set_lengths(tok, TemplateSet(edited, mode="all"), TableRenderer(table), "bench:v1", cache)
        edits_s = time.perf_counter() - start

        n_naive = min(args.naive_rows or args.rows, args.rows)
        rows = table.slice(0, n_naive).to_pylist()
        naive_totals = []
        start = time.perf_counter()
        for row in rows:
            for template in templates:
                ex = render_row(template, row)
                prompt_text, full_text = prompt_format.format_example(hf_tokenizer, ex.system, ex.prompt, ex.response)
                prompt_ids, completion_ids = prompt_format.encode_example(hf_tokenizer, prompt_text, full_text)
                naive_totals.append(len(prompt_ids) + len(completion_ids))
        naive_s = time.perf_counter() - start

    identical = ours["total"][: len(naive_totals)].tolist() == naive_totals
    result = {
        "benchmark": "template_speed",
        "rows": args.rows,
        "templates": len(templates),
        "examples": int(len(ours["total"])),
        "ours_rows_per_s": round(args.rows / ours_s, 1),
        "naive_rows_per_s": round(n_naive / naive_s, 1),
        "ratio": round((args.rows / ours_s) / (n_naive / naive_s), 2),
        "cached_rows_per_s": round(args.rows / cached_s, 1),
        # (1 + edits) passes over all rows: ours cold + edits of one template; naive re-does everything
        "session_ratio": round(((1 + args.edits) * (naive_s / n_naive) * args.rows) / (ours_s + edits_s), 2),
        "session_edits": args.edits,
        "ours_s": round(ours_s, 2),
        "naive_s": round(naive_s, 2),
        "naive_rows_timed": n_naive,
        "identical": identical,
        "baseline": "per-row render_row + prompt_format.format_example + encode_example with the transformers tokenizer",
    }
    print(json.dumps(result))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
