"""Evaluation internals on the tiny model: loss on answer tokens, choice log-likelihoods, the cache,
benchmark files, multi-run jobs, the comparison and the report."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from desktop_ift.core.evaluation import cache
from desktop_ift.core.evaluation.benchmark_data import (
    BenchmarkFormatError,
    builtin_path,
    load_benchmark,
    read_questions,
)
from desktop_ift.core.evaluation.comparison import comparison_rows, format_comparison, is_improvement
from desktop_ift.core.job_format import JobError


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from desktop_ift.core.modeling import load_causal_lm, load_tokenizer

    return load_tokenizer(tiny_model_dir), load_causal_lm(tiny_model_dir)


def make_adapter(base: Path, folder: Path, seed: int = 0) -> Path:
    """A real LoRA adapter with random (non-zero) weights, saved like a training run's output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base))
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False))
    peft.save_pretrained(str(folder))
    return folder


# ---------------------------------------------------------------- loss on the answer tokens


def test_response_loss_is_the_token_weighted_loss_transformers_computes(tiny, toy):
    from desktop_ift.core.evaluation.response_loss import response_loss
    from desktop_ift.core.training.collator import tokenize_rows

    tokenizer, model = tiny
    rows = toy.rows(7)
    ours = response_loss(model, tokenizer, rows, batch_size=3)
    # Reference: each example alone, transformers' own shifted cross-entropy over the unmasked labels.
    import torch

    total, count = 0.0, 0
    for feature in tokenize_rows(rows, tokenizer, 512, completion_only=True):
        ids = torch.tensor([feature["input_ids"]])
        labels = torch.tensor([feature["labels"]])
        n = int((labels[:, 1:] != -100).sum())
        with torch.inference_mode():
            total += float(model(input_ids=ids, labels=labels).loss) * n
        count += n
    assert ours["response_tokens"] == count
    assert ours["response_loss"] == pytest.approx(total / count, rel=1e-4)
    assert ours["perplexity"] == pytest.approx(math.exp(total / count), rel=1e-4)


# ---------------------------------------------------------------- multiple choice


def test_choice_scores_equal_unbatched_log_likelihoods(tiny):
    import torch

    from desktop_ift.core.evaluation.benchmarks import build_prompt, score_choices
    from desktop_ift.core.prompt_format import encode_prompt

    tokenizer, model = tiny
    questions, _ = load_benchmark([builtin_path()])
    contexts = [build_prompt(q, []) for q in questions[:5]]
    conts = [[" A", " B", " C", " D"]] * 3 + [list(q.choices) for q in questions[3:5]]  # 1 and many tokens
    ours = score_choices(model, tokenizer, contexts, conts, batch_size=4)
    for ctx, options, got in zip(contexts, conts, ours):
        for option, value in zip(options, got):
            ctx_ids = encode_prompt(tokenizer, ctx)
            cont_ids = tokenizer(option, add_special_tokens=False)["input_ids"]
            with torch.inference_mode():
                logp = torch.log_softmax(model(input_ids=torch.tensor([ctx_ids + cont_ids])).logits[0], -1)
            expected = sum(float(logp[len(ctx_ids) - 1 + t, tok]) for t, tok in enumerate(cont_ids))
            assert value == pytest.approx(expected, abs=1e-3)


def test_few_shot_prompt_has_solved_examples_of_the_same_subject():
    from desktop_ift.core.evaluation.benchmarks import build_prompt, pick_shots

    questions, _ = load_benchmark([builtin_path()])
    shots = pick_shots(questions, [], 2)
    assert all(len(s) == 2 and all(x.subject == q.subject and x is not q for x in s) for q, s in zip(questions, shots))
    prompt = build_prompt(questions[0], shots[0])
    assert prompt.startswith("The following are multiple choice questions (with answers) about geography.")
    assert prompt.count("Answer:") == 3 and prompt.endswith("D. " + questions[0].choices[3] + "\nAnswer:")
    assert f"Answer: {shots[0][0].answer}\n\n" in prompt


