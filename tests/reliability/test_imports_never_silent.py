"""#15.3 / #15.7 / #13 import item: an import is correct, or says what it did (count + first row), or stops
with a plain message; it never changes a value in silence, never hangs and never leaves anything behind."""

from __future__ import annotations

import codecs
import json
import os
import threading
from pathlib import Path

import pytest

from desktop_ift.core.data.importers import DataImportError, ImportOptions, preview_table, read_table
from reliability_helpers import assert_plain, run_cli


def _read(path: Path, options: ImportOptions | None = None):
    notices: list = []
    table = read_table(path, options, notices)
    return table, notices


def _kinds(notices) -> set[str]:
    return {n.kind for n in notices}


# ------------------------------------------------------------------------------------------ encodings
def test_bom_with_cp1252_text_keeps_every_accent_and_says_so(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8 + "name,city\nJosé,Málaga\nRenée,Zürich\n".encode("cp1252"))
    table, notices = _read(path)
    assert table.column_names == ["name", "city"]
    assert table.to_pylist() == [{"name": "José", "city": "Málaga"}, {"name": "Renée", "city": "Zürich"}]
    assert any("byte-order mark" in str(n) and "cp1252" in str(n) for n in notices)


def test_bom_with_cp1252_text_chosen_as_utf8_is_refused_with_count_line_and_proposal(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8 + "name,city\nJosé,Málaga\nRenée,Zürich\n".encode("cp1252"))
    for encoding in ("utf-8-sig", "utf-8"):
        with pytest.raises(DataImportError) as info:
            read_table(path, ImportOptions(encoding=encoding))
        text = str(info.value)
        assert "4 character(s) on 2 line(s)" in text and "first: line 2" in text
        assert "reads cleanly as cp1252" in text and info.value.location == "line 2"
        with pytest.raises(DataImportError):  # the dialog's preview shows the same message
            preview_table(path, ImportOptions(encoding=encoding))


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_bom_is_stripped_whatever_encoding_is_chosen(tmp_path, encoding):
    path = tmp_path / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8 + "name,city\nJose,Malaga\n".encode(encoding))
    table, _ = _read(path, ImportOptions(encoding=encoding))
    assert table.column_names == ["name", "city"]


