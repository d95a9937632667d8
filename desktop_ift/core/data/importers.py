"""Read a user's table file (CSV/TSV/TXT, JSON, JSONL, Excel, Parquet, Arrow) into a ``pyarrow.Table``,
and import it into the workspace as a Parquet snapshot.

Every problem a user can cause ends in :class:`DataImportError`, whose text names the file, the line or row
where it applies, and what to do about it.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
import shutil
import sys
import unicodedata
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from desktop_ift.core.data.table_summary import column_types
from desktop_ift.core.store import DatasetRecord, Store

DELIMITED_SUFFIXES = (".csv", ".tsv", ".txt")
JSON_SUFFIXES = (".json",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet", ".pq")
ARROW_SUFFIXES = (".arrow", ".feather", ".ipc")
SUPPORTED_SUFFIXES = (
    DELIMITED_SUFFIXES + JSON_SUFFIXES + JSONL_SUFFIXES + EXCEL_SUFFIXES + PARQUET_SUFFIXES + ARROW_SUFFIXES
)

_SAMPLE_BYTES = 256 * 1024
_CSV_BLOCK_BYTES = 16 * 1024 * 1024
_DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "vertical bar"}
# Leading bytes of files people rename by mistake; the NUL/control-character test catches the rest.
_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one: if it is, rename it to .xlsx)"),
    (b"PAR1", "a Parquet file (rename it to .parquet)"),
    (b"ARROW1", "an Arrow file (rename it to .arrow)"),
    (b"\xd0\xcf\x11\xe0", "an old-style Excel (.xls) or Word file (save it as .xlsx or .csv)"),
    (b"\x7fELF", "a program"),
)
_INT_PATTERN = r"^(0|-?[1-9][0-9]{0,17})$"  # canonical integers that fit int64 and print back unchanged
_FLOAT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?$"


class DataImportError(Exception):
    """A file could not be imported. ``str(e)`` is the whole message for the user.

    ``path`` is the file concerned; ``location`` says where in it (``"line 17"``, ``"row 5"``) or is None.
    """

    def __init__(self, message: str, path: Path | str | None = None, location: str | None = None):
        super().__init__(message)
        self.path = Path(path) if path is not None else None
        self.location = location


# ---------------------------------------------------------------------------------------------- reading
def read_table(path: Path | str) -> pa.Table:
    """Read every column of the table file at ``path``, with column names stripped of surrounding spaces.

    Text files keep their cells as text, except columns whose every filled cell is an integer (or a float
    written exactly as Python prints it), which become numbers with empty cells as nulls. Raises
    :class:`DataImportError` for a missing, empty, binary, malformed or unsupported file, for duplicate or
    empty column names, and for a file with no data rows.
    """
    path = Path(path)
    if not path.exists():
        raise DataImportError(f"File not found: {path}. Check the path or choose the file again.", path)
    if path.is_dir():
        raise DataImportError(f"{path} is a folder, not a file. Choose a table file inside it.", path)
    suffix = path.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise DataImportError(_unsupported_message(path), path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataImportError(
            f'"{path.name}" cannot be read: {exc.strerror or exc}. Check that you may open it.', path) from exc
    if size == 0:
        raise DataImportError(f'"{path.name}" is empty (0 bytes). Choose a file that contains a table.', path)
    try:
        table, label_column = reader(path)
    except DataImportError:
        raise
    except MemoryError as exc:
        raise DataImportError(
            f'"{path.name}" is too large to load into memory. Split it into smaller files, or convert it to '
            "Parquet, and import again.", path) from exc
    except PermissionError as exc:
        raise DataImportError(
            f'"{path.name}" cannot be opened: permission denied. Check that you may read it.', path) from exc
    except Exception as exc:  # a library failing on a malformed file: say which file and what kind
        raise DataImportError(
            f'"{path.name}" could not be read as {_kind(suffix)}: {_short(exc)}. Check that the file is complete '
            "and really is that kind of file; export it again if needed.", path) from exc
    return _finish(table, path, label_column)


def _unsupported_message(path: Path) -> str:
    suffix = path.suffix.lower() or "(no extension)"
    supported = ", ".join(SUPPORTED_SUFFIXES)
    hint = ""
    if suffix == ".xls":
        hint = " Open it in Excel and save it as .xlsx or .csv."
    elif suffix in (".ods", ".numbers"):
        hint = " Export it from your spreadsheet program as .xlsx or .csv."
    return f'"{path.name}" has a file type desktop_ift cannot read ({suffix}). Supported types: {supported}.{hint}'


def _kind(suffix: str) -> str:
    if suffix in DELIMITED_SUFFIXES:
        return "delimited text (CSV/TSV)"
    if suffix in JSON_SUFFIXES:
        return "JSON"
    if suffix in JSONL_SUFFIXES:
        return "JSON Lines"
    if suffix in EXCEL_SUFFIXES:
        return "an Excel workbook"
    if suffix in PARQUET_SUFFIXES:
        return "Parquet"
    return "an Arrow file"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# ---------------------------------------------------------------------------------------------- text detection
def _detect_encoding(path: Path) -> str:
    """The Python codec that decodes the text file at ``path``; refuses files that are not text."""
    with open(path, "rb") as fh:
        head = fh.read(_SAMPLE_BYTES)
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise DataImportError(
                f'"{path.name}" is not a text table: it looks like {what}. Choose the right file.', path)
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif _looks_like_utf16(head, 1):
        encoding = "utf-16-le"
    elif _looks_like_utf16(head, 0):
        encoding = "utf-16-be"
    elif b"\x00" in head:
        raise _binary_error(path)
    elif _decodes(path, "utf-8"):
        encoding = "utf-8"
    elif _decodes(path, "cp1252"):
        encoding = "cp1252"
    else:
        encoding = "latin-1"
    sample = head.decode(encoding, errors="replace")
    odd = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v")
    if odd >= 3 and odd > len(sample) / 100:
        raise _binary_error(path)
    if encoding.startswith("utf-16") and "\x00" in sample:
        raise _binary_error(path)
    return encoding


def _binary_error(path: Path) -> DataImportError:
    return DataImportError(
        f'"{path.name}" does not contain text: it holds binary data (is it an image, an archive or a program '
        "renamed to a table extension?). Choose the original CSV/Excel/JSON file.", path)


def _looks_like_utf16(head: bytes, nul_offset: int) -> bool:
    """UTF-16 without a byte-order mark: mostly-ASCII text has a NUL in every other byte."""
    if len(head) < 4:
        return False
    zeros = head[nul_offset::2].count(0)
    others = head[1 - nul_offset::2].count(0)
    half = len(head) // 2
    return zeros > 0.4 * half and others < 0.05 * half


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _read_text_sample(path: Path, encoding: str) -> tuple[str, bool]:
    """The first part of the file as text, cut at a line end; True if that is the whole file."""
    with open(path, "rb") as fh:
        raw = fh.read(_SAMPLE_BYTES + 1)
    whole = len(raw) <= _SAMPLE_BYTES
    text = raw[:_SAMPLE_BYTES].decode(encoding, errors="ignore")
    if not whole and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    return text, whole


# ---------------------------------------------------------------------------------------------- delimited text
def _read_delimited(path: Path) -> tuple[pa.Table, Callable[[int], str]]:
    encoding = _detect_encoding(path)
    sample, whole = _read_text_sample(path, encoding)
    if not sample.strip():
        raise DataImportError(
            f'"{path.name}" is empty (it holds only blank lines). Choose a file that contains a table.', path)
    delimiter = _choose_delimiter(sample, whole, path.suffix.lower())
    arrow_encoding = "utf8" if encoding in ("utf-8", "utf-8-sig") else encoding
    n_header = len(_csv_rows(sample, delimiter, 1)[0])
    try:
        raw = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(
                autogenerate_column_names=True, encoding=arrow_encoding, block_size=_CSV_BLOCK_BYTES),
            parse_options=pcsv.ParseOptions(
                delimiter=delimiter, quote_char='"', double_quote=True, newlines_in_values=True,
                ignore_empty_lines=True),
            convert_options=pcsv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(n_header + 64)},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:
        raise _delimited_error(path, encoding, delimiter, exc) from exc
    raw = pa.table({name: raw.column(name).cast(pa.string()) for name in raw.column_names})
    header = [str(v) for v in raw.slice(0, 1).to_pylist()[0].values()] if raw.num_rows else []
    if not header:
        raise DataImportError(f'"{path.name}" is empty. Choose a file that contains a table.', path)
    data = raw.slice(1)
    data = data.rename_columns(header)
    data = _drop_unnamed_blank_columns(data)
    return data, lambda i: f"column {i + 1}"


def _choose_delimiter(sample: str, whole: bool, suffix: str) -> str:
    """The delimiter that splits the header and the sampled rows into the same number (>1) of fields.

    The file type's usual delimiter is tried first, then the one ``csv.Sniffer`` guesses, then the rest;
    a file that no delimiter splits consistently is read as one column.
    """
    default = "\t" if suffix == ".tsv" else ","
    candidates = [default]
    try:
        candidates.append(csv.Sniffer().sniff(sample[:65536], delimiters=",\t;|").delimiter)
    except csv.Error:
        pass
    candidates += [",", "\t", ";", "|"]
    for delimiter in dict.fromkeys(candidates):
        rows = _csv_rows(sample, delimiter, 200)
        if not whole and len(rows) > 1:
            rows = rows[:-1]  # the last sampled record may be cut short
        if rows and len(rows[0]) > 1 and all(len(r) == len(rows[0]) for r in rows):
            return delimiter
    if suffix == ".txt":
        return "\t" if "\t" in sample.splitlines()[0] else ","
    return default


def _csv_rows(text: str, delimiter: str, limit: int) -> list[list[str]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', doublequote=True):
            if row:
                rows.append(row)
            if len(rows) >= limit:
                break
    except csv.Error:
        pass
    return rows or [[]]


def _delimited_error(path: Path, encoding: str, delimiter: str, exc: Exception) -> DataImportError:
    """Turn a pyarrow parse failure into a message that names the line (found again with the csv module)."""
    message = str(exc)
    if "invalid UTF8" in message or "UnicodeDecodeError" in message:
        return DataImportError(
            f'"{path.name}" contains characters that are not valid in its text encoding ({encoding}). '
            "Save it again as UTF-8 (in Excel: CSV UTF-8) and import again.", path)
    expected = found = line = None
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with open(path, encoding=encoding, errors="replace", newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter, quotechar='"', doublequote=True)
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
    name = _DELIMITER_NAMES.get(delimiter, repr(delimiter))
    if line is not None:
        return DataImportError(
            f'"{path.name}", line {line}: expected {expected} values like the header row, but found {found}. '
            f"The columns are separated by a {name}: check that line for a missing or extra {name}, or for a "
            'quote (") that is not closed, fix it and import again.',
            path, f"line {line}")
    return DataImportError(
        f'"{path.name}" could not be read as a table separated by a {name}: {_short(exc)}. '
        'Check for an unclosed quote (") or rows with a different number of values, fix it and import again.',
        path)


def _drop_unnamed_blank_columns(table: pa.Table) -> pa.Table:
    """Drop columns with no name and no values (a trailing delimiter on every line makes one)."""
    keep = []
    for i, (name, column) in enumerate(zip(table.column_names, table.columns)):
        if name.strip() == "" and _is_blank(column):
            continue
        keep.append(i)
    return table.select(keep) if len(keep) != table.num_columns else table


def _is_blank(column: pa.ChunkedArray) -> bool:
    if column.null_count == len(column):
        return True
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        filled = pc.sum(pc.not_equal(pc.utf8_trim_whitespace(column), "")).as_py() or 0
        return filled == 0
    return False


def _infer_text_types(table: pa.Table) -> pa.Table:
    """Make text columns numeric when that loses nothing (see :func:`read_table`)."""
    columns = []
    for column in table.columns:
        columns.append(_infer_column(column) if pa.types.is_string(column.type) else column)
    return pa.table(columns, names=table.column_names)


def _infer_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    filled_mask = pc.not_equal(column, "")
    values = pc.filter(column, filled_mask)
    if len(values) == 0:
        return column
    with_nulls = pc.if_else(filled_mask, column, pa.scalar(None, pa.string()))
    if pc.all(pc.match_substring_regex(values, _INT_PATTERN)).as_py():
        try:
            return pc.cast(with_nulls, pa.int64())
        except pa.ArrowInvalid:
            return column
    if pc.all(pc.match_substring_regex(values, _FLOAT_PATTERN)).as_py():
        distinct = pc.unique(values).to_pylist()
        if all(repr(float(v)) == v for v in distinct):
            return pc.cast(with_nulls, pa.float64())
    return column


# ---------------------------------------------------------------------------------------------- JSON and JSONL
def _read_json(path: Path) -> tuple[pa.Table, Callable[[int], str]]:
    encoding = _detect_encoding(path)
    text = path.read_text(encoding=encoding)
    if not text.strip():
        raise DataImportError(f'"{path.name}" is empty (only blank space). Choose a file that contains a table.', path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # one object per line saved as .json
            try:
                return _records_table(_jsonl_records(path, text), path), _name_column
            except DataImportError:
                pass
        raise DataImportError(
            f'"{path.name}", line {exc.lineno}, column {exc.colno}: this is not valid JSON ({exc.msg}). '
            "Fix the file there or export it again.", path, f"line {exc.lineno}") from exc
    if isinstance(data, dict):
        lists = [(k, v) for k, v in data.items() if isinstance(v, list)]
        if len(lists) == 1:
            key, data = lists[0]
        else:
            where = "no list" if not lists else f"{len(lists)} lists ({', '.join(k for k, _ in lists)})"
            raise DataImportError(
                f'"{path.name}" is a JSON object with {where}; desktop_ift needs a list of records such as '
                '[{"question": "...", "answer": "..."}, ...], either on its own or under one key. '
                "Export the data as a list of records.", path)
    if not isinstance(data, list):
        raise DataImportError(
            f'"{path.name}" holds a single JSON {_json_type(data)}, not a list of records such as '
            '[{"question": "...", "answer": "..."}, ...]. Export the data as a list of records.', path)
    records = []
    for i, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise DataImportError(
                f'"{path.name}", item {i} of the list is a {_json_type(item)}, not a record '
                '({"column": value, ...}). Every item must be a record with named fields.', path, f"item {i}")
        records.append(item)
    return _records_table(records, path), _name_column


def _read_jsonl(path: Path) -> tuple[pa.Table, Callable[[int], str]]:
    encoding = _detect_encoding(path)
    text = path.read_text(encoding=encoding)
    if not text.strip():
        raise DataImportError(f'"{path.name}" is empty (only blank lines). Choose a file that contains a table.', path)
    return _records_table(_jsonl_records(path, text), path), _name_column


def _jsonl_records(path: Path, text: str) -> list[dict]:
    records = []
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): JSON text may hold U+2028
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataImportError(
                f'"{path.name}", line {number}: this line is not valid JSON ({exc.msg} at character {exc.colno}). '
                "Each line must hold one complete record such as {\"question\": \"...\"}; fix that line.",
                path, f"line {number}") from exc
        if not isinstance(item, dict):
            raise DataImportError(
                f'"{path.name}", line {number}: this line holds a {_json_type(item)}, not a record '
                '({"column": value, ...}). Every line must be one record with named fields.',
                path, f"line {number}")
        records.append(item)
    return records


def _name_column(i: int) -> str:
    return f"field {i + 1}"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false value"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text string"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return "record"


def _records_table(records: list[dict], path: Path) -> pa.Table:
    if not records:
        raise DataImportError(f'"{path.name}" contains no records. Choose a file with at least one row of data.', path)
    names = list(dict.fromkeys(k for record in records for k in record))
    return pa.table([_column_from_values([r.get(k) for r in records]) for k in names], names=names)


def _column_from_values(values: list) -> pa.Array:
    """An Arrow column with the values' own type, or their text when the values mix types."""
    try:
        array = pa.array(values)
        if not pa.types.is_null(array.type):
            return array
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass
    return pa.array([None if v is None else _to_text(v) for v in values], pa.string())


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


