"""Delimited text (CSV, TSV, ``.txt``): detect the encoding, delimiter, quote character and header row, let
the user override each, and read the file with ``pyarrow.csv`` (multi-threaded, no per-row Python)."""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from desktop_ift.core.data.import_common import (
    MAX_CELL_BYTES,
    DataImportError,
    ImportOptions,
    decodes_fully,
    detect_encoding,
    drop_unnamed_blank_columns,
    first_bad_line,
    read_text_sample,
    short,
)

DELIMITED_SUFFIXES = (".csv", ".tsv", ".txt")
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "vertical bar"}
_BLOCK_BYTES = 16 * 1024 * 1024
_INT_PATTERN = r"^(|0|-?[1-9][0-9]{0,17})$"  # canonical integers that fit int64 and print back unchanged
_FLOAT_PATTERN = r"^(|-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?)$"
_NUMBER_PATTERN = r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"


@dataclass
class CsvDialect:
    """The settings a delimited file is read with (detected, or chosen by the user)."""

    encoding: str
    delimiter: str
    quote_char: str
    has_header: bool


def detect_dialect(path: Path, options: ImportOptions | None = None) -> CsvDialect:
    """Detect how ``path`` is written; each setting given in ``options`` is taken as is."""
    options = options or ImportOptions()
    encoding = detect_encoding(path, options.encoding)
    sample, whole = read_text_sample(path, encoding)
    if not sample.strip():
        raise DataImportError(
            f'"{path.name}" is empty (it holds only blank lines). Choose a file that contains a table.', path)
    quote = options.quote_char or _detect_quote(sample)
    delimiter = options.delimiter or _choose_delimiter(sample, whole, path.suffix.lower(), quote)
    has_header = options.has_header if options.has_header is not None else _detect_header(sample, delimiter, quote)
    return CsvDialect(encoding, delimiter, quote, has_header)


def read_delimited(path: Path, options: ImportOptions | None = None) -> pa.Table:
    """Every row of the delimited file at ``path`` as a table of text columns (types inferred later)."""
    options = options or ImportOptions()
    dialect = detect_dialect(path, options)
    try:
        table = _read_with_arrow(path, dialect)
    except pa.ArrowInvalid as exc:
        if _is_decode_error(exc) and not options.encoding and dialect.encoding == "utf-8":
            # The first part was UTF-8 but a later byte is not: spreadsheets on Windows save CP-1252.
            dialect.encoding = "cp1252" if decodes_fully(path, "cp1252") else "latin-1"
            try:
                table = _read_with_arrow(path, dialect)
            except pa.ArrowInvalid as again:
                raise _delimited_error(path, dialect, again) from again
        else:
            raise _delimited_error(path, dialect, exc) from exc
    return _name_columns(table, path, dialect)


def preview_delimited(path: Path, options: ImportOptions | None = None, max_rows: int = 50
                      ) -> tuple[pa.Table, CsvDialect]:
    """The first ``max_rows`` rows (read from the start of the file only) and the dialect used."""
    dialect = detect_dialect(path, options)
    sample, _ = read_text_sample(path, dialect.encoding)
    rows = _csv_rows(sample, dialect.delimiter, max_rows + 1, dialect.quote_char)
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    if dialect.has_header:
        header, body = rows[0], rows[1:]
    else:
        header, body = default_names(width), rows
    columns = [pa.array([r[i] for r in body], pa.string()) for i in range(width)]
    table = pa.table(columns, names=[str(i) for i in range(width)]).rename_columns(header)
    return drop_unnamed_blank_columns(table), dialect


def default_names(width: int) -> list[str]:
    """``column_1`` ... for a file without a header row."""
    return [f"column_{i + 1}" for i in range(width)]


