"""Train/validation/test splits: deterministic, complete, proportional, stratified, with clear setting errors."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_ift.core.data.splits import SplitError, SplitSpec, split_counts, split_indices, split_table


def test_same_seed_same_split_other_seed_other_split():
    spec = SplitSpec(seed=3)
    assert split_indices(100, spec) == split_indices(100, SplitSpec(seed=3))
    assert split_indices(100, spec) != split_indices(100, SplitSpec(seed=4))


def test_default_shares_on_100_rows():
    assert split_counts(100, SplitSpec()) == {"train": 80, "validation": 10, "test": 10}
    parts = split_indices(100, SplitSpec())
    assert {k: len(v) for k, v in parts.items()} == {"train": 80, "validation": 10, "test": 10}


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 300), train=st.integers(1, 10), validation=st.integers(0, 10), test=st.integers(0, 10),
       seed=st.integers(0, 2**31), n_classes=st.integers(0, 6))
def test_every_row_in_exactly_one_split(n, train, validation, test, seed, n_classes):
    total = train + validation + test
    spec = SplitSpec(train / total, validation / total, 1 - train / total - validation / total, seed)
    values = [i % n_classes for i in range(n)] if n_classes else None
    parts = split_indices(n, spec, values)
    assert sorted(parts["train"] + parts["validation"] + parts["test"]) == list(range(n))
    assert {k: len(v) for k, v in parts.items()} == split_counts(n, spec)
    if values is not None:  # each class is shared out close to the split shares
        sizes = Counter(values)
        for name, indices in parts.items():
            got = Counter(values[i] for i in indices)
            assert all(abs(got[c] - size * getattr(spec, name)) < 2 for c, size in sizes.items())
    if n >= 1:
        assert parts["train"]
    if n >= 3:
        for name in ("validation", "test"):
            assert (len(parts[name]) > 0) == (getattr(spec, name) > 0)


def test_small_datasets_still_get_a_validation_and_test_row():
    assert split_counts(3, SplitSpec()) == {"train": 1, "validation": 1, "test": 1}
    assert split_counts(5, SplitSpec()) == {"train": 3, "validation": 1, "test": 1}
    assert split_counts(2, SplitSpec()) == {"train": 2, "validation": 0, "test": 0}
    assert split_counts(10, SplitSpec(0.9, 0.1, 0.0)) == {"train": 9, "validation": 1, "test": 0}


def test_stratified_split_keeps_class_proportions():
    labels = ["a"] * 500 + ["b"] * 300 + ["c"] * 200
    parts = split_indices(len(labels), SplitSpec(0.7, 0.2, 0.1), labels)
    for name, share in (("train", 0.7), ("validation", 0.2), ("test", 0.1)):
        counts = Counter(labels[i] for i in parts[name])
        assert counts == {"a": round(500 * share), "b": round(300 * share), "c": round(200 * share)}


def test_stratified_rare_class_lands_somewhere():
    labels = ["common"] * 20 + ["rare"]
    parts = split_indices(len(labels), SplitSpec(), labels)
    assert sum(labels[i] == "rare" for name in parts for i in parts[name]) == 1


def test_split_table_uses_the_stratify_column_and_names_a_missing_one():
    table = pa.table({"label": ["x", "y"] * 50})
    parts = split_table(table, SplitSpec(0.5, 0.5, 0.0, stratify_column="label"))
    assert Counter(table.column("label")[i].as_py() for i in parts["validation"]) == {"x": 25, "y": 25}
    with pytest.raises(SplitError, match='no such column. Available columns: label'):
        split_table(table, SplitSpec(stratify_column="category"))


@pytest.mark.parametrize("kwargs,message", [
    ({"train": 0.8, "validation": 0.3, "test": 0.1}, "add up to 1"),
    ({"train": 0.0, "validation": 0.5, "test": 0.5}, "training share must be above 0"),
    ({"train": 1.1, "validation": -0.1, "test": 0.0}, "between 0 and 1"),
    ({"train": "lots"}, "must be a number"),
    ({"seed": 1.5}, "whole number"),
])
def test_invalid_specs_explain_themselves(kwargs, message):
    with pytest.raises(SplitError, match=message):
        SplitSpec(**kwargs)


def test_stratify_values_must_match_the_rows():
    with pytest.raises(SplitError, match="3 values but the dataset has 4 rows"):
        split_indices(4, SplitSpec(), ["a", "b", "c"])


# ---------------------------------------------------------------------------------------------- split column
def test_split_from_a_column_understands_common_spellings():
    from desktop_ift.core.data.splits import column_split_counts, split_table

    import pyarrow as pa

    table = pa.table({"text": list("abcdef"), "part": ["train", "Val", " TEST ", "dev", "training", "holdout"]})
    parts = split_table(table, SplitSpec(split_column="part"))
    assert parts == {"train": [0, 4], "validation": [1, 3], "test": [2, 5]}
    assert column_split_counts(table.column("part").to_pylist(), "part") == {"train": 2, "validation": 2,
                                                                           "test": 2}


def test_split_column_values_through_split_indices_and_errors():
    from desktop_ift.core.data.splits import SplitError

    spec = SplitSpec(split_column="part")
    assert split_indices(3, spec, None, column_values=["train", "test", "train"])["test"] == [1]
    with pytest.raises(SplitError, match="values were not given"):
        split_indices(3, spec)
    with pytest.raises(SplitError, match="Row 2 has 'extra' in the split column \"part\""):
        split_indices(2, spec, column_values=["train", "extra"])
    with pytest.raises(SplitError, match="Row 1 has an empty cell"):
        split_indices(1, spec, column_values=[None])
    with pytest.raises(SplitError, match="says train"):
        split_indices(1, spec, column_values=["test"])


def test_combine_separate_files_as_splits(store, project, tmp_path):
    from desktop_ift.core.data.combine import combine_as_splits
    from desktop_ift.core.data.importers import import_dataset, load_dataset_table
    from desktop_ift.core.data.splits import SplitError, split_table

    def imported(name, text):
        path = tmp_path / f"{name}.csv"
        path.write_text(text)
        return import_dataset(store, project.id, path)

    train = imported("train", "q,a\n1,x\n2,y\n")
    test = imported("test", "a,q\nz,3\n")  # same columns, another order
    record = combine_as_splits(store, project.id, "qa", {"train": train.id, "test": test.id})
    table = load_dataset_table(record)
    assert table.to_pylist() == [{"q": 1, "a": "x", "split": "train"}, {"q": 2, "a": "y", "split": "train"},
                                 {"q": 3, "a": "z", "split": "test"}]
    assert split_table(table, SplitSpec(split_column="split")) == {"train": [0, 1], "validation": [], "test": [2]}
    other = imported("other", "q,b\n1,x\n")
    with pytest.raises(SplitError, match="lacks 'a'.*has 'b' in addition"):
        combine_as_splits(store, project.id, "bad", {"train": train.id, "validation": other.id})
    assert [d.name for d in store.list_datasets(project.id)].count("bad") == 0
