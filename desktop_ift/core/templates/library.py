"""The template library and template sets, kept in the workspace.

* **Built-in phrasings** ship as YAML files in ``resources/templates`` (one task per file: summarise,
  classify, extract fields, answer from a context, rewrite in a style, translate, write an email,
  summarise a dialogue; several phrasings each).
* **The user's library** (table ``library_templates``) holds templates saved for reuse in any project.
* **Template sets** (table ``template_sets``) reference a project's templates by id, with a mode, optional
  weights and a seed; :func:`load_set` turns one into a :class:`TemplateSet` with the templates' current text.
* The library imports and exports JSON or YAML files of the same shape as the built-in files.

The project's current choice of what to train on lives in the project settings under ``training_source``
(see :func:`current_training_source`).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from desktop_ift.core.paths import resources_dir
from desktop_ift.core.store import Store, StoreError, clean_name
from desktop_ift.core.templates.render import PromptTemplate
from desktop_ift.core.templates.template_set import TemplateSet, TemplateSetError

AREA = "templates"
MIGRATIONS = [
    """
    CREATE TABLE library_templates (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        task TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        system TEXT NOT NULL DEFAULT '',
        prompt TEXT NOT NULL,
        response TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE template_sets (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        mode TEXT NOT NULL,
        template_ids TEXT NOT NULL,
        weights TEXT,
        seed INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL,
        UNIQUE (project_id, name)
    );
    """,
]


class LibraryError(ValueError):
    """A library file or entry that cannot be used; the text says which and why."""


@dataclass
class LibraryTemplate:
    """A reusable template: ``builtin`` ones come from the shipped YAML files (read-only)."""

    name: str
    prompt: str
    response: str
    system: str = ""
    task: str = ""
    description: str = ""
    builtin: bool = False
    id: int | None = None
    columns: list[str] = field(default_factory=list)

    def as_template(self) -> PromptTemplate:
        """The three texts as a :class:`PromptTemplate`."""
        return PromptTemplate(prompt=self.prompt, response=self.response, system=self.system, name=self.name)


def _ready(store: Store) -> Store:
    store.ensure_schema(AREA, MIGRATIONS)
    return store


# ------------------------------------------------------------------------------------------- built-ins
def builtin_templates(folder: Path | None = None) -> list[LibraryTemplate]:
    """Every shipped phrasing, in file then file order (``folder`` default: ``resources/templates``)."""
    folder = folder or resources_dir() / "templates"
    out: list[LibraryTemplate] = []
    for path in sorted(folder.glob("*.yaml")):
        out.extend(read_library_file(path, builtin=True))
    return out


def read_library_file(path: Path | str, builtin: bool = False) -> list[LibraryTemplate]:
    """Templates in a JSON or YAML library file: ``{"task", "description", "columns", "templates": [...]}``,
    a list of such task groups, or a plain list of templates. Raises :class:`LibraryError` saying what is
    wrong and where."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LibraryError(f"Cannot read {path}: {exc}.") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise LibraryError(f"{path.name} is not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}"
                           f"{where}: {getattr(exc, 'problem', None) or exc}.") from exc
    groups = data if isinstance(data, list) else [data]
    out = []
    for group in groups:
        if not isinstance(group, dict):
            raise LibraryError(f"{path.name}: expected a mapping with 'templates', found {type(group).__name__}.")
        entries = group.get("templates", [group] if "prompt" in group else None)
        if not isinstance(entries, list):
            raise LibraryError(f"{path.name}: a task needs a list called 'templates'.")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not entry.get("prompt") or "response" not in entry:
                raise LibraryError(f"{path.name}: template {i + 1} of {group.get('task', 'the file')!r} needs at "
                                   "least a 'prompt' and a 'response'.")
            out.append(LibraryTemplate(
                name=str(entry.get("name") or f"{group.get('task', path.stem)} {i + 1}"),
                prompt=str(entry["prompt"]), response=str(entry["response"] or ""),
                system=str(entry.get("system") or ""), task=str(entry.get("task") or group.get("task") or ""),
                description=str(entry.get("description") or group.get("description") or ""), builtin=builtin,
                columns=list(group.get("columns") or [])))
    return out


