"""Plain-language descriptions of an Arrow table's columns (what the data page and the dataset record show)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    """What one column holds: its type, how many cells are empty, how many distinct non-null values (capped);
    for text columns also the text length in characters (min/median/max over filled cells) and a histogram of
    those lengths (``length_bins`` counts over equal-width bins from ``min_length`` to ``max_length``)."""

    name: str
    type: str
    n_empty: int
    n_distinct: int
    distinct_capped: bool
    example: str
    min_length: int | None = None
    median_length: float | None = None
    max_length: int | None = None
    length_bins: list[int] = field(default_factory=list)


def summarize_columns(table: pa.Table, distinct_cap: int = 10_000, bins: int = 12) -> list[ColumnSummary]:
    """One :class:`ColumnSummary` per column; empty means null, or blank text for string columns."""
    out = []
    for field_, column in zip(table.schema, table.columns):
        label = type_label(field_.type)
        n_empty = column.null_count
        if label == "string" and not pat.is_null(field_.type) and len(column):
            # blank = trimmed length 0; no Python scalar here: converting one makes pyarrow import pandas
            # (a second of start-up in the window's first data load)
            trimmed = pc.utf8_length(pc.utf8_trim_whitespace(column.cast(pa.string())))
            valid = len(trimmed) - trimmed.null_count
            n_empty += valid - int(pc.sum(pc.sign(trimmed)).as_py() or 0)
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
        summary = ColumnSummary(field_.name, label, n_empty, n_distinct, capped, example)
        if label == "string" and not pat.is_null(field_.type):
            _add_lengths(summary, column, bins)
        out.append(summary)
    return out


def _ints(array: pa.Array):
    """A null-free integer Arrow array as a numpy view of its data buffer."""
    import numpy as np

    dtype = np.dtype(f"<i{array.type.bit_width // 8}")
    return np.frombuffer(array.buffers()[1], dtype=dtype)[array.offset:array.offset + len(array)]


def _add_lengths(summary: ColumnSummary, column: pa.ChunkedArray, bins: int) -> None:
    """Fill in the text-length figures of a text column (vectorised; nulls and blank cells left out)."""
    import numpy as np

    lengths = pc.utf8_length(column.cast(pa.string()))
    lengths = pc.filter(lengths, pc.cast(pc.sign(lengths), pa.bool_()))  # a null in the mask drops the row
    if len(lengths) == 0:
        return
    # read from the buffers: pyarrow's own to_numpy goes through its pandas shim, and importing pandas costs
    # a second of the window's start (this runs in the first data load); the lengths have no nulls here
    chunks = lengths.chunks if isinstance(lengths, pa.ChunkedArray) else [lengths]
    values = np.concatenate([_ints(c) for c in chunks if len(c)])
    summary.min_length = int(values.min())
    summary.max_length = int(values.max())
    summary.median_length = float(np.median(values))
    counts, _ = np.histogram(values, bins=bins, range=(summary.min_length, max(summary.max_length,
                                                                                summary.min_length + 1)))
    summary.length_bins = [int(c) for c in counts]
