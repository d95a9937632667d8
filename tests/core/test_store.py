"""The workspace store: schema and migrations, records, and the projection of events into runs/metrics."""

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from desktop_ift.core import events as ev
from desktop_ift.core.paths import workspace_home
from desktop_ift.core.store import MIGRATIONS, Store, StoreError


@pytest.fixture
def ws(tmp_path):
    store = Store.open(tmp_path / "ws")
    yield store
    store.close()


def test_new_workspace_has_folders_wal_and_current_schema(ws):
    for sub in ("datasets", "runs", "models"):
        assert (ws.home / sub).is_dir()
    assert ws.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ws.schema_version() == len(MIGRATIONS)


def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path):
    with Store.open(tmp_path) as s:
        s.create_project("Claims")
    with Store.open(tmp_path) as s:
        assert [p.name for p in s.list_projects()] == ["Claims"]


def test_workspace_written_by_a_newer_version_is_refused_with_a_message(tmp_path):
    Store.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "workspace.db")
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer version"):
        Store.open(tmp_path)


def test_home_comes_from_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("DESKTOP_IFT_HOME", str(tmp_path / "custom"))
    assert workspace_home() == (tmp_path / "custom").resolve()
    with Store.open() as s:
        assert s.home == (tmp_path / "custom").resolve()


def test_project_names_are_unique_with_a_clear_message(ws):
    ws.create_project("Claims")
    with pytest.raises(StoreError, match="already exists"):
        ws.create_project("Claims")
    with pytest.raises(StoreError, match="needs a name"):
        ws.create_project("  ")


def test_project_settings_merge(ws):
    p = ws.create_project("P")
    ws.update_project_settings(p.id, dataset_id=3)
    ws.update_project_settings(p.id, template_id=4)
    assert ws.get_project(p.id).settings == {"dataset_id": 3, "template_id": 4}


def test_dataset_versions_increase_per_name(ws):
    p = ws.create_project("P")
    cols = [{"name": "text", "type": "string"}]
    a = ws.add_dataset(p.id, "tickets", "/x.csv", "h1", 10, 2, cols, "/s1.parquet")
    b = ws.add_dataset(p.id, "tickets", "/x.csv", "h2", 12, 3, cols, "/s2.parquet")
    c = ws.add_dataset(p.id, "other", "/y.csv", "h3", 5, 1, cols, "/s3.parquet")
    assert (a.version, b.version, c.version) == (1, 2, 1)
    assert [d.label for d in ws.list_datasets(p.id)] == [
        "other (v1, 1 rows)", "tickets (v1, 2 rows)", "tickets (v2, 3 rows)"]
    assert b.column_names == ["text"]


def test_template_save_is_an_upsert_by_name(ws):
    p = ws.create_project("P")
    t1 = ws.save_template(p.id, "classify", "Q: {{ q }}", "{{ a }}")
    t2 = ws.save_template(p.id, "classify", "Question: {{ q }}", "{{ a }}", system="Be brief.")
    assert t1.id == t2.id
    assert ws.get_template(t1.id).prompt == "Question: {{ q }}"
    assert ws.get_template(t1.id).system == "Be brief."


def test_events_move_the_run_through_its_life_and_fill_metrics(ws):
    run = ws.create_run("train", {"method": "lora"})
    assert run.status == "queued" and (ws.runs_dir / run.id).is_dir()
    rid = run.id
    ws.append_event(ev.Started(rid, 1, total_steps=3, pid=42))
    assert ws.get_run(rid).status == "running" and ws.get_run(rid).pid == 42
    for step, loss in [(1, 2.0), (2, 1.5), (3, 1.0)]:
        ws.append_event(ev.Log(rid, step + 1, step=step, total_steps=3, loss=loss, learning_rate=0.1))
    ws.append_event(ev.Eval(rid, 5, step=3, metrics={"eval_loss": 1.2}))
    ws.append_event(ev.Finished(rid, 6, output_dir="/out"))
    r = ws.get_run(rid)
    assert (r.status, r.last_step, r.total_steps, r.output_dir) == ("finished", 3, 3, "/out")
    assert r.is_over
    assert ws.metric_series(rid, "loss") == [(1, 2.0), (2, 1.5), (3, 1.0)]
    assert ws.metric_series(rid, "eval_loss") == [(3, 1.2)]
    assert ws.last_seq(rid) == 6
    assert [e.seq for e in ws.events(rid, after_seq=4)] == [5, 6]