def _read_with_arrow(path: Path, dialect: CsvDialect) -> pa.Table:
    arrow_encoding = "utf8" if dialect.encoding in ("utf-8", "utf-8-sig", "utf_8", "utf_8_sig") else dialect.encoding
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    n_guess = max(len(r) for r in _csv_rows(head.decode(dialect.encoding, errors="ignore"),
                                              dialect.delimiter, 50, dialect.quote_char))
    return pcsv.read_csv(
        path,
        read_options=pcsv.ReadOptions(autogenerate_column_names=True, encoding=arrow_encoding,
                                      block_size=_BLOCK_BYTES),
        parse_options=pcsv.ParseOptions(delimiter=dialect.delimiter, quote_char=dialect.quote_char,
                                        double_quote=True, newlines_in_values=True, ignore_empty_lines=True),
        convert_options=pcsv.ConvertOptions(
            column_types={f"f{i}": pa.string() for i in range(n_guess + 64)},
            strings_can_be_null=False, quoted_strings_can_be_null=False),
    )


def _name_columns(raw: pa.Table, path: Path, dialect: CsvDialect) -> pa.Table:
    raw = pa.table([c if pa.types.is_string(c.type) else c.cast(pa.string()) for c in raw.columns],
                   names=raw.column_names)
    if raw.num_rows == 0:
        raise DataImportError(f'"{path.name}" is empty. Choose a file that contains a table.', path)
    _check_cell_sizes(raw, path, 1 if dialect.has_header else 0)
    if dialect.has_header:
        header = ["" if v is None else str(v) for v in raw.slice(0, 1).to_pylist()[0].values()]
        data = raw.slice(1)
    else:
        header, data = default_names(raw.num_columns), raw
    return drop_unnamed_blank_columns(data.rename_columns(header))


def _check_cell_sizes(table: pa.Table, path: Path, header_rows: int) -> None:
    for column in table.columns:
        lengths = pc.binary_length(column)
        biggest = pc.max(lengths).as_py() or 0
        if biggest > MAX_CELL_BYTES:
            row = pc.index(lengths, biggest).as_py()
            where = "the header" if row < header_rows else f"data row {row - header_rows + 1}"
            raise DataImportError(
                f'"{path.name}", {where}: one cell holds {biggest / 1e6:.1f} MB of text, more than the '
                f"{MAX_CELL_BYTES // (1024 * 1024)} MB limit for one cell. This usually means a quote (\") "
                "opens there and is never closed; fix that cell, or split the text, and import again.",
                path, where)


def infer_text_types(table: pa.Table) -> pa.Table:
    """Make text columns numeric when that loses nothing: integers (and floats written exactly as Python
    prints them) become numbers, empty cells then become nulls. Vectorised, one column at a time."""
    columns = []
    for column in table.columns:
        columns.append(_infer_column(column) if pa.types.is_string(column.type) else column)
    return pa.table(columns, names=table.column_names)


def _infer_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if len(column) == 0 or pc.all(pc.equal(column, "")).as_py():
        return column
    if pc.all(pc.match_substring_regex(column, _INT_PATTERN)).as_py():
        try:
            return pc.cast(_empty_as_null(column), pa.int64())
        except pa.ArrowInvalid:
            return column
    if pc.all(pc.match_substring_regex(column, _FLOAT_PATTERN)).as_py():
        distinct = pc.unique(column).to_pylist()
        if all(v == "" or repr(float(v)) == v for v in distinct):
            return pc.cast(_empty_as_null(column), pa.float64())
    return column


