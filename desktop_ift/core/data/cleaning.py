"""Cleaning as a recipe, not an edit: an ordered list of steps stored as JSON and applied with Arrow compute
(vectorised). Applying a recipe writes a NEW dataset version and records which version it came from and the
recipe, so the same recipe can be re-applied to a re-imported source.

A recipe's JSON: ``{"version": 1, "steps": [{"kind": "drop_empty_rows"}, {"kind": "drop_duplicates",
"columns": ["question"]}, {"kind": "filter_rows", "column": "label", "operator": "equals", "value": "spam",
"keep": false}, ...]}``. Step kinds and their settings are in :data:`STEP_KINDS`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from desktop_ift.core.data.snapshots import load_dataset_table, save_dataset_table
from desktop_ift.core.store import DatasetRecord, Store

RECIPE_VERSION = 1
STEP_KINDS: dict[str, str] = {
    "drop_empty_rows": "Drop rows whose cells (in `columns`, default all) are all empty",
    "drop_duplicates": "Drop rows that repeat an earlier row (compared on `columns`, default all); keeps the first",
    "trim_whitespace": "Trim spaces and line breaks around the text in `columns` (default all text columns)",
    "filter_rows": "Keep (or with keep=false drop) rows where `column` `operator` `value`",
    "drop_long_text": "Drop rows whose text in `column` (default any text column) is longer than `max_chars`",
    "rename_columns": "Rename columns: `mapping` is {old name: new name}",
    "drop_columns": "Remove the columns in `columns` (every row stays), e.g. so files with extra columns combine",
}
OPERATORS: dict[str, str] = {
    "equals": "is", "not_equals": "is not", "contains": "contains", "not_contains": "does not contain",
    "starts_with": "starts with", "ends_with": "ends with", "matches": "matches the pattern",
    "greater": ">", "greater_or_equal": "≥", "less": "<", "less_or_equal": "≤",
    "is_empty": "is empty", "not_empty": "is not empty",
}
_NEGATIVE = {"not_equals", "not_contains"}  # an empty cell passes these
_NO_VALUE = {"is_empty", "not_empty"}
_MIGRATIONS = [
    """
    CREATE TABLE dataset_lineage (
        dataset_id INTEGER PRIMARY KEY REFERENCES datasets(id) ON DELETE CASCADE,
        parent_id INTEGER,
        recipe TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
]


class CleaningError(ValueError):
    """A recipe that cannot be applied (unknown column, bad setting, nothing left); says which step."""


@dataclass
class CleaningStep:
    """One step: its ``kind`` (a key of :data:`STEP_KINDS`) and its settings."""

    kind: str
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, **self.params}

    @classmethod
    def from_dict(cls, data: dict) -> "CleaningStep":
        if not isinstance(data, dict) or "kind" not in data:
            raise CleaningError(f"A cleaning step must be an object with a \"kind\", not {data!r}.")
        params = {k: v for k, v in data.items() if k != "kind"}
        return cls(str(data["kind"]), params)

    def describe(self) -> str:
        """One line for the step list, e.g. ``Drop rows where "text" is longer than 2,000 characters``."""
        p = self.params
        cols = _cols_text(p.get("columns"))
        if self.kind == "drop_empty_rows":
            return f"Drop empty rows ({cols})"
        if self.kind == "drop_duplicates":
            return f"Drop duplicate rows (compared on {cols})"
        if self.kind == "trim_whitespace":
            return f"Trim whitespace ({cols if p.get('columns') else 'all text columns'})"
        if self.kind == "filter_rows":
            verb = "Keep" if p.get("keep", True) else "Drop"
            op = OPERATORS.get(p.get("operator", ""), p.get("operator", "?"))
            value = "" if p.get("operator") in _NO_VALUE else f" {p.get('value')!r}"
            return f'{verb} rows where "{p.get("column")}" {op}{value}'
        if self.kind == "drop_long_text":
            where = f'"{p["column"]}"' if p.get("column") else "any text column"
            return f"Drop rows where {where} is longer than {int(p.get('max_chars', 0)):,} characters"
        if self.kind == "rename_columns":
            pairs = ", ".join(f'"{a}" → "{b}"' for a, b in (p.get("mapping") or {}).items())
            return f"Rename {pairs}"
        if self.kind == "drop_columns":
            return f"Remove the column(s) {cols}"
        return self.kind