# ---------------------------------------------------------------------------------------------- Excel
def _read_excel(path: Path) -> tuple[pa.Table, Callable[[int], str]]:
    import zipfile

    import openpyxl
    from openpyxl.utils import get_column_letter
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise DataImportError(
            f'"{path.name}" cannot be opened as an Excel workbook ({_short(exc)}). It may be damaged, '
            "password-protected or another kind of file: open it in Excel, save it again as .xlsx or .csv, "
            "and import that.", path) from exc
    try:
        if not workbook.worksheets:
            raise DataImportError(f'"{path.name}" has no worksheets. Add the data to the first sheet.', path)
        sheet = workbook.worksheets[0]
        header: list | None = None
        header_row = 0
        rows: list[tuple] = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if not any(v is not None and (not isinstance(v, str) or v.strip()) for v in values):
                continue
            if header is None:
                header, header_row = list(values), number
            else:
                rows.append(values)
        if header is None or not rows:
            what = "is empty" if header is None else f"has column names (row {header_row}) but no data rows"
            raise DataImportError(
                f'"{path.name}": the first sheet ("{sheet.title}") {what}. desktop_ift reads the first sheet, '
                "with column names in its first row: move the data there and import again.", path)
        width = _excel_width(header, rows)
        names = [("" if v is None else _to_text(v)) for v in header[:width]] + [""] * (width - len(header))
        columns = [[r[i] if i < len(r) else None for r in rows] for i in range(width)]
    finally:
        workbook.close()
    table = pa.table([_column_from_values(c) for c in columns], names=[str(i) for i in range(width)])
    table = table.rename_columns(names)
    table = _drop_unnamed_blank_columns(table)
    return table, lambda i: f"column {get_column_letter(i + 1)}"


