"""The training plan (issue 13): built once with the counts the worker must reproduce, stored as JSON,
validated, and saying before launch how many examples are longer than the maximum length."""

from __future__ import annotations

import json

import pytest

from desktop_ift.core.data.importers import import_dataset
from desktop_ift.core.data.splits import SplitSpec
from desktop_ift.core.job_format import JobError, read_jsonl
from desktop_ift.core.training.prepare import build_plan, prepare_train_job
from desktop_ift.core.modeling import load_tokenizer
from desktop_ift.core.training.collator import tokenize_rows
from desktop_ift.core.training.config import TrainConfig
from desktop_ift.core.training.plan import PlanError, TrainPlan, check_counts
from desktop_ift.core.training.plan_lengths import plan_tokenizer


@pytest.fixture
def long_data(store, project, tmp_path):
    """40 rows: every fourth has a long message."""
    rows = ["id,text,label"]
    for i in range(40):
        text = ("a long complaint about the invoice and the order " * 12) if i % 4 == 0 else f"short note {i}"
        rows.append(f"{i},{text},{'billing' if i % 2 else 'shipping'}")
    src = tmp_path / "notes.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    dataset = import_dataset(store, project.id, src)
    template = store.save_template(project.id, "Classify", "Classify: {{ text }}", "{{ label }}")
    other = store.save_template(project.id, "Label it", "Label: {{ text }}", "{{ label }}")
    return dataset, template, other


def _plan(store, project, dataset, source, folder, **config):
    tok, _ = plan_tokenizer(str(folder), store.home)
    return build_plan(store, project.id, dataset.id, source, TrainConfig(**config), model=str(folder),
                      split=SplitSpec(0.5, 0.25, 0.25, seed=3), tokenizer=tok)


@pytest.mark.parametrize("overflow", ["truncate", "drop"])
def test_the_plan_counts_what_the_worker_collator_makes(store, project, long_data, tiny_model_dir, overflow):
    dataset, template, _ = long_data
    plan, built = _plan(store, project, dataset, template.id, tiny_model_dir, max_seq_length=40,
                        overflow=overflow)
    tok = load_tokenizer(tiny_model_dir)
    for part in ("train", "validation"):
        made = tokenize_rows(built.lines[part], tok, 40, True, overflow=overflow)
        assert plan.lengths.trained[part] == len(made)
    n_train = plan.split.examples["train"]
    assert plan.lengths.measured and 0 < plan.lengths.longer["train"] < n_train
    expected = n_train - plan.lengths.longer["train"] if overflow == "drop" else n_train
    assert plan.lengths.trained["train"] == expected
    text = plan.text()
    assert f"{plan.lengths.longer['train']} of {n_train} training examples are longer" in text
    assert ("dropped" if overflow == "drop" else "truncated") in text
    assert 0 < plan.lengths.cover95 <= plan.lengths.longest and sum(plan.lengths.histogram) == n_train


def test_a_plan_round_trips_through_json_and_names_every_template(store, project, long_data, tiny_model_dir):
    from desktop_ift.core.templates.library import save_set, load_set

    dataset, template, other = long_data
    rec = save_set(store, project.id, "Both", [template.id, other.id], "all")
    plan, _ = _plan(store, project, dataset, load_set(store, rec.id), tiny_model_dir, max_seq_length=64)
    again = TrainPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    assert plan.template_names() == ["Classify", "Label it"]
    assert plan.name.startswith("Classify + Label it on ")
    assert [t.prompt for t in plan.templates] == ["Classify: {{ text }}", "Label: {{ text }}"]
    assert plan.split.examples["train"] == 2 * plan.split.rows["train"]  # "all" mode: every row twice


def test_a_plan_that_cannot_be_right_is_refused():
    good = {"project_id": 1, "dataset_id": 1, "dataset_name": "d", "dataset_version": 1,
            "data_format": "instruction", "model": "demo", "config": TrainConfig(max_seq_length=64).to_dict(),
            "split": {"method": "ratios", "rows": {"train": 3}, "examples": {"train": 3}},
            "lengths": {"max_seq_length": 64},
            "templates": [{"name": "t", "prompt": "{{ a }}", "response": "{{ b }}"}]}
    assert TrainPlan.from_dict(good).name == "t on d v1"
    for change, match in ((("data_format", "yaml"), "data format"),
                          (("templates", []), "at least one template"),
                          (("lengths", {"max_seq_length": 64, "overflow": "ignore"}), "truncated or dropped"),
                          (("lengths", {"max_seq_length": 32}), "differs"),
                          (("split", {"method": "column"}), "name the column"),
                          (("split", {"method": "ratios", "examples": {"train": -1}}), "≥ 0")):
        with pytest.raises(PlanError, match=match):
            TrainPlan.from_dict({**good, change[0]: change[1]})


