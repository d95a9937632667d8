"""The fine-tuning recipe: setup -> train -> save, with transformers' Trainer and peft.

``run_training(job, writer, stop)`` reads a prepared training job (see :mod:`desktop_ift.core.job_format`),
loads the model through :mod:`desktop_ift.core.modeling` (decoder-only through ``AutoModelForCausalLM``,
encoder-decoder such as T5/BART through ``AutoModelForSeq2SeqLM``), trains (full, LoRA, DoRA or QLoRA),
reports through :class:`~desktop_ift.core.training.callbacks.EventCallback`, and writes a standard Hugging
Face folder to ``job["output_dir"]`` that plain transformers/peft can load:

* LoRA/DoRA/QLoRA: ``adapter_config.json`` + ``adapter_model.safetensors`` (``PeftModel.from_pretrained``),
* full: ``config.json`` + ``model.safetensors`` (``AutoModelForCausalLM.from_pretrained``),

plus the tokenizer, ``config.yaml`` (the settings), ``desktop_ift_job.json`` (the job) and a ``README.md``
model card with the data, template, settings and final scores.

Defaults that save compute: the loss counts response tokens only; the examples of a batch are packed into
rows without cross-example attention (checked on the model at start, padding otherwise); tokenized data is
cached by (data file, template, tokenizer, settings).

Resuming: checkpoints go to ``<run_dir>/checkpoints/checkpoint-<step>`` with the optimizer, scheduler, RNG
states and the data position. Running the same ``job.json`` again with ``"resume_from"`` set to a
checkpoint folder (see :func:`latest_checkpoint`) continues the run: same run id, event numbers continue,
and the loss curve is the one an uninterrupted run would have drawn.

TensorBoard: loss, learning rate, grad norm, tokens/s and validation losses also go to event files in
``<run_dir>/tensorboard`` (tensorboardX, through :class:`~desktop_ift.core.training.callbacks.TensorBoardScalars`);
a failure to write them only logs a warning to ``worker.log``.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from desktop_ift.core import events as ev
from desktop_ift.core.errors import DataError
from desktop_ift.core.job_format import DEMO_MODEL, read_jsonl
from desktop_ift.core.modeling import (
    checking,
    describe_device,
    is_encoder_decoder,
    load_causal_lm,
    load_seq2seq_lm,
    load_tokenizer,
    resolve_model,
)
from desktop_ift.core.models.discovery import origin_text
from desktop_ift.core.training.cache import cache_key, cached_tokenize, tokenizer_fingerprint
from desktop_ift.core.training.collator import (
    PackingCollator, PaddingCollator, detect_format, tokenize_rows, tokenize_seq2seq_rows,
)
from desktop_ift.core.training.config import ConfigError, TrainConfig, save_yaml
from desktop_ift.core.training.hardware import detect_devices
from desktop_ift.core.training.memory import fit_advice, load_shape
from desktop_ift.core.training.plan import check_counts

CHECKPOINT_PREFIX = "checkpoint-"


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


def planned_steps(n_examples: int, config: TrainConfig, processes: int = 1) -> int:
    """The number of optimizer steps the Trainer will run (same arithmetic as transformers' Trainer)."""
    if config.max_steps > 0:
        return config.max_steps
    batches = math.ceil(n_examples / (config.batch_size * max(processes, 1)))
    per_epoch = max(batches // config.gradient_accumulation + int(batches % config.gradient_accumulation > 0), 1)
    return math.ceil(config.epochs * per_epoch)


def latest_checkpoint(run_dir: Path | str) -> Path | None:
    """The newest complete checkpoint folder of a run (``<run_dir>/checkpoints/checkpoint-<step>``), or None.

    A checkpoint counts as complete when it holds ``trainer_state.json`` (written last by the Trainer).
    Put its path in the job's ``"resume_from"`` and run the job again to resume.
    """
    folder = Path(run_dir) / "checkpoints"
    best: tuple[int, Path] | None = None
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and (p / "trainer_state.json").exists():
                try:
                    step = int(p.name[len(CHECKPOINT_PREFIX):])
                except ValueError:
                    continue
                if best is None or step > best[0]:
                    best = (step, p)
    return best[1] if best else None


def lora_target_modules(model) -> list[str]:
    """Names (last part) of every linear projection in ``model``, the output head excluded.

    q_proj/k_proj/v_proj/o_proj/gate_proj/up_proj/down_proj for Llama-like models, c_attn/c_proj/c_fc for
    GPT-2, q/k/v/o/wi/wo for T5, query_key_value/dense... for others. Short names keep the adapter portable.
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


def apply_lora(model, config: TrainConfig, seq2seq: bool = False):
    """Wrap ``model`` with LoRA (or DoRA) adapters with ``config``'s rank/alpha/dropout on the configured
    layers ('auto': every linear projection). Unknown layer names raise :class:`ConfigError`."""
    from peft import LoraConfig, TaskType, get_peft_model

    available = lora_target_modules(model)
    targets = config.target_modules() or available
    missing = [t for t in targets if t not in available]
    if missing:
        raise ConfigError(f"lora_target_modules names layers this model does not have: {', '.join(missing)}. "
                          f"Its linear layers are: {', '.join(available)} (or use 'auto').")
    lora = LoraConfig(
        task_type=TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        use_dora=config.method == "dora",
        bias="none",
    )
    return get_peft_model(model, lora)


def resolve_precision(config: TrainConfig, cuda: bool, bf16_supported: bool) -> str:
    """``"bf16"``, ``"fp16"`` or ``"fp32"`` for this config on this machine; impossible choices raise
    :class:`ConfigError`."""
    if config.precision == "auto":
        if cuda:
            return "bf16" if bf16_supported else "fp16"
        return "fp32"
    if config.precision == "fp16" and not cuda:
        raise ConfigError("precision fp16 needs an NVIDIA GPU; on this computer choose auto, bf16 or fp32.")
    if config.precision == "bf16" and cuda and not bf16_supported:
        raise ConfigError("This GPU does not support bf16; choose auto or fp16.")
    return config.precision


def quantization_config(config: TrainConfig, cuda: bool, compute_dtype):
    """The bitsandbytes settings for QLoRA, or None for other methods. Raises :class:`ConfigError` when
    QLoRA cannot run here (no NVIDIA GPU, or bitsandbytes not installed)."""
    if config.method != "qlora":
        return None
    if not cuda:
        raise ConfigError("QLoRA needs an NVIDIA GPU (it compresses the model with bitsandbytes, which runs on "
                          "CUDA only). On this computer choose LoRA.")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise ConfigError("QLoRA needs the bitsandbytes package, which is not installed. Install it "
                          "(pip install bitsandbytes) or choose LoRA.") from exc
    from transformers import BitsAndBytesConfig

    if config.quantization_bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype)


def packing_is_exact(model, features: list[dict], pad_token_id: int) -> bool:
    """Check on this model that two examples packed into one row give the same logits as each on its own.

    Packing relies on the model turning restarting position ids into a block-diagonal attention mask
    (transformers does for Llama, Qwen, Mistral, Gemma, Phi ... with sdpa, eager and flash attention);
    a model that does not must be trained with padding instead.
    """
    import torch

    sample = [dict(input_ids=f["input_ids"][:12], labels=f["labels"][:12]) for f in features[:2]]
    if len(sample) < 2 or any(len(s["input_ids"]) < 2 for s in sample):
        return True
    try:
        with checking(model) as device:
            packed = PackingCollator(pad_token_id, capacity=64)(sample)
            if packed["input_ids"].shape[0] != 1:
                return True
            out = model(input_ids=packed["input_ids"].to(device), position_ids=packed["position_ids"].to(device))
            offset = 0
            ok = True
            for s in sample:
                n = len(s["input_ids"])
                alone = model(input_ids=torch.tensor([s["input_ids"]], device=device)).logits[0]
                part = out.logits[0, offset:offset + n]
                ok = ok and torch.allclose(alone.float(), part.float(), atol=1e-2 * max(1.0, float(alone.abs().max())))
                offset += n
            return bool(ok)
    except Exception:  # a model that rejects position_ids
        return False


def tensorboard_dir(run_dir: Path) -> Path:
    """Where a run's TensorBoard event files go: ``<run_dir>/tensorboard`` (``tensorboard --logdir`` on it)."""
    return Path(run_dir) / "tensorboard"


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


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def tokenize_split(rows: list[dict], job: dict, part: str, tokenizer, model_path: Path, config: TrainConfig,
                   seq2seq: bool) -> tuple[list[dict], bool]:
    """Tokenize one split, through the workspace cache; returns ``(features, cache_hit)``."""
    def build():
        if seq2seq:
            return tokenize_seq2seq_rows(rows, tokenizer, config.max_seq_length)
        return tokenize_rows(rows, tokenizer, config.max_seq_length, config.train_on_completion_only,
                             overflow=config.overflow, truncate_side=config.truncate_side)

    data_path = (job.get("data") or {}).get(part)
    if not rows or not data_path or not Path(data_path).exists():
        return build(), False
    source = job.get("source") or {}
    settings = {"max_seq_length": config.max_seq_length, "completion_only": config.train_on_completion_only,
                "overflow": config.overflow, "truncate_side": config.truncate_side,
                "seq2seq": seq2seq, "template": source.get("template"),
                "dataset": [source.get("dataset_id"), source.get("dataset_version")]}
    key = cache_key(data_path, tokenizer_fingerprint(tokenizer, model_path), settings)
    cache_dir = Path(job["workspace"]) / "cache" / "tokenized"
    return cached_tokenize(cache_dir, key, build)


def _memory_info(model_path: Path, config: TrainConfig) -> dict:
    """The pre-launch memory estimate and device check, for the ``started`` event (never raises)."""
    try:
        advice = fit_advice(load_shape(model_path), config, detect_devices().training_device)
        return {"memory_estimate_gb": round(advice.estimate.total / 2**30, 2), "memory_fits": advice.fits,
                "memory_message": advice.message()}
    except Exception as exc:  # an estimate must never stop a run
        return {"memory_message": f"no memory estimate ({type(exc).__name__})"}


def _overflow_note(job: dict, config: TrainConfig) -> str:
    """``, 356 longer than 192 tokens truncated as planned`` (empty when the plan counted none)."""
    lengths = (job.get("plan") or {}).get("lengths") or {}
    longer = (lengths.get("longer") or {}).get("train", 0)
    if not lengths.get("measured") or not longer:
        return ""
    what = "dropped" if config.overflow == "drop" else "truncated"
    return f", {longer} longer than {config.max_seq_length} tokens {what} as planned"


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

    try:
        data_format = detect_format(train_rows)
    except ValueError as exc:
        raise DataError(f"The prepared training data cannot be used: {exc}.",
                        hint="Prepare the run again from the Train page.") from exc
    processes = _world_size()
    total = planned_steps(len(train_rows), config, processes)
    resume_from = job.get("resume_from") or None
    if resume_from and not (Path(resume_from) / "trainer_state.json").exists():
        raise DataError(f"The checkpoint {resume_from} to resume from is missing or incomplete.",
                        hint="Resume from another checkpoint of the run, or start the run again.")
    if _is_main_process():
        save_yaml(config, run_dir / "config.yaml", extra={"model": job["model"], "data_format": data_format})
    writer.emit(
        ev.Started,
        job_kind="train",
        total_steps=total,
        description=f"{config.method} fine-tuning of {job['model']} on {len(train_rows)} examples",
        pid=os.getpid(),
        device=describe_device(),
        info={"method": config.method, "train_examples": len(train_rows), "validation_examples": len(val_rows),
              "resume_from": resume_from, "data_format": data_format, "processes": processes},
    )
    # The heavy imports come after `started`, so a watcher knows at once that the worker is up.
    import torch
    from transformers import Trainer, TrainingArguments

    from desktop_ift.core.training.callbacks import EventCallback, TensorBoardScalars

    from transformers import set_seed

    _set_threads()
    set_seed(config.seed)  # before the adapters are initialised: the same seed gives the same run
    cuda = torch.cuda.is_available()
    bf16_ok = bool(cuda and torch.cuda.is_bf16_supported())
    precision = resolve_precision(config, cuda, bf16_ok)
    compute_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    quant = quantization_config(config, cuda, compute_dtype)

    if job["model"] == DEMO_MODEL:
        writer.emit(ev.Progress, stage="building the demo model", done=0, total=1,
                    message="Preparing the built-in tiny demo model")
    model_path = resolve_model(job["model"], job["workspace"], allow_download=bool(job.get("allow_download")))
    memory = _memory_info(model_path, config)
    writer.emit(ev.Progress, stage="loading model", done=0, total=1,
                message=f"Loading {model_path}. Memory: {memory.get('memory_message', '')}")
    seq2seq = is_encoder_decoder(model_path)
    if seq2seq and data_format != "instruction":
        raise DataError(f"Encoder-decoder models (T5, BART) train on prompt/response examples, not {data_format} "
                        "data.", hint="Choose a decoder-only model for chat or continued pre-training.")
    tokenizer = load_tokenizer(model_path, padding_side="right")
    # Full fine-tuning keeps fp32 master weights (mixed precision); adapters train on a 16-bit frozen model.
    load_dtype = torch.float32 if config.method == "full" or precision == "fp32" else compute_dtype
    if seq2seq:
        model = load_seq2seq_lm(model_path, dtype=load_dtype, quantization_config=quant)
    else:
        model = load_causal_lm(model_path, for_training=True, dtype=load_dtype, quantization_config=quant)
    # No key/value cache while training: it is useless here, and with one transformers ignores the restarting
    # position ids that keep packed examples apart (restored before saving, for generation).
    model.config.use_cache = False
    if quant is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    if config.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x names it so
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if config.uses_adapters:
            model.enable_input_require_grads()
    if config.uses_adapters:
        model = apply_lora(model, config, seq2seq=seq2seq)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total_params = sum(p.numel() for p in model.parameters())

    writer.emit(ev.Progress, stage="preparing data", done=0, total=1, message="Tokenizing the data")
    train_ds, train_hit = tokenize_split(train_rows, job, "train", tokenizer, model_path, config, seq2seq)
    val_ds, _ = tokenize_split(val_rows, job, "validation", tokenizer, model_path, config, seq2seq)

    if not seq2seq:  # the plan counted what this collator makes; any difference stops the run
        for part, made in (("train", len(train_ds)), ("validation", len(val_ds))):
            problem = check_counts(job.get("plan"), part, made)
            if problem:
                raise DataError(problem, hint="Prepare the run again: the plan is counted with the model's "
                                "tokenizer; a model folder changed since then gives other counts.")
    if not train_ds:
        raise DataError(
            f"All {len(train_rows)} training examples are longer than the maximum sequence length "
            f"({config.max_seq_length} tokens) and longer examples are dropped, so there is nothing to learn.",
            hint="Raise the maximum sequence length, or truncate longer examples instead of dropping them.",
        )
    pad_id = tokenizer.pad_token_id
    previous_attention = None
    if seq2seq:
        from transformers import DataCollatorForSeq2Seq

        collator = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100)
        packing = False
    else:
        packing = config.packing and packing_is_exact(model, train_ds, pad_id)
        if packing and not cuda:
            # CPU: attention per packed example instead of a block mask over the row (checked again)
            from desktop_ift.core.training.segment_attention import use_segment_attention

            previous_attention = use_segment_attention(model)
            if previous_attention and not packing_is_exact(model, train_ds, pad_id):
                model.set_attn_implementation(previous_attention)
                previous_attention = None
        hidden = int(getattr(model.config, "hidden_size", 0) or 0)
        collator = (PackingCollator(pad_id, capacity=config.max_seq_length, hidden_size=hidden,
                                    one_row=bool(previous_attention)) if packing
                    else PaddingCollator(pad_id))
    trainer_class = Trainer
    if not seq2seq:
        from desktop_ift.core.training.response_logits import ResponseLogitsTrainer, response_loss_is_exact

        if response_loss_is_exact(model, collator([train_ds[i] for i in range(min(len(train_ds), 4))])):
            trainer_class = ResponseLogitsTrainer
    writer.emit(ev.Progress, stage="preparing data", done=1, total=1,
                message=(f"{len(train_ds)} training examples ({'from the cache' if train_hit else 'tokenized'}"
                         + _overflow_note(job, config) + "); "
                         f"{'packed without cross-example attention' if packing else 'dynamic padding'}"
                         + (" (attention per example, each batch in one row with no padding)"
                            if previous_attention else "")
                         + ("" if packing or not config.packing or seq2seq
                            else " (this model does not support packing)")
                         + ("; logits only where the loss is computed" if trainer_class is not Trainer else "")
                         + f"; training {trainable:,} of {total_params:,} parameters"))

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
        lr_scheduler_type=config.lr_scheduler,
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        eval_strategy=eval_strategy,
        eval_steps=config.eval_steps if config.eval_steps > 0 else None,
        save_strategy="steps" if config.save_steps > 0 else "no",
        save_steps=config.save_steps if config.save_steps > 0 else 500,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",  # TensorBoard files come from our callback (it never fails a run)
        disable_tqdm=True,
        dataloader_num_workers=0,
        use_cpu=not cuda,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        label_names=["labels"],
        ddp_find_unused_parameters=False if processes > 1 else None,
    )
    scalars = TensorBoardScalars(tensorboard_dir(run_dir)) if _is_main_process() else None
    callback = EventCallback(writer, stop, scalars=scalars)
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds or None,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[callback],
    )
    try:
        if stop.is_set():
            writer.emit(ev.Cancelled, step=0, checkpoint=resume_from or "")
            return "cancelled"

        started = time.monotonic()
        result = trainer.train(resume_from_checkpoint=resume_from)
        keep_best = callback.stopped_at is not None and callback.keep_best
        if keep_best and not callback.keep_best_possible():
            writer.emit(ev.Progress, stage="stopping", done=1, total=1, message=keep_best_impossible_reason(
                bool(val_ds), callback.last_checkpoint))
            keep_best = False
        if callback.stopped_at is not None and not keep_best:
            writer.emit(ev.Cancelled, step=trainer.state.global_step, checkpoint=callback.last_checkpoint)
            return "cancelled"
        if keep_best:
            writer.emit(ev.Progress, stage="stopping", done=0, total=1,
                        message=f"Stopped early at step {trainer.state.global_step}; keeping the best model, step "
                                f"{callback.best_step} (validation loss {callback.best_eval_loss:.4f})")
            # the best weights become the output (every rank loads them: DDP, FSDP and DeepSpeed alike)
            trainer.state.best_model_checkpoint = callback.best_checkpoint
            trainer._load_best_model()
        elif val_ds and callback.last_eval_step != trainer.state.global_step:
            trainer.evaluate()  # the final validation loss, reported through on_evaluate

        metrics = {
            "train_loss": callback.last_train_loss if callback.last_train_loss is not None
            else result.metrics.get("train_loss"),
            "eval_loss": callback.best_eval_loss if keep_best else callback.last_eval_loss,
            "steps": trainer.state.global_step,
            "runtime_s": round(time.monotonic() - started, 2),
        }
        if keep_best:
            metrics.update(stopped_early=True, best_step=callback.best_step, best_eval_loss=callback.best_eval_loss,
                           best_checkpoint=callback.best_checkpoint)
        writer.emit(ev.Progress, stage="saving", done=0, total=1, message=f"Saving the model to {output_dir}")
        trainer.model.config.use_cache = True
        if previous_attention:  # the saved model and its config name the standard implementation
            trainer.model.set_attn_implementation(previous_attention)
        if processes > 1:
            trainer.save_model(str(output_dir))  # every process takes part (FSDP/DeepSpeed gather the shards)
        if not trainer.is_world_process_zero():
            return "finished"
        save_output(trainer.model, tokenizer, output_dir, job, config, metrics, model_path, len(train_ds), len(val_ds),
                    weights_saved=processes > 1)
        writer.emit(ev.Progress, stage="saving", done=1, total=1, message="Saved")
        writer.emit(ev.Finished, output_dir=str(output_dir), metrics=metrics)
        return "finished"
    finally:
        if scalars is not None:
            scalars.close()