def _empty_as_null(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


# ---------------------------------------------------------------------------------------------- detection
def _detect_quote(sample: str) -> str:
    """``'`` only when the sniffer finds it and it opens fields; otherwise ``"``."""
    try:
        quote = csv.Sniffer().sniff(sample[:65536], delimiters=",\t;|").quotechar
    except csv.Error:
        return '"'
    if quote == "'" and '"' not in sample[:65536]:
        return "'"
    return '"'


def _choose_delimiter(sample: str, whole: bool, suffix: str, quote: str = '"') -> str:
    """The delimiter that splits the header and the sampled rows into the same number (>1) of fields.

    The file type's usual delimiter is tried first, then the one ``csv.Sniffer`` guesses, then the rest;
    a file that no delimiter splits consistently is read with the type's usual one.
    """
    default = "\t" if suffix == ".tsv" else ","
    candidates = [default]
    try:
        candidates.append(csv.Sniffer().sniff(sample[:65536], delimiters=",\t;|").delimiter)
    except csv.Error:
        pass
    candidates += [",", "\t", ";", "|"]
    for delimiter in dict.fromkeys(candidates):
        rows = _csv_rows(sample, delimiter, 200, quote)
        if not whole and len(rows) > 1:
            rows = rows[:-1]  # the last sampled record may be cut short
        if rows and len(rows[0]) > 1 and all(len(r) == len(rows[0]) for r in rows):
            return delimiter
    if suffix == ".txt":
        return "\t" if "\t" in sample.splitlines()[0] else ","
    return default


def _detect_header(sample: str, delimiter: str, quote: str) -> bool:
    """A first row with a number in it is data, not column names (names are words)."""
    import re

    rows = _csv_rows(sample, delimiter, 2, quote)
    if len(rows) < 2:
        return True
    return not any(re.match(_NUMBER_PATTERN, cell.strip()) for cell in rows[0])


def _csv_rows(text: str, delimiter: str, limit: int, quote: str = '"') -> list[list[str]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quote,
                              doublequote=True):
            if row:
                rows.append(row)
            if len(rows) >= limit:
                break
    except csv.Error:
        pass
    return rows or [[]]


# ---------------------------------------------------------------------------------------------- errors
def _is_decode_error(exc: Exception) -> bool:
    text = str(exc)
    return "invalid UTF8" in text or "UnicodeDecodeError" in text or "codec can't decode" in text


def _delimited_error(path: Path, dialect: CsvDialect, exc: Exception) -> DataImportError:
    """Turn a pyarrow parse failure into a message that names the line (found again with the csv module)."""
    message = str(exc)
    if _is_decode_error(exc):
        line = first_bad_line(path, dialect.encoding)
        where = f", line {line}" if line else ""
        return DataImportError(
            f'"{path.name}"{where} contains bytes that are not valid {dialect.encoding} text. Choose the '
            "file's real encoding in the import options (often cp1252 or latin-1 for files saved on Windows), "
            "or save it again as UTF-8 (in Excel: CSV UTF-8) and import again.",
            path, f"line {line}" if line else None)
    if "straddl" in message:
        return DataImportError(
            f'"{path.name}" has a cell larger than {_BLOCK_BYTES // (1024 * 1024)} MB, more than any prompt can '
            'use. Usually a quote (") opens and is never closed, so the rest of the file became one cell: '
            "look for a stray quote, or choose another quote character in the import options, then import "
            "again.", path)
    expected = found = line = None
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with open(path, encoding=dialect.encoding, errors="replace", newline="") as fh:
            reader = csv.reader(fh, delimiter=dialect.delimiter, quotechar=dialect.quote_char, doublequote=True)
            previous_end = 0
            for row in reader:
                start, previous_end = previous_end + 1, reader.line_num
                if not row:
                    continue
                if expected is None:
                    expected = len(row)
                elif len(row) != expected:
                    found, line = len(row), start
                    break
    except csv.Error:
        pass
    name = DELIMITER_NAMES.get(dialect.delimiter, repr(dialect.delimiter))
    if line is not None:
        return DataImportError(
            f'"{path.name}", line {line}: expected {expected} values like the first row, but found {found}. '
            f"The columns are separated by a {name}: check that line for a missing or extra {name}, or for a "
            f"quote ({dialect.quote_char}) that is not closed, fix it and import again. If the separator is "
            "wrong, choose another delimiter in the import options.",
            path, f"line {line}")
    return DataImportError(
        f'"{path.name}" could not be read as a table separated by a {name}: {short(exc)}. '
        f"Check for an unclosed quote ({dialect.quote_char}) or rows with a different number of values, fix it "
        "and import again.", path)
