"""Read a user's data (CSV/TSV/TXT, JSON, JSONL, Excel, Parquet, Arrow/Feather, a ``datasets``
``save_to_disk`` folder, or a folder of ``.txt``/``.md`` documents) into a ``pyarrow.Table``, preview it,
and import it into the workspace as a snapshot.

Every problem a user can cause ends in :class:`DataImportError`, whose text names the file, the line or row
where it applies, and what to do about it. The readers live in one module per format; this module is the
public entry point.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat as stat_module
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa

from desktop_ift.core.data import columnar_importer as columnar
from desktop_ift.core.data import csv_importer, excel_importer, json_importer, text_folder_importer
from desktop_ift.core.data.import_common import DataImportError, ImportNotice, ImportOptions, short
from desktop_ift.core.data.snapshots import load_dataset_table, save_dataset_table, table_rows
from desktop_ift.core.store import DatasetRecord, Store

DELIMITED_SUFFIXES = csv_importer.DELIMITED_SUFFIXES
JSON_SUFFIXES = json_importer.JSON_SUFFIXES
JSONL_SUFFIXES = json_importer.JSONL_SUFFIXES
EXCEL_SUFFIXES = excel_importer.EXCEL_SUFFIXES
PARQUET_SUFFIXES = columnar.PARQUET_SUFFIXES
ARROW_SUFFIXES = columnar.ARROW_SUFFIXES
SUPPORTED_SUFFIXES = (
    DELIMITED_SUFFIXES + JSON_SUFFIXES + JSONL_SUFFIXES + EXCEL_SUFFIXES + PARQUET_SUFFIXES + ARROW_SUFFIXES
)

__all__ = [
    "DataImportError", "ImportOptions", "SUPPORTED_SUFFIXES", "SourceInfo", "describe_source", "read_table",
    "preview_table", "import_dataset", "load_dataset_table", "table_rows", "file_kind", "ImportNotice",
]
_TAKES_NOTICES = {csv_importer.read_delimited, json_importer.read_json, json_importer.read_jsonl,
                  excel_importer.read_excel}

_READERS: dict[str, Callable[..., pa.Table]] = {
    **{s: csv_importer.read_delimited for s in DELIMITED_SUFFIXES},
    **{s: json_importer.read_json for s in JSON_SUFFIXES},
    **{s: json_importer.read_jsonl for s in JSONL_SUFFIXES},
    **{s: excel_importer.read_excel for s in EXCEL_SUFFIXES},
    **{s: columnar.read_parquet for s in PARQUET_SUFFIXES},
    **{s: columnar.read_arrow for s in ARROW_SUFFIXES},
}


@dataclass
class SourceInfo:
    """What a source is and how it would be read: its kind (``csv``, ``json``, ``jsonl``, ``excel``,
    ``parquet``, ``arrow``, ``hf_folder``, ``text_folder``), the settings detected for it (``options``: every
    field filled in for delimited text), the sheet names of a workbook and the list keys of a JSON object."""

    path: Path
    kind: str
    options: ImportOptions
    sheets: list[str] = field(default_factory=list)
    record_keys: list[str] = field(default_factory=list)


def file_kind(path: Path | str) -> str:
    """The kind of source at ``path`` (see :class:`SourceInfo`); raises for unsupported types."""
    path = Path(path)
    if path.is_dir():
        return "hf_folder" if columnar.is_hf_dataset_folder(path) else "text_folder"
    suffix = path.suffix.lower()
    for kind, suffixes in (("csv", DELIMITED_SUFFIXES), ("json", JSON_SUFFIXES), ("jsonl", JSONL_SUFFIXES),
                           ("excel", EXCEL_SUFFIXES), ("parquet", PARQUET_SUFFIXES), ("arrow", ARROW_SUFFIXES)):
        if suffix in suffixes:
            return kind
    raise DataImportError(_unsupported_message(path), path)


def describe_source(path: Path | str, options: ImportOptions | None = None) -> SourceInfo:
    """Detect how ``path`` would be read with ``options`` (what the import dialog shows as its defaults)."""
    path = _check_exists(Path(path))
    options = options or ImportOptions()
    kind = file_kind(path)
    info = SourceInfo(path, kind, ImportOptions.from_dict(options.to_dict()))
    if kind == "csv":
        _check_not_empty(path)
        d = csv_importer.detect_dialect(path, options)
        info.options = ImportOptions(delimiter=d.delimiter, quote_char=d.quote_char, encoding=d.encoding,
                                     has_header=d.has_header)
    elif kind == "excel":
        _check_not_empty(path)
        info.sheets = excel_importer.excel_sheet_names(path)
    elif kind == "json":
        info.record_keys = json_importer.record_list_keys(path)
    return info


def read_table(path: Path | str, options: ImportOptions | None = None,
               notices: list[ImportNotice] | None = None) -> pa.Table:
    """Read every row of the source at ``path`` (a file, or a folder: see the module docstring), with column
    names stripped of surrounding spaces; ``options`` override what is detected.

    Text files keep their cells as text, except columns whose every filled cell is an integer (or a float
    written exactly as Python prints it), which become numbers with empty cells as nulls. Raises
    :class:`DataImportError` for a missing, empty, binary, malformed or unsupported file, for duplicate or
    empty column names, and for a file with no data rows. What the user must see before trusting the result
    (bytes in another encoding, cells with line breaks, the header guess, formulas without saved results,
    columns kept as text for mixing types) is appended to ``notices`` as :class:`ImportNotice`.
    """
    path = _check_exists(Path(path))
    kind = file_kind(path)
    if path.is_dir():
        reader = columnar.read_hf_dataset_folder if kind == "hf_folder" else text_folder_importer.read_text_folder
    else:
        _check_not_empty(path)
        reader = _READERS[path.suffix.lower()]
    found: list[ImportNotice] = []
    if reader in _TAKES_NOTICES:
        table = _guarded(path, kind, lambda: reader(path, options or ImportOptions(), notices=found))
    else:
        table = _guarded(path, kind, lambda: reader(path, options or ImportOptions()))
    if notices is not None:
        notices.extend(found)
    table = _finish(table, path, kind)
    if kind == "csv":
        table = csv_importer.infer_text_types(table)
    return table


def preview_table(path: Path | str, options: ImportOptions | None = None, max_rows: int = 50,
                  notices: list[ImportNotice] | None = None) -> pa.Table:
    """The first ``max_rows`` rows as :func:`read_table` would import them with ``options``, reading only the
    start of a delimited file or a sheet (fast on any size; for the import dialog's live preview). Raises
    :class:`DataImportError` like :func:`read_table`; ``notices`` as for :func:`read_table`."""
    path = _check_exists(Path(path))
    kind = file_kind(path)
    options = options or ImportOptions()
    if kind == "csv":
        _check_not_empty(path)
        table, _ = _guarded(path, kind, lambda: csv_importer.preview_delimited(path, options, max_rows, notices))
        return csv_importer.infer_text_types(_finish(table, path, kind))
    if kind == "excel":
        _check_not_empty(path)
        table = _guarded(path, kind, lambda: excel_importer.read_excel(path, options, max_rows=max_rows,
                                                                          notices=notices))
        return _finish(table, path, kind)
    return read_table(path, options, notices).slice(0, max_rows)


# ---------------------------------------------------------------------------------------------- workspace
def import_dataset(store: Store, project_id: int | None, path: Path | str, name: str | None = None,
                   options: ImportOptions | None = None, notices: list[ImportNotice] | None = None,
                   new_project: str | None = None) -> DatasetRecord:
    """Import the source at ``path`` into project ``project_id`` and return its dataset record.

    The table is saved in ``datasets/<id>/`` in the workspace with the source's path, size, SHA-256 and
    column types, so the dataset survives the source being moved or deleted. Importing a name that exists
    makes the next version. On any failure nothing is left behind: no folder and no database row. A file
    that disappears or changes while it is read is refused. Raises :class:`DataImportError`.

    With ``project_id=None`` and ``new_project`` set, the project of that name is created only once the
    file was read, and removed again if saving fails: a failed import leaves no project behind.
    """
    path = Path(path)
    if project_id is not None:
        store.get_project(project_id)  # a clear StoreError before any work if the project is gone
    before = _fingerprint(_check_exists(path))
    digest = _Digest(path)
    digest.start()  # hashing runs beside the parse (hashlib releases the GIL)
    try:
        table = read_table(path, options, notices)
    except DataImportError:
        if not path.exists():
            raise _vanished(path) from None
        raise
    finally:
        digest.join()
    if digest.error is not None or _fingerprint_or_none(path) != before:
        raise _vanished(path)
    name = (name or "").strip() or (path.stem if path.is_file() else path.name)
    created = None
    if project_id is None:
        created = store.create_project(new_project or path.stem)
        project_id = created.id
    try:
        return save_dataset_table(store, project_id, name, table, str(path.resolve()), digest.hexdigest,
                                  digest.size)
    except BaseException:
        if created is not None:
            store.delete_project(created.id)
        raise


class _Digest(threading.Thread):
    """SHA-256 and total size of a file, or of every file in a folder (names included), in a thread."""

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path, self.hexdigest, self.size, self.error = path, "", 0, None

    def run(self) -> None:
        digest = hashlib.sha256()
        try:
            files = sorted(p for p in self.path.rglob("*") if p.is_file()) if self.path.is_dir() else [self.path]
            for file in files:
                if self.path.is_dir():
                    digest.update(file.relative_to(self.path).as_posix().encode() + b"\0")
                with open(file, "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
                        self.size += len(chunk)
        except OSError as exc:
            self.error = exc
        self.hexdigest = digest.hexdigest()


def _fingerprint(path: Path) -> tuple:
    if path.is_dir():
        return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*") if p.is_file()))
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns)


def _fingerprint_or_none(path: Path) -> tuple | None:
    try:
        return _fingerprint(path)
    except OSError:
        return None


def _vanished(path: Path) -> DataImportError:
    what = "disappeared" if not path.exists() else "changed"
    return DataImportError(
        f'"{path.name}" {what} while it was being imported, so nothing was imported. Wait until the file is '
        "completely written (or copied) and import it again.", path)


# ---------------------------------------------------------------------------------------------- checks
def _check_exists(path: Path) -> Path:
    """``path`` when it is a regular file or a folder that may be read; else a plain :class:`DataImportError`
    (never a hang on a FIFO or a device such as /dev/zero, never a traceback for a long or forbidden path)."""
    if len(os.fsencode(str(path))) >= 4096:
        raise DataImportError(
            f"The path is {len(str(path)):,} characters long, more than the system allows (4,096). Move the file "
            "to a folder with a shorter path and import it from there.", path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DataImportError(f"File not found: {path}. Check the path or choose the file again.", path) from None
    except PermissionError:
        raise DataImportError(
            f'"{path.name}" cannot be opened: permission denied on the file or one of the folders above it '
            f"({path.parent}). Check that you may read them, or copy the file somewhere you can.", path) from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise DataImportError(
                "The path (or one of its names) is longer than the system allows. Rename the file or move it to "
                "a folder with a shorter path and import it from there.", path) from None
        raise DataImportError(f'"{path.name}" cannot be opened: {exc.strerror or exc}.', path) from None
    if stat_module.S_ISDIR(info.st_mode):
        if not os.access(path, os.R_OK | os.X_OK):
            raise DataImportError(
                f'The folder "{path.name}" cannot be read: permission denied. Check that you may open it.', path)
        return path
    if not stat_module.S_ISREG(info.st_mode):
        what = ("a pipe (FIFO)" if stat_module.S_ISFIFO(info.st_mode) else
                "a device" if stat_module.S_ISCHR(info.st_mode) or stat_module.S_ISBLK(info.st_mode) else
                "a socket" if stat_module.S_ISSOCK(info.st_mode) else "not a regular file")
        target = f" (it points to {os.path.realpath(path)})" if path.is_symlink() else ""
        raise DataImportError(
            f'"{path.name}" is {what}{target}, not a file with a table in it. Choose a regular CSV, Excel, '
            "JSON, Parquet or Arrow file.", path)
    if not os.access(path, os.R_OK):
        raise DataImportError(
            f'"{path.name}" cannot be opened: permission denied. Check that you may read it.', path)
    return path


def _check_not_empty(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataImportError(
            f'"{path.name}" cannot be read: {exc.strerror or exc}. Check that you may open it.', path) from exc
    if size == 0:
        raise DataImportError(f'"{path.name}" is empty (0 bytes). Choose a file that contains a table.', path)


def _guarded(path: Path, kind: str, read: Callable):
    """Run ``read``; library failures become a :class:`DataImportError` naming the file and its kind."""
    try:
        return read()
    except DataImportError:
        raise
    except MemoryError as exc:
        raise DataImportError(
            f'"{path.name}" is too large to load into memory. Split it into smaller files, or convert it to '
            "Parquet, and import again.", path) from exc
    except PermissionError as exc:
        raise DataImportError(
            f'"{path.name}" cannot be opened: permission denied. Check that you may read it.', path) from exc
    except FileNotFoundError as exc:
        raise _vanished(path) from exc
    except Exception as exc:  # a library failing on a malformed file: say which file and what kind
        raise DataImportError(
            f'"{path.name}" could not be read as {_KIND_WORDS[kind]}: {short(exc)}. Check that the file is '
            "complete and really is that kind of file; export it again if needed.", path) from exc


_KIND_WORDS = {"csv": "delimited text (CSV/TSV)", "json": "JSON", "jsonl": "JSON Lines",
               "excel": "an Excel workbook", "parquet": "Parquet", "arrow": "an Arrow file",
               "hf_folder": "a saved datasets folder", "text_folder": "a folder of text files"}


def _unsupported_message(path: Path) -> str:
    suffix = path.suffix.lower() or "(no extension)"
    supported = ", ".join(SUPPORTED_SUFFIXES)
    hint = ""
    if suffix == ".xls":
        hint = " Open it in Excel and save it as .xlsx or .csv."
    elif suffix in (".ods", ".numbers"):
        hint = " Export it from your spreadsheet program as .xlsx or .csv."
    return (f'"{path.name}" has a file type desktop_ift cannot read ({suffix}). Supported types: {supported}, '
            f"or a folder of .txt/.md files or a saved datasets folder.{hint}")


def _label_column(kind: str) -> Callable[[int], str]:
    if kind in ("json", "jsonl"):
        return lambda i: f"field {i + 1}"
    if kind == "excel":
        return excel_importer.excel_column_label
    return lambda i: f"column {i + 1}"


def _finish(table: pa.Table, path: Path, kind: str) -> pa.Table:
    """Strip and check the column names, give all-null columns a text type, refuse a table with no rows."""
    names = [str(n).strip() for n in table.column_names]
    _check_names(names, path, _label_column(kind))
    if not names:
        raise DataImportError(f'"{path.name}" has no columns. Choose a file that contains a table.', path)
    if table.num_rows == 0:
        raise DataImportError(
            f'"{path.name}" has column names ({", ".join(names[:8])}{", ..." if len(names) > 8 else ""}) '
            "but no data rows. Add rows below the header and import again.", path)
    columns = [c.cast(pa.string()) if pa.types.is_null(c.type) else c for c in table.columns]
    return pa.table(columns, names=names)


def _check_names(names: list[str], path: Path, label_column: Callable[[int], str]) -> None:
    for i, name in enumerate(names):
        if name == "":
            raise DataImportError(
                f'"{path.name}": {label_column(i)} has no name but holds data. Give every column a name in the '
                "header row (or tell the import that the file has no header row) and import again.",
                path, label_column(i))
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        seen.setdefault(name, []).append(i)
    duplicates = {n: idx for n, idx in seen.items() if len(idx) > 1}
    if duplicates:
        parts = [f'"{n}" ({" and ".join(label_column(i) for i in idx)})' for n, idx in duplicates.items()]
        raise DataImportError(
            f'"{path.name}" has more than one column with the same name: {"; ".join(parts)}. Column names must be '
            "unique: rename the repeated columns and import again.", path, label_column(next(iter(
                duplicates.values()))[1]))
