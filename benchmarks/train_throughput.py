"""Training throughput: the textbook recipe vs TRL's SFTTrainer vs our engine, one epoch each.

The same tiny Llama (built from a config, random weights, no download) and the same generated instruction
data, whose examples vary from about 20 to 400 tokens, are trained three ways, each in its own process
(so peak memory is measured cleanly):

(a) ``textbook``: transformers ``Trainer``, every example padded to the maximum length, loss on all tokens.
(b) ``trl``: TRL's ``SFTTrainer`` with its defaults (prompt-completion data, so completion-only loss;
    no packing; dynamic padding; gradient checkpointing on, as TRL defaults to). ``trl_no_gc`` is the same
    with gradient checkpointing off, to separate that choice from the data pipeline.
(c) ``ours``: :func:`desktop_ift.core.training.recipe.run_training` with its defaults (completion-only loss
    with the LM head computed only where the loss is, packing without cross-example attention, gradient
    checkpointing on as in TRL, tokenized-data cache cold). ``ours_no_gc`` is the same with gradient
    checkpointing off (compared with ``trl_no_gc``).

Shared by all: full fine-tuning (the model starts from random weights, so adapters would measure little),
the same learning rate, batch size, epochs, maximum length, seed and fp32 on the CPU. Reported per method:
useful (non-padding) tokens per second of training, peak memory (resident set on the CPU, CUDA peak on a
GPU), and the validation loss on response tokens, measured for all three by the same function
(:func:`desktop_ift.core.evaluation.response_loss.response_loss`).

    .venv/bin/python benchmarks/train_throughput.py [--n-train 128] [--hidden 256] [--layers 4] [--threads 1]

The last line printed is one JSON object with the figures, ``ratio_vs_textbook`` and ``ratio_vs_trl``
(useful tokens per wall-clock second of ours divided by theirs; targets >= 2 and >= 1.3), the same ratios
per CPU-second (``cpu_ratio_*``: steadier on a machine shared with other work), the validation-loss gap
to TRL, and ``memory_estimate_vs_peak`` (the memory the Train page announces before launch for our run,
divided by the peak measured). Training time is that of ``Trainer.train`` in all three (model loading and
tokenization are not counted).
TRL is optional: without it, (b) is reported as unavailable and ``ratio_vs_trl`` is null.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

WORDS = ("the customer writes again about the same order and asks for an update because nothing has happened "
         "since last week invoice shows wrong amount parcel delivery late refund payment login error app crashes "
         "page does not load after update tracking number courier lost please help thank you").split()
LABELS = ("billing", "shipping", "technical", "account")


def make_rows(n: int, seed: int) -> list[dict]:
    """Instruction rows whose prompt + response lengths spread over ~20 to ~400 tokens."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        prompt_words = int(rng.uniform(8, 300))
        answer_words = int(rng.uniform(1, 60))
        label = LABELS[i % len(LABELS)]
        prompt = "Ticket: " + " ".join(rng.choice(WORDS) for _ in range(prompt_words)) + "\nCategory and reply?"
        response = label + ". " + " ".join(rng.choice(WORDS) for _ in range(answer_words))
        rows.append({"idx": i, "system": "Classify the ticket and draft a reply.", "prompt": prompt,
                     "response": response})
    return rows


TIMES: list[tuple[float, float]] = []  # (wall seconds, CPU seconds) of each Trainer.train call in this process


def _instrument_trainer() -> None:
    """Time ``Trainer.train`` (wall and this process's CPU time) the same way for all three methods."""
    from transformers import Trainer

    original = Trainer.train

    def timed(self, *a, **kw):
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            return original(self, *a, **kw)
        finally:
            TIMES.append((time.perf_counter() - w0, time.process_time() - c0))

    Trainer.train = timed


def _figures(useful: int) -> dict:
    wall, cpu = TIMES[-1]
    return {"train_s": wall, "cpu_s": cpu, "useful_tokens": useful, "tokens_per_s": useful / wall,
            "tokens_per_cpu_s": useful / cpu}


def _peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _val_loss(model, tokenizer, rows, max_len) -> float:
    from desktop_ift.core.evaluation.response_loss import response_loss

    model.eval()
    return response_loss(model, tokenizer, rows, max_seq_length=max_len, batch_size=8)["response_loss"]


def _useful_tokens(tokenizer, rows, max_len) -> int:
    from desktop_ift.core.training.collator import tokenize_rows

    return sum(len(f["input_ids"]) for f in tokenize_rows(rows, tokenizer, max_len, completion_only=False))


