"""The demo dataset: the shipped CSV is exactly what the generator writes, and the task is learnable."""

from __future__ import annotations

import csv
import re
from collections import Counter

from desktop_ift.core.data.demo_data import (
    CATEGORIES,
    COLUMNS,
    DEMO_CSV,
    DEMO_TEMPLATE,
    generate_demo_rows,
    write_demo_csv,
)
from desktop_ift.core.data.importers import import_dataset, load_dataset_table
from desktop_ift.core.templates.render import PromptTemplate, check_template, render_rows


def test_shipped_csv_equals_the_generator_output():
    with open(DEMO_CSV, encoding="utf-8", newline="") as fh:
        shipped = list(csv.DictReader(fh))
    assert shipped == generate_demo_rows(), "run: python -m desktop_ift.core.data.demo_data"


def test_generator_is_deterministic_and_writes_the_same_bytes(tmp_path):
    assert generate_demo_rows(50, seed=1) == generate_demo_rows(50, seed=1)
    assert generate_demo_rows(50, seed=1) != generate_demo_rows(50, seed=2)
    assert write_demo_csv(tmp_path / "t.csv").read_bytes() == DEMO_CSV.read_bytes()


def test_rows_are_balanced_varied_and_short():
    rows = generate_demo_rows()
    assert len(rows) == 400
    assert list(rows[0]) == list(COLUMNS)
    assert Counter(r["category"] for r in rows) == {c: 80 for c in CATEGORIES}
    assert len({r["message"] for r in rows}) >= 380
    assert len({r["ticket_id"] for r in rows}) == 400
    for row in rows:
        assert 10 <= len(row["message"].split()) <= 40, row["message"]
        assert row["summary"] and "\n" not in row["summary"]


def test_category_is_predictable_from_content_words():
    """A nearest-keyword-profile classifier trained on half the rows labels most of the other half."""
    rows = generate_demo_rows()
    words = lambda text: set(re.findall(r"[a-z]+", text.lower()))  # noqa: E731
    train, held_out = rows[:200], rows[200:]
    profile = {c: Counter() for c in CATEGORIES}
    for row in train:
        profile[row["category"]].update(words(row["message"]))
    totals = Counter(w for c in CATEGORIES for w in profile[c])

    def predict(text):
        return max(CATEGORIES, key=lambda c: sum(profile[c][w] / totals[w] for w in words(text) if totals[w]))

    accuracy = sum(predict(r["message"]) == r["category"] for r in held_out) / len(held_out)
    assert accuracy > 0.9


def test_demo_template_fits_the_demo_dataset(store, project):
    record = import_dataset(store, project.id, DEMO_CSV)
    assert record.column_names == list(COLUMNS) and record.n_rows == 400
    template = PromptTemplate(prompt=DEMO_TEMPLATE["prompt"], response=DEMO_TEMPLATE["response"],
                              system=DEMO_TEMPLATE["system"], name=DEMO_TEMPLATE["name"])
    assert check_template(template, record.column_names) == []
    examples = render_rows(template, load_dataset_table(record).to_pylist())
    assert {e.response for e in examples} == set(CATEGORIES)
    assert all(e.prompt.startswith("Classify this customer message") for e in examples)
