"""Multiple-choice benchmarks scored by log-likelihood, and the forgetting check.

``run_benchmark(job, writer, stop)`` is the worker function of ``kind: "benchmark"`` jobs::

    {"kind": "benchmark", "version": 1, "run_id": ..., "workspace": ...,
     "models": [{"label": "base", "model": ..., "adapter": null}, ...],
     "benchmark": {"files": ["/abs/anatomy_test.csv", ...], "k_shot": 0, "max_questions": 0,
                   "batch_size": 8, "name": "general knowledge"}}

Every question is asked in the usual MMLU form (lm-evaluation-harness's ``mmlu`` task): a header naming the
subject, ``k`` solved examples, then the question, its four choices and ``Answer:``; the model's choice
is the letter (" A" .. " D") with the highest log-likelihood after that prompt -- nothing is generated,
so the score does not depend on decoding settings or on how the model words an answer. Few-shot
examples come from the subject's ``*_dev`` file when one is given, else from the first other questions of
the same subject.

Per model the ``eval`` event holds ``accuracy`` (over all questions), ``subject/<name>`` (accuracy per
subject), ``n_questions`` and, for every model after the first (the base), ``forgotten`` (questions the
first model answered right and this one gets wrong) and ``learned`` (the reverse). Per-question rows go to
the store's evaluation examples, so the per-example view lists exactly what got worse.

Encoder-decoder models (T5, BART) are scored the way lm-evaluation-harness scores them: the prompt goes to
the encoder and the letter's log-likelihood is that of the decoder writing it first.
"""

from __future__ import annotations

import gc
import os
from collections import defaultdict
from typing import Callable

from desktop_ift.core import events as ev
from desktop_ift.core.evaluation.benchmark_data import LETTERS, Question, load_benchmark
from desktop_ift.core.evaluation.runner import resolve_model_spec
from desktop_ift.core.errors import DataError
from desktop_ift.core.modeling import (
    describe_device,
    load_generation_model,
    load_tokenizer,
)
from desktop_ift.core.prompt_format import (
    encode_prompt,
    encode_source,
    padding_id,
)
from desktop_ift.core.training.collator import IGNORE_INDEX, right_padded, shortest_first


def format_question(q: Question, with_answer: bool = False) -> str:
    """``question\\nA. ..\\nB. ..\\nC. ..\\nD. ..\\nAnswer:`` (plus `` X`` with the answer for a shot)."""
    lines = [q.question] + [f"{letter}. {choice}" for letter, choice in zip(LETTERS, q.choices)]
    return "\n".join(lines) + "\nAnswer:" + (f" {q.answer}" if with_answer else "")


def build_prompt(q: Question, shots: list[Question]) -> str:
    """The full prompt for ``q``: subject header, solved ``shots``, then ``q`` ending in ``Answer:``."""
    header = f"The following are multiple choice questions (with answers) about {q.subject}.\n\n"
    solved = "".join(format_question(s, with_answer=True) + "\n\n" for s in shots)
    return header + solved + format_question(q)


def pick_shots(questions: list[Question], dev: list[Question], k: int) -> list[list[Question]]:
    """``k`` few-shot examples for each question: the subject's dev questions first, else other questions
    of the same subject (never the question itself)."""
    if k <= 0:
        return [[] for _ in questions]
    dev_by_subject: dict[str, list[Question]] = defaultdict(list)
    for d in dev:
        dev_by_subject[d.subject].append(d)
    by_subject: dict[str, list[Question]] = defaultdict(list)
    for q in questions:
        by_subject[q.subject].append(q)
    out = []
    for q in questions:
        pool = dev_by_subject.get(q.subject) or [o for o in by_subject[q.subject] if o is not q]
        out.append(pool[:k])
    return out