def keep_best_impossible_reason(has_validation: bool, checkpoint: str) -> str:
    """Why a "stop and keep best" request ended as a plain stop, in plain words."""
    if not has_validation:
        why = "this run has no validation split, so there is no validation loss to pick the best model by"
    else:
        why = "no validation point had been reached yet"
    where = f" A resumable checkpoint was saved ({checkpoint})." if checkpoint else ""
    return f"Could not keep the best model: {why}. The run was stopped like Pause instead.{where}"


def save_output(model, tokenizer, output_dir: Path, job: dict, config: TrainConfig, metrics: dict,
                model_path: Path, n_train: int, n_val: int, weights_saved: bool = False) -> None:
    """Write the fine-tuned model as a standard Hugging Face folder with a model card and config.yaml."""
    output_dir.mkdir(parents=True, exist_ok=True)
    if not weights_saved:
        model.save_pretrained(str(output_dir))
    (output_dir / "training_args.bin").unlink(missing_ok=True)  # a pickle; the settings are in config.yaml
    tokenizer.padding_side = "left"  # ready for generation by whoever loads it
    tokenizer.save_pretrained(str(output_dir))
    (output_dir / "desktop_ift_job.json").write_text(json.dumps(job, indent=2, ensure_ascii=False), encoding="utf-8")
    save_yaml(config, output_dir / "config.yaml", extra={"model": job["model"]})
    (output_dir / "README.md").write_text(
        model_card(job, config, metrics, model_path, n_train, n_val), encoding="utf-8"
    )


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _templates_text(job: dict) -> str:
    """Every template of the run's set (from the plan; older jobs: the source), with its three texts."""
    source = job.get("source") or {}
    plan = job.get("plan") or {}
    templates = plan.get("templates") or (source.get("template_set") or {}).get("templates") \
        or ([source["template"]] if source.get("template") else [])
    if not templates:
        spec = plan.get("format_spec") or next((v for k, v in source.items() if k.endswith("_spec")), None)
        return f"(no template: {plan.get('data_format') or source.get('data_format')} data, {json.dumps(spec)})"
    parts = []
    if len(templates) > 1:
        parts.append(f"{len(templates)} templates, mode {plan.get('set_mode') or '?'} (seed {plan.get('set_seed', 0)}):")
    for t in templates:
        texts = "\n".join(f"  - **{k}**: `{t.get(k, '')}`" for k in ("system", "prompt", "response") if t.get(k))
        parts.append(f"- {t.get('name') or 'template'}\n{texts}")
    lengths = plan.get("lengths") or {}
    if lengths:
        longer = (lengths.get("longer") or {}).get("train", 0)
        parts.append(f"\nMaximum length {lengths.get('max_seq_length')} tokens; {longer} training examples were "
                     f"longer and were {'dropped' if lengths.get('overflow') == 'drop' else 'truncated'}.")
    return "\n".join(parts)