def _excel_width(header: list, rows: list[tuple]) -> int:
    """The number of columns that hold a name or any value."""
    width = 0
    for row in [tuple(header), *rows]:
        for i in range(len(row) - 1, -1, -1):
            if row[i] is not None and not (isinstance(row[i], str) and not row[i].strip()):
                width = max(width, i + 1)
                break
    return width


# ---------------------------------------------------------------------------------------------- Parquet / Arrow
def _read_parquet(path: Path) -> tuple[pa.Table, Callable[[int], str]]:
    try:
        return pq.read_table(path), _plain_column
    except (pa.ArrowException, OSError) as exc:
        raise DataImportError(
            f'"{path.name}" is not a readable Parquet file ({_short(exc)}); it may be damaged or only partly '
            "copied. Export it again and import the new file.", path) from exc


def _read_arrow(path: Path) -> tuple[pa.Table, Callable[[int], str]]:
    import pyarrow.ipc as ipc

    errors = []
    for open_reader in (ipc.open_file, ipc.open_stream):
        try:
            with pa.OSFile(str(path), "rb") as source:
                return open_reader(source).read_all(), _plain_column
        except (pa.ArrowException, OSError) as exc:
            errors.append(exc)
    raise DataImportError(
        f'"{path.name}" is not a readable Arrow/Feather file ({_short(errors[0])}); it may be damaged or another '
        "kind of file. Export it again, or save it as Parquet or CSV.", path)


