"""Encoder-decoder (T5) models through evaluation: a LoRA run trained by the real worker is evaluated by the
real worker against its base, and scored on a multiple-choice benchmark and in the playground, all on a tiny
T5 built from a config (random weights, no download)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from desktop_ift.core.store import Store
from desktop_ift.core.training.config import GenerationConfig, TrainConfig
from desktop_ift.core.worker import EventWriter

pytestmark = pytest.mark.slow


class NeverStop:
    def is_set(self) -> bool:
        return False


@pytest.fixture(scope="module")
def t5_run(tmp_path_factory, tiny_t5_dir, toy, worker):
    """A finished LoRA training run on the tiny T5 (through the real worker) with 8 test rows."""
    home = tmp_path_factory.mktemp("t5-eval-ws")
    store = Store.open(home)
    rows = toy.rows(40)
    config = TrainConfig(method="lora", max_steps=4, batch_size=8, lora_r=4, lora_alpha=16, learning_rate=1e-2)
    job_path = worker.train_job(store, str(tiny_t5_dir), config, rows[:32], test=rows[32:])
    result = worker.run(job_path)
    assert result.returncode == 0, result.last
    yield store, result.run_id, result.last.output_dir, rows[32:]
    store.close()


def _greedy_answer(model, tok, text: str, max_new_tokens: int) -> str:
    """What plain transformers answers for one encoder input, without our code."""
    ids = tok(text, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
    return tok.decode(out[0], skip_special_tokens=True).strip()


def test_seq2seq_run_is_evaluated_against_its_base(t5_run, tiny_t5_dir, worker):
    from desktop_ift.core.evaluation.eval_jobs import prepare_eval_job
    from desktop_ift.core.evaluation.results import load_comparison

    store, train_id, adapter, test_rows = t5_run
    run, job_path = prepare_eval_job(store, train_id, GenerationConfig(batch_size=3), max_new_tokens=5,
                                     labels=None)
    assert [(m["model"], m["adapter"]) for m in json.loads(job_path.read_text())["models"]] == [
        (str(tiny_t5_dir), None), (str(tiny_t5_dir), adapter)]
    result = worker.run(job_path)
    assert result.returncode == 0, result.last
    evals = {e.model_label: e.metrics for e in result.of_type("eval")}
    assert list(evals) == ["base", "fine-tuned"]
    for metrics in evals.values():
        assert metrics["n_examples"] == len(test_rows)
        assert {"rougeL", "bleu", "chrf", "exact_match"} <= set(metrics)
        assert metrics["response_tokens"] > 0 and metrics["perplexity"] > 1
    # The adapter changes the model: the loss on the reference answers differs from the base's.
    assert evals["base"]["response_loss"] != pytest.approx(evals["fine-tuned"]["response_loss"], abs=1e-4)

    comp = load_comparison(store, run.id)
    assert comp.labels == ["base", "fine-tuned"]
    assert comp.scores["fine-tuned"]["rougeL"] == pytest.approx(evals["fine-tuned"]["rougeL"])

    # The stored answers are what plain transformers + peft generate from the prompt given to the encoder.
    from peft import PeftModel
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_t5_dir)
    base = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5_dir).eval()
    row = test_rows[0]
    source = f"{row['system']}\n\n{row['prompt']}"
    stored = {label: store.eval_examples(run.id, label)[0] for label in ("base", "fine-tuned")}
    assert stored["base"]["output"] == _greedy_answer(base, tok, source, 5)
    tuned = PeftModel.from_pretrained(base, adapter).eval()
    assert stored["fine-tuned"]["output"] == _greedy_answer(tuned, tok, source, 5)


def test_adapter_folder_given_as_the_model_is_put_on_its_base(t5_run, tiny_t5_dir, worker):
    """Evaluating ``{"model": <adapter folder>}`` reads the base from adapter_config.json (like a causal one)."""
    store, _, adapter, test_rows = t5_run
    models = [{"label": "fine-tuned", "model": adapter, "adapter": None}]
    result = worker.run(worker.eval_job(store, test_rows[:3], models, GenerationConfig(max_new_tokens=3),
                                        labels=None))
    assert result.returncode == 0, result.last
    loading = [e.message for e in result.of_type("progress") if e.stage == "loading model"]
    assert loading == [f"fine-tuned: loading {tiny_t5_dir} with the adapter {adapter}"]


def test_seq2seq_multiple_choice_and_playground(t5_run, tiny_t5_dir):
    """The benchmark scores T5 by the decoder's letter log-likelihood; the playground streams its answers."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from desktop_ift.core.evaluation.benchmarks import run_benchmark, score_choices
    from desktop_ift.core.evaluation.eval_jobs import prepare_benchmark_job, prepare_chat_job
    from desktop_ift.core.evaluation.playground import run_chat

    store, train_id, adapter, _ = t5_run
    run, job_path = prepare_benchmark_job(store, train_id, builtin="general", max_questions=6)
    job = json.loads(job_path.read_text())
    assert run_benchmark(job, EventWriter(store, run.id, None), NeverStop()) == "finished"
    results = store.eval_results(run.id)
    assert list(results) == ["base", "fine-tuned"]
    assert results["base"]["n_questions"] == 6 and 0 <= results["base"]["accuracy"] <= 1

    # A choice's score is the decoder's log-probability of writing it from the start token, computed here
    # one choice at a time; single-token (shared pass) and multi-token choices, in one padded batch.
    tok = AutoTokenizer.from_pretrained(tiny_t5_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5_dir).eval()
    contexts = ["Which planet is red?\nA. Mars\nB. Venus\nAnswer:", "Is the sky blue? Answer:"]
    choices = [[" billing", " shipping"], [" A", " B", " C", " D"]]

    def one(context: str, choice: str) -> float:
        enc = tok(context, return_tensors="pt")
        target = tok(choice, add_special_tokens=False)["input_ids"]
        decoder_in = torch.tensor([[model.config.decoder_start_token_id] + target[:-1]])
        with torch.no_grad():
            logp = torch.log_softmax(model(**enc, decoder_input_ids=decoder_in).logits[0], -1)
        return sum(float(logp[t, tok_id]) for t, tok_id in enumerate(target))

    scores = score_choices(model, tok, contexts, choices, batch_size=3)
    for context, conts, got in zip(contexts, choices, scores):
        assert got == pytest.approx([one(context, c) for c in conts], abs=1e-4)

    chat_run, chat_path = prepare_chat_job(store, str(tiny_t5_dir), adapter=adapter,
                                           generation=GenerationConfig(max_new_tokens=6))
    request = {"request": 1, "messages": [{"role": "user", "content": "Ticket: my invoice is wrong"}],
               "generation": {"temperature": 0.0}}
    stdin = io.StringIO(json.dumps(request) + "\n")
    writer = EventWriter(store, chat_run.id, None)
    assert run_chat(json.loads(Path(chat_path).read_text()), writer, NeverStop(), stdin=stdin) == "finished"
    finals = [e for e in store.events(chat_run.id) if e.type == "output" and e.done]
    from peft import PeftModel

    tuned = PeftModel.from_pretrained(model, adapter).eval()
    assert len(finals) == 1 and finals[0].text == _greedy_answer(tuned, tok, "Ticket: my invoice is wrong", 6)
