"""Every data format can be evaluated through the command line: a tiny chat run is scored on the last
assistant turn of each test conversation (the history through the chat template as context), and a tiny
continued-pre-training run by its held-out loss and perplexity against the base model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_ift.core.store import Store
from desktop_ift.core.training.config import TrainConfig

pytestmark = pytest.mark.slow


def cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="2")
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def chat_rows(toy, n: int, start: int = 0) -> list[dict]:
    return [{"idx": start + i, "system": "Classify.", "messages": [
        {"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": "Let me see."},
        {"role": "user", "content": "So, which category?"}, {"role": "assistant", "content": r["response"]}]}
        for i, r in enumerate(toy.rows(n + start)[start:])]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model_dir, toy, worker):
    """One finished chat run and one finished continued-pre-training run, trained by the real worker."""
    home = tmp_path_factory.mktemp("formats-ws")
    store = Store.open(home)
    config = TrainConfig(method="lora", max_steps=4, batch_size=8, lora_r=4, lora_alpha=16, learning_rate=1e-2,
                         max_seq_length=128)
    chat = worker.run(worker.train_job(store, str(tiny_model_dir), config, chat_rows(toy, 24),
                                       test=chat_rows(toy, 6, start=24)))
    assert chat.returncode == 0, chat.last
    docs = [{"idx": i, "text": f"Ticket {i}: {r['prompt']} It was about {r['response']}."}
            for i, r in enumerate(toy.rows(30))]
    pretrain = worker.run(worker.train_job(store, str(tiny_model_dir), config, docs[:24], test=docs[24:]))
    assert pretrain.returncode == 0, pretrain.last
    yield home, store, chat.run_id, pretrain.run_id
    store.close()


def _evaluate(home: Path, run_id: str, *options: str) -> tuple[str, str]:
    prepared = cli(home, "prepare-eval", run_id, *options)
    assert prepared.returncode == 0, prepared.stderr
    job_path = prepared.stdout.strip().splitlines()[-1]
    done = cli(home, "evaluate", job_path)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(Path(job_path).read_text())["run_id"], prepared.stderr


def test_a_chat_run_is_scored_on_the_last_assistant_turn(runs, toy):
    home, store, chat_id, _ = runs
    eval_id, said = _evaluate(home, chat_id)
    assert "max_new_tokens 16 (from the test references)" in said  # one-word answers: the minimum limit
    results = store.eval_results(eval_id)
    assert list(results) == ["base", "fine-tuned"]
    for scores in results.values():
        assert {"rougeL", "exact_match", "response_loss", "perplexity", "answers_cut"} <= set(scores)
        assert scores["accuracy"] is not None  # the answers are a small label set
    assert results["base"]["response_loss"] != pytest.approx(results["fine-tuned"]["response_loss"], abs=1e-5)
    examples = store.eval_examples(eval_id)
    expected = chat_rows(toy, 6, start=24)
    assert sorted({e["reference"] for e in examples}) == sorted({r["messages"][-1]["content"] for r in expected})
    first = next(e for e in examples if e["idx"] == 24)
    assert first["prompt"].startswith("user: " + expected[0]["messages"][0]["content"])
    assert first["prompt"].endswith("user: So, which category?")  # the history, not the scored answer
    shown = cli(home, "results", eval_id)
    assert shown.returncode == 0 and "Loss (answer tokens)" in shown.stdout
    # how it was measured, as a reader comparing with papers needs it
    assert "Longest answer: 16 tokens, from the 6 references" in shown.stdout
    assert "ROUGE stemming: Porter stemmer on" in shown.stdout
    assert "Label set: billing, shipping, technical (detected from the test references)" in shown.stdout
    report = cli(home, "report", eval_id, str(home / "report.html"))
    assert report.returncode == 0, report.stderr
    page = (home / "report.html").read_text(encoding="utf-8")
    assert "How the scores were computed" in page and "Porter stemmer on" in page and "16 tokens" in page


def test_a_pretraining_run_is_scored_by_held_out_loss_base_vs_tuned(runs):
    home, store, _, pretrain_id = runs
    eval_id, said = _evaluate(home, pretrain_id)
    assert "held-out loss and perplexity" in said
    results = store.eval_results(eval_id)
    assert list(results) == ["base", "fine-tuned"]
    base, tuned = results["base"], results["fine-tuned"]
    assert tuned["text_loss"] < base["text_loss"]  # trained on documents like these
    assert tuned["perplexity"] == pytest.approx(2.718281828459045 ** tuned["text_loss"], rel=1e-6)
    assert "rougeL" not in base  # nothing was generated
    examples = store.eval_examples(eval_id)
    assert len(examples) == 2 * 6 and all("text_loss" in e["scores"] for e in examples)
    shown = cli(home, "results", eval_id)
    assert "Loss (test documents)" in shown.stdout and "Perplexity" in shown.stdout


def test_several_references_are_scored_as_the_libraries_do(store, tiny_model_dir, toy, worker):
    """Test lines with several references: the worker's scores equal rouge_score's score_multi (stemmed) and
    sacrebleu with every reference, on the answers the model gave."""
    import sacrebleu
    from rouge_score import rouge_scorer

    from desktop_ift.core.training.config import GenerationConfig

    rows = [{**r, "references": [r["response"], f"about {r['response']}", "a ticket"]} for r in toy.rows(6)]
    models = [{"label": "base", "model": str(tiny_model_dir), "adapter": None}]
    result = worker.run(worker.eval_job(store, rows, models, GenerationConfig(max_new_tokens=6), labels=None))
    assert result.returncode == 0, result.last
    metrics = result.of_type("eval")[0].metrics
    outputs = [e["output"] for e in sorted(store.eval_examples(result.run_id), key=lambda e: e["idx"])]
    refs = [r["references"] for r in rows]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True, split_summaries=False)
    expected = sum(scorer.score_multi(r, o)["rougeL"].fmeasure for o, r in zip(outputs, refs)) / len(rows)
    assert metrics["rougeL"] == pytest.approx(expected, abs=1e-6)
    streams = [list(s) for s in zip(*refs)]
    assert metrics["bleu"] == pytest.approx(sacrebleu.corpus_bleu(outputs, streams).score, abs=1e-6)
    assert "— or —" in store.eval_examples(result.run_id)[0]["reference"]
