"""Parquet, Arrow/Feather files and Hugging Face ``datasets`` ``save_to_disk`` folders, read with pyarrow
(the GUI never imports ``datasets``)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from desktop_ift.core.data.import_common import DataImportError, short

PARQUET_SUFFIXES = (".parquet", ".pq")
ARROW_SUFFIXES = (".arrow", ".feather", ".ipc")
SPLIT_COLUMN = "split"


def read_parquet(path: Path, options=None) -> pa.Table:
    """Every column of a Parquet file."""
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataImportError(
            f'"{path.name}" is not a readable Parquet file ({short(exc)}); it may be damaged or only partly '
            "copied. Export it again and import the new file.", path) from exc


def read_arrow(path: Path, options=None) -> pa.Table:
    """An Arrow IPC file or stream (Feather v2 is the file format)."""
    errors = []
    for open_reader in (ipc.open_file, ipc.open_stream):
        try:
            with pa.OSFile(str(path), "rb") as source:
                return open_reader(source).read_all()
        except (pa.ArrowException, OSError) as exc:
            errors.append(exc)
    raise DataImportError(
        f'"{path.name}" is not a readable Arrow/Feather file ({short(errors[0])}); it may be damaged or another '
        "kind of file. Export it again, or save it as Parquet or CSV.", path)


def is_hf_dataset_folder(path: Path) -> bool:
    """True for a folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def read_hf_dataset_folder(path: Path, options=None) -> pa.Table:
    """The rows of a ``save_to_disk`` folder. A ``DatasetDict`` becomes one table with a ``split`` column
    holding each row's split name (train/validation/test...), ready to be used as the split."""
    if (path / "dataset_dict.json").is_file():
        try:
            splits = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataImportError(
                f'"{path.name}/dataset_dict.json" cannot be read ({short(exc)}). Save the dataset again with '
                "save_to_disk and import the new folder.", path) from exc
        parts = []
        for split in splits:
            table = _read_hf_split(path / split, path)
            if SPLIT_COLUMN in table.column_names:
                table = table.drop_columns([SPLIT_COLUMN])
            parts.append(table.append_column(SPLIT_COLUMN, pa.array([split] * table.num_rows, pa.string())))
        if not parts:
            raise DataImportError(f'"{path.name}" is a dataset folder with no splits. Choose another folder.',
                                  path)
        try:
            return pa.concat_tables(parts, promote_options="permissive")
        except pa.ArrowException as exc:
            raise DataImportError(
                f'The splits of "{path.name}" have different columns ({short(exc)}); import each split folder '
                "on its own.", path) from exc
    return _read_hf_split(path, path)


def _read_hf_split(folder: Path, top: Path) -> pa.Table:
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        files = [folder / f["filename"] for f in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        files = sorted(folder.glob("*.arrow"))
        if not files:
            raise DataImportError(
                f'"{top.name}": the dataset folder {folder.name} has no readable state.json and no .arrow files '
                f"({short(exc)}). Save the dataset again with save_to_disk and import the new folder.",
                top) from exc
    tables = []
    for file in files:
        if not file.is_file():
            raise DataImportError(
                f'"{top.name}": the data file {file.name} listed in {folder.name}/state.json is missing. Copy the '
                "whole folder again and import it.", top)
        tables.append(read_arrow(file))
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    return table.replace_schema_metadata(None)