def _common_args(args, out_dir):
    return dict(output_dir=str(out_dir), per_device_train_batch_size=args.batch_size, num_train_epochs=1,
                learning_rate=args.lr, warmup_steps=0.05, lr_scheduler_type="linear", seed=42, data_seed=42,
                report_to="none", disable_tqdm=True, save_strategy="no", logging_steps=1000,
                dataloader_num_workers=0, use_cpu=not _cuda(), bf16=False)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def run_textbook(args, model_dir, train, val) -> dict:
    """(a) pad every example to max_length, labels = input ids (pad masked), plain Trainer."""
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    from desktop_ift.core.modeling import load_tokenizer
    from desktop_ift.core.prompt_format import format_example

    tok = load_tokenizer(model_dir)
    texts = [format_example(tok, r["system"], r["prompt"], r["response"])[1] for r in train]
    enc = tok(texts, padding="max_length", truncation=True, max_length=args.max_len, add_special_tokens=False)
    features = []
    for ids, mask in zip(enc["input_ids"], enc["attention_mask"]):
        labels = [t if m else -100 for t, m in zip(ids, mask)]
        features.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    useful = sum(sum(f["attention_mask"]) for f in features)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    trainer = Trainer(model=model, args=TrainingArguments(**_common_args(args, Path(args.work) / "a")),
                      train_dataset=features)
    trainer.train()
    return {**_figures(useful), "peak_memory_mb": _peak_memory_mb(),
            "val_response_loss": _val_loss(model, tok, val, args.max_len)}


def run_trl(args, model_dir, train, val, gradient_checkpointing=None) -> dict:
    """(b) TRL SFTTrainer defaults on prompt-completion data (the prompt formatted as ours)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from desktop_ift.core.modeling import load_tokenizer
    from desktop_ift.core.prompt_format import format_prompt

    tok = load_tokenizer(model_dir)
    data = Dataset.from_list([{"prompt": format_prompt(tok, r["system"], r["prompt"]), "completion": r["response"]}
                              for r in train])
    extra = {} if gradient_checkpointing is None else {"gradient_checkpointing": gradient_checkpointing}
    config = SFTConfig(**_common_args(args, Path(args.work) / "b"), max_length=args.max_len, **extra)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    trainer = SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tok)
    trainer.train()
    useful = _useful_tokens(tok, train, args.max_len)
    return {**_figures(useful), "peak_memory_mb": _peak_memory_mb(),
            "val_response_loss": _val_loss(trainer.model, tok, val, args.max_len),
            "gradient_checkpointing": bool(config.gradient_checkpointing)}


def run_ours(args, model_dir, train, val, gradient_checkpointing=None) -> dict:
    """(c) the engine's own recipe with its defaults (same shared hyperparameters)."""
    from transformers import AutoModelForCausalLM

    from desktop_ift.core.modeling import load_tokenizer
    from desktop_ift.core.store import Store
    from desktop_ift.core.training.config import TrainConfig
    from desktop_ift.core.training.recipe import run_training
    from desktop_ift.core.worker import EventWriter

    config = TrainConfig(method="full", epochs=1, batch_size=args.batch_size, learning_rate=args.lr,
                         max_seq_length=args.max_len, warmup_ratio=0.05, logging_steps=1000, seed=42,
                         precision="fp32")
    if gradient_checkpointing is not None:
        config = replace(config, gradient_checkpointing=gradient_checkpointing)
    store = Store.open(Path(args.work) / "ws")
    run = store.create_run("train", config=config.to_dict())
    data_dir = Path(run.run_dir) / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train), encoding="utf-8")
    job = {"kind": "train", "run_id": run.id, "workspace": str(store.home), "model": str(model_dir),
           "config": config.to_dict(), "data": {"train": str(data_dir / "train.jsonl")},
           "output_dir": str(Path(run.run_dir) / "output"), "resume_from": None, "source": {}}

    class Never:
        def is_set(self):
            return False

    writer = EventWriter(store, run.id, None)
    run_training(job, writer, Never())
    finished = store.events(run.id)[-1]
    tok = load_tokenizer(model_dir)
    useful = _useful_tokens(tok, train, args.max_len)
    model = AutoModelForCausalLM.from_pretrained(finished.output_dir)
    packed = any("packed without" in getattr(e, "message", "") for e in store.events(run.id))
    from desktop_ift.core.training.memory import estimate_memory, load_shape

    estimate = estimate_memory(load_shape(model_dir), config, "cuda" if _cuda() else "cpu").total / 2**20
    return {**_figures(useful), "peak_memory_mb": _peak_memory_mb(), "memory_estimate_mb": estimate,
            "val_response_loss": _val_loss(model, tok, val, args.max_len), "packed": packed,
            "gradient_checkpointing": config.gradient_checkpointing}


