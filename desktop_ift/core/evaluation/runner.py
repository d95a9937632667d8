"""The evaluation job: every model answers the same test prompts, then is scored the same way.

``run_evaluation(job, writer, stop)`` reads an evaluation job (see :mod:`desktop_ift.core.job_format`), and for
each entry of ``job["models"]`` (the base model, base + LoRA adapter, or a fully fine-tuned folder) loads
it, generates answers with progress events, scores them with
:func:`desktop_ift.core.evaluation.metrics.compute_all`, stores per-example rows, emits an ``eval`` event
with that model's label, and frees it before the next one.

Decoder-only and encoder-decoder models (T5/FLAN-T5, BART) are evaluated alike: an encoder-decoder model gets
the prompt as its encoder input, laid out as in training, and its decoder writes the answer.
"""

from __future__ import annotations

import gc
import os

from desktop_ift.core import events as ev
from desktop_ift.core.evaluation import cache
from desktop_ift.core.evaluation.generation import GenerationStopped, generate_answers
from desktop_ift.core.evaluation.items import EvalDataError, data_format, eval_items
from desktop_ift.core.evaluation.response_loss import (
    chat_answer_encoding,
    chat_answer_loss,
    document_losses,
    response_loss,
)
from desktop_ift.core.errors import DataError
from desktop_ift.core.job_format import DEMO_MODEL, read_jsonl
from desktop_ift.core.modeling import (
    adapter_base_model,
    describe_device,
    is_encoder_decoder,
    load_generation_model,
    load_tokenizer,
    resolve_model,
)
from desktop_ift.core.prompt_format import format_model_prompt
from desktop_ift.core.training.config import GenerationConfig


def _read_test_rows(job: dict) -> list[dict]:
    path = job.get("test_data")
    if not path or not os.path.exists(path):
        raise DataError(f"The test data {path} is missing (was the training run's folder removed?).",
                        hint="Train again with a test ratio above 0, then evaluate that run.")
    try:
        rows = read_jsonl(path)
    except ValueError as exc:
        raise DataError(f"The test data {path} is damaged ({exc}).", hint="Prepare the training run again.") from exc
    if not rows:
        raise DataError("The test split is empty, so there is nothing to evaluate.",
                        hint="Train again with a test ratio above 0 (for example 0.1).")
    return rows


def flat_metrics(metrics: dict) -> dict:
    """The numeric entries of a ``compute_all`` result (what the comparison table shows)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _jsonable(value):
    """Plain Python types only (numpy scalars/arrays from metric libraries become floats/lists)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _emit_cancelled(writer) -> str:
    writer.emit(ev.Cancelled, step=0, checkpoint="")
    return "cancelled"


