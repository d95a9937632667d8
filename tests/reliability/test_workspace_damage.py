"""#15.5 and #15.2 (read side): a damaged, empty, moved or full workspace never gives a traceback and never
silently becomes a new empty one; every listing works read-only on a full disk."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest

from desktop_ift.core.store import Store, StoreError, WorkspaceDamaged, check_workspace
from reliability_helpers import assert_plain, run_cli


def _workspace_with_data(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("question,answer\nhi,hello\nbye,ciao\n", encoding="utf-8")
    assert run_cli(home, "import", str(data), "--project", "P").returncode == 0
    with Store.open(home) as store:
        run = store.create_run("train", {"note": "test"}, store.find_project("P").id, name="r1")
        (Path(run.run_dir) / "checkpoints" / "checkpoint-10").mkdir(parents=True)
        store.update_run(run.id, status="finished", output_dir=str(Path(run.run_dir) / "output"))
        (Path(run.run_dir) / "output").mkdir()


def test_zero_byte_database_is_refused_not_recreated(tmp_path):
    home = tmp_path / "ws"
    home.mkdir()
    (home / "workspace.db").write_bytes(b"")
    with pytest.raises(WorkspaceDamaged, match="empty \\(0 bytes\\)"):
        Store.open(home)
    assert (home / "workspace.db").stat().st_size == 0  # not replaced by a new empty workspace
    out = run_cli(home, "projects")
    assert out.returncode == 1 and "0 bytes" in out.stderr and "workspace --fresh" in out.stderr
    assert_plain(out)


def test_damaged_pages_give_a_plain_message_and_a_fresh_start_keeps_a_copy(tmp_path):
    home = tmp_path / "ws"
    _workspace_with_data(home, tmp_path)
    db = home / "workspace.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(db.read_bytes())
    page = 4096
    for offset in range(page * 2, min(len(raw), page * 6)):  # scribble over b-tree pages, keep the header
        raw[offset] = (raw[offset] * 7 + 13) % 256
    db.write_bytes(bytes(raw))
    for args in (("projects",), ("runs",), ("datasets", "--project", "P")):
        out = run_cli(home, *args)
        assert out.returncode == 1 and "damaged" in out.stderr and "workspace --fresh" in out.stderr, out.stderr
        assert_plain(out)
    check = run_cli(home, "workspace", "--check")
    assert check.returncode == 1 and "damaged" in check.stdout
    fresh = run_cli(home, "workspace", "--fresh")
    assert fresh.returncode == 0, fresh.stderr
    kept = list(home.glob("workspace.damaged-*.db"))
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(raw)
    assert run_cli(home, "projects").returncode == 0
    assert any((home / "datasets").iterdir())  # the imported files were left in place


def test_gui_start_on_a_damaged_workspace_shows_a_dialog_not_a_traceback(tmp_path, qapp, monkeypatch):
    from desktop_ift.ui import app as app_module

    home = tmp_path / "ws"
    home.mkdir()
    (home / "workspace.db").write_bytes(b"")
    monkeypatch.setenv("DESKTOP_IFT_HOME", str(home))
    shown = []
    monkeypatch.setattr(app_module, "create_application", lambda argv=None: qapp)
    monkeypatch.setattr(app_module.QMessageBox, "critical", lambda *args: shown.append(args[2]))
    assert app_module.main([]) == 1
    assert shown and "0 bytes" in shown[0] and "workspace --fresh" in shown[0]


def test_moved_workspace_keeps_its_datasets_and_checkpoints(tmp_path):
    home = tmp_path / "ws"
    _workspace_with_data(home, tmp_path)
    moved = tmp_path / "elsewhere" / "ws-restored"
    moved.parent.mkdir()
    shutil.move(str(home), moved)
    with Store.open(moved) as store:
        dataset = store.list_datasets(store.find_project("P").id)[0]
        assert Path(dataset.snapshot_path).is_file() and str(moved) in dataset.snapshot_path
        run = store.list_runs()[0]
        assert (Path(run.run_dir) / "checkpoints" / "checkpoint-10").is_dir()
        assert Path(run.output_dir).is_dir()
    assert check_workspace(moved) == []
    out = run_cli(moved, "datasets", "--project", "P")
    assert out.returncode == 0 and "d (v1, 2 rows)" in out.stdout


def test_old_absolute_paths_are_migrated_on_read(tmp_path):
    home = tmp_path / "ws"
    _workspace_with_data(home, tmp_path)
    with sqlite3.connect(home / "workspace.db") as conn:  # how an older version stored them
        conn.execute("UPDATE datasets SET snapshot_path = '/old/place/ws/' || snapshot_path")
        conn.execute("UPDATE runs SET run_dir = '/old/place/ws/' || run_dir")
    with Store.open(home) as store:
        dataset = store.list_datasets(store.find_project("P").id)[0]
        assert Path(dataset.snapshot_path).is_file()
        assert Path(store.list_runs()[0].run_dir).is_dir()


# ------------------------------------------------------------------------------------------ full disk
@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB file system (tmpfs) to fill up; skipped where mounting is not allowed."""
    mount = tmp_path / f"small-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder: Path) -> None:
    with open(folder / "filler.bin", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    try:
        with open(folder / "filler2.bin", "wb") as fh:
            while True:
                fh.write(b"\0" * 512)
                fh.flush()
    except OSError:
        pass


def test_listings_work_read_only_on_a_full_disk_and_writes_say_so(small_disk, tmp_path):
    home = small_disk / "ws"
    _workspace_with_data(home, tmp_path)
    run_id = Store.open(home).list_runs()[0].id
    _fill(small_disk)
    for args in (("projects",), ("datasets", "--project", "P"), ("runs",), ("runs", "show", run_id),
                 ("workspace", "--check")):
        out = run_cli(home, *args)
        assert out.returncode == 0, (args, out.stderr)
        assert_plain(out)
    data = tmp_path / "more.csv"
    data.write_text("a,b\n" + "x,y\n" * 2000, encoding="utf-8")
    out = run_cli(home, "import", str(data), "--project", "P")
    assert out.returncode == 1 and ("full" in out.stderr or "disk space" in out.stderr), out.stderr
    assert_plain(out)


def test_gui_starts_on_a_full_disk(small_disk, tmp_path, qapp, qtbot):
    from desktop_ift.ui.app import create_main_window

    from desktop_ift.core.projects import mark_opened

    home = small_disk / "ws"
    _workspace_with_data(home, tmp_path)
    with Store.open(home) as store:
        mark_opened(store, store.find_project("P"))  # a user who has used the app before
    _fill(small_disk)
    from desktop_ift.ui.tasks import wait_for_background_tasks

    store = Store.open(home)
    try:
        window = create_main_window(store)
        window.ask_question = lambda *args, **kwargs: 1
        window.show()
        qtbot.waitUntil(lambda: window.data_page.model.rowCount() == 2, timeout=15000)
        assert window.state.project.name == "P"
        qtbot.wait(500)  # let the pages finish their start-up work (pytest-qt fails on any exception)
        window.run_controller.detach()
        window.close()
        wait_for_background_tasks()
    finally:
        store.close()


def test_a_full_database_reads_as_a_full_disk(tmp_path):
    """The same message where SQLite itself reports SQLITE_FULL (no mount needed)."""
    store = Store.open(tmp_path / "ws")
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(StoreError, match="is full"):
        for i in range(5000):
            store.create_project(f"project {i} " + "x" * 150)
    assert store.list_projects() is not None  # reading still works
    store.close()