# ---------------------------------------------------------------- benchmark files


def test_builtin_general_set():
    questions = read_questions(builtin_path())
    assert len(questions) == 40
    assert {q.answer for q in questions} == {"A", "B", "C", "D"}
    assert len({q.subject for q in questions}) == 6
    assert len({q.question for q in questions}) == 40
    assert all(len(set(q.choices)) == 4 for q in questions)


def test_mmlu_files_with_and_without_header(tmp_path):
    plain = tmp_path / "college_biology_test.csv"
    plain.write_text('"What carries oxygen in blood?",Plasma,Haemoglobin,Platelets,Insulin,B\n'
                     '"Unit of heredity?",Gene,Cell,Organ,Tissue,A\n', encoding="utf-8")
    dev = tmp_path / "college_biology_dev.csv"
    dev.write_text('"Largest organ?",Skin,Liver,Heart,Brain,A\n', encoding="utf-8")
    with_header = tmp_path / "mixed.jsonl"
    with_header.write_text(json.dumps({"Question": "2+2?", "a": "3", "b": "4", "c": "5", "d": "6", "Answer": "b",
                                       "Subject": "math"}) + "\n", encoding="utf-8")
    questions, shots = load_benchmark([plain, dev, with_header])
    assert [q.subject for q in questions] == ["college biology", "college biology", "math"]
    assert [q.answer for q in questions] == ["B", "A", "B"]
    assert questions[0].choices[1] == "Haemoglobin"
    assert len(shots) == 1 and shots[0].subject == "college biology"


def test_a_file_in_another_layout_names_the_missing_columns(tmp_path):
    bad = tmp_path / "quiz.csv"
    bad.write_text("question,option1,option2,answer\nWhat?,x,y,A\n", encoding="utf-8")
    with pytest.raises(BenchmarkFormatError) as info:
        read_questions(bad)
    assert "quiz.csv" in info.value.message and "no A, B, C, D columns" in info.value.message
    assert "question, A, B, C, D, answer" in info.value.hint
    wrong_letter = tmp_path / "letters.csv"
    wrong_letter.write_text("question,A,B,C,D,answer\nWhat?,w,x,y,z,E\n", encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match="question 1: the answer 'E' is not one of A, B, C, D"):
        read_questions(wrong_letter)


# ---------------------------------------------------------------- cache


def test_cache_key_follows_what_decides_the_answers(tmp_path, tiny_model_dir, store):
    adapter = make_adapter(tiny_model_dir, tmp_path / "adapter")
    model_fp = cache.folder_fingerprint(tiny_model_dir)
    adapter_fp = cache.folder_fingerprint(adapter)
    key = cache.cache_key(model_fp, adapter_fp, ["p1", "p2"], ["r1", "r2"], {"max_new_tokens": 8})
    assert key == cache.cache_key(model_fp, adapter_fp, ["p1", "p2"], ["r1", "r2"], {"max_new_tokens": 8})
    assert key != cache.cache_key(model_fp, "", ["p1", "p2"], ["r1", "r2"], {"max_new_tokens": 8})
    assert key != cache.cache_key(model_fp, adapter_fp, ["p1", "p3"], ["r1", "r2"], {"max_new_tokens": 8})
    assert key != cache.cache_key(model_fp, adapter_fp, ["p1", "p2"], ["r1", "r2"], {"max_new_tokens": 9})
    # Re-training into the same folder changes the adapter's content, hence the key.
    make_adapter(tiny_model_dir, tmp_path / "adapter2", seed=1)
    (adapter / "adapter_model.safetensors").write_bytes((tmp_path / "adapter2" / "adapter_model.safetensors").read_bytes())
    assert cache.folder_fingerprint(adapter) != adapter_fp
    assert cache.lookup(store, key) is None
    cache.save(store, key, "demo", None, {"outputs": ["a", "b"], "loss": {"response_loss": 1.5}})
    assert cache.lookup(store, key) == {"outputs": ["a", "b"], "loss": {"response_loss": 1.5}}
    assert cache.cacheable({"temperature": 0.0}) and not cache.cacheable({"temperature": 0.7})
    assert cache.clear(store) == 1 and cache.lookup(store, key) is None