def run_evaluation(job: dict, writer, stop) -> str:
    """Run an evaluation job; return ``"finished"`` or ``"cancelled"``. Errors propagate to the worker.

    The test lines decide what is measured (:mod:`desktop_ift.core.evaluation.items`): instruction lines
    are answered and scored; chat lines are answered at their last assistant turn with the history as
    context (through the model's chat template, as in training); continued pre-training lines (``text``)
    are scored by the held-out loss and perplexity of every model, nothing generated.

    For each model: load its tokenizer, format the prompts, and look the evaluation up in the cache
    (:mod:`desktop_ift.core.evaluation.cache`); on a miss load the model, generate the answers in batches and
    compute the teacher-forced loss on the answer tokens, then remember both. Scores are always recomputed
    from the answers (cheap), so a cached evaluation reports the same numbers as a fresh one.
    """
    # lazy: metrics loads scikit-learn (pandas) and sacrebleu, ~3 s, which a pretraining evaluation does not use
    from desktop_ift.core.evaluation.metrics import compute_all, describe_text_metrics, per_example_scores

    gen = GenerationConfig.from_dict(job.get("generation") or {})
    models = job.get("models") or []
    rows = _read_test_rows(job)
    if gen.max_examples > 0:
        rows = rows[: gen.max_examples]
    if not models:
        raise DataError("The evaluation job names no model to evaluate.", hint="Choose at least one model.")
    labels = [m.get("label") or f"model {i + 1}" for i, m in enumerate(models)]
    if len(set(labels)) != len(labels):
        raise DataError(f"Two models in the evaluation have the same label ({', '.join(labels)}).",
                        hint="Give every model a different label.")
    try:
        fmt = data_format(rows)
        items = [] if fmt == "text" else eval_items(rows)
    except EvalDataError as exc:
        raise DataError(str(exc), hint="Fix the test data and prepare the evaluation again.") from exc
    use_cache = bool(job.get("use_cache", True))
    use_stemmer = bool(job.get("use_stemmer", True))
    max_seq_length = int(job.get("max_seq_length") or 512)
    what = {"text": "test documents", "chat": "test conversations"}.get(fmt, "test examples")
    info = {"models": models, "examples": len(rows), "data_format": fmt, "split": job.get("split", "test")}
    if job.get("test_set"):
        info["test_set"] = job["test_set"]
    if fmt == "text":
        info["measured"] = ("held-out loss and perplexity on every token of the test documents (cut into pieces "
                            f"of {max_seq_length} tokens as in training); nothing is generated")
    else:
        info["generation"] = gen.to_dict()
        info["answer_length"] = job.get("answer_length") or {
            "value": gen.max_new_tokens, "origin": "job", "text": f"{gen.max_new_tokens} tokens (set in the job)."}
        info["metric_settings"] = describe_text_metrics(use_stemmer)
        info["labels_source"] = job.get("labels_source") or (
            "detected from the test references" if job.get("labels", "auto") == "auto" else "given in the job")
        if fmt == "chat":
            info["measured"] = "the last assistant turn of each test conversation, with the turns before it as context"
    writer.emit(
        ev.Started,
        job_kind="evaluate",
        total_steps=0,
        description=f"evaluate {', '.join(labels)} on {len(rows)} {what}",
        pid=os.getpid(),
        device=describe_device(),
        info=info,
    )
    if fmt == "text":
        return _evaluate_documents(job, rows, models, labels, gen, max_seq_length, writer, stop)
    references = [item.reference for item in items]
    all_references = [item.references for item in items]
    several = any(len(r) > 1 for r in all_references)
    settings = {**gen.to_dict(), "max_seq_length": max_seq_length, "stops": "end-of-turn"}
    settings.pop("max_examples", None)  # already reflected in the prompts
    summary: dict[str, dict] = {}
    for spec, label in zip(models, labels):
        if stop.is_set():
            return _emit_cancelled(writer)
        path, adapter = resolve_model_spec(spec, job["workspace"], writer)
        tokenizer = load_tokenizer(path, padding_side="left")
        seq2seq = is_encoder_decoder(path)
        encoded = None
        if fmt == "chat":
            if seq2seq:
                raise DataError("An encoder-decoder model (T5, BART) cannot be evaluated on conversations.",
                                hint="Evaluate chat data with a decoder-only model.")
            encoded = [chat_answer_encoding(tokenizer, item)[0] for item in items]
            prompts = [" ".join(map(str, ids)) for ids in encoded]  # the cache key sees the exact ids
        else:
            prompts = [format_model_prompt(tokenizer, item.system, item.prompt, seq2seq) for item in items]
        key = None
        cached = None
        if use_cache and cache.cacheable(settings):
            key = cache.cache_key(cache.folder_fingerprint(path), _adapter_fingerprint(adapter),
                                  prompts, references, settings)
            cached = cache.lookup(writer.store, key)
        if cached is not None and len(cached.get("outputs", [])) == len(prompts):
            outputs = cached["outputs"]
            cut = cached.get("cut") or [False] * len(outputs)
            loss = cached.get("loss") or {}
            writer.emit(ev.Progress, stage="generating", done=len(prompts), total=len(prompts),
                        message=f"{label}: reused the answers of an identical earlier evaluation")
        else:
            writer.emit(ev.Progress, stage="loading model", done=0, total=1,
                        message=f"{label}: loading {path}" + (f" with the adapter {adapter}" if adapter else ""))
            model = load_generation_model(path, adapter=adapter)
            writer.emit(ev.Progress, stage="generating", done=0, total=len(prompts), message=f"{label}: generating")

            def on_batch(done: int, total: int, label=label) -> None:
                writer.emit(ev.Progress, stage="generating", done=done, total=total,
                            message=f"{label}: {done} of {total} answers")

            try:
                answers = generate_answers(model, tokenizer, prompts, gen, on_batch=on_batch,
                                           should_stop=stop.is_set, max_source_length=max_seq_length,
                                           encoded=encoded)
            except GenerationStopped:
                return _emit_cancelled(writer)
            outputs, cut = answers.texts, answers.cut
            writer.emit(ev.Progress, stage="scoring", done=0, total=1,
                        message=f"{label}: loss on the reference answers")
            if fmt == "chat":
                loss = chat_answer_loss(model, tokenizer, items, max_seq_length=max_seq_length,
                                        batch_size=gen.batch_size, should_stop=stop.is_set)
            else:
                loss = response_loss(model, tokenizer, [{"system": it.system, "prompt": it.prompt,
                                                         "response": it.reference} for it in items],
                                     max_seq_length=max_seq_length, batch_size=gen.batch_size,
                                     should_stop=stop.is_set)
            if stop.is_set():
                return _emit_cancelled(writer)
            if key is not None:
                cache.save(writer.store, key, spec["model"], adapter, {"outputs": outputs, "loss": loss, "cut": cut})
            del model
            gc.collect()
            _empty_cuda_cache()
        metrics = _jsonable(compute_all(outputs, all_references if several else references,
                                        labels=job.get("labels", "auto"), use_stemmer=use_stemmer))
        metrics.update(loss)
        metrics["from_cache"] = cached is not None
        metrics["answers_cut"] = int(sum(bool(c) for c in cut))
        metrics["max_new_tokens"] = gen.max_new_tokens
        if metrics["answers_cut"]:
            writer.emit(ev.Progress, stage="scoring", done=1, total=1,
                        message=f"{label}: {metrics['answers_cut']} of {len(outputs)} answers reached the limit of "
                                f"{gen.max_new_tokens} new tokens before their end and were cut")
        label_list = metrics.get("labels")
        writer.store.add_eval_examples(job["run_id"], label, [
            # the question as the user wrote it (the chat-template markers around it are the same for all)
            {"idx": item.idx, "prompt": item.shown,
             "reference": ref if len(item.references) == 1 else "\n— or —\n".join(item.references),
             "output": out,
             "scores": {**per_example_scores(out, item.references if len(item.references) > 1 else ref,
                                             labels=label_list, use_stemmer=use_stemmer),
                        **({"cut": 1.0} if c else {})}}
            for item, ref, out, c in zip(items, references, outputs, cut)
        ])
        writer.emit(ev.Eval, step=0, model_label=label, metrics=metrics)
        summary[label] = flat_metrics(metrics)
    writer.emit(ev.Finished, output_dir="", metrics=summary)
    return "finished"