def test_utf8_mixed_with_cp1252_keeps_both_and_names_the_first_line(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes("word,n\ncafé,1\n".encode() + "naïve,2\n".encode("cp1252") + "über,3\nçà,4\n".encode())
    table, notices = _read(path)
    assert table.column("word").to_pylist() == ["café", "naïve", "über", "çà"]  # never "cafÃ©"
    mixed = [n for n in notices if n.kind == "mixed_encoding"]
    assert mixed and "first: line 3" in str(mixed[0]) and "cp1252" in str(mixed[0])


@pytest.mark.parametrize("encoding, rows", [
    ("gb18030", ["你好，世界", "今天天气很好", "我们去公园散步吧"]),
    ("shift_jis", ["こんにちは世界", "今日はいい天気ですね", "公園を散歩しましょう"]),
    ("koi8_r", ["Привет мир", "Сегодня хорошая погода", "Пойдём гулять в парк"]),
])
def test_legacy_asian_and_cyrillic_encodings_are_detected(tmp_path, encoding, rows):
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes(("id,text\n" + "".join(f"{i},{r}\n" for i, r in enumerate(rows))).encode(encoding))
    table, notices = _read(path)
    assert table.column("text").to_pylist() == rows
    assert "encoding" in _kinds(notices)  # "read as ... (detected)": visible, and overridable


# ------------------------------------------------------------------------------------------ structure
def test_unclosed_quote_that_swallows_the_rest_is_refused_naming_its_line(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text('id,text\n1,"hello\n2,world\n3,again\n', encoding="utf-8")
    with pytest.raises(DataImportError) as info:
        read_table(path)
    assert info.value.location == "line 2" and "never closed" in str(info.value)
    assert "3 line(s) after it" in str(info.value) or "line(s) after it" in str(info.value)


def test_rows_with_line_breaks_in_quoted_cells_are_counted_and_shown(tmp_path):
    path = tmp_path / "multi.csv"
    path.write_text('id,text\n1,plain\n2,"two\nlines"\n3,"swallowed\n4,x\n5,"\n6,end\n', encoding="utf-8")
    table, notices = _read(path)
    assert table.num_rows == 4  # rows 3..5 became one cell: the user is told which and how many
    found = [n for n in notices if n.kind == "quoted_newlines"]
    assert found and "2 row(s)" in str(found[0]) and "first: data row 2" in str(found[0])


def test_header_with_a_number_stays_a_header_and_the_guess_is_overridable(tmp_path):
    path = tmp_path / "year.csv"
    path.write_text("name,2024\nalice,hello\nbob,bye\n", encoding="utf-8")
    assert read_table(path).column_names == ["name", "2024"]
    data = tmp_path / "data.csv"
    data.write_text("1,alpha\n2,beta\n", encoding="utf-8")
    table, notices = _read(data)
    assert table.column_names == ["column_1", "column_2"] and table.num_rows == 2
    assert any(n.kind == "header" and "1, alpha" in str(n) for n in notices)
    assert read_table(data, ImportOptions(has_header=True)).column_names == ["1", "alpha"]


def test_semicolon_file_is_split_into_its_columns(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("name;city;note\nAnn;Paris;a, b\nBo;Rome;c\n", encoding="utf-8")
    table = read_table(path)
    assert table.column_names == ["name", "city", "note"] and table.column("note").to_pylist() == ["a, b", "c"]


def test_xlsx_formulas_without_saved_results_are_flagged(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    path = tmp_path / "formulas.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["question", "answer"])
    sheet.append(["one", 1])
    sheet.append(["two", "=B2+1"])  # openpyxl saves the formula without a result, like some exporters
    workbook.save(path)
    table, notices = _read(path)
    found = [n for n in notices if n.kind == "formula"]
    assert found and "1 cell(s)" in str(found[0]) and "cell B3" in str(found[0])
    assert table.num_rows == 2


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_true_false_beside_floats_keeps_its_values(tmp_path, suffix):
    records = [{"id": 1, "flag": True}, {"id": 2, "flag": 1.5}, {"id": 3, "flag": False}]
    path = tmp_path / f"mixed{suffix}"
    text = json.dumps(records) if suffix == ".json" else "\n".join(json.dumps(r) for r in records)
    path.write_text(text, encoding="utf-8")
    table, notices = _read(path)
    assert table.column("flag").to_pylist() == ["true", "1.5", "false"]  # never 1.0 / 0.0
    assert any(n.kind == "types" and '"flag"' in str(n) and "record 2" in str(n) for n in notices)


# ------------------------------------------------------------------------------------------ files
def _returns_within(seconds: float, fn):
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the import hung"
    return out


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom"])
def test_symlink_to_a_device_is_refused_at_once(tmp_path, target):
    link = tmp_path / "data.csv"
    link.symlink_to(target)
    out = _returns_within(10, lambda: read_table(link))
    assert isinstance(out.get("error"), DataImportError) and "a device" in str(out["error"])


def test_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    out = _returns_within(10, lambda: read_table(fifo))
    assert isinstance(out.get("error"), DataImportError) and "a pipe (FIFO)" in str(out["error"])


def test_path_longer_than_the_system_allows_is_a_plain_message(tmp_path):
    long_path = tmp_path / (("d" * 200 + "/") * 25) / "data.csv"
    with pytest.raises(DataImportError, match="longer than the system allows|characters long"):
        read_table(long_path)


def test_file_in_an_unreadable_folder_is_a_plain_message(tmp_path, monkeypatch):
    folder = tmp_path / "locked"
    folder.mkdir()
    path = folder / "data.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    folder.chmod(0)
    try:
        if os.geteuid() == 0:  # root reads anything: make the system answer as it does for a user
            real_stat = os.stat

            def stat(p, *args, **kwargs):
                if str(p).startswith(str(folder) + os.sep):
                    raise PermissionError(13, "Permission denied", str(p))
                return real_stat(p, *args, **kwargs)

            monkeypatch.setattr(os, "stat", stat)
        with pytest.raises(DataImportError, match="permission denied"):
            read_table(path)
    finally:
        folder.chmod(0o755)


def test_failed_import_creates_no_project_and_no_dataset(tmp_path):
    home = tmp_path / "ws"
    bad = tmp_path / "bad.csv"
    bad.write_text('id,text\n1,"never closed\n2,x\n', encoding="utf-8")
    out = run_cli(home, "import", str(bad), "--project", "Brand new")
    assert out.returncode != 0 and "never closed" in out.stdout + out.stderr
    assert_plain(out)
    listed = run_cli(home, "projects")
    assert "Brand new" not in listed.stdout
    assert not any(p.name.startswith(".importing") for p in (home / "datasets").glob("*")) if (
        home / "datasets").exists() else True


def test_cli_import_prints_what_the_user_must_know(tmp_path):
    home = tmp_path / "ws"
    path = tmp_path / "mixed.csv"
    path.write_bytes("word,n\ncafé,1\n".encode() + "naïve,2\n".encode("cp1252"))
    out = run_cli(home, "import", str(path), "--project", "P")
    assert out.returncode == 0, out.stderr
    assert "Note:" in out.stdout and "first: line 3" in out.stdout
