"""Rendering a whole table through a template at once, column by column.

Most templates are literal text with ``{{ column }}`` placeholders and nothing else. Such a field is the
element-wise concatenation of its literal parts and the columns it names, which Arrow does in C++
(``binary_join_element_wise``) for every row at once: no Jinja call per row. Every other field (filters,
``{% if %}``, expressions) goes through the same sandboxed, compiled Jinja template as
:func:`desktop_ift.core.templates.render.render_row`, one call per row. Both paths give the very same text
(a property test checks this), so callers never need to know which one ran.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from jinja2 import nodes

from desktop_ift.core.templates.render import (
    FIELDS,
    ROW_VARIABLE,
    PromptTemplate,
    TemplateError,
    _ENV,
    _compile,
    _finalize,
    _plain_value,
    _render_field,
    named_limit_error,
)


def value_text(value: Any) -> str:
    """How a single cell prints inside a template (``None``/NaN -> "", 3.0 -> "3.0", True -> "true")."""
    return str(_finalize(_plain_value(value)))


def _simple_parts(source: str) -> list[tuple[str, str]] | None:
    """``[("text", literal) | ("column", name), ...]`` when the field is only text and placeholders, else None."""
    if "{%" in source or "{#" in source:
        return None
    ast = _ENV.parse(source)
    parts: list[tuple[str, str]] = []
    for node in ast.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append(("text", child.data))
            elif isinstance(child, nodes.Name) and child.ctx == "load" and child.name != ROW_VARIABLE:
                parts.append(("column", child.name))
            elif (isinstance(child, nodes.Getitem) and isinstance(child.node, nodes.Name)
                  and child.node.name == ROW_VARIABLE and isinstance(child.arg, nodes.Const)
                  and isinstance(child.arg.value, str)):
                parts.append(("column", child.arg.value))
            elif (isinstance(child, nodes.Getattr) and isinstance(child.node, nodes.Name)
                  and child.node.name == ROW_VARIABLE):
                parts.append(("column", child.attr))
            else:
                return None
    return parts


def column_texts(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column as the strings a template prints for it (nulls as "")."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pc.fill_null(column.cast(pa.string()), "")
    if pa.types.is_integer(kind):
        return pc.fill_null(column.cast(pa.string()), "")
    return pa.array([value_text(v) for v in column.to_pylist()], type=pa.string())


class TableRenderer:
    """Renders any number of templates over one table, converting each column to text only once."""

    def __init__(self, table: pa.Table):
        self.table = table
        self._texts: dict[str, pa.Array] = {}
        self._rows: list[dict] | None = None

    def _column(self, name: str) -> pa.Array:
        if name not in self._texts:
            self._texts[name] = column_texts(self.table.column(name))
        return self._texts[name]

    def _row_dicts(self) -> list[dict]:
        if self._rows is None:
            self._rows = self.table.to_pylist()
        return self._rows

    def render_field(self, field: str, source: str, indices: pa.Array | None = None) -> list[str]:
        """``source`` rendered for the rows ``indices`` (default: every row), as a list of strings.

        Raises :class:`TemplateError` naming the field, line and column for a syntax error or a column the
        table lacks, and the (0-based) table row for a failure while rendering.
        """
        compiled = _compile(field, source or "")
        missing = [name for name in compiled.columns if name not in self.table.column_names]
        if missing:
            line, col = compiled.columns[missing[0]]
            raise TemplateError(
                f"this dataset has no column '{missing[0]}'. Available columns: "
                f"{', '.join(self.table.column_names) or '(none)'}.", field, line, col)
        n = self.table.num_rows if indices is None else len(indices)
        parts = _simple_parts(source or "")
        if parts is not None:
            if not parts:
                return [""] * n
            arrays = []
            for kind, value in parts:
                if kind == "text":
                    arrays.append(pa.scalar(value, pa.string()))
                else:
                    texts = self._column(value)
                    arrays.append(texts if indices is None else texts.take(indices))
            if all(isinstance(a, pa.Scalar) for a in arrays):
                return ["".join(p for _, p in parts)] * n
            joined = pc.binary_join_element_wise(*arrays, pa.scalar("", pa.string()))
            return joined.to_pylist()
        rows = self._row_dicts()
        wanted = range(self.table.num_rows) if indices is None else indices.to_pylist()
        out = []
        for index in wanted:
            values = {str(k): _plain_value(v) for k, v in rows[index].items()}
            out.append(_render_field(field, compiled, {**values, ROW_VARIABLE: values}, index))
        return out

    def render(self, template: PromptTemplate, indices: pa.Array | None = None) -> dict[str, list[str]]:
        """``{"system": [...], "prompt": [...], "response": [...]}`` for the rows ``indices`` (default: all)."""
        try:
            return {field: self.render_field(field, getattr(template, field) or "", indices) for field in FIELDS}
        except TemplateError as exc:
            raise named_limit_error(exc, template.name) from None


def render_table(template: PromptTemplate, table: pa.Table) -> dict[str, list[str]]:
    """Every row of ``table`` rendered through ``template``: three lists of strings, one per field."""
    return TableRenderer(table).render(template)
