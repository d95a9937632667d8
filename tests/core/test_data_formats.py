"""Import options and the newer sources: user overrides for delimited text, Excel sheet and header row,
JSON records under a key, datasets ``save_to_disk`` folders, folders of text documents, the live preview,
and the bad-input cases that go with them (each names the file and leaves nothing in the workspace)."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest

from desktop_ift.core.data import importers
from desktop_ift.core.data.importers import (
    DataImportError,
    ImportOptions,
    describe_source,
    import_dataset,
    load_dataset_table,
    preview_table,
    read_table,
)


def _error(path: Path, options: ImportOptions | None = None) -> DataImportError:
    with pytest.raises(DataImportError) as info:
        read_table(path, options)
    assert path.name in str(info.value)
    return info.value


# ---------------------------------------------------------------------------------------------- delimited text
def test_detected_dialect_is_reported_and_each_setting_can_be_overridden(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("name;note\nAnn;'a;b'\nBo;plain\n", encoding="cp1252")
    info = describe_source(path)
    assert (info.kind, info.options.delimiter, info.options.quote_char, info.options.has_header) == (
        "csv", ";", "'", True)
    assert read_table(path).column("note").to_pylist() == ["a;b", "plain"]
    err = _error(path, ImportOptions(delimiter=";", quote_char='"'))  # line 2 has a value too many
    assert err.location == "line 2" and "delimiter" in str(err)
    assert read_table(path, ImportOptions(delimiter=",", quote_char='"')).column_names == ["name;note"]


def test_headerless_file_is_detected_and_can_be_forced(tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text("1,alpha\n2,beta\n")
    table = read_table(path)
    assert table.column_names == ["column_1", "column_2"]
    assert table.column("column_1").to_pylist() == [1, 2]
    words = tmp_path / "words.csv"
    words.write_text("alpha,beta\ngamma,delta\n")
    assert read_table(words).column_names == ["alpha", "beta"]
    assert read_table(words, ImportOptions(has_header=False)).num_rows == 2


def test_encoding_override_and_undecodable_bytes_name_the_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("name,city\nJosé,Köln\n".encode("cp1252"))
    assert read_table(path).to_pylist() == [{"name": "José", "city": "Köln"}]
    err = _error(path, ImportOptions(encoding="utf-8"))
    assert err.location == "line 2" and "encoding" in str(err)


def test_late_non_utf8_byte_falls_back_to_cp1252(tmp_path):
    path = tmp_path / "late.csv"
    body = "".join(f"row{i},plain\n" for i in range(30000))  # > the 256 KiB detection sample
    path.write_bytes(("a,b\n" + body + "Zoë,€5\n").encode("cp1252"))
    table = read_table(path)
    assert table.num_rows == 30001 and table.column("b").to_pylist()[-1] == "€5"


def test_cell_larger_than_the_limit_names_the_row(tmp_path, monkeypatch):
    from desktop_ift.core.data import csv_importer

    monkeypatch.setattr(csv_importer, "MAX_CELL_BYTES", 1000)
    path = tmp_path / "huge.csv"
    path.write_text("a,b\nsmall,x\n" + '"' + "y" * 5000 + '",z\n')
    err = _error(path)
    assert err.location == "data row 2" and "limit" in str(err)


def test_bad_override_values_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="one character"):
        ImportOptions(delimiter=";;")
    with pytest.raises(ValueError, match="Unknown text encoding"):
        ImportOptions(encoding="klingon")
    assert ImportOptions(delimiter="tab").delimiter == "\t"


def test_preview_reads_only_the_start_and_follows_overrides(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "w") as fh:
        fh.write("id;text\n")
        for i in range(40_000):
            fh.write(f'{i};"line {i}, with comma"\n')
        fh.write("broken;row;at;the;end\n")  # a full read fails here; the preview never gets there
    table = preview_table(path, max_rows=20)
    assert table.num_rows == 20 and table.column_names == ["id", "text"]
    assert table.column("id").to_pylist()[:3] == [0, 1, 2]
    with pytest.raises(DataImportError, match="column 2 has no name"):  # "id;text" then a blank name
        preview_table(path, ImportOptions(delimiter=","), max_rows=5)


# ---------------------------------------------------------------------------------------------- Excel
def _workbook(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    workbook.active.title = "Notes"
    workbook.active.append(["nothing to see"])
    data = workbook.create_sheet("Data")
    data.append(["Exported by HR system"])
    data.append([])
    data.append(["question", "answer"])
    data.append(["Leave policy?", "25 days"])
    data.append(["Remote work?", "2 days a week"])
    workbook.save(path)
    return path


def test_excel_sheet_by_name_or_index_and_header_row(tmp_path):
    path = _workbook(tmp_path / "hr.xlsx")
    assert describe_source(path).sheets == ["Notes", "Data"]
    table = read_table(path, ImportOptions(sheet="Data", header_row=3))
    assert table.to_pylist() == [{"question": "Leave policy?", "answer": "25 days"},
                                 {"question": "Remote work?", "answer": "2 days a week"}]
    assert read_table(path, ImportOptions(sheet=1, header_row=3)).equals(table)
    assert preview_table(path, ImportOptions(sheet="Data", header_row=3), max_rows=1).num_rows == 1


def test_excel_unknown_sheet_and_password_protected_workbook(tmp_path):
    path = _workbook(tmp_path / "hr.xlsx")
    assert "'Notes', 'Data'" in str(_error(path, ImportOptions(sheet="Payroll")))
    locked = tmp_path / "locked.xlsx"
    locked.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert "password-protected" in str(_error(locked))


# ---------------------------------------------------------------------------------------------- JSON
def test_json_records_key_chooses_between_several_lists(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"meta": [1, 2], "rows": [{"q": "a"}, {"q": "b"}]}))
    assert "meta" in str(_error(path)) and "records key" in str(_error(path))
    assert describe_source(path).record_keys == ["meta", "rows"]
    assert read_table(path, ImportOptions(records_key="rows")).to_pylist() == [{"q": "a"}, {"q": "b"}]
    assert 'no key "data"' in str(_error(path, ImportOptions(records_key="data")))


# ---------------------------------------------------------------------------------------------- folders
def test_text_folder_one_document_per_file(tmp_path):
    folder = tmp_path / "handbook"
    (folder / "part2").mkdir(parents=True)
    (folder / "intro.md").write_text("# Welcome\nRead this first.\n", encoding="utf-8")
    (folder / "part2" / "leave.txt").write_bytes("Congés: 25 jours".encode("cp1252"))
    (folder / "empty.txt").write_text("")
    (folder / ".hidden.txt").write_text("secret")
    (folder / "image.png").write_bytes(b"\x89PNG....")
    table = read_table(folder)
    assert table.to_pylist() == [{"file": "intro.md", "text": "# Welcome\nRead this first.\n"},
                                 {"file": "part2/leave.txt", "text": "Congés: 25 jours"}]


def test_folder_without_text_files_is_refused(tmp_path, store, project):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(DataImportError, match="no .txt or .md files"):
        import_dataset(store, project.id, folder)
    assert store.list_datasets(project.id) == [] and list(store.datasets_dir.iterdir()) == []


def test_datasets_save_to_disk_folders_are_read_without_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    single = tmp_path / "single"
    datasets.Dataset.from_dict({"q": ["a", "b", "c"], "n": [1, 2, 3]}).save_to_disk(str(single))
    assert read_table(single).to_pylist() == [{"q": "a", "n": 1}, {"q": "b", "n": 2}, {"q": "c", "n": 3}]
    both = tmp_path / "dict"
    datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"q": ["a", "b"]}),
        "test": datasets.Dataset.from_dict({"q": ["c"]}),
    }).save_to_disk(str(both))
    table = read_table(both)
    assert table.to_pylist() == [{"q": "a", "split": "train"}, {"q": "b", "split": "train"},
                                 {"q": "c", "split": "test"}]


# ---------------------------------------------------------------------------------------------- workspace
def test_import_with_options_snapshots_the_folder_and_survives_its_removal(tmp_path, store, project):
    import shutil

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("first document")
    record = import_dataset(store, project.id, folder)
    assert (record.name, record.n_rows, record.column_names) == ("docs", 1, ["file", "text"])
    assert record.size_bytes == len("first document")
    shutil.rmtree(folder)
    assert load_dataset_table(record).column("text").to_pylist() == ["first document"]


def test_file_that_disappears_mid_import_leaves_nothing(tmp_path, store, project, monkeypatch):
    path = tmp_path / "moving.csv"
    path.write_text("a,b\n1,2\n")
    real = importers._READERS[".csv"]

    def read_then_vanish(p, options):
        table = real(p, options)
        p.unlink()  # the user's sync tool moves the file away while we work
        return table

    monkeypatch.setitem(importers._READERS, ".csv", read_then_vanish)
    with pytest.raises(DataImportError, match="disappeared while it was being imported"):
        import_dataset(store, project.id, path)
    assert store.list_datasets(project.id) == [] and list(store.datasets_dir.iterdir()) == []


def test_snapshot_is_memory_mapped_so_a_far_slice_is_cheap(tmp_path, store, project):
    path = tmp_path / "n.csv"
    path.write_text("n,text\n" + "".join(f"{i},row {i}\n" for i in range(100_000)))
    record = import_dataset(store, project.id, path)
    table = load_dataset_table(record)
    assert importers.table_rows(table, 90_000, 2) == [{"n": 90_000, "text": "row 90000"},
                                                      {"n": 90_001, "text": "row 90001"}]
    assert table.column("n").num_chunks > 1  # written in record batches: a slice touches one of them
    assert isinstance(table, pa.Table)