def test_a_duplicate_sequence_number_is_stored_once(ws):
    rid = ws.create_run("train", {}).id
    assert ws.append_event(ev.Log(rid, 1, step=1, loss=1.0))
    assert not ws.append_event(ev.Log(rid, 1, step=1, loss=1.0))
    assert ws.metric_series(rid, "loss") == [(1, 1.0)]


def test_failed_event_keeps_the_plain_message_and_hint(ws):
    rid = ws.create_run("train", {}).id
    ws.append_event(ev.Failed(rid, 1, message="Out of memory.", hint="Use LoRA."))
    r = ws.get_run(rid)
    assert (r.status, r.message, r.hint) == ("failed", "Out of memory.", "Use LoRA.")


def test_evaluation_results_and_examples(ws):
    rid = ws.create_run("evaluate", {}).id
    ws.append_event(ev.Eval(rid, 1, model_label="base", metrics={"accuracy": 0.2, "rougeL": 0.1,
                                                                 "per_class": {"a": {}}}))
    ws.append_event(ev.Eval(rid, 2, model_label="fine-tuned", metrics={"accuracy": 0.95, "rougeL": 0.9}))
    assert ws.eval_results(rid) == {"base": {"accuracy": 0.2, "rougeL": 0.1},
                                    "fine-tuned": {"accuracy": 0.95, "rougeL": 0.9}}
    ws.add_eval_examples(rid, "base", [{"idx": 0, "prompt": "p", "reference": "r", "output": "o",
                                        "scores": {"exact_match": 0.0}}])
    assert ws.eval_examples(rid)[0]["scores"] == {"exact_match": 0.0}


def test_a_second_process_sees_events_written_by_a_worker_while_open(ws):
    """WAL lets the GUI read while a worker process writes."""
    rid = ws.create_run("train", {}).id
    script = textwrap.dedent(f"""
        from desktop_ift.core.store import Store
        from desktop_ift.core import events as ev
        s = Store.open({str(ws.home)!r})
        for i in range(1, 51):
            s.append_event(ev.Log({rid!r}, i, step=i, loss=1.0 / i))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert len(ws.metric_series(rid, "loss")) == 50


def test_deleting_a_run_removes_its_events_and_metrics(ws):
    rid = ws.create_run("train", {}).id
    ws.append_event(ev.Log(rid, 1, step=1, loss=1.0))
    ws.delete_run(rid)
    assert ws.metric_series(rid, "loss") == [] and ws.events(rid) == []
    with pytest.raises(StoreError, match="no run"):
        ws.get_run(rid)


def test_feature_areas_migrate_their_own_tables_once_and_in_order(tmp_path):
    v1 = ["CREATE TABLE recipes (id INTEGER PRIMARY KEY, name TEXT)"]
    v2 = v1 + ["ALTER TABLE recipes ADD COLUMN steps TEXT NOT NULL DEFAULT '[]'"]
    with Store.open(tmp_path) as s:
        s.ensure_schema("cleaning", v1)
        s.conn.execute("INSERT INTO recipes (name) VALUES ('trim')")
        s.ensure_schema("cleaning", v1)  # no-op the second time
    with Store.open(tmp_path) as s:
        s.ensure_schema("cleaning", v2)
        assert [tuple(r) for r in s.conn.execute("SELECT name, steps FROM recipes")] == [("trim", "[]")]
    with Store.open(tmp_path) as s, pytest.raises(StoreError, match="newer version"):
        s.ensure_schema("cleaning", v1)


def test_a_failing_area_migration_leaves_nothing_half_done(tmp_path):
    bad = ["CREATE TABLE a (x INTEGER); CREATE TABLE broken ("]
    with Store.open(tmp_path) as s:
        with pytest.raises(sqlite3.DatabaseError):
            s.ensure_schema("x", bad)
        assert s.conn.execute("SELECT name FROM sqlite_master WHERE name='a'").fetchone() is None


def test_a_resumed_run_keeps_its_first_start_time(ws):
    rid = ws.create_run("train", {}).id
    ws.append_event(ev.Started(rid, 1, total_steps=10, pid=1, time=100.0))
    ws.append_event(ev.Cancelled(rid, 2, step=4, time=150.0))
    ws.append_event(ev.Started(rid, 3, total_steps=10, pid=2, time=200.0))
    run = ws.get_run(rid)
    assert (run.status, run.pid, run.started_at) == ("running", 2, 100.0)