def score_choices(model, tokenizer, contexts: list[str], continuations: list[list[str]], batch_size: int = 8,
                  on_batch: Callable[[int, int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> list[list[float]] | None:
    """Sum of the log-probabilities of each continuation after its context, for every context.

    When every continuation of a context is one token (the letters), one forward pass of the context
    scores all of them; otherwise each continuation is scored in its own sequence. Long contexts are cut
    from the left to fit the model. Returns None when ``should_stop()`` turned true.
    """
    import torch

    limit = getattr(tokenizer, "model_max_length", 0) or 0
    limit = limit if 0 < limit < 1_000_000 else 4096
    if getattr(model.config, "is_encoder_decoder", False):
        return _score_choices_seq2seq(model, tokenizer, contexts, continuations, limit, batch_size, on_batch,
                                      should_stop)
    # items: (input ids, index of the context, continuation token lists scored from the context's end)
    items: list[tuple[list[int], int, list[list[int]], list[int]]] = []
    for i, (ctx, conts) in enumerate(zip(contexts, continuations)):
        ctx_ids = encode_prompt(tokenizer, ctx)
        cont_ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in conts]
        longest = max(len(c) for c in cont_ids)
        ctx_ids = ctx_ids[-(limit - longest):] if len(ctx_ids) > limit - longest else ctx_ids
        if all(len(c) == 1 for c in cont_ids):
            items.append((ctx_ids, i, cont_ids, list(range(len(conts)))))
        else:
            for j, c in enumerate(cont_ids):
                items.append((ctx_ids + c[:-1], i, [c], [j]))
    scores: list[list[float]] = [[0.0] * len(c) for c in continuations]
    pad_id = padding_id(tokenizer)
    device = next(model.parameters()).device
    done = 0
    for batch in shortest_first(items, lambda item: len(item[0]), batch_size):
        if should_stop is not None and should_stop():
            return None
        ids, mask = right_padded([b[0] for b in batch], pad_id, device)
        with torch.inference_mode():
            logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        for row, (input_ids, ctx_index, conts, slots) in enumerate(batch):
            for cont, slot in zip(conts, slots):
                # The continuation's first token is predicted at the last context position.
                first = len(input_ids) - len(cont)
                total = sum(float(logprobs[row, first + t, tok]) for t, tok in enumerate(cont))
                scores[ctx_index][slot] = total
        done += len(batch)
        if on_batch is not None:
            on_batch(done, len(items))
    return scores


def _score_choices_seq2seq(model, tokenizer, contexts, continuations, limit, batch_size, on_batch, should_stop):
    """:func:`score_choices` for an encoder-decoder model: the context (cut from the left to ``limit``) is the
    encoder input; a continuation's score is the sum of the decoder's log-probabilities of its tokens, written
    from the start token. Single-token continuations of one context share one pass."""
    import torch

    # items: (encoder ids, index of the context, decoder target ids, [(slot, continuation ids)])
    items = []
    for i, (ctx, conts) in enumerate(zip(contexts, continuations)):
        ctx_ids = encode_source(tokenizer, ctx, max_length=1_000_000)
        ctx_ids = ctx_ids[-limit:]
        cont_ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in conts]
        if all(len(c) == 1 for c in cont_ids):
            items.append((ctx_ids, i, cont_ids[0], list(enumerate(cont_ids))))
        else:
            items += [(ctx_ids, i, c, [(j, c)]) for j, c in enumerate(cont_ids)]
    scores: list[list[float]] = [[0.0] * len(c) for c in continuations]
    pad_id = padding_id(tokenizer)
    device = next(model.parameters()).device
    done = 0
    for batch in shortest_first(items, lambda item: len(item[0]), batch_size):
        if should_stop is not None and should_stop():
            return None
        ids, mask = right_padded([b[0] for b in batch], pad_id, device)
        labels, _ = right_padded([b[2] for b in batch], IGNORE_INDEX, device)
        with torch.inference_mode():
            logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask, labels=labels).logits.float(),
                                         dim=-1)
        for row, (_, ctx_index, _, slots) in enumerate(batch):
            for slot, cont in slots:  # a shared pass reads every letter at the first decoder position
                scores[ctx_index][slot] = sum(float(logprobs[row, t, tok]) for t, tok in enumerate(cont))
        done += len(batch)
        if on_batch is not None:
            on_batch(done, len(items))
    return scores