@dataclass
class Recipe:
    """An ordered list of :class:`CleaningStep`."""

    steps: list[CleaningStep] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"version": RECIPE_VERSION, "steps": [s.to_dict() for s in self.steps]},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | dict | list) -> "Recipe":
        """A recipe from its JSON text (or the parsed object; a bare list of steps is accepted too)."""
        data = text
        if isinstance(text, str):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise CleaningError(f"The recipe is not valid JSON (line {exc.lineno}: {exc.msg}).") from exc
        if isinstance(data, dict):
            if int(data.get("version", 1)) > RECIPE_VERSION:
                raise CleaningError("The recipe was written by a newer version of desktop_ift. Update the app.")
            data = data.get("steps", [])
        if not isinstance(data, list):
            raise CleaningError('A recipe is {"steps": [...]} or a list of steps.')
        return cls([CleaningStep.from_dict(s) for s in data])


# ---------------------------------------------------------------------------------------------- applying
def apply_recipe(table: pa.Table, recipe: Recipe) -> pa.Table:
    """``table`` after every step of ``recipe`` in order. Raises :class:`CleaningError` naming the step."""
    for number, step in enumerate(recipe.steps, start=1):
        table = apply_step(table, step, number)
    return table


def preview_counts(table: pa.Table, recipe: Recipe) -> list[int]:
    """The number of rows left after each step (what the recipe editor shows beside each step)."""
    counts = []
    for number, step in enumerate(recipe.steps, start=1):
        table = apply_step(table, step, number)
        counts.append(table.num_rows)
    return counts


def apply_step(table: pa.Table, step: CleaningStep, number: int = 1) -> pa.Table:
    """``table`` after one step (``number`` is only used in error messages)."""
    handler = _HANDLERS.get(step.kind)
    if handler is None:
        raise CleaningError(f"Step {number}: unknown kind {step.kind!r}. Known kinds: {', '.join(STEP_KINDS)}.")
    try:
        return handler(table, step.params, number)
    except CleaningError:
        raise
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise CleaningError(f"Step {number} ({step.describe()}) cannot be applied: {exc}") from exc


def _columns(table: pa.Table, names, number: int, text_only: bool = False) -> list[str]:
    if not names:
        return [n for n, c in zip(table.column_names, table.columns) if not text_only or _is_text(c.type)]
    if isinstance(names, str):
        names = [names]
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise CleaningError(
            f"Step {number}: the dataset has no column {', '.join(repr(m) for m in missing)}. "
            f"Its columns: {', '.join(table.column_names)}. Fix the step or remove it.")
    return list(names)


