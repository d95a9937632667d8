"""The evaluation, benchmark and playground workers as real child processes on the tiny model:
cached re-evaluation, loss on answer tokens, the forgetting check, the HTML report from the CLI, and a
streamed chat over stdin."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from desktop_ift.core import events as ev
from desktop_ift.core.job_format import worker_command
from desktop_ift.core.store import Store
from desktop_ift.core.training.config import GenerationConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_model_dir):
    """A workspace and a random (non-zero) LoRA adapter on the tiny model, made without training."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    home = tmp_path_factory.mktemp("eval-jobs-ws")
    torch.manual_seed(0)
    peft = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)),
                          LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj"],
                                     init_lora_weights=False))
    adapter = home / "adapter"
    peft.save_pretrained(str(adapter))
    store = Store.open(home)
    yield store, str(adapter)
    store.close()


def test_re_evaluating_the_same_thing_reuses_the_answers(setup, tiny_model_dir, toy, worker):
    store, adapter = setup
    models = [{"label": "base", "model": str(tiny_model_dir), "adapter": None},
              {"label": "fine-tuned", "model": str(tiny_model_dir), "adapter": adapter}]
    gen = GenerationConfig(max_new_tokens=4, batch_size=8)
    first = worker.run(worker.eval_job(store, toy.rows(10), models, gen))
    assert first.returncode == 0, first.last
    scores = {e.model_label: e.metrics for e in first.of_type("eval")}
    for metrics in scores.values():
        assert metrics["from_cache"] is False
        assert metrics["response_tokens"] > 0 and metrics["perplexity"] == pytest.approx(
            2.718281828 ** metrics["response_loss"], rel=1e-6)
    assert scores["base"]["response_loss"] != scores["fine-tuned"]["response_loss"]  # the adapter counts
    assert "perplexity" in store.eval_results(first.run_id)["fine-tuned"]

    again = worker.run(worker.eval_job(store, toy.rows(10), models, gen))
    assert again.returncode == 0, again.last
    assert not [e for e in again.of_type("progress") if e.stage == "loading model"]  # no model loaded
    assert sum("reused the answers" in e.message for e in again.of_type("progress")) == 2
    for e in again.of_type("eval"):
        assert e.metrics["from_cache"] is True
        assert {k: v for k, v in e.metrics.items() if k != "from_cache"} == {
            k: v for k, v in scores[e.model_label].items() if k != "from_cache"}
    outputs = lambda run_id: [x["output"] for x in store.eval_examples(run_id)]  # noqa: E731
    assert outputs(again.run_id) == outputs(first.run_id)
    # (Other settings, prompts or adapter content give another key: tests/core/test_eval_core.py.)


def test_re_scoring_the_same_test_documents_reuses_the_losses(setup, tiny_model_dir, toy, worker, tmp_path):
    """Continued pre-training evaluations are cached as the other formats are: the same models on the same
    documents at the same maximum length reuse the losses (no model loaded, said in the progress); other
    documents, another adapter or another maximum length are scored again."""
    import json

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    store, adapter = setup
    docs = [{"idx": i, "text": f"Ticket {i}: {r['prompt']} It was about {r['response']}."}
            for i, r in enumerate(toy.rows(6))]
    models = [{"label": "base", "model": str(tiny_model_dir), "adapter": None},
              {"label": "fine-tuned", "model": str(tiny_model_dir), "adapter": adapter}]

    def evaluate(rows, models, max_seq_length=64):
        job = worker.eval_job(store, rows, models, GenerationConfig(batch_size=4))
        job.write_text(json.dumps({**json.loads(job.read_text()), "max_seq_length": max_seq_length}))
        result = worker.run(job)
        assert result.returncode == 0, result.last
        return result, {e.model_label: e.metrics for e in result.of_type("eval")}

    def reused(result) -> list[str]:
        return [e.message.split(":")[0] for e in result.of_type("progress") if "reused the losses" in e.message]

    first, scores = evaluate(docs, models)
    assert [m["from_cache"] for m in scores.values()] == [False, False] and not reused(first)
    assert scores["base"]["text_loss"] != scores["fine-tuned"]["text_loss"]

    again, cached = evaluate(docs, models)
    assert reused(again) == ["base", "fine-tuned"]
    assert not [e for e in again.of_type("progress") if e.stage == "loading model"]  # no model loaded
    for label, metrics in cached.items():
        assert metrics["from_cache"] is True
        assert {k: v for k, v in metrics.items() if k != "from_cache"} == {
            k: v for k, v in scores[label].items() if k != "from_cache"}
    per_doc = lambda run_id: sorted((x["model_label"], x["idx"], x["scores"]["text_loss"])  # noqa: E731
                                    for x in store.eval_examples(run_id))
    assert per_doc(again.run_id) == per_doc(first.run_id)

    edited = [dict(d) for d in docs]
    edited[3]["text"] += " Closed."
    changed, _ = evaluate(edited, models)
    assert not reused(changed) and all(e.metrics["from_cache"] is False for e in changed.of_type("eval"))

    torch.manual_seed(1)  # another fine-tuned model: the base is reused, the new adapter is scored
    other = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)),
                           LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"],
                                      init_lora_weights=False))
    other.save_pretrained(str(tmp_path / "other-adapter"))
    swapped, swapped_scores = evaluate(docs, [models[0], {**models[1], "adapter": str(tmp_path / "other-adapter")}])
    assert reused(swapped) == ["base"] and swapped_scores["fine-tuned"]["from_cache"] is False
    assert swapped_scores["fine-tuned"]["text_loss"] != scores["fine-tuned"]["text_loss"]

    shorter, _ = evaluate(docs, models, max_seq_length=8)  # documents cut into other pieces: another loss
    assert not reused(shorter)