# ------------------------------------------------------------------------------------------- user library
def save_to_library(store: Store, template: PromptTemplate, task: str = "", description: str = "") -> LibraryTemplate:
    """Save (or overwrite, by name) ``template`` in the user's library; it needs a name."""
    name = (template.name or "").strip()
    if not name:
        raise LibraryError("Give the template a name before saving it to the library.")
    _ready(store)
    with store._tx():
        store.conn.execute(
            "INSERT INTO library_templates (name, task, description, system, prompt, response, updated_at)"
            " VALUES (?,?,?,?,?,?,?) ON CONFLICT (name) DO UPDATE SET task=excluded.task,"
            " description=excluded.description, system=excluded.system, prompt=excluded.prompt,"
            " response=excluded.response, updated_at=excluded.updated_at",
            (name, task, description, template.system or "", template.prompt, template.response, time.time()))
    return next(t for t in user_templates(store) if t.name == name)


def user_templates(store: Store) -> list[LibraryTemplate]:
    """The templates the user saved to the library, by name."""
    _ready(store)
    rows = store.conn.execute("SELECT * FROM library_templates ORDER BY name")
    return [LibraryTemplate(name=r["name"], prompt=r["prompt"], response=r["response"], system=r["system"],
                            task=r["task"], description=r["description"], id=r["id"]) for r in rows]


def delete_from_library(store: Store, library_id: int) -> None:
    """Remove one of the user's library templates."""
    _ready(store)
    with store._tx():
        store.conn.execute("DELETE FROM library_templates WHERE id=?", (library_id,))


def library(store: Store) -> list[LibraryTemplate]:
    """Built-in phrasings followed by the user's own templates."""
    return builtin_templates() + user_templates(store)


def import_library(store: Store, path: Path | str) -> list[LibraryTemplate]:
    """Add every template of a JSON/YAML library file to the user's library (same name: overwritten)."""
    return [save_to_library(store, t.as_template(), t.task, t.description) for t in read_library_file(path)]


def export_library(templates: list[LibraryTemplate] | list[PromptTemplate], path: Path | str) -> Path:
    """Write templates to ``path`` as JSON (``.json``) or YAML (anything else), grouped by task; the file
    reads back with :func:`read_library_file`."""
    path = Path(path)
    groups: dict[str, list[dict]] = {}
    for t in templates:
        entry = {"name": t.name, "system": t.system or "", "prompt": t.prompt, "response": t.response}
        groups.setdefault(getattr(t, "task", "") or "my templates", []).append(entry)
    data = [{"task": task, "templates": entries} for task, entries in groups.items()]
    if path.suffix.lower() == ".json":
        text = json.dumps(data, indent=2, ensure_ascii=False)
    else:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------- column mapping
def rename_columns(template: PromptTemplate, mapping: dict[str, str]) -> PromptTemplate:
    """``template`` with each placeholder column renamed per ``mapping`` (``{"text": "article"}``).

    Names are replaced inside ``{{ }}`` and ``{% %}`` only; a new name that is not an identifier becomes
    ``row["New name"]``.
    """
    def fix(source: str) -> str:
        def inside(match: re.Match) -> str:
            block = match.group(0)
            for old, new in mapping.items():
                expr = new if new.isidentifier() else 'row[' + json.dumps(new) + ']'
                block = re.sub(r'row\[(["\'])' + re.escape(old) + r'\1\]', expr, block)
                block = re.sub(r"(?<![\w.'\"])" + re.escape(old) + r"(?![\w'\"(])", expr, block)
            return block
        return re.sub(r"\{\{.*?\}\}|\{%.*?%\}", inside, source, flags=re.S)

    return PromptTemplate(prompt=fix(template.prompt), response=fix(template.response),
                          system=fix(template.system or ""), name=template.name)


# ------------------------------------------------------------------------------------------- template sets
@dataclass
class TemplateSetRecord:
    """A saved set: project template ids, mode, weights and seed."""

    id: int
    project_id: int
    name: str
    mode: str
    template_ids: list[int]
    weights: list[float] | None
    seed: int


