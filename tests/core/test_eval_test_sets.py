"""Evaluation on another split, on a separately imported test set, and with several references per example
(a corpus with summary1/2/3): the job says what it evaluates on, and nothing is refused with a wrong reason."""

from __future__ import annotations

import pytest

from desktop_ift.core.data.importers import import_dataset
from desktop_ift.core.data.splits import SplitSpec
from desktop_ift.core.evaluation.eval_jobs import prepare_eval_job
from desktop_ift.core.job_format import JobError, read_job, read_jsonl
from desktop_ift.core.training.prepare import prepare_train_job
from desktop_ift.core.training.config import TrainConfig


def _csv(path, n, start=0):
    lines = ["dialogue,summary1,summary2,summary3"]
    for i in range(start, start + n):
        third = "" if i % 2 else f"they met about {i}"
        lines.append(f"A and B talk {i},A asked B about {i},B answered on {i},{third}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def finished_run(store, project, tmp_path):
    dataset = import_dataset(store, project.id, _csv(tmp_path / "train.csv", 30))
    template = store.save_template(project.id, "sum", "Summarise: {{ dialogue }}", "{{ summary1 }}")
    run, job_path = prepare_train_job(store, project.id, dataset.id, template.id, TrainConfig(),
                                      split=SplitSpec(0.7, 0.15, 0.15))
    store.update_run(run.id, status="finished")
    return run, read_job(job_path), dataset


def test_several_reference_columns_are_kept_with_every_test_example(store, finished_run):
    run, train_job, _ = finished_run
    job = read_job(prepare_eval_job(store, run.id, reference_columns=["summary1", "summary2", "summary3"])[1])
    rows = read_jsonl(job["test_data"])
    assert len(rows) == len(read_jsonl(train_job["data"]["test"]))
    for row in rows:
        i = row["idx"]
        expected = [f"A asked B about {i}", f"B answered on {i}"] + ([] if i % 2 else [f"they met about {i}"])
        assert row["references"] == expected  # the response first, an empty summary3 left out
    assert job["test_set"]["reference_columns"] == ["summary1", "summary2", "summary3"]
    with pytest.raises(JobError, match="summary9 are not in the dataset"):
        prepare_eval_job(store, run.id, reference_columns=["summary9"])


def test_a_separately_imported_test_set_is_laid_out_with_the_runs_template(store, project, finished_run, tmp_path):
    run, _, _ = finished_run
    test = import_dataset(store, project.id, _csv(tmp_path / "official_test.csv", 8, start=100))
    eval_run, job_path = prepare_eval_job(store, run.id, test_dataset_id=test.id, reference_columns=["summary2"])
    job = read_job(job_path)
    rows = read_jsonl(job["test_data"])
    assert [r["prompt"] for r in rows] == [f"Summarise: A and B talk {i}" for i in range(100, 108)]
    assert rows[0]["references"] == ["A asked B about 100", "B answered on 100"]
    assert job["test_set"]["dataset_id"] == test.id and job["test_set"]["examples"] == 8
    assert job["test_data"].startswith(eval_run.run_dir)
    assert "official_test" in store.get_run(eval_run.id).name


def test_a_test_set_without_the_templates_columns_is_refused_by_name(store, project, finished_run, tmp_path):
    run, _, _ = finished_run
    other = tmp_path / "other.csv"
    other.write_text("text,label\na,b\n", encoding="utf-8")
    bad = import_dataset(store, project.id, other)
    with pytest.raises(JobError, match="dialogue"):
        prepare_eval_job(store, run.id, test_dataset_id=bad.id)


def test_a_template_that_names_more_reference_columns_is_scored_with_them_without_any_option(
        store, project, tmp_path):
    from desktop_ift.core.templates.references import reference_columns, set_reference_columns

    dataset = import_dataset(store, project.id, _csv(tmp_path / "train.csv", 30))
    template = store.save_template(project.id, "sum", "Summarise: {{ dialogue }}", "{{ summary1 }}")
    assert set_reference_columns(store, template.id, " summary2, summary3,summary2 ") == ["summary2", "summary3"]
    store.save_template(project.id, "sum", "Summarise: {{ dialogue }}", "{{ summary1 }}")  # re-saved: kept
    assert reference_columns(store, template.id) == ["summary2", "summary3"]
    run, job_path = prepare_train_job(store, project.id, dataset.id, template.id, TrainConfig(),
                                      split=SplitSpec(0.7, 0.15, 0.15))
    train_job = read_job(job_path)
    assert train_job["source"]["template"]["references"] == ["summary2", "summary3"]
    assert all("references" not in line for line in read_jsonl(train_job["data"]["train"]))  # training: as before
    store.update_run(run.id, status="finished")
    job = read_job(prepare_eval_job(store, run.id)[1])
    rows = read_jsonl(job["test_data"])
    for row in rows:
        i = row["idx"]
        assert row["references"] == [f"A asked B about {i}", f"B answered on {i}"] + ([] if i % 2 else
                                                                                       [f"they met about {i}"])
    assert job["test_set"]["reference_columns"] == ["summary2", "summary3"]
    assert job["test_set"]["references_from"] == "the template"
    given = read_job(prepare_eval_job(store, run.id, reference_columns=["summary3"])[1])  # an explicit choice wins
    assert given["test_set"]["reference_columns"] == ["summary3"]
    set_reference_columns(store, template.id, "")
    assert reference_columns(store, template.id) == []