def _is_text(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _empty_mask(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """True where a cell is null, or blank text."""
    mask = pc.is_null(column)
    if _is_text(column.type):
        mask = pc.or_(mask, pc.equal(pc.utf8_trim_whitespace(column), "").fill_null(True))
    return mask


def _drop_empty_rows(table: pa.Table, params: dict, number: int) -> pa.Table:
    names = _columns(table, params.get("columns"), number)
    if not names or table.num_rows == 0:
        return table
    all_empty = _empty_mask(table.column(names[0]))
    for name in names[1:]:
        all_empty = pc.and_(all_empty, _empty_mask(table.column(name)))
    return table.filter(pc.invert(all_empty))


def _drop_duplicates(table: pa.Table, params: dict, number: int) -> pa.Table:
    names = _columns(table, params.get("columns"), number)
    if table.num_rows == 0:
        return table
    keyed = pa.table({f"k{i}": _as_key(table.column(n)) for i, n in enumerate(names)})
    keyed = keyed.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    first = keyed.group_by([f"k{i}" for i in range(len(names))], use_threads=False).aggregate([("__row", "min")])
    keep = pc.sort_indices(first.column("__row_min"))
    return table.take(pc.take(first.column("__row_min"), keep))


def _as_key(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column group_by can hash: nested values are compared by their JSON text."""
    if pa.types.is_nested(column.type):
        return pa.chunked_array([pa.array([None if v is None else json.dumps(v, sort_keys=True, default=str)
                                           for v in column.to_pylist()], pa.string())])
    return column


def _trim_whitespace(table: pa.Table, params: dict, number: int) -> pa.Table:
    names = _columns(table, params.get("columns"), number)
    columns = []
    for name, column in zip(table.column_names, table.columns):
        if name in names and _is_text(column.type):
            column = pc.utf8_trim_whitespace(column)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _filter_rows(table: pa.Table, params: dict, number: int) -> pa.Table:
    column_name = params.get("column")
    if not column_name:
        raise CleaningError(f"Step {number}: choose the column to filter on.")
    column = table.column(_columns(table, [column_name], number)[0])
    operator = params.get("operator", "equals")
    if operator not in OPERATORS:
        raise CleaningError(f"Step {number}: unknown condition {operator!r}. Use one of: {', '.join(OPERATORS)}.")
    mask = _condition(column, operator, params.get("value"), number)
    mask = mask.fill_null(operator in _NEGATIVE)
    if not params.get("keep", True):
        mask = pc.invert(mask)
    return table.filter(mask)


def _condition(column: pa.ChunkedArray, operator: str, value: Any, number: int):
    if operator == "is_empty":
        return _empty_mask(column)
    if operator == "not_empty":
        return pc.invert(_empty_mask(column))
    if value is None:
        raise CleaningError(f"Step {number}: the condition \"{OPERATORS[operator]}\" needs a value.")
    if operator in ("greater", "greater_or_equal", "less", "less_or_equal", "equals", "not_equals") and (
            pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        try:
            scalar = pa.scalar(float(value))
        except (TypeError, ValueError):
            raise CleaningError(f"Step {number}: {value!r} is not a number, but the column holds numbers.") from None
        column = column.cast(pa.float64())
    else:
        column = column if _is_text(column.type) else column.cast(pa.string())
        scalar = pa.scalar(str(value))
    if operator == "equals":
        return pc.equal(column, scalar)
    if operator == "not_equals":
        return pc.not_equal(column, scalar)
    if operator in ("contains", "not_contains"):
        mask = pc.match_substring(column, str(value))
        return pc.invert(mask) if operator == "not_contains" else mask
    if operator == "starts_with":
        return pc.starts_with(column, str(value))
    if operator == "ends_with":
        return pc.ends_with(column, str(value))
    if operator == "matches":
        try:
            re.compile(str(value))
        except re.error as exc:
            raise CleaningError(f"Step {number}: {value!r} is not a valid pattern ({exc}).") from None
        return pc.match_substring_regex(column, str(value))
    compare = {"greater": pc.greater, "greater_or_equal": pc.greater_equal, "less": pc.less,
               "less_or_equal": pc.less_equal}[operator]
    return compare(column, scalar)


def _drop_long_text(table: pa.Table, params: dict, number: int) -> pa.Table:
    try:
        limit = int(params.get("max_chars"))
    except (TypeError, ValueError):
        raise CleaningError(f"Step {number}: max_chars must be a whole number of characters.") from None
    if limit < 0:
        raise CleaningError(f"Step {number}: max_chars cannot be negative.")
    names = _columns(table, [params["column"]] if params.get("column") else None, number, text_only=True)
    too_long = None
    for name in names:
        column = table.column(name)
        column = column if _is_text(column.type) else column.cast(pa.string())
        mask = pc.greater(pc.utf8_length(column), limit).fill_null(False)
        too_long = mask if too_long is None else pc.or_(too_long, mask)
    return table if too_long is None else table.filter(pc.invert(too_long))


def _rename_columns(table: pa.Table, params: dict, number: int) -> pa.Table:
    mapping = params.get("mapping") or {}
    if not isinstance(mapping, dict):
        raise CleaningError(f"Step {number}: mapping must be {{old name: new name}}.")
    _columns(table, list(mapping), number)
    names = [str(mapping.get(n, n)).strip() for n in table.column_names]
    if "" in names:
        raise CleaningError(f"Step {number}: a column cannot be renamed to an empty name.")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise CleaningError(f"Step {number}: renaming would give two columns the name {dup[0]!r}. Pick another.")
    return table.rename_columns(names)


def _drop_columns(table: pa.Table, params: dict, number: int) -> pa.Table:
    if not params.get("columns"):
        raise CleaningError(f"Step {number}: name the columns to remove.")
    names = _columns(table, params["columns"], number)
    if len(names) >= table.num_columns:
        raise CleaningError(f"Step {number}: removing every column would leave no data. Keep at least one.")
    return table.drop_columns(names)


_HANDLERS = {
    "drop_empty_rows": _drop_empty_rows, "drop_duplicates": _drop_duplicates, "trim_whitespace": _trim_whitespace,
    "filter_rows": _filter_rows, "drop_long_text": _drop_long_text, "rename_columns": _rename_columns,
    "drop_columns": _drop_columns,
}


def _cols_text(columns) -> str:
    if not columns:
        return "all columns"
    return ", ".join(f'"{c}"' for c in ([columns] if isinstance(columns, str) else columns))


# ---------------------------------------------------------------------------------------------- workspace
@dataclass
class Lineage:
    """Where a dataset version came from: its ``parent_id`` and the ``recipe`` applied to it."""

    dataset_id: int
    parent_id: int | None
    recipe: Recipe


def ensure_tables(store: Store) -> None:
    """Create or migrate this module's table (``dataset_lineage``)."""
    store.ensure_schema("cleaning", _MIGRATIONS)


def apply_recipe_to(store: Store, dataset_id: int, recipe: Recipe) -> DatasetRecord:
    """Apply ``recipe`` to dataset ``dataset_id`` and save the result as the next version of the same name.

    The new version remembers its parent and the recipe (see :func:`lineage`); the parent is untouched.
    Raises :class:`CleaningError` if a step cannot work or no row is left.
    """
    ensure_tables(store)
    parent = store.get_dataset(dataset_id)
    if not recipe.steps:
        raise CleaningError("The recipe has no steps. Add a cleaning step first.")
    cleaned = apply_recipe(load_dataset_table(parent), recipe)
    if cleaned.num_rows == 0:
        raise CleaningError(
            f"The recipe leaves no rows of {parent.label}. Loosen a filter or remove a step, then apply again.")
    return save_dataset_table(store, parent.project_id, parent.name, cleaned, parent.source_path,
                              parent.source_hash, parent.size_bytes,
                              on_saved=lambda record: record_lineage(store, record.id, parent.id, recipe))


def record_lineage(store: Store, dataset_id: int, parent_id: int | None, recipe: Recipe) -> None:
    """Remember that ``dataset_id`` was made from ``parent_id`` with ``recipe``."""
    import time

    ensure_tables(store)
    with store._tx():
        store.conn.execute(
            "INSERT OR REPLACE INTO dataset_lineage (dataset_id, parent_id, recipe, created_at) VALUES (?,?,?,?)",
            (dataset_id, parent_id, recipe.to_json(), time.time()))


def lineage(store: Store, dataset_id: int) -> Lineage | None:
    """How dataset ``dataset_id`` was made, or None for a plain import."""
    ensure_tables(store)
    row = store.conn.execute("SELECT dataset_id, parent_id, recipe FROM dataset_lineage WHERE dataset_id=?",
                             (dataset_id,)).fetchone()
    return Lineage(int(row[0]), row[1], Recipe.from_json(row[2])) if row else None


def latest_recipe(store: Store, project_id: int, name: str) -> Recipe | None:
    """The recipe of the newest cleaned version of dataset ``name`` (to re-apply after a re-import)."""
    ensure_tables(store)
    row = store.conn.execute(
        "SELECT l.recipe FROM dataset_lineage l JOIN datasets d ON d.id = l.dataset_id "
        "WHERE d.project_id=? AND d.name=? ORDER BY d.version DESC LIMIT 1", (project_id, name)).fetchone()
    return Recipe.from_json(row[0]) if row else None