def save_set(store: Store, project_id: int, name: str, template_ids: list[int], mode: str = "random",
             weights: list[float] | None = None, seed: int = 0) -> TemplateSetRecord:
    """Create or overwrite the project's set called ``name``; checks the ids and the settings first."""
    if not (name or "").strip():
        raise LibraryError("Give the template set a name.")
    name = clean_name(name, "template set")  # trimmed, normalised; control characters refused
    templates = [_project_template(store, project_id, i) for i in template_ids]
    TemplateSet(templates, mode=mode, weights=weights, seed=seed)  # raises TemplateSetError when it cannot work
    _ready(store)
    with store._tx():
        store.conn.execute(
            "INSERT INTO template_sets (project_id, name, mode, template_ids, weights, seed, updated_at)"
            " VALUES (?,?,?,?,?,?,?) ON CONFLICT (project_id, name) DO UPDATE SET mode=excluded.mode,"
            " template_ids=excluded.template_ids, weights=excluded.weights, seed=excluded.seed,"
            " updated_at=excluded.updated_at",
            (project_id, name, mode, json.dumps(list(template_ids)),
             json.dumps(weights) if weights is not None else None, seed, time.time()))
    row = store.conn.execute("SELECT * FROM template_sets WHERE project_id=? AND name=?", (project_id, name)).fetchone()
    return _set_record(row)


def _project_template(store: Store, project_id: int, template_id: int) -> PromptTemplate:
    try:
        rec = store.get_template(int(template_id))
    except StoreError as exc:
        raise LibraryError(f"{exc} It may have been deleted; choose the set's templates again.") from exc
    if rec.project_id != project_id:
        raise LibraryError(f"The template {rec.name!r} belongs to another project.")
    return PromptTemplate(prompt=rec.prompt, response=rec.response, system=rec.system, name=rec.name)


def _set_record(row) -> TemplateSetRecord:
    return TemplateSetRecord(id=row["id"], project_id=row["project_id"], name=row["name"], mode=row["mode"],
                             template_ids=json.loads(row["template_ids"]),
                             weights=json.loads(row["weights"]) if row["weights"] else None, seed=row["seed"])


def list_sets(store: Store, project_id: int) -> list[TemplateSetRecord]:
    """The project's saved template sets, by name."""
    _ready(store)
    rows = store.conn.execute("SELECT * FROM template_sets WHERE project_id=? ORDER BY name", (project_id,))
    return [_set_record(r) for r in rows]


def get_set(store: Store, set_id: int) -> TemplateSetRecord:
    """One saved set; raises :class:`LibraryError` when there is none with that id."""
    _ready(store)
    row = store.conn.execute("SELECT * FROM template_sets WHERE id=?", (set_id,)).fetchone()
    if row is None:
        raise LibraryError(f"There is no template set with id {set_id}.")
    return _set_record(row)


def delete_set(store: Store, set_id: int) -> None:
    """Delete a saved set (its templates stay)."""
    _ready(store)
    with store._tx():
        store.conn.execute("DELETE FROM template_sets WHERE id=?", (set_id,))


def load_set(store: Store, set_id: int) -> TemplateSet:
    """A saved set as a :class:`TemplateSet` holding its templates' current text."""
    rec = get_set(store, set_id)
    templates = [_project_template(store, rec.project_id, i) for i in rec.template_ids]
    try:
        return TemplateSet(templates, mode=rec.mode, weights=rec.weights, seed=rec.seed, name=rec.name,
                           template_ids=list(rec.template_ids))
    except TemplateSetError as exc:
        raise LibraryError(f"The template set {rec.name!r} cannot be used: {exc}") from exc


# ------------------------------------------------------------------------------------------- current choice
def set_training_source(store: Store, project_id: int, source: dict) -> None:
    """Remember what the project trains on: ``{"kind": "template", "template_id"}``,
    ``{"kind": "template_set", "set_id"}``, or a ChatSpec/PretrainSpec ``to_dict()``."""
    if source.get("kind") == "template" and source.get("template_id"):
        store.update_project_settings(project_id, training_source=source, template_id=source["template_id"])
    else:
        store.update_project_settings(project_id, training_source=source)


def current_training_source(store: Store, project_id: int):
    """What the project trains on, ready for ``prepare_train_job``: a template id, a TemplateSet, or a
    chat/pre-training spec dict; None when nothing is chosen yet."""
    settings = store.get_project(project_id).settings
    source = settings.get("training_source") or {}
    kind = source.get("kind")
    if kind == "template_set" and source.get("set_id"):
        return load_set(store, int(source["set_id"]))
    if kind in ("chat", "pretrain"):
        return dict(source)
    if kind == "template":
        return int(source["template_id"]) if source.get("template_id") else None
    if kind == "nothing":
        return None  # every template unticked in the Template set tab: nothing trains until one is ticked
    template_id = settings.get("template_id")  # no choice saved yet: the project's template (the one ticked)
    return int(template_id) if template_id else None
