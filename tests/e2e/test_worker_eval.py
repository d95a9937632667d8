"""The evaluation worker as a real child process: base vs fine-tuned, stored results, errors, cancel;
and the whole demo flow (demo project -> train the demo model -> evaluate) with its accuracy target."""

from __future__ import annotations

import signal

import pytest

from desktop_ift.core.store import Store
from desktop_ift.core.training.config import GenerationConfig, TrainConfig
from desktop_ift.core.worker import EXIT_CANCELLED, EXIT_FAILED

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir, toy, worker):
    """A workspace holding a LoRA adapter trained on the toy task (shared by this module's tests)."""
    home = tmp_path_factory.mktemp("eval-ws")
    store = Store.open(home)
    rows = toy.rows(60)
    config = TrainConfig(method="lora", max_steps=12, batch_size=8, learning_rate=5e-3, logging_steps=4,
                         lora_r=4, lora_alpha=8)
    result = worker.run(worker.train_job(store, str(tiny_model_dir), config, rows[:48]))
    assert result.returncode == 0, result.last
    yield store, result.last.output_dir, rows[48:]
    store.close()


def test_base_and_fine_tuned_are_scored_side_by_side(trained, tiny_model_dir, worker):
    store, adapter, test_rows = trained
    models = [{"label": "base", "model": str(tiny_model_dir), "adapter": None},
              {"label": "fine-tuned", "model": str(tiny_model_dir), "adapter": adapter}]
    result = worker.run(worker.eval_job(store, test_rows, models, GenerationConfig(max_new_tokens=4, batch_size=5)))
    assert result.returncode == 0, result.last
    assert result.events[0].type == "started" and result.events[0].job_kind == "evaluate"
    evals = result.of_type("eval")
    assert [e.model_label for e in evals] == ["base", "fine-tuned"]
    for e in evals:
        assert e.metrics["n_examples"] == len(test_rows)
        assert e.metrics["labels"] == ["billing", "shipping", "technical"]
        assert {"rougeL", "bleu", "chrf", "exact_match", "accuracy", "f1_macro", "confusion_matrix"} <= set(e.metrics)
    generating = [e for e in result.of_type("progress") if e.stage == "generating"]
    assert [e.done for e in generating if "base" in e.message] == [0, 5, 10, 12]

    results = store.eval_results(result.run_id)
    assert list(results) == ["base", "fine-tuned"] and "accuracy" in results["fine-tuned"]
    assert result.last.type == "finished"
    assert set(result.last.metrics) == {"base", "fine-tuned"}
    assert result.last.metrics["fine-tuned"]["accuracy"] == results["fine-tuned"]["accuracy"]

    examples = store.eval_examples(result.run_id, "fine-tuned")
    assert [x["idx"] for x in examples] == [r["idx"] for r in test_rows]
    assert all(x["reference"] == r["response"] for x, r in zip(examples, test_rows))
    assert all(x["prompt"] == r["prompt"] and "correct" in x["scores"] for x, r in zip(examples, test_rows))
    assert len(store.eval_examples(result.run_id, "base")) == len(test_rows)


def test_an_adapter_for_another_model_fails_in_plain_words(trained, tmp_path, toy, worker):
    from desktop_ift.core.training.tiny_model import build_tiny_model

    store, adapter, test_rows = trained
    other = build_tiny_model(tmp_path / "other", toy.texts(), vocab_size=512, hidden_size=64, intermediate_size=128)
    models = [{"label": "fine-tuned", "model": str(other), "adapter": adapter}]
    result = worker.run(worker.eval_job(store, test_rows, models))
    assert result.returncode == EXIT_FAILED
    assert result.last.type == "failed"
    assert "does not fit the base model" in result.last.message
    assert "Choose the base model the adapter was trained on" in result.last.hint
    assert store.get_run(result.run_id).status == "failed"


def test_an_empty_test_split_fails_in_plain_words(trained, tiny_model_dir, worker):
    store, _, _ = trained
    result = worker.run(worker.eval_job(store, [], [{"label": "base", "model": str(tiny_model_dir)}]))
    assert result.returncode == EXIT_FAILED
    assert "test split is empty" in result.last.message and "test ratio" in result.last.hint


def test_sigterm_stops_between_batches(trained, tiny_model_dir, toy, worker):
    store, _, _ = trained
    rows = toy.rows(40)
    models = [{"label": "base", "model": str(tiny_model_dir), "adapter": None}]

    def stop_after_first_batch(proc, event):
        if event.type == "progress" and event.stage == "generating" and event.done == 1:
            proc.send_signal(signal.SIGTERM)

    result = worker.run(worker.eval_job(store, rows, models, GenerationConfig(max_new_tokens=16, batch_size=1)),
                        on_event=stop_after_first_batch)
    assert result.returncode == EXIT_CANCELLED
    assert result.last.type == "cancelled"
    done = max(e.done for e in result.of_type("progress") if e.stage == "generating")
    assert done < len(rows)
    assert store.get_run(result.run_id).status == "cancelled"


def test_demo_flow_fine_tuned_beats_base(workspace_home, worker):
    """The headless demo, step by step: demo project, the demo model built in the worker, the demo
    settings; the fine-tuned model must reach accuracy >= 0.9 where the random base model cannot."""
    from desktop_ift.core import demo
    from desktop_ift.core.evaluation.eval_jobs import prepare_eval_job
    from desktop_ift.core.training.prepare import prepare_train_job

    store = Store.open(workspace_home)
    project = demo.ensure_demo_project(store)
    assert demo.ensure_demo_project(store).id == project.id and len(store.list_datasets(project.id)) == 1
    run, job = prepare_train_job(store, project.id, project.settings["dataset_id"],
                                 project.settings["template_id"], demo.DEMO_TRAIN_CONFIG)
    trained = worker.run(job, timeout=400)
    assert trained.returncode == 0, trained.last
    assert any(e.type == "progress" and e.stage == "building the demo model" for e in trained.events)
    assert (workspace_home / "models" / "demo-tiny-llama" / "config.json").exists()
    losses = [e.loss for e in trained.of_type("log")]
    assert losses[-1] < losses[0] / 5

    _, eval_job = prepare_eval_job(store, run.id, generation=demo.DEMO_GENERATION)
    evaluated = worker.run(eval_job, timeout=400)
    assert evaluated.returncode == 0, evaluated.last
    scores = evaluated.last.metrics
    print(f"demo: train {trained.seconds:.1f}s eval {evaluated.seconds:.1f}s "
          f"base acc {scores['base']['accuracy']:.2f} fine-tuned acc {scores['fine-tuned']['accuracy']:.2f}")
    assert scores["fine-tuned"]["accuracy"] >= 0.9
    assert scores["base"]["accuracy"] <= 0.3
    store.close()
