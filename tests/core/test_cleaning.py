"""Cleaning recipes: each step does what its name says, the recipe is data (JSON) that writes a new dataset
version with its lineage, and the same recipe re-applies to a re-imported source."""

from __future__ import annotations

import pyarrow as pa
import pytest

from desktop_ift.core.data.cleaning import (
    CleaningError,
    CleaningStep,
    Recipe,
    apply_recipe,
    apply_recipe_to,
    latest_recipe,
    lineage,
    preview_counts,
)
from desktop_ift.core.data.importers import import_dataset, load_dataset_table

TABLE = pa.table({
    "question": ["  What is X? ", "What is X?", "", None, "Why " + "very " * 50 + "long?", "How?"],
    "label": ["a", "a", "", None, "b", "spam"],
    "score": [1, 2, 3, None, 5, 6],
})


def _run(*steps: dict) -> pa.Table:
    return apply_recipe(TABLE, Recipe.from_json({"steps": list(steps)}))


def test_drop_empty_rows_on_all_or_chosen_columns():
    assert _run({"kind": "drop_empty_rows"}).num_rows == 5  # row 4 is empty everywhere (row 3 has a score)
    assert _run({"kind": "drop_empty_rows", "columns": ["question", "label"]}).num_rows == 4


def test_trim_then_drop_duplicates_keeps_the_first_in_order():
    out = _run({"kind": "trim_whitespace"}, {"kind": "drop_duplicates", "columns": ["question"]})
    assert out.column("question").to_pylist()[:2] == ["What is X?", ""]
    assert out.column("score").to_pylist()[0] == 1
    assert _run({"kind": "drop_duplicates"}).num_rows == TABLE.num_rows  # no row repeats entirely


@pytest.mark.parametrize("condition,expected_scores", [
    ({"operator": "equals", "value": "a"}, [1, 2]),
    ({"operator": "not_equals", "value": "spam"}, [1, 2, 3, None, 5]),
    ({"operator": "contains", "value": "pa"}, [6]),
    ({"operator": "is_empty"}, [3, None]),
    ({"operator": "equals", "value": "spam", "keep": False}, [1, 2, 3, None, 5]),
])
def test_filter_rows_on_text(condition, expected_scores):
    out = _run({"kind": "filter_rows", "column": "label", **condition})
    assert out.column("score").to_pylist() == expected_scores


def test_filter_rows_on_numbers_and_bad_values():
    assert _run({"kind": "filter_rows", "column": "score", "operator": "greater_or_equal", "value": "5"}
                ).column("score").to_pylist() == [5, 6]
    with pytest.raises(CleaningError, match="Step 1.*not a number"):
        _run({"kind": "filter_rows", "column": "score", "operator": "less", "value": "many"})
    with pytest.raises(CleaningError, match="Step 2.*no column 'answer'.*question, label, score"):
        _run({"kind": "trim_whitespace"}, {"kind": "filter_rows", "column": "answer", "operator": "is_empty"})


def test_drop_long_text_and_rename():
    out = _run({"kind": "drop_long_text", "column": "question", "max_chars": 40},
               {"kind": "rename_columns", "mapping": {"question": "prompt"}})
    assert out.column_names == ["prompt", "label", "score"]
    assert out.column("score").to_pylist() == [1, 2, 3, None, 6]
    with pytest.raises(CleaningError, match="two columns the name 'label'"):
        _run({"kind": "rename_columns", "mapping": {"question": "label"}})


def test_preview_counts_follow_each_step_and_the_recipe_round_trips_as_json():
    recipe = Recipe([CleaningStep("drop_empty_rows"), CleaningStep("trim_whitespace"),
                     CleaningStep("drop_duplicates", {"columns": ["question"]})])
    assert preview_counts(TABLE, recipe) == [5, 5, 4]
    again = Recipe.from_json(recipe.to_json())
    assert again == recipe
    assert [s.describe() for s in again.steps][2] == 'Drop duplicate rows (compared on "question")'
    with pytest.raises(CleaningError, match="unknown kind 'shuffle'"):
        apply_recipe(TABLE, Recipe([CleaningStep("shuffle")]))


def test_vectorised_on_a_large_table():
    n = 300_000
    big = pa.table({"text": pa.array([f"row {i % 1000} " for i in range(n)]), "n": pa.array(range(n))})
    out = apply_recipe(big, Recipe.from_json('[{"kind": "trim_whitespace"}, {"kind": "drop_duplicates", '
                                             '"columns": ["text"]}]'))
    assert out.num_rows == 1000 and out.column("n").to_pylist()[:3] == [0, 1, 2]


def test_apply_recipe_to_writes_a_new_version_with_lineage_and_reapplies_after_reimport(store, project, tmp_path):
    source = tmp_path / "faq.csv"
    source.write_text("question,answer\n  Hi ,hello\nHi,hello again\n,\n")
    raw = import_dataset(store, project.id, source, name="faq")
    recipe = Recipe.from_json({"steps": [{"kind": "trim_whitespace"}, {"kind": "drop_empty_rows"},
                                         {"kind": "drop_duplicates", "columns": ["question"]}]})
    cleaned = apply_recipe_to(store, raw.id, recipe)
    assert (cleaned.name, cleaned.version, cleaned.n_rows) == ("faq", 2, 1)
    assert load_dataset_table(cleaned).to_pylist() == [{"question": "Hi", "answer": "hello"}]
    assert load_dataset_table(store.get_dataset(raw.id)).num_rows == 3  # the parent is untouched
    made = lineage(store, cleaned.id)
    assert (made.parent_id, made.recipe) == (raw.id, recipe)
    assert lineage(store, raw.id) is None

    source.write_text("question,answer\nBye ,ciao\nBye,ciao again\nNew,row\n")  # the source changed
    raw2 = import_dataset(store, project.id, source, name="faq")
    again = apply_recipe_to(store, raw2.id, latest_recipe(store, project.id, "faq"))
    assert again.version == 4
    assert load_dataset_table(again).column("question").to_pylist() == ["Bye", "New"]


def test_recipe_that_removes_everything_leaves_no_version(store, project, tmp_path):
    source = tmp_path / "x.csv"
    source.write_text("a\nonly\n")
    raw = import_dataset(store, project.id, source)
    with pytest.raises(CleaningError, match="leaves no rows"):
        apply_recipe_to(store, raw.id, Recipe([CleaningStep("filter_rows", {"column": "a", "operator": "is_empty"})]))
    assert [d.id for d in store.list_datasets(project.id)] == [raw.id]
