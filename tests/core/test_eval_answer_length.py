"""Answers are never cut in silence: the longest answer of an evaluation comes from the references of the
evaluated split, counted in the model's tokens, and the job records the value and where it came from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from desktop_ift.core.evaluation import answer_length
from desktop_ift.core.evaluation.eval_jobs import prepare_eval_job, suggest_answer_length
from desktop_ift.core.job_format import JOB_VERSION, JobError, read_job
from desktop_ift.core.training.config import GenerationConfig


def _run_with(store, tmp_path, tokenizer_from, parts: dict[str, list[dict]], train=()):
    run = store.create_run("train", config={}, name="summaries")
    run_dir = Path(run.run_dir)
    (run_dir / "data").mkdir()
    data = {}
    for part, rows in {"train": list(train), **parts}.items():
        path = run_dir / "data" / f"{part}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        data[part] = str(path)
    output = run_dir / "output"
    output.mkdir()
    if tokenizer_from:
        for f in Path(tokenizer_from).iterdir():
            if f.name.startswith(("tokenizer", "special_tokens")):
                shutil.copy(f, output / f.name)
    job = {"kind": "train", "version": JOB_VERSION, "run_id": run.id, "workspace": str(store.home),
           "model": "demo", "config": {"method": "lora", "max_seq_length": 256}, "data": data,
           "output_dir": str(output)}
    (run_dir / "job.json").write_text(json.dumps(job), encoding="utf-8")
    return store.update_run(run.id, status="finished", output_dir=str(output))


def _summaries(n: int, words: int, start: int = 0) -> list[dict]:
    return [{"idx": start + i, "system": "", "prompt": f"Summarise dialogue {i}.",
             "response": " ".join(f"person{(i * 7 + k) % 13} talked about item {k}" for k in range(words))}
            for i in range(n)]


def test_long_references_get_a_default_above_their_99th_percentile(store, tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    rows = _summaries(40, 12) + _summaries(2, 30, start=40)  # a few much longer ones
    run = _run_with(store, tmp_path, tiny_model_dir, {"test": rows})
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    lengths = [len(tok(r["response"], add_special_tokens=False)["input_ids"]) + 1 for r in rows]
    p99 = sorted(lengths)[int(0.99 * len(lengths) + 0.999) - 1]
    assert p99 > 8 * 5  # far beyond the demo's old 8 tokens

    eval_run, job_path = prepare_eval_job(store, run.id, GenerationConfig(max_new_tokens=8))
    job = read_job(job_path)
    length = job["answer_length"]
    assert length["counted_with"] == "the model's tokenizer", length
    assert job["generation"]["max_new_tokens"] == length["value"] > p99
    assert length["origin"] == "references" and length["percentile_tokens"] == p99
    assert length["references"] == len(rows) and length["counted_with"] == "the model's tokenizer"
    assert f"99th percentile is {p99} tokens" in length["text"]
    assert store.get_run(eval_run.id).config["answer_length"] == length  # recorded with the run
    assert suggest_answer_length(store, run.id).value == length["value"]  # what the page shows


def test_a_value_set_by_the_user_is_kept_and_says_what_it_cuts(store, tmp_path, tiny_model_dir):
    run = _run_with(store, tmp_path, tiny_model_dir, {"test": _summaries(10, 12)})
    job = read_job(prepare_eval_job(store, run.id, max_new_tokens=8)[1])
    assert job["generation"]["max_new_tokens"] == 8
    length = job["answer_length"]
    assert length["origin"] == "user" and length["longer_than_value"] == 10
    assert "10 of 10 references are longer" in length["text"]


def test_short_labels_get_a_small_limit_and_the_split_can_be_chosen(store, tmp_path, tiny_model_dir):
    labels = [{"idx": i, "system": "", "prompt": f"ticket {i}", "response": ["billing", "shipping"][i % 2]}
              for i in range(20)]
    run = _run_with(store, tmp_path, tiny_model_dir, {"test": labels, "validation": _summaries(5, 12)})
    assert read_job(prepare_eval_job(store, run.id)[1])["answer_length"]["value"] == answer_length.MIN_DERIVED
    job = read_job(prepare_eval_job(store, run.id, split="validation")[1])
    assert job["split"] == "validation" and job["test_data"].endswith("validation.jsonl")
    assert job["answer_length"]["value"] > answer_length.MIN_DERIVED
    with pytest.raises(JobError, match="unknown split|Unknown split"):
        prepare_eval_job(store, run.id, split="train")


def test_without_the_tokenizer_lengths_are_estimated_and_it_says_so(store, tmp_path):
    run = _run_with(store, tmp_path, None, {"test": _summaries(5, 12)})
    length = read_job(prepare_eval_job(store, run.id)[1])["answer_length"]
    assert "characters / 4" in length["text"] and length["value"] > 16


def test_derivation_rule():
    assert answer_length.percentile([1] * 99 + [500], 99) == 1
    assert answer_length.percentile(list(range(1, 101)), 99) == 99
    derived = answer_length.derive([56] * 100)
    assert derived.value == 56 + 14 and derived.longer_than_value == 0
    capped = answer_length.derive([5000] * 10)
    assert capped.value == answer_length.MAX_DERIVED and capped.longer_than_value == 10 and "capped" in capped.text
