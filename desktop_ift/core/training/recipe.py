"""The fine-tuning recipe: setup -> train -> save, with transformers' Trainer and peft.

``run_training(job, writer, stop)`` reads a prepared training job (see :mod:`desktop_ift.core.jobs`),
loads the model through :mod:`desktop_ift.core.modeling`, trains (LoRA on every linear projection, or all
weights), reports through :class:`~desktop_ift.core.training.callbacks.EventCallback`, and writes a
standard Hugging Face folder to ``job["output_dir"]`` that plain transformers/peft can load:

* LoRA: ``adapter_config.json`` + ``adapter_model.safetensors`` (load with ``PeftModel.from_pretrained``),
* full: ``config.json`` + ``model.safetensors`` (load with ``AutoModelForCausalLM.from_pretrained``),

plus the tokenizer, ``desktop_ift_job.json`` (the job) and a ``README.md`` model card.
Checkpoints go to ``<run_dir>/checkpoints/checkpoint-<step>``; ``job["resume_from"]`` resumes from one.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from desktop_ift.core import events as ev
from desktop_ift.core.jobs import DEMO_MODEL, read_jsonl
from desktop_ift.core.modeling import (
    DataError,
    describe_device,
    load_causal_lm,
    load_tokenizer,
    resolve_model,
)
from desktop_ift.core.training.config import TrainConfig


def _read_split(job: dict, part: str) -> list[dict]:
    path = (job.get("data") or {}).get(part)
    if not path:
        return []
    try:
        return read_jsonl(path)
    except FileNotFoundError as exc:
        raise DataError(f"The prepared {part} data {path} is missing (was the run folder cleaned up?).",
                        hint="Prepare the run again from the Train page.") from exc
    except ValueError as exc:
        raise DataError(f"The prepared {part} data {path} is damaged ({exc}).",
                        hint="Prepare the run again from the Train page.") from exc


def planned_steps(n_examples: int, config: TrainConfig) -> int:
    """The number of optimizer steps the Trainer will run (same arithmetic as transformers' Trainer)."""
    if config.max_steps > 0:
        return config.max_steps
    batches = math.ceil(n_examples / config.batch_size)
    per_epoch = max(batches // config.gradient_accumulation + int(batches % config.gradient_accumulation > 0), 1)
    return math.ceil(config.epochs * per_epoch)


def lora_target_modules(model) -> list[str]:
    """Names (last part) of every linear projection in ``model``, the output head excluded.

    q_proj/k_proj/v_proj/o_proj/gate_proj/up_proj/down_proj for Llama-like models, c_attn/c_proj/c_fc for
    GPT-2, query_key_value/dense... for others. Short names keep the adapter config portable.
    """
    import torch
    from transformers.pytorch_utils import Conv1D

    output = model.get_output_embeddings()
    names = set()
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Linear, Conv1D)) and module is not output:
            names.add(name.rsplit(".", 1)[-1])
    names.discard("lm_head")
    if not names:
        raise ValueError("the model has no linear layers that LoRA could adapt")
    return sorted(names)


def apply_lora(model, config: TrainConfig):
    """Wrap ``model`` with LoRA adapters (rank/alpha/dropout from ``config``) on every linear projection."""
    from peft import LoraConfig, TaskType, get_peft_model

    lora = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=lora_target_modules(model),
        bias="none",
    )
    return get_peft_model(model, lora)


def _set_threads() -> None:
    import torch

    if not torch.cuda.is_available():
        # Use the physical cores, not hyper-threads: more threads only contend on small matrices.
        try:
            import psutil

            cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
        except Exception:  # pragma: no cover
            cores = os.cpu_count() or 1
        torch.set_num_threads(max(1, min(cores, torch.get_num_threads())))


