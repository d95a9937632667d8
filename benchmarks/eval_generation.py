"""Batched evaluation generation vs a per-example ``generate`` loop, on the tiny demo model.

Baseline: what a straightforward evaluation script does -- ``model.generate`` on one prompt at a time.
Ours: :func:`desktop_ift.core.evaluation.generation.generate_answers` (prompts sorted by length, batches
left-padded). Both run greedy decoding on the same 512 prompts of varied length (a few words to a few
hundred tokens) in the same process; the outputs must be identical, and the script fails otherwise.

    .venv/bin/python benchmarks/eval_generation.py [--n 512] [--batch-size 32] [--max-new-tokens 16]

The last line printed is one JSON object: examples/s of both, ``ratio`` (ours / baseline; target >= 3),
``identical`` and the settings.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

_FILLER = ("the customer writes again about the same order and asks for an update because nothing has "
           "happened since last week and the invoice still shows the wrong amount").split()


def make_prompts(n: int, seed: int = 0) -> list[dict]:
    """``n`` demo-like rows whose prompt lengths vary from a few words to ~150 words."""
    from desktop_ift.core.data import demo_data

    rng = random.Random(seed)
    rows = demo_data.generate_demo_rows()
    out = []
    for i in range(n):
        row = rows[i % len(rows)]
        words = rng.choice([0, 2, 5, 10, 20, 40, 80, 150])
        extra = " ".join(rng.choice(_FILLER) for _ in range(words))
        text = " ".join(str(v) for v in row.values())
        out.append({"system": "Classify the support ticket.", "prompt": f"{text} {extra}".strip()})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)

    import torch

    from desktop_ift.core.evaluation.generation import generate_answers
    from desktop_ift.core.modeling import describe_device, load_causal_lm, load_tokenizer
    from desktop_ift.core.prompt_format import encode_prompt, format_prompt
    from desktop_ift.core.training.config import GenerationConfig
    from desktop_ift.core.training.tiny_model import ensure_demo_model

    if args.threads:
        torch.set_num_threads(args.threads)
    workspace = Path(tempfile.mkdtemp(prefix="ift-bench-"))
    folder = ensure_demo_model(workspace)
    tokenizer = load_tokenizer(folder, padding_side="left")
    model = load_causal_lm(folder)
    if torch.cuda.is_available():
        model = model.to("cuda")
    device = next(model.parameters()).device
    rows = make_prompts(args.n)
    prompts = [format_prompt(tokenizer, r["system"], r["prompt"]) for r in rows]
    lengths = [len(encode_prompt(tokenizer, p)) for p in prompts]
    gen = GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, temperature=0.0)

    # Warm-up (first-call allocations, kernel selection) for both paths.
    generate_answers(model, tokenizer, prompts[:4], gen)

    t0 = time.perf_counter()
    ours = generate_answers(model, tokenizer, prompts, gen)
    ours_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    baseline = []
    for prompt in prompts:
        ids = torch.tensor([encode_prompt(tokenizer, prompt)], device=device)
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                 max_new_tokens=args.max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id, temperature=None, top_p=None, top_k=None)
        baseline.append(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip())
    base_s = time.perf_counter() - t0

    mismatches = [i for i, (a, b) in enumerate(zip(ours, baseline)) if a != b]
    result = {
        "benchmark": "eval_generation",
        "baseline": "per-example model.generate loop",
        "device": describe_device(),
        "examples": args.n,
        "prompt_tokens_min": min(lengths),
        "prompt_tokens_max": max(lengths),
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "ours_examples_per_s": round(args.n / ours_s, 2),
        "baseline_examples_per_s": round(args.n / base_s, 2),
        "ratio": round(base_s / ours_s, 2),
        "identical": not mismatches,
        "mismatches": len(mismatches),
        "torch_threads": torch.get_num_threads(),
    }
    if mismatches:
        i = mismatches[0]
        print(f"first mismatch, prompt {i}: ours={ours[i]!r} baseline={baseline[i]!r}", file=sys.stderr)
    print(json.dumps(result))
    return 0 if not mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
