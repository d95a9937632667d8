"""Preparing runs: rendered, split data files and a job file the worker can run on its own."""

import json

import pytest

from desktop_ift.core.data.importers import import_dataset
from desktop_ift.core.data.splits import SplitSpec
from desktop_ift.core.evaluation.eval_jobs import prepare_eval_job
from desktop_ift.core.job_format import JobError, read_job, read_jsonl, worker_command
from desktop_ift.core.models.choice import validate_model_choice
from desktop_ift.core.training.prepare import prepare_train_job
from desktop_ift.core.training.config import GenerationConfig, TrainConfig


@pytest.fixture
def prepared(store, project, tmp_path):
    src = tmp_path / "tickets.csv"
    rows = ["id,text,label"] + [f"{i},message number {i},{'a' if i % 2 else 'b'}" for i in range(20)]
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    dataset = import_dataset(store, project.id, src)
    template = store.save_template(project.id, "t", "Classify: {{ text }}", "{{ label }}", system="Be brief.")
    return dataset, template


def test_train_job_has_rendered_split_data_and_a_queued_run(store, project, prepared):
    dataset, template = prepared
    run, job_path = prepare_train_job(store, project.id, dataset.id, template.id, TrainConfig(max_steps=5),
                                      split=SplitSpec(0.6, 0.2, 0.2, seed=1))
    job = read_job(job_path)
    assert job["kind"] == "train" and job["run_id"] == run.id and job["model"] == "demo"
    assert run.status == "queued" and store.get_run(run.id).config["max_steps"] == 5
    parts = {k: read_jsonl(v) for k, v in job["data"].items()}
    assert {k: len(v) for k, v in parts.items()} == {"train": 12, "validation": 4, "test": 4}
    idx = sorted(r["idx"] for rows in parts.values() for r in rows)
    assert idx == list(range(20))  # every row in exactly one split
    first = parts["train"][0]
    assert first["prompt"] == f"Classify: message number {first['idx']}"
    assert first["system"] == "Be brief." and first["response"] in ("a", "b")
    assert job["source"]["dataset_version"] == 1 and job["source"]["counts"]["train"] == 12
    assert worker_command(job_path)[-3:] == ["-m", "desktop_ift.core.worker", str(job_path)]


def test_same_split_seed_gives_the_same_split(store, project, prepared):
    dataset, template = prepared
    jobs = [read_job(prepare_train_job(store, project.id, dataset.id, template.id, TrainConfig())[1])
            for _ in range(2)]
    assert [r["idx"] for r in read_jsonl(jobs[0]["data"]["test"])] == \
           [r["idx"] for r in read_jsonl(jobs[1]["data"]["test"])]


def test_a_template_naming_a_missing_column_is_refused_before_anything_is_created(store, project, prepared):
    dataset, _ = prepared
    bad = store.save_template(project.id, "bad", "Classify: {{ txt }}", "{{ label }}")
    with pytest.raises(JobError, match="txt"):
        prepare_train_job(store, project.id, dataset.id, bad.id, TrainConfig())
    assert store.list_runs() == []


def test_a_folder_that_is_not_a_model_is_refused_with_what_is_missing(tmp_path):
    with pytest.raises(JobError, match="not found"):
        validate_model_choice(str(tmp_path / "nothing"))
    with pytest.raises(JobError, match="no config.json"):
        validate_model_choice(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(JobError, match="model_type"):
        validate_model_choice(str(tmp_path))
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    assert validate_model_choice(str(tmp_path)) == str(tmp_path.resolve())


def test_evaluation_needs_a_finished_training_run(store, project, prepared):
    dataset, template = prepared
    run, _ = prepare_train_job(store, project.id, dataset.id, template.id, TrainConfig())
    with pytest.raises(JobError, match="not finished"):
        prepare_eval_job(store, run.id)


def test_evaluation_job_compares_base_and_adapter_on_the_training_test_split(store, project, prepared):
    dataset, template = prepared
    run, train_job = prepare_train_job(store, project.id, dataset.id, template.id, TrainConfig())
    store.update_run(run.id, status="finished")
    eval_run, job_path = prepare_eval_job(store, run.id, GenerationConfig(), max_new_tokens=4)
    job = read_job(job_path)
    assert job["test_data"] == read_job(train_job)["data"]["test"]
    assert [m["label"] for m in job["models"]] == ["base", "fine-tuned"]
    assert job["models"][1]["adapter"] == read_job(train_job)["output_dir"]
    assert job["generation"]["max_new_tokens"] == 4
    assert store.get_run(eval_run.id).parent_run_id == run.id


def test_full_fine_tune_is_evaluated_from_its_output_folder(store, project, prepared):
    dataset, template = prepared
    run, train_job = prepare_train_job(store, project.id, dataset.id, template.id, TrainConfig(method="full"))
    store.update_run(run.id, status="finished")
    job = read_job(prepare_eval_job(store, run.id)[1])
    assert job["models"][1] == {"label": "fine-tuned", "model": read_job(train_job)["output_dir"], "adapter": None}


def test_reading_something_that_is_not_a_job(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(JobError, match="not a desktop_ift job"):
        read_job(path)


def test_a_hub_model_id_needs_the_local_cache_or_an_explicit_download(store, project, tmp_path, monkeypatch):
    """A hub id is accepted when the model is in the local Hugging Face cache; otherwise only when the user
    allowed downloading, which the job then records for the worker."""
    from desktop_ift.core.job_format import JobError
    from desktop_ift.core.models.choice import validate_model_choice

    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    with pytest.raises(JobError, match="not on this computer.*Allow downloading"):
        validate_model_choice("acme/tiny-chat")
    assert validate_model_choice("acme/tiny-chat", allow_download=True) == "acme/tiny-chat"
    snapshot = cache / "models--acme--tiny-chat" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text('{"model_type": "llama"}')
    assert validate_model_choice("acme/tiny-chat") == "acme/tiny-chat"
