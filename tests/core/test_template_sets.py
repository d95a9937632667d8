"""Several templates per dataset: modes, the column-wise renderer, and training data prepared through them."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_ift.core.data.importers import import_dataset
from desktop_ift.core.data.splits import SplitSpec
from desktop_ift.core.job_format import JobError, read_job, read_jsonl
from desktop_ift.core.training.prepare import prepare_train_job
from desktop_ift.core.templates.batch_render import render_table
from desktop_ift.core.templates.conversation import ConversationSpec, PretrainSpec
from desktop_ift.core.templates.render import PromptTemplate, TemplateError, render_row
from desktop_ift.core.templates.template_set import (
    TemplateSet,
    TemplateSetError,
    assignments,
    expansion_counts,
    render_set,
)
from desktop_ift.core.training.config import TrainConfig

A = PromptTemplate(prompt="Classify: {{ text }}", response="{{ label }}", name="A")
B = PromptTemplate(prompt="{{ text }}\nCategory?", response="{{ label }}", system="Be brief.", name="B")
C = PromptTemplate(prompt="{% if text %}Text: {{ text | trim }}{% endif %}", response="{{ label | upper }}", name="C")


def table(n: int = 30) -> pa.Table:
    return pa.table({"text": [f"message {i}" for i in range(n)], "label": ["a" if i % 2 else "b" for i in range(n)]})


# ------------------------------------------------------------------------------------------------ modes
def test_all_mode_renders_every_row_through_every_template():
    out = render_set(TemplateSet([A, B, C], mode="all"), table(4))
    assert len(out) == 12
    assert [(r["idx"], r["template"]) for r in out[:3]] == [(0, "A"), (0, "B"), (0, "C")]
    assert out[1] == {"idx": 0, "system": "Be brief.", "prompt": "message 0\nCategory?", "response": "b",
                      "template": "B"}
    assert out[2]["prompt"] == "Text: message 0" and out[2]["response"] == "B"


def test_round_robin_takes_templates_in_turn():
    out = render_set(TemplateSet([A, B, C], mode="round_robin"), table(7))
    assert [r["template"] for r in out] == ["A", "B", "C", "A", "B", "C", "A"]
    assert [r["idx"] for r in out] == list(range(7))


def test_random_mode_is_seeded_and_follows_the_weights():
    template_set = TemplateSet([A, B], mode="random", weights=[3, 1], seed=7)
    counts = expansion_counts(template_set, 4000)
    assert counts["examples"] == 4000 and sum(counts["per_template"].values()) == 4000
    assert 0.70 < counts["per_template"]["A"] / 4000 < 0.80
    again = assignments(TemplateSet([A, B], mode="random", weights=[3, 1], seed=7), 4000)[1]
    other = assignments(TemplateSet([A, B], mode="random", weights=[3, 1], seed=8), 4000)[1]
    assert (again == assignments(template_set, 4000)[1]).all() and (again != other).any()


def test_a_subset_of_rows_gets_the_templates_it_gets_in_the_whole():
    template_set = TemplateSet([A, B, C], mode="random", seed=3)
    whole = {r["idx"]: r["template"] for r in render_set(template_set, table(50))}
    part = render_set(template_set, table(50), rows=[5, 17, 40])
    assert [(r["idx"], r["template"]) for r in part] == [(i, whole[i]) for i in (5, 17, 40)]


def test_expansion_counts_show_the_effect_of_each_mode():
    assert expansion_counts(TemplateSet([A, B, C], mode="all"), 10)["examples"] == 30
    assert expansion_counts(TemplateSet([A, B, C], mode="round_robin"), 10)["per_template"] == {"A": 4, "B": 3, "C": 3}


@pytest.mark.parametrize("kwargs, message", [
    ({"templates": []}, "at least one"),
    ({"templates": [A, B], "weights": [1]}, "one weight per template"),
    ({"templates": [A, B], "weights": [0, 0]}, "above 0"),
    ({"templates": [A], "mode": "shuffle"}, "Unknown mode"),
])
def test_sets_that_cannot_work_are_refused(kwargs, message):
    with pytest.raises(TemplateSetError, match=message):
        TemplateSet(**kwargs)


def test_set_survives_a_round_trip_through_a_dict():
    template_set = TemplateSet([A, B], mode="random", weights=[1, 2], seed=5, name="mix")
    assert TemplateSet.from_dict(template_set.to_dict()) == template_set


# ------------------------------------------------------------------------------------------------ the renderer
# Text as a file or the editor can hold it: no lone surrogates (they cannot be encoded as UTF-8).
_text = st.characters(blacklist_categories=("Cs",))
cells = st.one_of(st.none(), st.text(_text, max_size=12), st.integers(-10**6, 10**6), st.booleans(),
                  st.floats(allow_nan=True, allow_infinity=False, width=32))


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.tuples(st.text(_text, max_size=8), st.integers(-99, 99), cells), min_size=1, max_size=6),
       literal=st.text(alphabet=st.characters(blacklist_characters="{}%#", blacklist_categories=("Cs",)),
                       max_size=10))
def test_column_wise_rendering_gives_the_same_text_as_row_by_row(values, literal):
    mixed = [v[2] for v in values]
    kinds = {type(v) for v in mixed if v is not None}
    if len(kinds) > 1:  # Arrow columns hold one type
        mixed = [None if v is None else str(v) for v in mixed]
    t = pa.table({"s": [v[0] for v in values], "n": [v[1] for v in values], "x": pa.array(mixed)})
    template = PromptTemplate(prompt=literal + "{{ s }}|{{ n }}|{{ row['x'] }}" + literal, response="{{ x }}",
                              system="{{ s | upper }}")
    fast = render_table(template, t)
    for i, row in enumerate(t.to_pylist()):
        slow = render_row(template, row)
        assert (fast["system"][i], fast["prompt"][i], fast["response"][i]) == (slow.system, slow.prompt, slow.response)


def test_dates_nulls_and_floats_print_the_same_column_wise():
    t = pa.table({"d": [dt.datetime(2024, 5, 1), None], "f": [3.0, float("nan")], "b": [True, None]})
    template = PromptTemplate(prompt="{{ d }} {{ f }} {{ b }}", response="x")
    assert render_table(template, t)["prompt"] == [render_row(template, r).prompt for r in t.to_pylist()]


def test_a_missing_column_is_named_with_its_line():
    with pytest.raises(TemplateError, match="no column 'colour'") as info:
        render_table(PromptTemplate(prompt="Hi\n{{ colour }}", response="x"), table(2))
    assert info.value.line == 2 and "text, label" in str(info.value)


# ------------------------------------------------------------------------------------------------ training data
@pytest.fixture
def dataset(store, project, tmp_path):
    src = tmp_path / "tickets.csv"
    lines = ["id,text,label,empty"] + [f"{i},message number {i},{'a' if i % 2 else 'b'}," for i in range(40)]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return import_dataset(store, project.id, src)


def _parts(job_path) -> dict[str, list[dict]]:
    return {k: read_jsonl(v) for k, v in read_job(job_path)["data"].items()}


def test_a_set_expands_rows_after_the_split_so_no_row_is_in_two_splits(store, project, dataset):
    template_set = TemplateSet([A, B, C], mode="all")
    _, job_path = prepare_train_job(store, project.id, dataset.id, template_set, TrainConfig(),
                                    split=SplitSpec(0.5, 0.25, 0.25, seed=3))
    parts = _parts(job_path)
    rows = {k: {r["idx"] for r in v} for k, v in parts.items()}
    assert not (rows["train"] & rows["test"]) and not (rows["train"] & rows["validation"])
    assert sorted(rows["train"] | rows["validation"] | rows["test"]) == list(range(40))
    assert {k: len(v) for k, v in parts.items()} == {"train": 60, "validation": 30, "test": 30}
    assert Counter(r["template"] for r in parts["train"]) == {"A": 20, "B": 20, "C": 20}
    assert set(parts["test"][0]) == {"idx", "system", "prompt", "response", "template"}
    job = read_job(job_path)
    assert job["data_format"] == "instruction" and job["source"]["source_counts"]["train"] == 20
    assert job["source"]["template_set"]["mode"] == "all"


def test_the_split_of_source_rows_does_not_depend_on_the_set(store, project, dataset):
    template = store.save_template(project.id, "t", A.prompt, A.response)
    single = _parts(prepare_train_job(store, project.id, dataset.id, template.id, TrainConfig())[1])
    expanded = _parts(prepare_train_job(store, project.id, dataset.id, TemplateSet([A, B], mode="all"),
                                        TrainConfig())[1])
    assert {r["idx"] for r in single["test"]} == {r["idx"] for r in expanded["test"]}


def test_a_set_whose_template_names_a_missing_column_is_refused_naming_it(store, project, dataset):
    bad = PromptTemplate(prompt="{{ txt }}", response="{{ label }}", name="typo")
    with pytest.raises(JobError, match="'typo'.*txt"):
        prepare_train_job(store, project.id, dataset.id, TemplateSet([A, bad], mode="random"), TrainConfig())
    assert store.list_runs() == []


def test_responses_that_are_all_empty_cannot_be_used_for_training(store, project, dataset):
    empty = PromptTemplate(prompt="{{ text }}", response="{{ empty }}")
    with pytest.raises(JobError, match="every response is empty"):
        prepare_train_job(store, project.id, dataset.id, TemplateSet.single(empty), TrainConfig())
    assert store.list_runs() == []


def test_chat_data_keeps_each_conversation_in_one_split(store, project, tmp_path):
    src = tmp_path / "chats.csv"
    lines = ["conv,turn,who,text"]
    for c in range(12):
        lines += [f"c{c},2,assistant,answer {c}a", f"c{c},1,user,question {c}a", f"c{c},3,user,question {c}b",
                  f"c{c},4,bot,answer {c}b"]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ds = import_dataset(store, project.id, src)
    spec = ConversationSpec("conv", "who", "text", turn_column="turn")
    _, job_path = prepare_train_job(store, project.id, ds.id, spec, TrainConfig(), split=SplitSpec(0.5, 0.25, 0.25))
    parts = _parts(job_path)
    assert {k: len(v) for k, v in parts.items()} == {"train": 6, "validation": 3, "test": 3}
    first = parts["train"][0]
    assert set(first) == {"idx", "system", "messages"}
    n = first["messages"][0]["content"].split()[1][:-1]
    assert first["messages"] == [{"role": "user", "content": f"question {n}a"},
                                 {"role": "assistant", "content": f"answer {n}a"},
                                 {"role": "user", "content": f"question {n}b"},
                                 {"role": "assistant", "content": f"answer {n}b"}]
    assert read_job(job_path)["data_format"] == "chat"


def test_continued_pretraining_writes_documents(store, project, dataset):
    _, job_path = prepare_train_job(store, project.id, dataset.id, PretrainSpec(["text", "label"]), TrainConfig())
    parts = _parts(job_path)
    doc = parts["train"][0]
    assert set(doc) == {"idx", "text"} and doc["text"].startswith("message number") and "\n\n" in doc["text"]
    assert read_job(job_path)["data_format"] == "text"
    with pytest.raises(JobError, match="no column 'body'"):
        prepare_train_job(store, project.id, dataset.id, PretrainSpec(["body"]), TrainConfig())