def _evaluate_documents(job: dict, rows: list[dict], models: list[dict], labels: list[str], gen: GenerationConfig,
                        max_seq_length: int, writer, stop) -> str:
    """Continued pre-training runs: the held-out loss and perplexity of every model on the test documents.

    Cached as the answers of the other formats are (:mod:`desktop_ift.core.evaluation.cache`): the key is the
    model and adapter files, the documents' texts in order, the maximum length they are cut at and the batch
    size; a hit reuses the losses without loading the model and says so."""
    use_cache = bool(job.get("use_cache", True))
    texts = [str(row.get("text", "")) for row in rows]
    settings = {"scored": "documents", "max_seq_length": max_seq_length, "batch_size": gen.batch_size}
    summary: dict[str, dict] = {}
    for spec, label in zip(models, labels):
        if stop.is_set():
            return _emit_cancelled(writer)
        path, adapter = resolve_model_spec(spec, job["workspace"], writer)
        if is_encoder_decoder(path):
            raise DataError("An encoder-decoder model (T5, BART) cannot be scored on plain documents.",
                            hint="Evaluate continued pre-training with a decoder-only model.")
        key = cached = None
        if use_cache:
            key = cache.cache_key(cache.folder_fingerprint(path), _adapter_fingerprint(adapter), texts,
                                  [""] * len(texts), settings)
            cached = cache.lookup(writer.store, key)
        if cached is not None and len(cached.get("per_doc", [])) == len(rows):
            loss, per_doc = cached.get("loss") or {}, cached["per_doc"]
            writer.emit(ev.Progress, stage="scoring", done=len(rows), total=len(rows),
                        message=f"{label}: reused the losses of an identical earlier evaluation")
        else:
            cached = None
            tokenizer = load_tokenizer(path)
            writer.emit(ev.Progress, stage="loading model", done=0, total=1,
                        message=f"{label}: loading {path}" + (f" with the adapter {adapter}" if adapter else ""))
            model = load_generation_model(path, adapter=adapter)
            writer.emit(ev.Progress, stage="scoring", done=0, total=len(rows),
                        message=f"{label}: loss on {len(rows)} test documents")
            loss, per_doc = document_losses(model, tokenizer, rows, max_seq_length=max_seq_length,
                                            batch_size=gen.batch_size, should_stop=stop.is_set)
            del model
            gc.collect()
            _empty_cuda_cache()
            if stop.is_set():
                return _emit_cancelled(writer)
            if key is not None:
                cache.save(writer.store, key, spec["model"], adapter, {"loss": loss, "per_doc": per_doc})
        metrics = {**loss, "n_examples": len(rows), "labels": None, "from_cache": cached is not None}
        writer.store.add_eval_examples(job["run_id"], label, [
            {"idx": int(row.get("idx", i)), "prompt": str(row.get("text", "")), "reference": "", "output": "",
             "scores": {} if value is None else {"text_loss": float(value)}}
            for i, (row, value) in enumerate(zip(rows, per_doc))
        ])
        writer.emit(ev.Eval, step=0, model_label=label, metrics=metrics)
        summary[label] = flat_metrics(metrics)
    writer.emit(ev.Finished, output_dir="", metrics=summary)
    return "finished"


def _adapter_fingerprint(adapter: str | None) -> str:
    if not adapter or not os.path.isdir(adapter):
        return ""
    return cache.folder_fingerprint(adapter)


def _empty_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def resolve_model_spec(spec: dict, workspace: str, writer) -> tuple:
    """The model folder and adapter (or None) of one ``{"model", "adapter"}`` entry of a job, telling the
    watcher when the demo model has to be built first.

    A LoRA adapter folder given as the model itself (a fine-tuned run's output folder) is read as "this
    adapter on the base model its ``adapter_config.json`` names", for decoder-only and encoder-decoder
    adapters alike.
    """
    model, adapter = spec["model"], spec.get("adapter") or None
    base = adapter_base_model(model) if not adapter and model != DEMO_MODEL else None
    if base:
        model, adapter = base, model
    if model == DEMO_MODEL:
        writer.emit(ev.Progress, stage="building the demo model", done=0, total=1,
                    message="Preparing the built-in tiny demo model")
    return resolve_model(model, workspace), adapter