def test_forgetting_check_on_base_and_fine_tuned(setup, tiny_model_dir, worker, tmp_path, monkeypatch):
    from desktop_ift.core.evaluation.eval_jobs import prepare_benchmark_job

    store, adapter = setup
    models = [{"label": "base", "model": str(tiny_model_dir), "adapter": None},
              {"label": "fine-tuned", "model": str(tiny_model_dir), "adapter": adapter}]
    run, job = prepare_benchmark_job(store, builtin="general", models=models, k_shot=0, batch_size=32)
    result = worker.run(job)
    assert result.returncode == 0, result.last
    assert result.events[0].job_kind == "benchmark"
    base, tuned = (e.metrics for e in result.of_type("eval"))
    assert base["n_questions"] == 40 and set(base["per_subject"]) == {
        "arithmetic", "everyday", "geography", "history", "language", "science"}
    for metrics, label in ((base, "base"), (tuned, "fine-tuned")):
        rows = store.eval_examples(run.id, label)
        assert len(rows) == 40
        assert metrics["accuracy"] == pytest.approx(sum(r["scores"]["correct"] for r in rows) / 40)
        geo = [r for r in rows if r["scores"]["subject"] == "geography"]
        assert metrics["subject/geography"] == pytest.approx(sum(r["scores"]["correct"] for r in geo) / len(geo))
        assert all((r["scores"]["margin"] > 0) == bool(r["scores"]["correct"]) for r in rows)
    pairs = list(zip(store.eval_examples(run.id, "base"), store.eval_examples(run.id, "fine-tuned")))
    assert tuned["forgotten"] == sum(b["scores"]["correct"] and not t["scores"]["correct"] for b, t in pairs)
    assert tuned["learned"] == sum(t["scores"]["correct"] and not b["scores"]["correct"] for b, t in pairs)
    assert "forgotten" not in base

    # The report command writes the HTML (with its per-subject table) and the CSV/JSON next to it.
    monkeypatch.setenv("DESKTOP_IFT_HOME", str(store.home))
    out = subprocess.run([sys.executable, "-m", "desktop_ift", "report", run.id, str(tmp_path / "r.html")],
                         capture_output=True, text=True, env=worker.env(), timeout=120)
    assert out.returncode == 0, out.stderr
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Accuracy per subject" in page and "Questions forgotten" in page
    assert (tmp_path / "r-examples.csv").exists() and json.loads((tmp_path / "r.json").read_text())["kind"] == "benchmark"


def test_a_benchmark_file_in_the_wrong_layout_fails_in_plain_words(setup, tiny_model_dir, tmp_path, worker):
    store, _ = setup
    bad = tmp_path / "quiz.csv"
    bad.write_text("prompt,correct\nWhat?,yes\n", encoding="utf-8")
    run = store.create_run("benchmark", {})
    job = {"kind": "benchmark", "version": 1, "run_id": run.id, "workspace": str(store.home),
           "models": [{"label": "base", "model": str(tiny_model_dir)}], "benchmark": {"files": [str(bad)]}}
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job), encoding="utf-8")
    result = worker.run(path)
    assert result.returncode == 1 and result.last.type == "failed"
    assert "quiz.csv is not in the multiple-choice layout" in result.last.message
    assert "question, A, B, C, D, answer" in result.last.hint


def test_playground_streams_an_answer_per_request(setup, tiny_model_dir, worker):
    from desktop_ift.core.evaluation.eval_jobs import prepare_chat_job

    store, adapter = setup
    run, job = prepare_chat_job(store, str(tiny_model_dir), adapter=adapter,
                                generation=GenerationConfig(max_new_tokens=12))
    proc = subprocess.Popen(worker_command(job), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=worker.env(), text=True)
    watchdog = threading.Timer(180, proc.kill)
    watchdog.start()
    events = []
    try:
        for line in proc.stdout:
            event = ev.decode(line)
            events.append(event)
            if event.type == "progress" and event.stage == "ready":
                for n in (1, 2):
                    proc.stdin.write(json.dumps({"request": n, "system": "Be brief.", "messages": [
                        {"role": "user", "content": "My invoice is wrong"}],
                        "generation": {"temperature": 0.0}}) + "\n")
                proc.stdin.write(json.dumps({"request": 3, "messages": []}) + "\n")
                proc.stdin.flush()
            if event.type == "output" and event.done and event.request == 3:
                proc.stdin.close()
        proc.wait(timeout=60)
    finally:
        watchdog.cancel()
    assert proc.returncode == 0 and events[-1].type == "finished"
    outputs = [e for e in events if e.type == "output"]
    finals = {e.request: e.text for e in outputs if e.done}
    pieces = [e.text for e in outputs if e.request == 1 and not e.done]
    # Streamed in pieces (the streamer releases text at word boundaries), then the whole answer once.
    assert pieces and "".join(pieces).strip() == finals[1]
    assert finals[1] == finals[2]  # greedy: the same question gives the same answer
    assert finals[3].startswith("[request refused: The conversation must end with a user message")
    assert [e.seq for e in events] == sorted({e.seq for e in events})  # one sequence, no repeats
    stored = [e for e in store.events(run.id) if e.type == "output"]
    assert [(e.request, e.done) for e in stored] == [(1, True), (2, True), (3, True)]  # only final answers