def _plain_column(i: int) -> str:
    return f"column {i + 1}"


_READERS: dict[str, Callable[[Path], tuple[pa.Table, Callable[[int], str]]]] = {
    **{s: _read_delimited for s in DELIMITED_SUFFIXES},
    **{s: _read_json for s in JSON_SUFFIXES},
    **{s: _read_jsonl for s in JSONL_SUFFIXES},
    **{s: _read_excel for s in EXCEL_SUFFIXES},
    **{s: _read_parquet for s in PARQUET_SUFFIXES},
    **{s: _read_arrow for s in ARROW_SUFFIXES},
}


# ---------------------------------------------------------------------------------------------- checks
def _finish(table: pa.Table, path: Path, label_column: Callable[[int], str]) -> pa.Table:
    """Strip and check the column names, give all-null columns a text type, refuse a table with no rows."""
    names = [str(n).strip() for n in table.column_names]
    _check_names(names, path, label_column)
    if not names:
        raise DataImportError(f'"{path.name}" has no columns. Choose a file that contains a table.', path)
    if table.num_rows == 0:
        raise DataImportError(
            f'"{path.name}" has column names ({", ".join(names[:8])}{", ..." if len(names) > 8 else ""}) '
            "but no data rows. Add rows below the header and import again.", path)
    table = table.rename_columns(names)
    columns = [c.cast(pa.string()) if pa.types.is_null(c.type) else c for c in table.columns]
    table = pa.table(columns, names=names)
    if path.suffix.lower() in DELIMITED_SUFFIXES:
        table = _infer_text_types(table)
    return table


