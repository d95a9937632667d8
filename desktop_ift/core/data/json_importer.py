"""JSON (a list of records, or records under a key) and JSON Lines (one record per line)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from desktop_ift.core.data.import_common import (
    DataImportError,
    ImportOptions,
    column_from_values,
    detect_encoding,
    json_type,
)

JSON_SUFFIXES = (".json",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
_EXAMPLE = '[{"question": "...", "answer": "..."}, ...]'


def read_json(path: Path, options: ImportOptions | None = None, notices: list | None = None) -> pa.Table:
    """The records of a JSON file: a list of objects, or the list under ``options.records_key`` (or under
    the object's only list-valued key). One object per line saved as ``.json`` is read as JSON Lines."""
    options = options or ImportOptions()
    text = _read_text(path, options)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # one object per line saved as .json
            try:
                return records_table(jsonl_records(path, text), path, notices, "line")
            except DataImportError:
                pass
        raise DataImportError(
            f'"{path.name}", line {exc.lineno}, column {exc.colno}: this is not valid JSON ({exc.msg}). '
            "Fix the file there or export it again.", path, f"line {exc.lineno}") from exc
    if isinstance(data, dict):
        data = _records_under_key(data, path, options.records_key)
    if not isinstance(data, list):
        raise DataImportError(
            f'"{path.name}" holds a single JSON {json_type(data)}, not a list of records such as {_EXAMPLE}. '
            "Export the data as a list of records.", path)
    for i, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise DataImportError(
                f'"{path.name}", item {i} of the list is a {json_type(item)}, not a record '
                '({"column": value, ...}). Every item must be a record with named fields.', path, f"item {i}")
    return records_table(data, path, notices, "record")


def record_list_keys(path: Path) -> list[str]:
    """The keys of a JSON object file whose values are lists (what the import dialog offers as record
    keys); empty for a JSON array or anything unreadable."""
    try:
        data = json.loads(_read_text(path, ImportOptions()))
    except (DataImportError, ValueError, OSError):
        return []
    if not isinstance(data, dict):
        return []
    return [k for k, v in data.items() if isinstance(v, list)]


def _records_under_key(data: dict, path: Path, key: str | None) -> list:
    lists = [(k, v) for k, v in data.items() if isinstance(v, list)]
    if key is not None:
        if key not in data:
            found = ", ".join(f'"{k}"' for k, _ in lists) or "none"
            raise DataImportError(
                f'"{path.name}" has no key "{key}". Keys holding lists of records: {found}. '
                "Choose one of those as the records key.", path)
        if not isinstance(data[key], list):
            raise DataImportError(
                f'"{path.name}": the key "{key}" holds a {json_type(data[key])}, not a list of records. '
                "Choose a key whose value is a list.", path)
        return data[key]
    if len(lists) == 1:
        return lists[0][1]
    if not lists:
        raise DataImportError(
            f'"{path.name}" is a JSON object with no list in it; desktop_ift needs a list of records such as '
            f"{_EXAMPLE}, either on its own or under one key. Export the data as a list of records.", path)
    names = ", ".join(f'"{k}"' for k, _ in lists)
    raise DataImportError(
        f'"{path.name}" is a JSON object with {len(lists)} lists ({names}). Choose which one holds the records '
        "(the records key in the import options, or --records-key on the command line).", path)


def read_jsonl(path: Path, options: ImportOptions | None = None, notices: list | None = None) -> pa.Table:
    """The records of a JSON Lines file (blank lines skipped)."""
    return records_table(jsonl_records(path, _read_text(path, options or ImportOptions())), path, notices,
                         "record")


def _read_text(path: Path, options: ImportOptions) -> str:
    encoding = detect_encoding(path, options.encoding)
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataImportError(
            f'"{path.name}", line {line}: bytes that are not valid {encoding} text. JSON files must be UTF-8: '
            "save it again as UTF-8 and import again.", path, f"line {line}") from exc
    if not text.strip():
        raise DataImportError(f'"{path.name}" is empty (only blank space). Choose a file that contains a table.',
                              path)
    return text


def jsonl_records(path: Path, text: str) -> list[dict]:
    """One dict per non-blank line; the first bad line is named in the error."""
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
                f'"{path.name}", line {number}: this line holds a {json_type(item)}, not a record '
                '({"column": value, ...}). Every line must be one record with named fields.',
                path, f"line {number}")
        records.append(item)
    return records


def records_table(records: list[dict], path: Path, notices: list | None = None,
                  row_label: str = "record") -> pa.Table:
    """A table with one column per key seen in any record (missing keys are null); a column that mixes
    types is kept as text and named in ``notices`` (see :func:`column_from_values`)."""
    if not records:
        raise DataImportError(f'"{path.name}" contains no records. Choose a file with at least one row of data.',
                              path)
    names = list(dict.fromkeys(k for record in records for k in record))
    return pa.table([column_from_values([r.get(k) for r in records], k, notices, row_label) for k in names],
                    names=names)