def _accuracy_metrics(questions: list[Question], correct: list[bool]) -> dict:
    per_subject: dict[str, list[bool]] = defaultdict(list)
    for q, ok in zip(questions, correct):
        per_subject[q.subject].append(ok)
    metrics: dict = {"accuracy": sum(correct) / len(correct), "n_questions": len(correct)}
    for subject in sorted(per_subject):
        values = per_subject[subject]
        metrics[f"subject/{subject}"] = sum(values) / len(values)
    metrics["per_subject"] = {s: {"accuracy": sum(v) / len(v), "n": len(v)} for s, v in sorted(per_subject.items())}
    return metrics


def run_benchmark(job: dict, writer, stop) -> str:
    """Run a benchmark job (module docstring); return ``"finished"`` or ``"cancelled"``."""
    spec = job.get("benchmark") or {}
    models = job.get("models") or []
    if not models:
        raise DataError("The benchmark job names no model.", hint="Choose at least one model.")
    questions, dev = load_benchmark(spec.get("files") or [])
    if int(spec.get("max_questions") or 0) > 0:
        questions = questions[: int(spec["max_questions"])]
    k_shot = int(spec.get("k_shot") or 0)
    batch_size = max(1, int(spec.get("batch_size") or 8))
    labels = [m.get("label") or f"model {i + 1}" for i, m in enumerate(models)]
    name = spec.get("name") or "benchmark"
    writer.emit(ev.Started, job_kind="benchmark", total_steps=0, pid=os.getpid(), device=describe_device(),
                description=f"{name}: {len(questions)} questions, {k_shot}-shot, on {', '.join(labels)}",
                info={"models": models, "questions": len(questions), "k_shot": k_shot, "name": name})
    shots = pick_shots(questions, dev, k_shot)
    prompts = [build_prompt(q, s) for q, s in zip(questions, shots)]
    letters = [[f" {letter}" for letter in LETTERS] for _ in questions]
    first_correct: list[bool] | None = None
    summary: dict[str, dict] = {}
    for model_spec, label in zip(models, labels):
        if stop.is_set():
            writer.emit(ev.Cancelled, step=0, checkpoint="")
            return "cancelled"
        path, adapter = resolve_model_spec(model_spec, job["workspace"], writer)
        writer.emit(ev.Progress, stage="loading model", done=0, total=1, message=f"{label}: loading {path}")
        tokenizer = load_tokenizer(path)
        model = load_generation_model(path, adapter=adapter)

        def on_batch(done: int, total: int, label=label) -> None:
            writer.emit(ev.Progress, stage="scoring", done=done, total=total,
                        message=f"{label}: {done} of {total} forward passes")

        scores = score_choices(model, tokenizer, prompts, letters, batch_size=batch_size, on_batch=on_batch,
                               should_stop=stop.is_set)
        del model
        gc.collect()
        if scores is None:
            writer.emit(ev.Cancelled, step=0, checkpoint="")
            return "cancelled"
        picked = [LETTERS[max(range(4), key=lambda j, s=s: s[j])] for s in scores]
        correct = [p == q.answer for p, q in zip(picked, questions)]
        metrics = _accuracy_metrics(questions, correct)
        if first_correct is None:
            first_correct = correct
        else:
            metrics["forgotten"] = sum(a and not b for a, b in zip(first_correct, correct))
            metrics["learned"] = sum(b and not a for a, b in zip(first_correct, correct))
        writer.store.add_eval_examples(job["run_id"], label, [
            {"idx": i, "prompt": format_question(q), "reference": f"{q.answer}. {q.choices[LETTERS.index(q.answer)]}",
             "output": f"{p}. {q.choices[LETTERS.index(p)]}",
             "scores": {"correct": float(ok), "subject": q.subject,
                        "margin": round(s[LETTERS.index(q.answer)] - max(v for j, v in enumerate(s)
                                                                           if j != LETTERS.index(q.answer)), 4)}}
            for i, (q, p, ok, s) in enumerate(zip(questions, picked, correct, scores))
        ])
        writer.emit(ev.Eval, step=0, model_label=label, metrics=metrics)
        summary[label] = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    writer.emit(ev.Finished, output_dir="", metrics=summary)
    return "finished"