def _check_names(names: list[str], path: Path, label_column: Callable[[int], str]) -> None:
    for i, name in enumerate(names):
        if name == "":
            raise DataImportError(
                f'"{path.name}": {label_column(i)} has no name but holds data. Give every column a name in the '
                "header row and import again.", path, label_column(i))
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        seen.setdefault(name, []).append(i)
    duplicates = {n: idx for n, idx in seen.items() if len(idx) > 1}
    if duplicates:
        parts = [f'"{n}" ({" and ".join(label_column(i) for i in idx)})' for n, idx in duplicates.items()]
        raise DataImportError(
            f'"{path.name}" has more than one column with the same name: {"; ".join(parts)}. Column names must be '
            "unique: rename the repeated columns and import again.", path)


# ---------------------------------------------------------------------------------------------- workspace import
def import_dataset(store: Store, project_id: int, path: Path | str, name: str | None = None) -> DatasetRecord:
    """Import the file at ``path`` into project ``project_id`` and return its dataset record.

    The table is saved as ``datasets/<id>/data.parquet`` in the workspace, so the dataset survives the source
    file being moved or deleted. Importing a name that exists makes the next version. On any failure nothing
    is left behind: no folder and no database row. Raises :class:`DataImportError` for problems with the file.
    """
    path = Path(path)
    store.get_project(project_id)  # a clear StoreError before any work if the project is gone
    table = read_table(path)
    name = (name or "").strip() or path.stem
    source_hash, size = _file_digest(path)
    staging = store.datasets_dir / f".importing-{uuid.uuid4().hex}"
    record: DatasetRecord | None = None
    try:
        staging.mkdir(parents=True)
        pq.write_table(table, staging / "data.parquet")
        record = _insert_record(store, project_id, name, path, source_hash, size, table)
        final_dir = Path(record.snapshot_path).parent
        if final_dir.exists():  # left over from a deleted dataset whose id has been given out again
            shutil.rmtree(final_dir)
        staging.rename(final_dir)
    except BaseException as exc:
        if record is not None:
            store.delete_dataset(record.id)
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise DataImportError(
                f'"{path.name}" was read, but its copy could not be saved in the workspace {store.home}: '
                f"{exc.strerror or exc}. Free some disk space or choose another workspace, then import again.",
                path) from exc
        raise
    return record


