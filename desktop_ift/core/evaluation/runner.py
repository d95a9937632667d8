"""The evaluation job: every model answers the same test prompts, then is scored the same way.

``run_evaluation(job, writer, stop)`` reads an evaluation job (see :mod:`desktop_ift.core.jobs`), and for
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
from desktop_ift.core.jobs import DEMO_MODEL, read_jsonl
from desktop_ift.core.modeling import (
    DataError,
    adapter_base_model,
    describe_device,
    format_model_prompt,
    is_encoder_decoder,
    load_generation_model,
    load_tokenizer,
    resolve_model,
)
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


def run_evaluation(job: dict, writer, stop) -> str:
    """Run an evaluation job; return ``"finished"`` or ``"cancelled"``. Errors propagate to the worker.

    For each model: load its tokenizer, format the prompts, and look the evaluation up in the cache
    (:mod:`desktop_ift.core.evaluation.cache`); on a miss load the model, generate the answers in batches and
    compute the teacher-forced loss on the answer tokens, then remember both. Scores are always recomputed
    from the answers (cheap), so a cached evaluation reports the same numbers as a fresh one.
    """
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
    use_cache = bool(job.get("use_cache", True))
    max_seq_length = int(job.get("max_seq_length") or 512)
    writer.emit(
        ev.Started,
        job_kind="evaluate",
        total_steps=0,
        description=f"evaluate {', '.join(labels)} on {len(rows)} test examples",
        pid=os.getpid(),
        device=describe_device(),
        info={"models": models, "examples": len(rows), "generation": gen.to_dict()},
    )
    # The heavy imports come after `started`, so a watcher knows at once that the worker is up.
    from desktop_ift.core.evaluation import cache
    from desktop_ift.core.evaluation.generation import GenerationStopped, generate_answers
    from desktop_ift.core.evaluation.metrics import compute_all, per_example_scores
    from desktop_ift.core.evaluation.response_loss import response_loss

    references = [str(r.get("response", "")) for r in rows]
    settings = {**gen.to_dict(), "max_seq_length": max_seq_length}
    settings.pop("max_examples", None)  # already reflected in the prompts
    summary: dict[str, dict] = {}
    for spec, label in zip(models, labels):
        if stop.is_set():
            writer.emit(ev.Cancelled, step=0, checkpoint="")
            return "cancelled"
        path, adapter = resolve_model_spec(spec, job["workspace"], writer)
        tokenizer = load_tokenizer(path, padding_side="left")
        seq2seq = is_encoder_decoder(path)
        prompts = [format_model_prompt(tokenizer, r.get("system", ""), r["prompt"], seq2seq) for r in rows]
        key = None
        cached = None
        if use_cache and cache.cacheable(settings):
            key = cache.cache_key(cache.folder_fingerprint(path), _adapter_fingerprint(adapter),
                                  prompts, references, settings)
            cached = cache.lookup(writer.store, key)
        if cached is not None and len(cached.get("outputs", [])) == len(prompts):
            outputs = cached["outputs"]
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
                outputs = generate_answers(model, tokenizer, prompts, gen, on_batch=on_batch,
                                           should_stop=stop.is_set, max_source_length=max_seq_length)
            except GenerationStopped:
                writer.emit(ev.Cancelled, step=0, checkpoint="")
                return "cancelled"
            writer.emit(ev.Progress, stage="scoring", done=0, total=1,
                        message=f"{label}: loss on the reference answers")
            loss = response_loss(model, tokenizer, rows, max_seq_length=max_seq_length,
                                 batch_size=gen.batch_size, should_stop=stop.is_set)
            if stop.is_set():
                writer.emit(ev.Cancelled, step=0, checkpoint="")
                return "cancelled"
            if key is not None:
                cache.save(writer.store, key, spec["model"], adapter, {"outputs": outputs, "loss": loss})
            del model
            gc.collect()
            _empty_cuda_cache()
        metrics = _jsonable(compute_all(outputs, references, labels=job.get("labels", "auto")))
        metrics.update(loss)
        metrics["from_cache"] = cached is not None
        label_list = metrics.get("labels")
        writer.store.add_eval_examples(job["run_id"], label, [
            # the prompt as the user wrote it (the chat-template markers around it are the same for all)
            {"idx": int(row.get("idx", i)), "prompt": row["prompt"], "reference": ref, "output": out,
             "scores": per_example_scores(out, ref, labels=label_list)}
            for i, (row, ref, out) in enumerate(zip(rows, references, outputs))
        ])
        writer.emit(ev.Eval, step=0, model_label=label, metrics=metrics)
        summary[label] = flat_metrics(metrics)
    writer.emit(ev.Finished, output_dir="", metrics=summary)
    return "finished"


def _adapter_fingerprint(adapter: str | None) -> str:
    from desktop_ift.core.evaluation.cache import folder_fingerprint

    if not adapter or not os.path.isdir(adapter):
        return ""
    return folder_fingerprint(adapter)


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