# ---------------------------------------------------------------- jobs


def _finished_train_run(store, tmp_path, name, test_rows, method="lora"):
    from desktop_ift.core.job_format import JOB_VERSION

    run = store.create_run("train", config={}, name=name)
    run_dir = Path(run.run_dir)
    (run_dir / "data").mkdir()
    test = run_dir / "data" / "test.jsonl"
    test.write_text("".join(json.dumps(r) + "\n" for r in test_rows), encoding="utf-8")
    job = {"kind": "train", "version": JOB_VERSION, "run_id": run.id, "workspace": str(store.home),
           "model": "demo", "config": {"method": method, "max_seq_length": 128}, "data": {"test": str(test)},
           "output_dir": str(run_dir / "output")}
    (run_dir / "job.json").write_text(json.dumps(job), encoding="utf-8")
    return store.update_run(run.id, status="finished", output_dir=str(run_dir / "output"))


def test_several_fine_tuned_runs_in_one_evaluation(store, tmp_path, toy):
    from desktop_ift.core.evaluation.eval_jobs import prepare_eval_job
    from desktop_ift.core.job_format import read_job

    rows = toy.rows(6)
    a = _finished_train_run(store, tmp_path, "lora r8", rows)
    b = _finished_train_run(store, tmp_path, "full", rows, method="full")
    job = read_job(prepare_eval_job(store, [a.id, b.id], labels=["billing", "shipping", "technical"])[1])
    assert [m["label"] for m in job["models"]] == ["base", "fine-tuned: lora r8", "fine-tuned: full"]
    assert job["models"][1]["adapter"] == a.output_dir and job["models"][2] == {
        "label": "fine-tuned: full", "model": b.output_dir, "adapter": None}
    assert job["train_run_ids"] == [a.id, b.id] and job["max_seq_length"] == 128
    assert job["labels"] == ["billing", "shipping", "technical"]

    c = _finished_train_run(store, tmp_path, "other split", toy.rows(6, seed=5))
    before = len(store.list_runs(kind="evaluate"))
    with pytest.raises(JobError, match="different test splits"):
        prepare_eval_job(store, [a.id, c.id])
    assert len(store.list_runs(kind="evaluate")) == before  # nothing half-made


def test_empty_test_split_is_refused_before_anything_runs(store, tmp_path):
    from desktop_ift.core.evaluation.eval_jobs import prepare_eval_job

    run = _finished_train_run(store, tmp_path, "no test rows", [])
    with pytest.raises(JobError, match="test split .* is empty.*test ratio above 0"):
        prepare_eval_job(store, run.id)


def test_benchmark_job_refuses_a_bad_file_and_writes_nothing(store, tmp_path, toy):
    from desktop_ift.core.evaluation.eval_jobs import prepare_benchmark_job
    from desktop_ift.core.job_format import read_job

    run = _finished_train_run(store, tmp_path, "r", toy.rows(4))
    bad = tmp_path / "bad.csv"
    bad.write_text("q,answer\nx,A\n", encoding="utf-8")
    with pytest.raises(JobError, match=r"bad.csv is not in the multiple-choice layout: it has no question, A, B"):
        prepare_benchmark_job(store, run.id, files=[str(bad)])
    assert store.list_runs(kind="benchmark") == []
    with pytest.raises(JobError, match="k-shot"):
        prepare_benchmark_job(store, run.id, builtin="general", k_shot=11)
    bench, path = prepare_benchmark_job(store, run.id, builtin="general", k_shot=1)
    job = read_job(path)
    assert job["kind"] == "benchmark" and [m["label"] for m in job["models"]] == ["base", "fine-tuned"]
    assert job["benchmark"]["files"] == [str(builtin_path())] and job["benchmark"]["k_shot"] == 1
    assert bench.name == "forgetting check (40 questions)"


