"""Dataset snapshots in the workspace: write a table as a new dataset version (all or nothing) and read
it back memory-mapped, so a preview of row 900,000 touches only the pages it shows."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from desktop_ift.core.data.import_common import DataImportError, short
from desktop_ift.core.data.table_summary import column_types
from desktop_ift.core.store import DatasetRecord, Store

SNAPSHOT_FILE = "data.arrow"  # Arrow IPC file, uncompressed: written at disk speed, memory-mappable


def save_dataset_table(
    store: Store, project_id: int, name: str, table: pa.Table, source_path: str, source_hash: str,
    size_bytes: int, on_saved=None,
) -> DatasetRecord:
    """Write ``table`` as the next version of dataset ``name`` and return its record.

    The snapshot is written to a staging folder first and moved into ``datasets/<id>/`` once the database
    row exists; on any failure neither the row nor a folder remains. ``on_saved(record)`` runs before the
    staging folder is moved (a caller's own bookkeeping, e.g. lineage), inside the same all-or-nothing.
    """
    staging = store.datasets_dir / f".importing-{uuid.uuid4().hex}"
    record: DatasetRecord | None = None
    try:
        staging.mkdir(parents=True)
        write_snapshot(table, staging / SNAPSHOT_FILE)
        record = _insert_record(store, project_id, name, source_path, source_hash, size_bytes, table)
        if on_saved is not None:
            on_saved(record)
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
                f'"{Path(source_path).name}" was read, but its copy could not be saved in the workspace '
                f"{store.home}: {exc.strerror or exc}. Free some disk space or choose another workspace, then "
                "import again.", source_path) from exc
        raise
    return record


def write_snapshot(table: pa.Table, path: Path) -> None:
    """Write ``table`` as an Arrow IPC file (record batches of at most 64k rows, for quick random access)."""
    with pa.OSFile(str(path), "wb") as sink:
        with ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=65536)


def _insert_record(store: Store, project_id: int, name: str, source_path: str, source_hash: str,
                   size_bytes: int, table: pa.Table) -> DatasetRecord:
    """Insert the dataset row whose snapshot path names its own id (retrying if another process took it)."""
    for _ in range(20):
        dataset_id = store.reserve_dataset_id()
        snapshot = store.dataset_dir(dataset_id) / SNAPSHOT_FILE
        record = store.add_dataset(project_id, name, source_path, source_hash, size_bytes, table.num_rows,
                                   column_types(table), str(snapshot))
        if record.id == dataset_id:
            return record
        store.delete_dataset(record.id)
    raise DataImportError(
        f'"{Path(source_path).name}" could not be recorded: the workspace is busy with other imports. Try again.',
        source_path)


def load_dataset_table(record: DatasetRecord) -> pa.Table:
    """The table of ``record``, read from its workspace snapshot (Arrow snapshots are memory-mapped: rows
    are read from disk only when used). Older Parquet snapshots are read whole.

    Raises :class:`DataImportError` if the snapshot has gone missing or is damaged.
    """
    snapshot = Path(record.snapshot_path)
    if not snapshot.is_file():
        raise DataImportError(
            f'The saved copy of dataset "{record.name}" (version {record.version}) is missing: {snapshot}. '
            f"Import the original file ({record.source_path}) again.", snapshot)
    try:
        if snapshot.suffix == ".arrow":
            return ipc.open_file(pa.memory_map(str(snapshot), "r")).read_all()
        return pq.read_table(snapshot)
    except (pa.ArrowException, OSError) as exc:
        raise DataImportError(
            f'The saved copy of dataset "{record.name}" (version {record.version}) is damaged ({short(exc)}): '
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