def test_the_worker_check_turns_a_different_count_into_an_error():
    plan = {"lengths": {"measured": True, "trained": {"train": 400}}}
    assert check_counts(plan, "train", 400) == ""
    assert "The plan said 400 train examples, but the worker made 44" in check_counts(plan, "train", 44)
    assert check_counts({"lengths": {"measured": False}}, "train", 44) == ""


def test_the_job_file_holds_the_plan_and_the_run_names_every_template(store, project, long_data,
                                                                       demo_model_in_workspace):
    from desktop_ift.core.templates.library import save_set, load_set

    dataset, template, other = long_data
    rec = save_set(store, project.id, "Both", [template.id, other.id], "round_robin")
    run, job_path = prepare_train_job(store, project.id, dataset.id, load_set(store, rec.id),
                                      TrainConfig(max_seq_length=40))
    job = json.loads(job_path.read_text(encoding="utf-8"))
    plan = TrainPlan.from_dict(job["plan"])
    assert plan.lengths.measured and plan.lengths.tokenizer == "demo model"
    assert {k: len(read_jsonl(v)) for k, v in job["data"].items()} == plan.split.examples
    assert job["source"]["template_names"] == ["Classify", "Label it"]
    assert store.get_run(run.id).name == plan.name and "Classify + Label it" in plan.name
    assert store.get_run(run.id).config["plan"]["templates"][1]["prompt"] == "Label: {{ text }}"
    from desktop_ift.core.runs import run_summary
    from desktop_ift.core.training.recipe import _templates_text

    assert run_summary(store, run.id).template == "Classify + Label it"  # the Runs table's column
    card = _templates_text(job)  # the model card's template section
    assert "- Classify\n" in card and "- Label it\n" in card and "`Label: {{ text }}`" in card
    assert "2 templates, mode round_robin" in card


def test_a_dataset_with_its_own_split_column_uses_it_by_default(store, project, tmp_path, demo_model_in_workspace):
    src = tmp_path / "parts.csv"
    src.write_text("text,label,split\n" + "".join(f"row {i},x,{'train' if i < 6 else 'test'}\n" for i in range(9)),
                   encoding="utf-8")
    dataset = import_dataset(store, project.id, src)
    template = store.save_template(project.id, "t", "{{ text }}", "{{ label }}")
    plan, built = build_plan(store, project.id, dataset.id, template.id, TrainConfig(), tokenizer=None)
    assert plan.split.method == "column" and plan.split.split_column == "split"
    assert plan.split.examples == {"train": 6, "validation": 0, "test": 3}
    assert "from the data's column 'split'" in plan.text()
    assert not any(line["prompt"] in {f"row {i}" for i in range(6, 9)} for line in built.lines["train"])


@pytest.mark.parametrize("overflow", ["truncate", "drop"])
def test_chat_plans_count_what_the_collator_makes(store, project, tmp_path, tiny_model_dir, overflow):
    from desktop_ift.core.templates.conversation import ConversationSpec

    rows = ["conv,role,content"]
    for c in range(16):
        long = " and it is still not here" * (c % 4) * 3
        if c % 3 == 0:  # an earlier exchange, the first context a long conversation loses
            rows += [f"{c},user,hello{long}", f"{c},assistant,hello how can I help"]
        rows += [f"{c},user,where is my parcel{long}", f"{c},assistant,it ships on day {c}"]
    src = tmp_path / "chat.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    dataset = import_dataset(store, project.id, src)
    plan, built = _plan(store, project, dataset, ConversationSpec("conv", "role", "content"), tiny_model_dir,
                        max_seq_length=40, overflow=overflow)
    tok = load_tokenizer(tiny_model_dir)
    made = tokenize_rows(built.lines["train"], tok, 40, True, overflow=overflow)
    assert plan.data_format == "chat" and plan.lengths.trained["train"] == len(made)
    assert plan.lengths.longer["train"] > 0
    if overflow == "truncate":  # the answer is kept, the long question cut: no conversation is lost
        assert len(made) == plan.split.examples["train"]
        assert all(tok.decode(f["input_ids"]).rstrip().endswith("</s>") for f in made)
        assert "the final answer kept whole" in plan.text()
