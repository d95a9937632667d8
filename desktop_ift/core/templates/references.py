"""More references for a template: columns whose values are also right answers (a corpus with summary1/2/3).

A template's response (``{{ summary1 }}``) is what the model trains on and the first reference; a template may
name further columns (``summary2, summary3``) whose values are accepted as answers too. They change nothing in
training; evaluation scores with all of them (ROUGE best-of, BLEU/chrF on all) without any extra option, the
training job recording them with each template (``source.template.references``).

* :func:`parse_columns` -- ``"summary2, summary3"`` -> ``["summary2", "summary3"]``.
* :func:`reference_columns` / :func:`set_reference_columns` -- kept per project template (its own table).
* :func:`row_references` -- the references of one row: the rendered response first, then the columns' values.
* :func:`job_reference_columns` -- the columns a training job's templates name (for evaluation).
"""

from __future__ import annotations

import json

from desktop_ift.core.store import Store

AREA = "template_references"
MIGRATIONS = [
    """
    CREATE TABLE template_references (
        template_id INTEGER PRIMARY KEY REFERENCES templates(id) ON DELETE CASCADE,
        columns TEXT NOT NULL DEFAULT '[]'
    );
    """,
]


def parse_columns(text: str | list | None) -> list[str]:
    """Column names from a comma-separated text (or a list): trimmed, empty ones and repeats left out."""
    parts = text.split(",") if isinstance(text, str) else list(text or [])
    return list(dict.fromkeys(str(p).strip() for p in parts if str(p).strip()))


def reference_columns(store: Store, template_id: int | None) -> list[str]:
    """The further reference columns of a project template ([] when it names none)."""
    if template_id is None:
        return []
    store.ensure_schema(AREA, MIGRATIONS)
    row = store.conn.execute("SELECT columns FROM template_references WHERE template_id=?",
                             (int(template_id),)).fetchone()
    return parse_columns(json.loads(row[0])) if row else []


def set_reference_columns(store: Store, template_id: int, columns: str | list | None) -> list[str]:
    """Keep ``columns`` as the template's further references (none: forget them); returns what was kept."""
    kept = parse_columns(columns)
    store.ensure_schema(AREA, MIGRATIONS)
    with store._tx():
        if kept:
            store.conn.execute("INSERT INTO template_references (template_id, columns) VALUES (?, ?) "
                               "ON CONFLICT (template_id) DO UPDATE SET columns=excluded.columns",
                               (int(template_id), json.dumps(kept)))
        else:
            store.conn.execute("DELETE FROM template_references WHERE template_id=?", (int(template_id),))
    return kept


def row_references(response: str, row: dict, columns: list[str]) -> list[str]:
    """The references of one row: the rendered ``response`` first, then the values of ``columns`` in
    ``row`` (empty cells and repeats left out)."""
    refs = [str(response)]
    for column in columns:
        value = row.get(column)
        text = "" if value is None else str(value)
        if text.strip() and text not in refs:
            refs.append(text)
    return refs


def job_reference_columns(job: dict) -> list[str]:
    """The further reference columns the templates of a training job name, in order (every template of a
    set: their union); [] for chat and pre-training runs and for runs made before templates could name any."""
    source = job.get("source") or {}
    templates = (source.get("template_set") or {}).get("templates") or [source.get("template") or {}]
    return parse_columns([c for t in templates for c in t.get("references") or []])
