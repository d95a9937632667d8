"""The template library: built-in phrasings, the user's own templates, sets, import/export, column mapping."""

from __future__ import annotations

import pytest

from desktop_ift.core.templates.library import (
    LibraryError,
    builtin_templates,
    current_training_source,
    delete_from_library,
    export_library,
    import_library,
    list_sets,
    load_set,
    read_library_file,
    rename_columns,
    save_set,
    save_to_library,
    set_training_source,
    user_templates,
)
from desktop_ift.core.templates.render import PromptTemplate, check_template, placeholders, render_row

TASKS = {"summarise", "classify", "extract", "question_answering", "rewrite_style", "translate", "write_email",
         "dialogue_summary"}


def test_builtin_library_has_several_working_phrasings_for_each_task():
    templates = builtin_templates()
    by_task: dict[str, list] = {}
    for t in templates:
        by_task.setdefault(t.task, []).append(t)
    assert set(by_task) == TASKS
    for task, phrasings in by_task.items():
        assert len(phrasings) >= 3, task
        assert len({t.prompt for t in phrasings}) == len(phrasings)  # really different phrasings
        for t in phrasings:
            assert t.builtin and t.name and placeholders(t.as_template()) <= set(t.columns)
            errors = [p for p in check_template(t.as_template(), t.columns) if p.severity == "error"]
            assert errors == [], (t.name, errors)
            row = {c: f"<{c}>" for c in t.columns}
            rendered = render_row(t.as_template(), row)
            assert rendered.response.strip() and "<" in rendered.prompt


def test_user_templates_are_saved_overwritten_and_deleted(store):
    saved = save_to_library(store, PromptTemplate("Q: {{ q }}", "{{ a }}", name="Mine"), task="qa")
    save_to_library(store, PromptTemplate("Question: {{ q }}", "{{ a }}", name="Mine"), task="qa")
    assert [(t.name, t.prompt, t.task) for t in user_templates(store)] == [("Mine", "Question: {{ q }}", "qa")]
    delete_from_library(store, saved.id)
    assert user_templates(store) == []
    with pytest.raises(LibraryError, match="name"):
        save_to_library(store, PromptTemplate("x", "y"))


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_library_exports_and_imports_round_trip(store, tmp_path, suffix):
    originals = [PromptTemplate("Sum: {{ text }}", "{{ summary }}", "Be short: really.", "S1"),
                 PromptTemplate("{{ text }}\n\nTL;DR: \"quoted\"", "{{ summary }}", name="S2")]
    path = export_library(originals, tmp_path / f"lib{suffix}")
    back = [t.as_template() for t in read_library_file(path)]
    assert back == originals
    imported = import_library(store, path)
    assert [t.name for t in imported] == ["S1", "S2"] and len(user_templates(store)) == 2


def test_a_broken_library_file_is_named_with_its_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("task: x\ntemplates:\n  - name: a\n    prompt: [unclosed\n", encoding="utf-8")
    with pytest.raises(LibraryError, match="bad.yaml is not valid YAML at line"):
        read_library_file(path)
    path.write_text("task: x\ntemplates:\n  - name: a\n", encoding="utf-8")
    with pytest.raises(LibraryError, match="needs at least a 'prompt' and a 'response'"):
        read_library_file(path)


def test_rename_columns_maps_library_placeholders_to_the_users_columns():
    template = PromptTemplate("Text: {{ text }} ({{ text | length }} chars)\n{% if text %}yes{% endif %} text",
                              "{{ row['label'] }}", "Classify text.")
    renamed = rename_columns(template, {"text": "message", "label": "Customer Category"})
    assert placeholders(renamed) == {"message", "Customer Category"}
    assert renamed.prompt.endswith(" text") and renamed.system == "Classify text."
    out = render_row(renamed, {"message": "hi", "Customer Category": "billing"})
    assert out.prompt == "Text: hi (2 chars)\nyes text" and out.response == "billing"


def test_template_sets_are_saved_loaded_with_current_text_and_become_the_current_choice(store, project):
    a = store.save_template(project.id, "a", "A {{ x }}", "{{ y }}")
    b = store.save_template(project.id, "b", "B {{ x }}", "{{ y }}")
    record = save_set(store, project.id, "mix", [a.id, b.id], "random", [2, 1], seed=4)
    store.save_template(project.id, "b", "B changed {{ x }}", "{{ y }}")
    loaded = load_set(store, record.id)
    assert [t.prompt for t in loaded.templates] == ["A {{ x }}", "B changed {{ x }}"]
    assert (loaded.mode, loaded.weights, loaded.seed, loaded.name) == ("random", [2, 1], 4, "mix")
    assert [s.name for s in list_sets(store, project.id)] == ["mix"]
    assert current_training_source(store, project.id) is None
    set_training_source(store, project.id, {"kind": "template_set", "set_id": record.id})
    assert current_training_source(store, project.id).templates == loaded.templates
    set_training_source(store, project.id, {"kind": "template", "template_id": a.id})
    assert current_training_source(store, project.id) == a.id


def test_a_set_with_a_template_from_nowhere_is_refused(store, project):
    with pytest.raises(LibraryError, match="no template with id 99"):
        save_set(store, project.id, "bad", [99])
