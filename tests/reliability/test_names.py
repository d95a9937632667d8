"""#15.9 names: trimmed and normalised, so "p1 " is "p1"; control characters and ANSI escapes refused."""

from __future__ import annotations

import pytest

from desktop_ift.core.store import Store, StoreError
from reliability_helpers import assert_plain, run_cli


def test_trailing_space_finds_the_same_project(tmp_path):
    with Store.open(tmp_path / "ws") as store:
        project = store.create_project("p1")
        assert store.find_project("p1 ").id == project.id
        assert store.find_project("  p1").id == project.id
        with pytest.raises(StoreError, match="already exists"):
            store.create_project("p1 ")
        assert store.create_project("Caf\u0065\u0301  data").name == "Caf\u00e9 data"  # NFC, one space
        assert store.find_project("Café data") is not None


@pytest.mark.parametrize("name", ["evil\x1b[31mred", "two\nlines", "tab\there", "bell\x07", "zero\u200bwidth"])
def test_control_characters_are_refused_with_a_plain_message(tmp_path, name):
    with Store.open(tmp_path / "ws") as store:
        with pytest.raises(StoreError, match="cannot contain control characters"):
            store.create_project(name)
        project = store.create_project("ok")
        with pytest.raises(StoreError, match="cannot contain control characters"):
            store.save_template(project.id, name, "{{ q }}", "{{ a }}")
        assert [p.name for p in store.list_projects()] == ["ok"]


def test_cli_import_into_a_project_name_with_a_trailing_space_reuses_it(tmp_path):
    home = tmp_path / "ws"
    data = tmp_path / "d.csv"
    data.write_text("q,a\nhi,hello\n", encoding="utf-8")
    assert run_cli(home, "import", str(data), "--project", "p1").returncode == 0
    again = run_cli(home, "import", str(data), "--project", "p1 ")
    assert again.returncode == 0, again.stderr
    assert "into project 'p1'" in again.stdout and "v2" in again.stdout
    evil = run_cli(home, "import", str(data), "--project", "x\x1b[2Jy")
    assert evil.returncode == 1 and "control characters" in evil.stderr and "\x1b" not in evil.stderr
    assert_plain(evil)
