"""Separate files as splits: combine imported datasets (one per split) into one dataset version whose
``split`` column says where each row belongs; train with ``SplitSpec(split_column="split")``."""

from __future__ import annotations

import pyarrow as pa

from desktop_ift.core.data.import_common import DataImportError
from desktop_ift.core.data.snapshots import load_dataset_table, save_dataset_table
from desktop_ift.core.data.splits import SPLIT_NAMES, SplitError
from desktop_ift.core.store import DatasetRecord, Store

SPLIT_COLUMN = "split"


def combine_as_splits(store: Store, project_id: int, name: str, parts: dict[str, int]) -> DatasetRecord:
    """Save datasets ``parts`` (``{"train": id, "validation": id, "test": id}``; train required) as the next
    version of dataset ``name``, with a ``split`` column. The datasets must have the same columns (in any
    order); raises :class:`SplitError` naming the columns that differ."""
    unknown = [k for k in parts if k not in SPLIT_NAMES]
    if unknown:
        raise SplitError(f"Unknown split {unknown[0]!r}; use {', '.join(SPLIT_NAMES)}.")
    if not parts.get("train"):
        raise SplitError("Choose the dataset that holds the training rows.")
    name = (name or "").strip()
    if not name:
        raise SplitError("Give the combined dataset a name.")
    records = {split: store.get_dataset(int(dataset_id)) for split, dataset_id in parts.items() if dataset_id}
    tables = {split: load_dataset_table(record) for split, record in records.items()}
    order = tables["train"].column_names
    if SPLIT_COLUMN in order:
        raise SplitError(f'The training dataset already has a "{SPLIT_COLUMN}" column; use it as the split column '
                         "instead of combining files.")
    pieces = []
    for split in SPLIT_NAMES:
        if split not in tables:
            continue
        table = tables[split]
        missing = [c for c in order if c not in table.column_names]
        extra = [c for c in table.column_names if c not in order]
        if missing or extra:
            what = "; ".join(filter(None, [
                f"it lacks {', '.join(repr(c) for c in missing)}" if missing else "",
                f"it has {', '.join(repr(c) for c in extra)} in addition" if extra else ""]))
            raise SplitError(
                f"The {split} dataset {records[split].label} does not have the same columns as the training "
                f"dataset: {what}. Make them match with the cleaning steps “Rename a column” or “Remove columns” "
                f"(drop_columns), then combine again.")
        table = table.select(order)
        pieces.append(table.append_column(SPLIT_COLUMN, pa.array([split] * table.num_rows, pa.string())))
    try:
        combined = pa.concat_tables(pieces, promote_options="permissive")
    except pa.ArrowException as exc:
        raise SplitError(f"The datasets' column types cannot be combined ({exc}). Import them as text.") from exc
    train = records["train"]
    sources = "; ".join(r.source_path for r in records.values())
    try:
        return save_dataset_table(store, project_id, name, combined, sources, train.source_hash,
                                  sum(r.size_bytes for r in records.values()))
    except DataImportError:
        raise