def build_model(args, folder: Path) -> Path:
    from desktop_ift.core.training.tiny_model import build_tiny_model

    texts = [f"{r['system']} {r['prompt']} {r['response']}" for r in make_rows(400, seed=99)]
    return build_tiny_model(folder, texts, vocab_size=2048, hidden_size=args.hidden,
                            intermediate_size=args.hidden * 2, num_layers=args.layers, num_heads=4)


def child(args) -> None:
    import torch

    if args.threads and not torch.cuda.is_available():
        torch.set_num_threads(args.threads)
    _instrument_trainer()
    torch.manual_seed(0)
    train, val = make_rows(args.n_train, seed=1), make_rows(args.n_val, seed=2)
    runner = {"textbook": run_textbook, "trl": run_trl, "ours": run_ours,
              "trl_no_gc": lambda *a: run_trl(*a, gradient_checkpointing=False),
              "ours_no_gc": lambda *a: run_ours(*a, gradient_checkpointing=False)}[args.child]
    print(json.dumps(runner(args, Path(args.model_dir), train, val)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=128)
    p.add_argument("--n-val", type=int, default=32)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-len", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads per run (default 1: on a shared machine it keeps the runs comparable; 0: torch's)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--model-dir", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return

    import importlib.util

    with tempfile.TemporaryDirectory(prefix="train-bench-") as tmp:
        model_dir = build_model(args, Path(tmp) / "model")
        methods = ["textbook", "ours", "ours_no_gc"]
        has_trl = importlib.util.find_spec("trl") is not None
        if has_trl:
            methods[1:1] = ["trl", "trl_no_gc"]
        results: dict[str, dict | None] = {}
        for method in methods:
            work = Path(tmp) / method
            cmd = [sys.executable, __file__, "--child", method, "--model-dir", str(model_dir), "--work", str(work),
                   "--n-train", str(args.n_train), "--n-val", str(args.n_val), "--batch-size", str(args.batch_size),
                   "--max-len", str(args.max_len), "--lr", str(args.lr), "--threads", str(args.threads)]
            env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{method} failed")
            results[method] = json.loads(proc.stdout.strip().splitlines()[-1])
            r = results[method]
            print(f"{method:10s} {r['tokens_per_s']:8.0f} useful tok/s ({r['tokens_per_cpu_s']:6.0f} per CPU s)  "
                  f"{r['train_s']:6.1f} s  "
                  f"peak {r['peak_memory_mb']:7.0f} MiB  val response loss {r['val_response_loss']:.4f}", flush=True)
        ours, book, trl = results["ours"], results["textbook"], results.get("trl")
        trl_no_gc, ours_no_gc = results.get("trl_no_gc"), results["ours_no_gc"]
        summary = {
            "benchmark": "train_throughput",
            "device": "cuda" if _cuda() else "cpu",
            "settings": {k: getattr(args, k) for k in ("n_train", "n_val", "hidden", "layers", "batch_size",
                                                       "max_len", "lr")},
            "results": results,
            "ratio_vs_textbook": ours["tokens_per_s"] / book["tokens_per_s"],
            "cpu_ratio_vs_textbook": ours["tokens_per_cpu_s"] / book["tokens_per_cpu_s"],
            "cpu_ratio_vs_trl": ours["tokens_per_cpu_s"] / trl["tokens_per_cpu_s"] if trl else None,
            "cpu_ratio_vs_trl_no_gc": ours["tokens_per_cpu_s"] / trl_no_gc["tokens_per_cpu_s"] if trl_no_gc else None,
            "ratio_vs_trl": ours["tokens_per_s"] / trl["tokens_per_s"] if trl else None,
            "ratio_vs_trl_no_gc": ours["tokens_per_s"] / trl_no_gc["tokens_per_s"] if trl_no_gc else None,
            "memory_vs_trl": ours["peak_memory_mb"] / trl["peak_memory_mb"] if trl else None,
            # both without gradient checkpointing: the data pipeline and loss alone
            "no_gc_ratio_vs_trl_no_gc": (ours_no_gc["tokens_per_s"] / trl_no_gc["tokens_per_s"]) if trl_no_gc else None,
            "no_gc_memory_vs_trl_no_gc": (ours_no_gc["peak_memory_mb"] / trl_no_gc["peak_memory_mb"]) if trl_no_gc
            else None,
            "memory_vs_textbook": ours["peak_memory_mb"] / book["peak_memory_mb"],
            # what the Train page announced before launch, against the measured peak (honest about memory)
            "memory_estimate_vs_peak": ours["memory_estimate_mb"] / ours["peak_memory_mb"],
            "val_loss_gap_vs_trl": (ours["val_response_loss"] / trl["val_response_loss"] - 1) if trl else None,
        }
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