# ---------------------------------------------------------------- comparison and report


def test_comparison_marks_best_and_change_for_every_model():
    results = {"base": {"rougeL": 0.2, "perplexity": 50.0, "subject/maths": 0.5},
               "fine-tuned: a": {"rougeL": 0.5, "perplexity": 20.0, "subject/maths": 0.25},
               "fine-tuned: b": {"rougeL": 0.4, "perplexity": 80.0, "subject/maths": 0.75}}
    rows = {r.key: r for r in comparison_rows(results)}
    assert rows["rougeL"].best == "fine-tuned: a" and rows["perplexity"].best == "fine-tuned: a"
    assert rows["perplexity"].deltas == {"fine-tuned: a": -30.0, "fine-tuned: b": 30.0}
    assert is_improvement(rows["perplexity"], -30.0) is True and is_improvement(rows["rougeL"], -0.1) is False
    assert rows["subject/maths"].name == "Accuracy: maths" and rows["subject/maths"].best == "fine-tuned: b"
    assert "Perplexity" in format_comparison(results)


def _stored_evaluation(store):
    from desktop_ift.core import events as ev

    run = store.create_run("evaluate", {}, name="eval demo")
    matrix = {"labels": ["billing", "shipping", "(none)"], "matrix": [[1, 0, 1], [0, 2, 0], [0, 0, 0]]}
    store.append_event(ev.Started(run_id=run.id, seq=1, job_kind="evaluate", info={"generation": {"max_new_tokens": 8}}))
    store.append_event(ev.Eval(run_id=run.id, seq=2, model_label="base",
                               metrics={"rougeL": 0.2, "bleu": 5.0, "accuracy": 0.25, "confusion_matrix": matrix}))
    store.append_event(ev.Eval(run_id=run.id, seq=3, model_label="fine-tuned",
                               metrics={"rougeL": 0.6, "bleu": 30.0, "accuracy": 0.75, "confusion_matrix": matrix}))
    store.append_event(ev.Finished(run_id=run.id, seq=4))
    for label, outs in (("base", ["nope", "shipping <b>"]), ("fine-tuned", ["billing", "shipping"])):
        store.add_eval_examples(run.id, label, [
            {"idx": i, "prompt": f"ticket {i}, \"quoted\"\nline two", "reference": ref, "output": out,
             "scores": {"rougeL": float(out == ref), "correct": float(out == ref)}}
            for i, (ref, out) in enumerate(zip(["billing", "shipping"], outs))])
    return run


def test_report_is_self_contained_and_exports_equal_the_store(store, tmp_path):
    from desktop_ift.core.evaluation.report import write_report
    from desktop_ift.core.evaluation.results import load_comparison

    run = _stored_evaluation(store)
    comp = load_comparison(store, run.id)
    assert comp.labels == ["base", "fine-tuned"] and comp.example_score_key() == "correct"
    assert [comp.gain(r, "fine-tuned") for r in comp.examples] == [1.0, 1.0]
    files = write_report(comp, tmp_path / "out" / "report.html")
    page = files[0].read_text(encoding="utf-8")
    assert page.count("<svg") == 3  # bar chart + two confusion matrices
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in page and "src=" not in page and "<link" not in page
    assert "shipping &lt;b&gt;" in page  # outputs are escaped
    assert '<td class="v best">0.600 ★</td>' in page and 'class="d good">+0.400' in page
    scores = list(csv.DictReader(io.StringIO(files[1].read_text(encoding="utf-8"))))
    assert {(r["metric"], r["model"], float(r["value"])) for r in scores} == {
        (m, label, v) for label, vals in store.eval_results(run.id).items() for m, v in vals.items()}
    examples = list(csv.DictReader(io.StringIO(files[2].read_text(encoding="utf-8"))))
    assert examples[0]["prompt"] == 'ticket 0, "quoted"\nline two' and examples[0]["base: output"] == "nope"
    data = json.loads(files[3].read_text(encoding="utf-8"))
    assert data["details"]["fine-tuned"]["confusion_matrix"] == comp.confusion("fine-tuned")
    assert data["examples"][1]["outputs"] == {"base": "shipping <b>", "fine-tuned": "shipping"}