def _insert_record(
    store: Store, project_id: int, name: str, path: Path, source_hash: str, size: int, table: pa.Table
) -> DatasetRecord:
    """Insert the dataset row whose snapshot path names its own id (retrying if another process took it)."""
    for _ in range(20):
        dataset_id = store.reserve_dataset_id()
        snapshot = store.dataset_dir(dataset_id) / "data.parquet"
        record = store.add_dataset(
            project_id, name, str(path.resolve()), source_hash, size, table.num_rows, column_types(table),
            str(snapshot))
        if record.id == dataset_id:
            return record
        store.delete_dataset(record.id)
    raise DataImportError(
        f'"{path.name}" could not be recorded: the workspace is busy with other imports. Try again.', path)


def _file_digest(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def load_dataset_table(record: DatasetRecord) -> pa.Table:
    """The imported table of ``record``, read from its workspace snapshot.

    Raises :class:`DataImportError` if the snapshot has gone missing or is damaged.
    """
    snapshot = Path(record.snapshot_path)
    if not snapshot.is_file():
        raise DataImportError(
            f'The saved copy of dataset "{record.name}" (version {record.version}) is missing: {snapshot}. '
            f"Import the original file ({record.source_path}) again.", snapshot)
    try:
        return pq.read_table(snapshot)
    except (pa.ArrowException, OSError) as exc:
        raise DataImportError(
            f'The saved copy of dataset "{record.name}" (version {record.version}) is damaged ({_short(exc)}): '
            f"{snapshot}. Import the original file ({record.source_path}) again.", snapshot) from exc


def table_rows(table: pa.Table, start: int, count: int) -> list[dict]:
    """Rows ``start`` .. ``start + count - 1`` of ``table`` as dicts (fewer past the end).

    Only that slice is converted to Python objects, so previews of large tables stay fast.
    """
    start = max(0, int(start))
    count = max(0, int(count))
    if start >= table.num_rows or count == 0:
        return []
    return table.slice(start, count).to_pylist()
