"""Importing table files: every format reads back what was written, and every bad file gets a message that
names the file (and the line) and leaves nothing half-imported in the workspace."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import string
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop_ift.core.data.importers import (
    SUPPORTED_SUFFIXES,
    DataImportError,
    import_dataset,
    load_dataset_table,
    read_table,
    table_rows,
)

ROWS = [
    {"question": "What is 2+2?", "answer": "4, of course", "note": "line one\nline two"},
    {"question": "Café au lait?", "answer": 'He said "yes"', "note": ""},
    {"question": "Ünïcode ✓", "answer": "ok", "note": "tab\there"},
]


def write_csv(path: Path, rows: list[dict], delimiter: str = ",", encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def import_error(path: Path) -> DataImportError:
    with pytest.raises(DataImportError) as info:
        read_table(path)
    assert info.value.path == path
    assert path.name in str(info.value)
    return info.value


# ---------------------------------------------------------------------------------------------- formats
@pytest.mark.parametrize("suffix,delimiter", [(".csv", ","), (".csv", ";"), (".tsv", "\t"), (".txt", "|")])
def test_delimited_files_round_trip_with_quoted_newlines(tmp_path, suffix, delimiter):
    path = write_csv(tmp_path / f"qa{suffix}", ROWS, delimiter)
    assert read_table(path).to_pylist() == ROWS


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "cp1252"])
def test_csv_encodings_are_detected(tmp_path, encoding):
    rows = [{"name": "José", "city": "Köln"}, {"name": "Zoë", "city": "Málaga — Spain"}]
    table = read_table(write_csv(tmp_path / "people.csv", rows, encoding=encoding))
    assert table.column_names == ["name", "city"]
    assert table.to_pylist() == rows


def test_csv_numbers_become_numbers_only_when_no_text_changes(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("id,price,zip,score,label\n1,2.5,007,1.50,x\n2,3.25,012,2,y\n,,,,\n")
    table = read_table(path)
    types = {f.name: str(f.type) for f in table.schema}
    assert types == {"id": "int64", "price": "double", "zip": "string", "score": "string", "label": "string"}
    assert table.column("id").to_pylist() == [1, 2, None]
    assert table.column("zip").to_pylist() == ["007", "012", ""]
    assert table.column("score").to_pylist() == ["1.50", "2", ""]


def test_column_names_are_stripped_and_trailing_empty_column_dropped(tmp_path):
    path = tmp_path / "excel_export.csv"
    path.write_text(" question ,answer ,\nq1,a1,\nq2,a2,\n")
    assert read_table(path).to_pylist() == [{"question": "q1", "answer": "a1"}, {"question": "q2", "answer": "a2"}]


def test_json_array_and_records_under_one_key(tmp_path):
    records = [{"q": "a", "n": 1, "tags": ["x", "y"]}, {"q": "b", "n": 2, "tags": []}]
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(records))
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"version": 3, "data": records}))
    assert read_table(plain).to_pylist() == records
    assert read_table(wrapped).to_pylist() == records


def test_json_mixed_value_types_become_text_and_missing_keys_null(tmp_path):
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([{"a": 1, "b": "x"}, {"a": "two"}, {"a": True, "c": 2.5}]))
    table = read_table(path)
    assert table.column_names == ["a", "b", "c"]
    assert table.column("a").to_pylist() == ["1", "two", "true"]
    assert table.column("b").to_pylist() == ["x", None, None]


def test_jsonl_round_trip_skips_blank_lines(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n\n")
    assert read_table(path).to_pylist() == ROWS


def test_xlsx_first_sheet_header_row(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Tickets"
    sheet.append(["id", "message", "score"])
    sheet.append([1, "hello", 0.5])
    sheet.append([])  # a blank row in the middle is skipped
    sheet.append([2, "world", 1.5])
    workbook.create_sheet("Other").append(["ignored"])
    path = tmp_path / "tickets.xlsx"
    workbook.save(path)
    assert read_table(path).to_pylist() == [{"id": 1, "message": "hello", "score": 0.5},
                                            {"id": 2, "message": "world", "score": 1.5}]


def test_parquet_and_arrow_round_trip(tmp_path):
    table = pa.table({"text": ["a", "b"], "n": [1, 2], "ok": [True, False]})
    pq.write_table(table, tmp_path / "t.parquet")
    with pa.OSFile(str(tmp_path / "t.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    assert read_table(tmp_path / "t.parquet").equals(table)
    assert read_table(tmp_path / "t.arrow").equals(table)


def test_supported_suffixes_all_have_a_reader(tmp_path):
    assert {".csv", ".tsv", ".json", ".jsonl", ".xlsx", ".parquet", ".arrow"} <= set(SUPPORTED_SUFFIXES)


# ---------------------------------------------------------------------------------------------- bad input
def test_missing_file(tmp_path):
    err = import_error(tmp_path / "nowhere.csv")
    assert str(err).startswith("File not found:")
    assert "choose the file again" in str(err)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert "empty" in str(import_error(path))


def test_header_without_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("question,answer\n")
    assert "no data rows" in str(import_error(path))


def test_image_renamed_to_csv(tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    assert "PNG image" in str(import_error(path))


def test_binary_data_in_csv(tmp_path):
    path = tmp_path / "program.csv"
    path.write_bytes(bytes(range(256)) * 8)
    assert "binary data" in str(import_error(path))


def test_ragged_row_names_the_line(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text('a,b,c\n1,"two\nlines",3\n4,5,6\n7,8\n')
    err = import_error(path)
    assert err.location == "line 5"
    assert '"ragged.csv", line 5: expected 3 values' in str(err)
    assert "found 2" in str(err)


def test_duplicate_header_names_are_named(tmp_path):
    path = tmp_path / "dups.csv"
    path.write_text("id,text,Text ,text\n1,a,b,c\n")
    err = import_error(path)
    assert '"text" (column 2 and column 4)' in str(err)


def test_empty_header_name_with_data(tmp_path):
    path = tmp_path / "noname.csv"
    path.write_text("id,,label\n1,hello,x\n")
    err = import_error(path)
    assert "column 2 has no name" in str(err)
    assert err.location == "column 2"


@pytest.mark.parametrize("content,expected", [
    ("42", "single JSON number"),
    ('{"a": 1}', "JSON object with no list"),
    ('[{"a": 1}, 5]', "item 2 of the list is a number"),
    ('[{"a": 1},\n {"a": 2\n', "line 3"),
])
def test_json_that_is_not_records(tmp_path, content, expected):
    path = tmp_path / "data.json"
    path.write_text(content)
    assert expected in str(import_error(path))


def test_jsonl_bad_line_is_named(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2,}\n')
    err = import_error(path)
    assert err.location == "line 3"
    assert '"rows.jsonl", line 3' in str(err)


def test_jsonl_line_that_is_not_an_object(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n')
    assert "line 2: this line holds a list" in str(import_error(path))


def test_unsupported_suffix_lists_supported_ones(tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(b"whatever")
    message = str(import_error(path))
    assert ".csv" in message and ".xlsx" in message and ".parquet" in message
    assert "save it as .xlsx" in message


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 100)
    assert "not a readable Parquet file" in str(import_error(path))


def test_corrupt_xlsx(tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_text("this is not a workbook")
    assert "cannot be opened as an Excel workbook" in str(import_error(path))


def test_xlsx_without_data(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["question", "answer"])
    path = tmp_path / "headers_only.xlsx"
    workbook.save(path)
    assert "no data rows" in str(import_error(path))
    empty = openpyxl.Workbook()
    empty_path = tmp_path / "blank.xlsx"
    empty.save(empty_path)
    assert "is empty" in str(import_error(empty_path))


# ---------------------------------------------------------------------------------------------- workspace
def test_import_dataset_records_and_snapshots(store, project, tmp_path):
    source = write_csv(tmp_path / "qa.csv", ROWS)
    record = import_dataset(store, project.id, source)
    assert (record.name, record.version, record.n_rows) == ("qa", 1, 3)
    assert record.columns == [{"name": "question", "type": "string"}, {"name": "answer", "type": "string"},
                              {"name": "note", "type": "string"}]
    assert record.source_hash == hashlib.sha256(source.read_bytes()).hexdigest()
    assert record.size_bytes == source.stat().st_size
    assert Path(record.snapshot_path) == store.dataset_dir(record.id) / "data.arrow"
    source.unlink()  # the workspace keeps its own copy
    assert load_dataset_table(store.get_dataset(record.id)).to_pylist() == ROWS


def test_reimport_makes_version_2(store, project, tmp_path):
    first = import_dataset(store, project.id, write_csv(tmp_path / "a.csv", ROWS), name="tickets")
    second = import_dataset(store, project.id, write_csv(tmp_path / "b.csv", ROWS[:1]), name="tickets")
    assert (first.version, second.version) == (1, 2)
    assert first.snapshot_path != second.snapshot_path
    assert load_dataset_table(first).num_rows == 3
    assert load_dataset_table(second).num_rows == 1


def test_failed_import_leaves_nothing(store, project, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2,3\n")
    with pytest.raises(DataImportError):
        import_dataset(store, project.id, bad)
    assert store.list_datasets(project.id) == []
    assert list(store.datasets_dir.iterdir()) == []


def test_failed_snapshot_write_leaves_nothing(store, project, tmp_path):
    source = write_csv(tmp_path / "qa.csv", ROWS)
    shutil.rmtree(store.datasets_dir)
    store.datasets_dir.write_text("not a folder")  # the snapshot cannot be written
    with pytest.raises(DataImportError, match="could not be saved in the workspace"):
        import_dataset(store, project.id, source)
    assert store.list_datasets(project.id) == []


def test_stale_folder_of_a_reused_id_is_replaced(store, project, tmp_path):
    source = write_csv(tmp_path / "qa.csv", ROWS)
    first = import_dataset(store, project.id, source)
    store.delete_dataset(first.id)  # the row goes, the folder stays behind
    (store.dataset_dir(first.id) / "leftover.txt").write_text("old")
    again = import_dataset(store, project.id, source)
    assert again.id == first.id
    assert sorted(p.name for p in store.dataset_dir(again.id).iterdir()) == ["data.arrow"]


def test_missing_snapshot_has_clear_message(store, project, tmp_path):
    record = import_dataset(store, project.id, write_csv(tmp_path / "qa.csv", ROWS))
    os.remove(record.snapshot_path)
    with pytest.raises(DataImportError, match="Import the original file"):
        load_dataset_table(record)


def test_table_rows_returns_the_requested_slice():
    table = pa.table({"n": list(range(10))})
    assert table_rows(table, 3, 2) == [{"n": 3}, {"n": 4}]
    assert table_rows(table, 8, 5) == [{"n": 8}, {"n": 9}]
    assert table_rows(table, 20, 5) == []


# ---------------------------------------------------------------------------------------------- properties
_names = st.lists(st.text(string.ascii_letters, min_size=1, max_size=6), min_size=1, max_size=4,
                  unique_by=str.lower)
_cell = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\n\r\t,;\"' "), max_size=12)


def _as_written(value) -> str:
    """The text a cell had in the file, from the value read back (numbers must print back unchanged)."""
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=_names, data=st.data())
def test_random_tables_round_trip_through_csv_and_jsonl(tmp_path, names, data):
    row = st.tuples(*[_cell] * len(names)).map(lambda values: dict(zip(names, values)))
    rows = data.draw(st.lists(row, min_size=1, max_size=8))
    csv_path = write_csv(tmp_path / "random.csv", rows)
    table = read_table(csv_path)
    assert table.column_names == names
    for name in names:
        assert [_as_written(v) for v in table.column(name).to_pylist()] == [r[name] for r in rows]
    jsonl_path = tmp_path / "random.jsonl"
    jsonl_path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    assert read_table(jsonl_path).to_pylist() == rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=600) | st.text(max_size=300).map(str.encode),
       suffix=st.sampled_from([".csv", ".tsv", ".json", ".jsonl", ".xlsx", ".parquet", ".arrow"]))
def test_random_bytes_give_a_table_or_a_data_import_error(tmp_path, content, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(content)
    try:
        table = read_table(path)
    except DataImportError as exc:
        assert path.name in str(exc)
    else:
        assert table.num_rows > 0 and table.num_columns > 0


def test_column_summaries_count_empty_and_distinct_cells(tmp_path):
    from desktop_ift.core.data.table_summary import summarize_columns

    path = tmp_path / "s.csv"
    path.write_text("text,n\nhello,1\n  ,2\nhello,\n")
    text, n = summarize_columns(read_table(path))
    assert (text.name, text.type, text.n_empty, text.n_distinct, text.example) == ("text", "string", 1, 2, "hello")
    assert (n.type, n.n_empty, n.n_distinct) == ("integer", 1, 2)