def test_chat_prompt_uses_the_chat_template_with_history(tiny):
    from desktop_ift.core.evaluation.playground import chat_prompt

    tokenizer, _ = tiny
    text = chat_prompt(tokenizer, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                                   {"role": "user", "content": "bill?"}], system="Be brief.")
    # as in training: an earlier answer ends with eos when the template writes none
    assert text == "<s><|system|>\nBe brief.\n<|user|>\nhi\n<|assistant|>\nhello\n</s><|user|>\nbill?\n<|assistant|>\n"
    with pytest.raises(ValueError, match="end with a user message"):
        chat_prompt(tokenizer, [{"role": "assistant", "content": "x"}])


def test_playground_on_a_hub_model_needs_it_in_the_local_cache(tmp_path, monkeypatch):
    from desktop_ift.core.evaluation.eval_jobs import prepare_chat_job
    from desktop_ift.core.job_format import JobError
    from desktop_ift.core.store import Store

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    store = Store.open(tmp_path / "ws")
    with pytest.raises(JobError, match="not in the local Hugging Face cache"):
        prepare_chat_job(store, "acme/tiny")
    snapshot = tmp_path / "cache" / "models--acme--tiny" / "snapshots" / "r1"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text('{"model_type": "llama"}')
    run, job_path = prepare_chat_job(store, "acme/tiny")
    assert json.loads(job_path.read_text())["model"] == "acme/tiny"  # the worker resolves it from the cache
    store.close()


def test_runs_on_the_same_test_rows_with_other_templates_are_not_said_to_have_other_splits(store, tmp_path, toy):
    from desktop_ift.core.evaluation.eval_jobs import prepare_eval_job

    rows = [{**r, "idx": i} for i, r in enumerate(toy.rows(4))]
    a = _finished_train_run(store, tmp_path, "template A", rows)
    b = _finished_train_run(store, tmp_path, "template B", [{**r, "prompt": "Q: " + r["prompt"]} for r in rows])
    for run in (a, b):
        job_path = Path(run.run_dir) / "job.json"
        job = json.loads(job_path.read_text())
        job["source"] = {"dataset_id": 1, "dataset_version": 2}
        job_path.write_text(json.dumps(job))
    with pytest.raises(JobError) as caught:
        prepare_eval_job(store, [a.id, b.id])
    assert "different test splits" not in str(caught.value)
    assert "same rows" in str(caught.value) and "templates" in str(caught.value)


def test_chat_prompt_is_the_training_layout_with_and_without_a_chat_template(tiny):
    """The playground asks a model exactly as it was trained: the prompt part of the training text."""
    from types import SimpleNamespace

    from desktop_ift.core.evaluation.playground import chat_prompt
    from desktop_ift.core.prompt_format import format_chat_segments, format_prompt

    tokenizer, _ = tiny
    talk = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "bill?"}]
    trained = format_chat_segments(tokenizer, "Be brief.", talk + [{"role": "assistant", "content": "x"}])
    assert chat_prompt(tokenizer, talk, system="Be brief.") == "".join(t for t, _ in trained[:-1])
    assert chat_prompt(tokenizer, talk[:1], system="S") == format_prompt(tokenizer, "S", "hi")
    plain = SimpleNamespace(chat_template=None, eos_token="</s>")
    text = chat_prompt(plain, talk, system="Be brief.")
    assert text == ("Be brief.\n\n### Instruction:\nhi\n\n### Response:\nhello</s>\n\n### Instruction:\nbill?\n\n"
                    "### Response:\n")  # not "User: hi / Assistant: hello" lines the model never saw
