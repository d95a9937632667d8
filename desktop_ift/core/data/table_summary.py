"""Plain-language descriptions of an Arrow table's columns (what the data page and the dataset record show)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pat


def type_label(arrow_type: pa.DataType) -> str:
    """The word a user sees for an Arrow type: string, integer, float, boolean, date, datetime, list, ..."""
    if pat.is_string(arrow_type) or pat.is_large_string(arrow_type) or pat.is_null(arrow_type):
        return "string"
    if pat.is_boolean(arrow_type):
        return "boolean"
    if pat.is_integer(arrow_type):
        return "integer"
    if pat.is_floating(arrow_type) or pat.is_decimal(arrow_type):
        return "float"
    if pat.is_timestamp(arrow_type):
        return "datetime"
    if pat.is_date(arrow_type):
        return "date"
    if pat.is_time(arrow_type):
        return "time"
    if pat.is_duration(arrow_type):
        return "duration"
    if pat.is_list(arrow_type) or pat.is_large_list(arrow_type) or pat.is_fixed_size_list(arrow_type):
        return "list"
    if pat.is_struct(arrow_type) or pat.is_map(arrow_type):
        return "struct"
    if pat.is_binary(arrow_type) or pat.is_large_binary(arrow_type) or pat.is_fixed_size_binary(arrow_type):
        return "binary"
    if pat.is_dictionary(arrow_type):
        return type_label(arrow_type.value_type)
    return str(arrow_type)


def column_types(table: pa.Table) -> list[dict]:
    """``[{"name": ..., "type": ...}]`` for every column, in table order (the shape stored with a dataset)."""
    return [{"name": f.name, "type": type_label(f.type)} for f in table.schema]


@dataclass
class ColumnSummary:
    """What one column holds: its type, how many cells are empty, how many distinct non-null values (capped)."""

    name: str
    type: str
    n_empty: int
    n_distinct: int
    distinct_capped: bool
    example: str


def summarize_columns(table: pa.Table, distinct_cap: int = 10_000) -> list[ColumnSummary]:
    """One :class:`ColumnSummary` per column; empty means null, or blank text for string columns."""
    out = []
    for field, column in zip(table.schema, table.columns):
        label = type_label(field.type)
        n_empty = column.null_count
        if label == "string" and not pat.is_null(field.type) and len(column):
            blank = pc.equal(pc.utf8_trim_whitespace(column.cast(pa.string())), "")
            n_empty += int(pc.sum(blank).as_py() or 0)
        try:
            count = pc.count_distinct(column, mode="only_valid").as_py()
            n_distinct, capped = min(count, distinct_cap), count > distinct_cap
        except (pa.ArrowException, NotImplementedError):  # nested types have no hash kernel
            n_distinct, capped = 0, False
        example = ""
        for value in column.slice(0, 50).to_pylist():
            if value not in (None, ""):
                example = str(value)[:80]
                break
        out.append(ColumnSummary(field.name, label, n_empty, n_distinct, capped, example))
    return out