def _origin_text(job: dict) -> str:
    """The base model's GGUF origin as a model-card paragraph (empty for a model not converted from GGUF)."""
    origin = job.get("model_source") or {}
    if not origin:
        return ""

    sha = f", SHA-256 {origin['sha256']}" if origin.get("sha256") else ""
    return (f"\nThe base model was converted by desktop_ift from the {origin_text(origin)}: "
            f"`{origin.get('path') or origin.get('gguf_file')}`{sha}.\n")


def model_card(job: dict, config: TrainConfig, metrics: dict, model_path: Path, n_train: int, n_val: int) -> str:
    """A README.md describing the data, template, settings and results, and how to load the model."""
    source = job.get("source") or {}
    base = str(model_path)
    auto_cls = "AutoModelForSeq2SeqLM" if is_encoder_decoder(model_path) else "AutoModelForCausalLM"
    if config.uses_adapters:
        load = (
            f"```python\nfrom transformers import {auto_cls}, AutoTokenizer\nfrom peft import PeftModel\n\n"
            f"base = {auto_cls}.from_pretrained({base!r})\n"
            "model = PeftModel.from_pretrained(base, \"path/to/this/folder\")\n"
            "tokenizer = AutoTokenizer.from_pretrained(\"path/to/this/folder\")\n```\n"
        )
        kind = (f"a {'DoRA' if config.method == 'dora' else 'LoRA'} adapter (rank {config.lora_r}, alpha "
                f"{config.lora_alpha}{', trained on a ' + str(config.quantization_bits) + '-bit base' if config.method == 'qlora' else ''}) "
                f"for `{base}`")
    else:
        load = (
            f"```python\nfrom transformers import {auto_cls}, AutoTokenizer\n\n"
            f"model = {auto_cls}.from_pretrained(\"path/to/this/folder\")\n"
            "tokenizer = AutoTokenizer.from_pretrained(\"path/to/this/folder\")\n```\n"
        )
        kind = f"a full fine-tune of `{base}`"
    scores = dict(metrics)
    if isinstance(scores.get("eval_loss"), float):
        scores["eval_perplexity"] = math.exp(min(scores["eval_loss"], 50.0))
    settings = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in config.to_dict().items())
    results = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in scores.items())
    tpl = _templates_text(job)
    return f"""---
library_name: {'peft' if config.uses_adapters else 'transformers'}
base_model: {base}
tags: [desktop_ift, fine-tuned]
---

# {job.get('run_id', 'fine-tuned model')}

This folder holds {kind}, trained with desktop_ift (transformers Trainer{' + peft' if config.uses_adapters else ''}).
{_origin_text(job)}
## Data
- Dataset: {source.get('dataset_name', '?')} version {source.get('dataset_version', '?')}
- Training examples: {n_train}; validation examples: {n_val}
- Split: {json.dumps(source.get('split', {}))}

## Prompt templates
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