def run_training(job: dict, writer, stop) -> str:
    """Run a training job to the end; return ``"finished"`` or ``"cancelled"``. Errors propagate to the
    worker, which turns them into a ``failed`` event."""
    config = TrainConfig.from_dict(job.get("config") or {})
    run_dir = writer.store.run_dir(job["run_id"])
    output_dir = Path(job.get("output_dir") or run_dir / "output")
    train_rows = _read_split(job, "train")
    val_rows = _read_split(job, "validation")
    if not train_rows:
        raise DataError("The training split has no examples, so there is nothing to train on.",
                        hint="Import data with some rows, or give the training split a larger share.")
    total = planned_steps(len(train_rows), config)
    resume_from = job.get("resume_from") or None
    writer.emit(
        ev.Started,
        job_kind="train",
        total_steps=total,
        description=f"{config.method} fine-tuning of {job['model']} on {len(train_rows)} examples",
        pid=os.getpid(),
        device=describe_device(),
        info={"method": config.method, "train_examples": len(train_rows), "validation_examples": len(val_rows),
              "resume_from": resume_from},
    )
    # The heavy imports come after `started`, so a watcher knows at once that the worker is up.
    import torch
    from transformers import Trainer, TrainingArguments

    from desktop_ift.core.training.callbacks import EventCallback
    from desktop_ift.core.training.collator import PaddingCollator, tokenize_rows

    _set_threads()

    if job["model"] == DEMO_MODEL:
        writer.emit(ev.Progress, stage="building the demo model", done=0, total=1,
                    message="Preparing the built-in tiny demo model")
    model_path = resolve_model(job["model"], job["workspace"])
    writer.emit(ev.Progress, stage="loading model", done=0, total=1, message=f"Loading {model_path}")
    tokenizer = load_tokenizer(model_path, padding_side="right")
    model = load_causal_lm(model_path, for_training=True, dtype="float32" if config.method == "full" else "auto")
    if config.method == "lora":
        model = apply_lora(model, config)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total_params = sum(p.numel() for p in model.parameters())
    writer.emit(ev.Progress, stage="loading model", done=1, total=1,
                message=f"Loaded; training {trainable:,} of {total_params:,} parameters")

    train_ds = tokenize_rows(train_rows, tokenizer, config.max_seq_length, config.train_on_completion_only)
    val_ds = tokenize_rows(val_rows, tokenizer, config.max_seq_length, config.train_on_completion_only)
    if not train_ds:
        raise DataError(
            f"All {len(train_rows)} training examples are longer than the maximum sequence length "
            f"({config.max_seq_length} tokens) before their answer starts, so there is nothing to learn.",
            hint="Raise the maximum sequence length, or shorten the prompt template.",
        )

    cuda = torch.cuda.is_available()
    if val_ds:
        eval_strategy = "steps" if config.eval_steps > 0 else "epoch"
    else:
        eval_strategy = "no"
    args = TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # a value below 1 is a share of the steps in transformers 5
        weight_decay=config.weight_decay,
        lr_scheduler_type="linear",
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        eval_strategy=eval_strategy,
        eval_steps=config.eval_steps if config.eval_steps > 0 else None,
        save_strategy="steps" if config.save_steps > 0 else "no",
        save_steps=config.save_steps if config.save_steps > 0 else 500,
        save_total_limit=2,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        use_cpu=not cuda,
        bf16=bool(cuda and torch.cuda.is_bf16_supported()),
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        label_names=["labels"],
    )
    callback = EventCallback(writer, stop)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds or None,
        data_collator=PaddingCollator(pad_token_id=tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[callback],
    )
    if stop.is_set():
        writer.emit(ev.Cancelled, step=0, checkpoint=resume_from or "")
        return "cancelled"

    started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=resume_from)
    if callback.stopped_at is not None:
        writer.emit(ev.Cancelled, step=trainer.state.global_step, checkpoint=callback.last_checkpoint)
        return "cancelled"
    if val_ds and callback.last_eval_step != trainer.state.global_step:
        trainer.evaluate()  # the final validation loss, reported through on_evaluate

    writer.emit(ev.Progress, stage="saving", done=0, total=1, message=f"Saving the model to {output_dir}")
    metrics = {
        "train_loss": callback.last_train_loss if callback.last_train_loss is not None
        else result.metrics.get("train_loss"),
        "eval_loss": callback.last_eval_loss,
        "steps": trainer.state.global_step,
        "runtime_s": round(time.monotonic() - started, 2),
    }
    save_output(trainer.model, tokenizer, output_dir, job, config, metrics, model_path, len(train_ds), len(val_ds))
    writer.emit(ev.Progress, stage="saving", done=1, total=1, message="Saved")
    writer.emit(ev.Finished, output_dir=str(output_dir), metrics=metrics)
    return "finished"


def save_output(model, tokenizer, output_dir: Path, job: dict, config: TrainConfig, metrics: dict,
                model_path: Path, n_train: int, n_val: int) -> None:
    """Write the fine-tuned model as a standard Hugging Face folder with a model card."""
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(output_dir))
    tokenizer.padding_side = "left"  # ready for generation by whoever loads it
    tokenizer.save_pretrained(str(output_dir))
    (output_dir / "desktop_ift_job.json").write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    (output_dir / "README.md").write_text(
        model_card(job, config, metrics, model_path, n_train, n_val), encoding="utf-8"
    )


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def model_card(job: dict, config: TrainConfig, metrics: dict, model_path: Path, n_train: int, n_val: int) -> str:
    """A README.md describing the data, template, settings and results, and how to load the model."""
    source = job.get("source") or {}
    template = source.get("template") or {}
    base = str(model_path)
    if config.method == "lora":
        load = (
            "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\nfrom peft import PeftModel\n\n"
            f"base = AutoModelForCausalLM.from_pretrained({base!r})\n"
            "model = PeftModel.from_pretrained(base, \"path/to/this/folder\")\n"
            "tokenizer = AutoTokenizer.from_pretrained(\"path/to/this/folder\")\n```\n"
        )
        kind = f"a LoRA adapter (rank {config.lora_r}, alpha {config.lora_alpha}) for `{base}`"
    else:
        load = (
            "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            "model = AutoModelForCausalLM.from_pretrained(\"path/to/this/folder\")\n"
            "tokenizer = AutoTokenizer.from_pretrained(\"path/to/this/folder\")\n```\n"
        )
        kind = f"a full fine-tune of `{base}`"
    settings = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in config.to_dict().items())
    results = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in metrics.items())
    tpl = "\n".join(f"- **{k}**: `{template.get(k, '')}`" for k in ("system", "prompt", "response")
                    if template.get(k))
    return f"""---
library_name: {'peft' if config.method == 'lora' else 'transformers'}
base_model: {base}
tags: [desktop_ift, fine-tuned]
---

# {job.get('run_id', 'fine-tuned model')}

This folder holds {kind}, trained with desktop_ift (transformers Trainer{' + peft' if config.method == 'lora' else ''}).

## Data
- Dataset: {source.get('dataset_name', '?')} version {source.get('dataset_version', '?')}
- Training examples: {n_train}; validation examples: {n_val}
- Split: {json.dumps(source.get('split', {}))}

## Prompt template
{tpl or '(not recorded)'}

Prompts are formatted with the tokenizer's chat template (or `### Instruction:` / `### Response:` when it
has none) and the loss is computed {'on the response only' if config.train_on_completion_only else 'on the whole text'}.

## Hyperparameters
| setting | value |
|---|---|
{settings}

## Results
| metric | value |
|---|---|
{results}

## How to load
{load}"""
