"""The workspace: one SQLite database (WAL) plus files on disk.

Layout of a workspace folder (``paths.workspace_home()``)::

    workspace.db            projects, datasets, templates, runs, events, metrics, evaluation results
    datasets/<id>/          the Parquet snapshot of an imported file (the source may disappear)
    runs/<run_id>/          job.json, prepared data, stderr.log, checkpoints/, output/
    models/                 models the app builds itself (the tiny demo model)

Several processes use one workspace at once (the GUI reads while a worker writes): every connection uses
WAL mode and a busy timeout, and each write is one short transaction. A ``Store`` object belongs to the
thread that opened it.
"""

from __future__ import annotations

import json
import sqlite3
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from desktop_ift.core import events as ev
from desktop_ift.core.disk import WORKSPACE_ADVICE, disk_full_message
from desktop_ift.core.paths import workspace_home

SCHEMA_VERSION = 2
_CHECKED: set[str] = set()  # databases that passed PRAGMA quick_check in this process

# Each entry migrates the schema from version i to i+1. Never edit a released entry: append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        settings TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE datasets (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        source_path TEXT NOT NULL,
        source_hash TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        n_rows INTEGER NOT NULL,
        columns TEXT NOT NULL,
        snapshot_path TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (project_id, name, version)
    );
    CREATE TABLE templates (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        system TEXT NOT NULL DEFAULT '',
        prompt TEXT NOT NULL,
        response TEXT NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (project_id, name)
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        project_id INTEGER REFERENCES projects(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        run_dir TEXT NOT NULL,
        output_dir TEXT NOT NULL DEFAULT '',
        parent_run_id TEXT,
        pid INTEGER,
        message TEXT NOT NULL DEFAULT '',
        hint TEXT NOT NULL DEFAULT '',
        last_step INTEGER NOT NULL DEFAULT 0,
        total_steps INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL
    );
    CREATE TABLE events (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        time REAL NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        step INTEGER NOT NULL,
        name TEXT NOT NULL,
        value REAL NOT NULL
    );
    CREATE INDEX metrics_by_run ON metrics (run_id, name, step);
    CREATE TABLE eval_results (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        model_label TEXT NOT NULL,
        metric TEXT NOT NULL,
        value REAL,
        PRIMARY KEY (run_id, model_label, metric)
    );
    CREATE TABLE eval_examples (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        model_label TEXT NOT NULL,
        idx INTEGER NOT NULL,
        prompt TEXT NOT NULL,
        reference TEXT NOT NULL,
        output TEXT NOT NULL,
        scores TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (run_id, model_label, idx)
    );
    """,
    # 2: feature areas (data cleaning, template library, evaluation cache, ...) own their tables and
    # migrate them with Store.ensure_schema(area, migrations); this table records each area's version.
    """
    CREATE TABLE schema_areas (
        area TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    );
    """,
]

RUN_STATUSES = ("queued", "running", "finished", "failed", "cancelled")
_STATUS_BY_EVENT = {"started": "running", "finished": "finished", "failed": "failed", "cancelled": "cancelled",
                    "paused": "paused", "resumed": "queued"}
# Scalar fields of a Log event stored as per-step metrics (plotted by the monitor).
_LOG_METRICS = ("loss", "learning_rate", "grad_norm", "tokens_per_second", "tokens_seen", "memory_mb", "epoch")


class StoreError(RuntimeError):
    """A workspace problem the user can act on (unknown project, unreadable database, ...)."""


@dataclass
class Project:
    id: int
    name: str
    created_at: float
    settings: dict = field(default_factory=dict)


@dataclass
class DatasetRecord:
    id: int
    project_id: int
    name: str
    version: int
    source_path: str
    source_hash: str
    size_bytes: int
    n_rows: int
    columns: list[dict]  # [{"name": ..., "type": ...}]
    snapshot_path: str
    created_at: float

    @property
    def column_names(self) -> list[str]:
        return [c["name"] for c in self.columns]

    @property
    def label(self) -> str:
        return f"{self.name} (v{self.version}, {self.n_rows:,} rows)"


@dataclass
class TemplateRecord:
    id: int
    project_id: int
    name: str
    system: str
    prompt: str
    response: str
    updated_at: float


@dataclass
class RunRecord:
    id: str
    project_id: int | None
    kind: str
    name: str
    status: str
    config: dict
    run_dir: str
    output_dir: str
    parent_run_id: str | None
    pid: int | None
    message: str
    hint: str
    last_step: int
    total_steps: int
    created_at: float
    started_at: float | None
    ended_at: float | None

    @property
    def is_over(self) -> bool:
        return self.status in ("finished", "failed", "cancelled", "paused")


def new_run_id(kind: str) -> str:
    """A sortable, unique, filesystem-safe run id such as ``train-20260101-120000-1a2b3c``."""
    return f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


class Store:
    """The workspace database and folders. Open with :meth:`open`."""

    def __init__(self, home: Path, conn: sqlite3.Connection):
        self.home = home
        self.conn = conn

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, home: Path | str | None = None) -> "Store":
        """Open (creating and migrating if needed) the workspace at ``home`` (default: ``workspace_home()``)."""
        home = Path(home) if home is not None else workspace_home()
        try:
            home.mkdir(parents=True, exist_ok=True)
            for sub in ("datasets", "runs", "models"):
                (home / sub).mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the workspace folder {home}: {exc.strerror or exc}. "
                "Choose a writable folder with the DESKTOP_IFT_HOME environment variable."
            ) from exc
        db_path = home / "workspace.db"
        try:
            empty = db_path.is_file() and db_path.stat().st_size == 0
        except OSError:
            empty = False
        if empty:
            raise WorkspaceDamaged(home, (
                f"The workspace database {db_path} is empty (0 bytes): it was cut off, perhaps by a crash or a "
                "full disk. It was not replaced by a new empty one, so nothing is hidden from you."))
        try:
            conn = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            problems = [] if str(db_path) in _CHECKED else quick_check(conn)  # once per process (~80 ms/30 MB)
            if problems:
                conn.close()
                raise WorkspaceDamaged(home, f"The workspace database {db_path} is damaged ({problems[0]}).")
            store = cls(home, conn)
            store._migrate()
            _CHECKED.add(str(db_path))
        except WorkspaceDamaged:
            raise
        except sqlite3.OperationalError as exc:
            if is_disk_full(exc) or "disk i/o error" in str(exc).lower():
                store = cls._open_read_only(home, db_path)  # a full disk: listings still work
                if store is not None:
                    return store
                raise StoreError(disk_full_message(home, writing="the workspace database",
                                                   advice=WORKSPACE_ADVICE)) from exc
            raise StoreError(
                f"The workspace database {db_path} cannot be opened ({exc}). Check that the folder is writable "
                "and that no other program holds it locked, then try again.") from exc
        except sqlite3.DatabaseError as exc:
            raise WorkspaceDamaged(home, f"The workspace database {db_path} is damaged ({exc}).") from exc
        return store

    read_only = False  # True when opened read-only because nothing can be written (a full disk)

    @classmethod
    def _open_read_only(cls, home: Path, db_path: Path) -> "Store | None":
        """The workspace opened for reading only, or None. With no room for SQLite's shared-memory file a
        WAL database opens only as ``immutable``; that is safe here because nobody can write to a full disk,
        and a database whose last writer closed has no pending WAL."""
        for query in ("mode=ro", "immutable=1"):
            try:
                conn = sqlite3.connect(f"file:{db_path}?{query}", uri=True, timeout=30, isolation_level=None,
                                       check_same_thread=False)
                conn.row_factory = sqlite3.Row
                conn.execute("SELECT COUNT(*) FROM projects").fetchone()
            except sqlite3.Error:
                continue
            store = cls(home, conn)
            store.read_only = True
            return store
        return None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def db_path(self) -> Path:
        return self.home / "workspace.db"

    @property
    def datasets_dir(self) -> Path:
        return self.home / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version()
        if current > len(MIGRATIONS):
            raise StoreError(
                f"The workspace {self.home} was written by a newer version of desktop_ift "
                f"(schema {current}, this version knows {len(MIGRATIONS)}). Update the app."
            )
        for version in range(current, len(MIGRATIONS)):
            with self._tx():
                for statement in _split_sql(MIGRATIONS[version]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version={version + 1}")

    def ensure_schema(self, area: str, migrations: list[str]) -> None:
        """Bring the tables of a feature ``area`` up to date with its own ordered ``migrations``.

        A feature module (``core/data/cleaning.py``, ``core/templates/library.py``, ...) keeps its SQL next
        to its code and calls this before using its tables; each entry runs once, in order, in a
        transaction, like the core migrations. Never edit an entry that has shipped: append a new one.
        """
        done = getattr(self, "_areas_ready", set())
        if (area, len(migrations)) in done:
            return
        try:  # a read first: an up-to-date area needs no write (so listings work on a full disk)
            row = self.conn.execute("SELECT version FROM schema_areas WHERE area=?", (area,)).fetchone()
        except sqlite3.OperationalError:
            row = None
        if row is not None and int(row[0]) == len(migrations):
            done.add((area, len(migrations)))
            self._areas_ready = done
            return
        try:
            self._migrate_area(area, migrations)
        except StoreError as exc:
            if row is not None or not is_disk_full(exc.__cause__ or exc):
                raise
            self._empty_stand_ins(migrations)  # nothing can be written: read this area as empty
        done.add((area, len(migrations)))
        self._areas_ready = done

    def _empty_stand_ins(self, migrations: list[str]) -> None:
        """Empty in-memory (TEMP) tables for an area whose tables were never created, on a workspace that
        cannot be written (a full disk): reads see "nothing yet" instead of failing."""
        for script in migrations:
            for statement in _split_sql(script):
                if statement.upper().startswith("CREATE TABLE"):
                    try:
                        self.conn.execute("CREATE TEMP TABLE" + statement[len("CREATE TABLE"):])
                    except sqlite3.Error:
                        continue

    def _migrate_area(self, area: str, migrations: list[str]) -> None:
        with self._tx():
            row = self.conn.execute("SELECT version FROM schema_areas WHERE area=?", (area,)).fetchone()
            current = int(row[0]) if row else 0
            if current > len(migrations):
                raise StoreError(
                    f"The workspace {self.home} was written by a newer version of desktop_ift "
                    f"({area} schema {current}). Update the app."
                )
            for version in range(current, len(migrations)):
                for statement in _split_sql(migrations[version]):
                    self.conn.execute(statement)
            self.conn.execute(
                "INSERT INTO schema_areas (area, version) VALUES (?, ?) ON CONFLICT (area) DO UPDATE SET"
                " version=excluded.version", (area, len(migrations)),
            )

    def _tx(self) -> "_Transaction":
        return _Transaction(self.conn)

    # ------------------------------------------------------------------ projects
    def create_project(self, name: str, settings: dict | None = None) -> Project:
        """Create a project; the name (trimmed and normalised, see :func:`clean_name`) must be new."""
        name = clean_name(name, "project")
        if self.find_project(name) is not None:
            raise StoreError(f"A project named {name!r} already exists. Pick another name.")
        try:
            with self._tx():
                cur = self.conn.execute(
                    "INSERT INTO projects (name, created_at, settings) VALUES (?, ?, ?)",
                    (name, time.time(), json.dumps(settings or {})),
                )
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"A project named {name!r} already exists. Pick another name.") from exc
        return self.get_project(int(cur.lastrowid))

    def delete_project(self, project_id: int) -> None:
        """Remove a project row (used to undo a project created for an import that then failed)."""
        with self._tx():
            self.conn.execute("DELETE FROM projects WHERE id=?", (project_id,))

    def get_project(self, project_id: int) -> Project:
        row = self.conn.execute("SELECT * FROM projects WHERE id=?", (project_id,)).fetchone()
        if row is None:
            raise StoreError(f"There is no project with id {project_id}.")
        return _project(row)

    def find_project(self, name: str) -> Project | None:
        """The project called ``name`` once trimmed and normalised (``"p1 "`` finds ``p1``), or None."""
        try:
            wanted = clean_name(name, "project")
        except StoreError:
            return None
        row = self.conn.execute("SELECT * FROM projects WHERE name=?", (wanted,)).fetchone()
        if row:
            return _project(row)
        for project in self.list_projects():  # names saved before they were normalised
            if _normal_form(project.name) == wanted:
                return project
        return None

    def list_projects(self) -> list[Project]:
        return [_project(r) for r in self.conn.execute("SELECT * FROM projects ORDER BY id")]

    def update_project_settings(self, project_id: int, **settings: Any) -> Project:
        """Merge ``settings`` into the project's settings (the GUI remembers choices here)."""
        project = self.get_project(project_id)
        merged = {**project.settings, **settings}
        with self._tx():
            self.conn.execute("UPDATE projects SET settings=? WHERE id=?", (json.dumps(merged), project_id))
        project.settings = merged
        return project

    # ------------------------------------------------------------------ datasets
    def dataset_dir(self, dataset_id: int) -> Path:
        return self.datasets_dir / str(dataset_id)

    def add_dataset(
        self,
        project_id: int,
        name: str,
        source_path: str,
        source_hash: str,
        size_bytes: int,
        n_rows: int,
        columns: list[dict],
        snapshot_path: str,
    ) -> DatasetRecord:
        """Record an imported dataset; its version is one more than the last one with this name."""
        name = clean_name(name, "dataset")
        with self._tx():
            row = self.conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM datasets WHERE project_id=? AND name=?",
                (project_id, name),
            ).fetchone()
            cur = self.conn.execute(
                "INSERT INTO datasets (project_id, name, version, source_path, source_hash, size_bytes,"
                " n_rows, columns, snapshot_path, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (project_id, name, int(row[0]) + 1, source_path, source_hash, size_bytes, n_rows,
                 json.dumps(columns), stored_path(self.home, snapshot_path), time.time()),
            )
        return self.get_dataset(int(cur.lastrowid))

    def reserve_dataset_id(self) -> int:
        """The id the next dataset will most likely get (used to name a snapshot folder before insert)."""
        row = self.conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM datasets").fetchone()
        return int(row[0])

    def get_dataset(self, dataset_id: int) -> DatasetRecord:
        row = self.conn.execute("SELECT * FROM datasets WHERE id=?", (dataset_id,)).fetchone()
        if row is None:
            raise StoreError(f"There is no dataset with id {dataset_id}.")
        return _dataset(row, self.home)

    def list_datasets(self, project_id: int) -> list[DatasetRecord]:
        rows = self.conn.execute(
            "SELECT * FROM datasets WHERE project_id=? ORDER BY name, version", (project_id,)
        )
        return [_dataset(r, self.home) for r in rows]

    def delete_dataset(self, dataset_id: int) -> None:
        with self._tx():
            self.conn.execute("DELETE FROM datasets WHERE id=?", (dataset_id,))

    # ------------------------------------------------------------------ templates
    def save_template(self, project_id: int, name: str, prompt: str, response: str, system: str = "") -> TemplateRecord:
        """Create or overwrite the project's template called ``name``."""
        name = clean_name(name, "template")
        with self._tx():
            self.conn.execute(
                "INSERT INTO templates (project_id, name, system, prompt, response, updated_at)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT (project_id, name) DO UPDATE SET"
                " system=excluded.system, prompt=excluded.prompt, response=excluded.response,"
                " updated_at=excluded.updated_at",
                (project_id, name, system, prompt, response, time.time()),
            )
        row = self.conn.execute(
            "SELECT * FROM templates WHERE project_id=? AND name=?", (project_id, name)
        ).fetchone()
        return _template(row)

    def get_template(self, template_id: int) -> TemplateRecord:
        row = self.conn.execute("SELECT * FROM templates WHERE id=?", (template_id,)).fetchone()
        if row is None:
            raise StoreError(f"There is no template with id {template_id}.")
        return _template(row)

    def list_templates(self, project_id: int) -> list[TemplateRecord]:
        rows = self.conn.execute("SELECT * FROM templates WHERE project_id=? ORDER BY name", (project_id,))
        return [_template(r) for r in rows]

    # ------------------------------------------------------------------ runs
    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def create_run(
        self,
        kind: str,
        config: dict,
        project_id: int | None = None,
        name: str = "",
        run_id: str | None = None,
        parent_run_id: str | None = None,
    ) -> RunRecord:
        """Create a queued run and its folder."""
        name = clean_name(name, "run", allow_empty=True)
        run_id = run_id or new_run_id(kind)
        run_dir = self.run_dir(run_id)
        run_dir.mkdir(parents=True, exist_ok=True)
        with self._tx():
            self.conn.execute(
                "INSERT INTO runs (id, project_id, kind, name, status, config, run_dir, parent_run_id, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (run_id, project_id, kind, name, "queued", json.dumps(config), stored_path(self.home, str(run_dir)),
                 parent_run_id,
                 time.time()),
            )
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        row = self.conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"There is no run {run_id!r} in the workspace {self.home}.")
        return _run(row, self.home)

    def list_runs(self, project_id: int | None = None, kind: str | None = None) -> list[RunRecord]:
        """Runs, newest first."""
        sql, args = "SELECT * FROM runs WHERE 1=1", []
        if project_id is not None:
            sql += " AND project_id=?"
            args.append(project_id)
        if kind is not None:
            sql += " AND kind=?"
            args.append(kind)
        sql += " ORDER BY created_at DESC, id DESC"
        return [_run(r, self.home) for r in self.conn.execute(sql, args)]

    def update_run(self, run_id: str, **values: Any) -> RunRecord:
        """Set columns of a run (``status``, ``pid``, ``output_dir``, ``message``, ...)."""
        allowed = {"name", "status", "config", "output_dir", "pid", "message", "hint", "last_step",
                   "total_steps", "started_at", "ended_at"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot update run columns {sorted(unknown)}")
        if "config" in values:
            values["config"] = json.dumps(values["config"])
        if values.get("output_dir"):
            values["output_dir"] = stored_path(self.home, str(values["output_dir"]))
        if values:
            assignments = ", ".join(f"{k}=?" for k in values)
            with self._tx():
                self.conn.execute(f"UPDATE runs SET {assignments} WHERE id=?", (*values.values(), run_id))
        return self.get_run(run_id)

    def delete_run(self, run_id: str) -> None:
        """Delete a run's rows (its folder is the caller's to remove)."""
        with self._tx():
            self.conn.execute("DELETE FROM runs WHERE id=?", (run_id,))

    # ------------------------------------------------------------------ events and metrics
    def last_seq(self, run_id: str) -> int:
        row = self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE run_id=?", (run_id,)).fetchone()
        return int(row[0])

    def append_event(self, event: ev.Event) -> bool:
        """Store ``event`` and update the run it belongs to; returns False if that seq was already stored.

        A log event also lands in ``metrics`` (one row per figure), an evaluation event in ``eval_results``;
        ``started``/``finished``/``failed``/``cancelled`` move the run's status.
        """
        payload = ev.to_dict(event)
        with self._tx():
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO events (run_id, seq, type, time, payload) VALUES (?,?,?,?,?)",
                (event.run_id, event.seq, event.type, event.time, json.dumps(payload)),
            )
            if cur.rowcount == 0:
                return False
            self._project_event(event)
        return True

    def _project_event(self, event: ev.Event) -> None:
        run_id = event.run_id
        status = _STATUS_BY_EVENT.get(event.type)
        if isinstance(event, ev.Started):
            self.conn.execute(
                "UPDATE runs SET status=?, pid=?, started_at=COALESCE(started_at, ?), total_steps=? WHERE id=?",
                (status, event.pid, event.time, event.total_steps, run_id),
            )
        elif isinstance(event, ev.Log):
            rows = [(run_id, event.seq, event.step, name, float(getattr(event, name)))
                    for name in _LOG_METRICS if getattr(event, name) is not None]
            self.conn.executemany("INSERT INTO metrics (run_id, seq, step, name, value) VALUES (?,?,?,?,?)", rows)
            self.conn.execute(
                "UPDATE runs SET last_step=?, total_steps=MAX(total_steps, ?) WHERE id=?",
                (event.step, event.total_steps, run_id),
            )
        elif isinstance(event, ev.Eval):
            numeric = {k: v for k, v in event.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            if event.model_label:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO eval_results (run_id, model_label, metric, value) VALUES (?,?,?,?)",
                    [(run_id, event.model_label, k, float(v)) for k, v in numeric.items()],
                )
            else:  # validation during training: plot it with the training curve
                self.conn.executemany(
                    "INSERT INTO metrics (run_id, seq, step, name, value) VALUES (?,?,?,?,?)",
                    [(run_id, event.seq, event.step, k, float(v)) for k, v in numeric.items()],
                )
        elif isinstance(event, ev.Checkpoint):
            self.conn.execute("UPDATE runs SET last_step=MAX(last_step, ?) WHERE id=?", (event.step, run_id))
        elif isinstance(event, ev.Finished):
            self.conn.execute(
                "UPDATE runs SET status=?, ended_at=?, output_dir=COALESCE(NULLIF(?, ''), output_dir) WHERE id=?",
                (status, event.time, stored_path(self.home, event.output_dir or ""), run_id),
            )
        elif isinstance(event, ev.Failed):
            self.conn.execute(
                "UPDATE runs SET status=?, ended_at=?, message=?, hint=? WHERE id=?",
                (status, event.time, event.message, event.hint, run_id),
            )
        elif isinstance(event, (ev.Cancelled, ev.Paused)):
            self.conn.execute(
                "UPDATE runs SET status=?, ended_at=?, message=? WHERE id=?",
                (status, event.time, f"{status.capitalize()} at step {event.step}.", run_id),
            )
        elif isinstance(event, ev.Resumed):  # a new attempt was asked for (run_state.py reads the stream)
            self.conn.execute("UPDATE runs SET status=?, ended_at=NULL, message='', hint='', pid=NULL WHERE id=?",
                              (status, run_id))

    def events(self, run_id: str, after_seq: int = 0) -> list[ev.Event]:
        """The run's events with a sequence number above ``after_seq``, in order."""
        rows = self.conn.execute(
            "SELECT payload FROM events WHERE run_id=? AND seq>? ORDER BY seq", (run_id, after_seq)
        )
        return [ev.from_dict(json.loads(r[0])) for r in rows]

    def metric_series(self, run_id: str, name: str) -> list[tuple[int, float]]:
        """``(step, value)`` pairs of one metric (``loss``, ``eval_loss``, ``learning_rate``, ...) in step order."""
        rows = self.conn.execute(
            "SELECT step, value FROM metrics WHERE run_id=? AND name=? ORDER BY seq", (run_id, name)
        )
        return [(int(s), float(v)) for s, v in rows]

    def metric_names(self, run_id: str) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT name FROM metrics WHERE run_id=? ORDER BY name", (run_id,))]

    # ------------------------------------------------------------------ evaluation results
    def eval_results(self, run_id: str) -> dict[str, dict[str, float | None]]:
        """``{model_label: {metric: value}}`` of an evaluation run, models in the order they were scored."""
        out: dict[str, dict[str, float | None]] = {}
        for label, metric, value in self.conn.execute(
            "SELECT model_label, metric, value FROM eval_results WHERE run_id=? ORDER BY rowid", (run_id,)
        ):
            out.setdefault(label, {})[metric] = value
        return out

    def add_eval_examples(self, run_id: str, model_label: str, rows: Iterable[dict]) -> None:
        """Store per-example outputs: dicts with ``idx``, ``prompt``, ``reference``, ``output``, ``scores``."""
        with self._tx():
            self.conn.executemany(
                "INSERT OR REPLACE INTO eval_examples (run_id, model_label, idx, prompt, reference, output, scores)"
                " VALUES (?,?,?,?,?,?,?)",
                [(run_id, model_label, int(r["idx"]), r["prompt"], r["reference"], r["output"],
                  json.dumps(r.get("scores", {}))) for r in rows],
            )

    def eval_examples(self, run_id: str, model_label: str | None = None) -> list[dict]:
        sql, args = "SELECT * FROM eval_examples WHERE run_id=?", [run_id]
        if model_label is not None:
            sql += " AND model_label=?"
            args.append(model_label)
        sql += " ORDER BY model_label, idx"
        return [
            {**dict(r), "scores": json.loads(r["scores"])} for r in self.conn.execute(sql, args)
        ]


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, *rest: Any) -> None:
        try:
            self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        except sqlite3.OperationalError as failed:
            if exc_type is None and not is_disk_full(failed):
                raise
            exc = exc or failed
            if self.conn.in_transaction:  # a COMMIT that failed for lack of space leaves the transaction open
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
        if isinstance(exc, sqlite3.OperationalError) and is_disk_full(exc):
            home = _home_of(self.conn)
            raise StoreError(disk_full_message(home, writing="the workspace database",
                                               advice=WORKSPACE_ADVICE)) from exc


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _project(row: sqlite3.Row) -> Project:
    return Project(id=row["id"], name=row["name"], created_at=row["created_at"], settings=json.loads(row["settings"]))


def _dataset(row: sqlite3.Row, home: Path | None = None) -> DatasetRecord:
    data = dict(row)
    data["columns"] = json.loads(data["columns"])
    if home is not None:
        data["snapshot_path"] = resolve_stored_path(home, data["snapshot_path"])
    return DatasetRecord(**data)


def _template(row: sqlite3.Row) -> TemplateRecord:
    return TemplateRecord(**dict(row))


def _run(row: sqlite3.Row, home: Path | None = None) -> RunRecord:
    data = dict(row)
    data["config"] = json.loads(data["config"])
    if home is not None:
        for key in ("output_dir", "run_dir"):
            if data.get(key):
                data[key] = resolve_stored_path(home, data[key])
    return RunRecord(**data)


# ---------------------------------------------------------------------------------------------- names
def _normal_form(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", str(name)).split())


def clean_name(name: str, what: str = "name", allow_empty: bool = False) -> str:
    """``name`` trimmed, with inner runs of spaces made one and Unicode in its composed form (NFC), so
    ``"p1 "`` and ``"p1"`` are one name. Raises :class:`StoreError` for an empty name (unless
    ``allow_empty``) and for control characters (newlines, tabs, ANSI escape sequences), which would print
    as something else in a terminal or a list."""
    raw = "" if name is None else str(name)
    bad = [ch for ch in raw if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch != " "]
    if bad:
        shown = ", ".join(sorted({repr(ch)[1:-1] for ch in bad}))
        raise StoreError(f"A {what} name cannot contain control characters (found: {shown}; e.g. a line break, "
                         "a tab or a terminal colour code). Type the name again with letters, digits, spaces "
                         "and punctuation only.")
    cleaned = _normal_form(raw)
    if not cleaned and not allow_empty:
        raise StoreError(f"A {what} needs a name.")
    if len(cleaned) > 200:
        raise StoreError(f"A {what} name can be at most 200 characters long (this one has {len(cleaned)}).")
    return cleaned


# ---------------------------------------------------------------------------------------------- paths
_WORKSPACE_PARTS = ("datasets", "runs", "models")


def stored_path(home: Path, path: str) -> str:
    """``path`` as the database keeps it: relative to the workspace ``home`` when inside it (so a moved or
    restored workspace keeps its files), else unchanged."""
    if not path:
        return path
    try:
        return Path(path).resolve().relative_to(Path(home).resolve()).as_posix()
    except (ValueError, OSError):
        return path


def resolve_stored_path(home: Path, stored: str) -> str:
    """The absolute path of a stored workspace path. Relative paths are under ``home``; an absolute path of
    an older workspace that no longer exists but names ``datasets/``, ``runs/`` or ``models/`` is taken to
    mean the same file in this workspace (the folder was moved)."""
    if not stored:
        return stored
    path = Path(stored)
    if not path.is_absolute():
        return str(Path(home) / path)
    if path.exists():
        return stored
    parts = path.parts
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] in _WORKSPACE_PARTS:
            moved = Path(home).joinpath(*parts[index:])
            if moved.exists() or not path.parent.exists():
                return str(moved)
            break
    return stored


# ---------------------------------------------------------------------------------------------- damage
class WorkspaceDamaged(StoreError):
    """The workspace database is empty or damaged; ``str(e)`` says so and how to go on."""

    def __init__(self, home: Path, what: str):
        self.home = Path(home)
        self.what = what
        super().__init__(
            f"{what} Nothing was changed. To go on, keep a copy of it and start a fresh workspace with: "
            f"desktop-ift workspace --fresh (the damaged file is kept next to it; your imported files and run "
            f"folders stay in {self.home}). Or restore workspace.db from a backup.")


def start_fresh_workspace(home: Path | str) -> Path:
    """Keep a copy of the workspace database of ``home`` (with its -wal/-shm files) as
    ``workspace.damaged-<time>.db`` and remove the original, so the next open starts a fresh database.
    Imported datasets and run folders are left where they are. Returns the copy's path."""
    home = Path(home)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    keep = home / f"workspace.damaged-{stamp}.db"
    db = home / "workspace.db"
    if not db.exists():
        raise StoreError(f"There is no workspace database in {home}: nothing to set aside.")
    import shutil

    for suffix in ("", "-wal", "-shm"):
        source = Path(str(db) + suffix)
        if source.exists():
            shutil.copy2(source, Path(str(keep) + suffix))
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    return keep


def check_workspace(home: Path | str) -> list[str]:
    """Problems found in the workspace at ``home`` without changing it: a 0-byte or damaged database
    (``PRAGMA quick_check``), dataset snapshots and run output folders that are missing. Empty when sound."""
    home = Path(home)
    db = home / "workspace.db"
    if not db.exists():
        return [f"There is no workspace database in {home}."]
    if db.stat().st_size == 0:
        return [f"The workspace database {db} is empty (0 bytes)."]
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        return [f"The workspace database {db} cannot be opened ({exc})."]
    try:
        conn.row_factory = sqlite3.Row
        try:
            found = quick_check(conn)
        except sqlite3.DatabaseError as exc:
            return [f"The workspace database {db} is damaged ({exc})."]
        if found:
            return [f"The workspace database {db} is damaged: {line}" for line in found]
        problems = []
        for row in conn.execute("SELECT id, name, version, snapshot_path FROM datasets"):
            path = resolve_stored_path(home, row["snapshot_path"])
            if not Path(path).exists():
                problems.append(f"Dataset {row['id']} ({row['name']} v{row['version']}): its saved copy is "
                                f"missing ({path}).")
        for row in conn.execute("SELECT id, run_dir, output_dir FROM runs"):
            for key, what in (("run_dir", "folder"), ("output_dir", "output folder")):
                path = resolve_stored_path(home, row[key] or "")
                if path and not Path(path).exists():
                    problems.append(f"Run {row['id']}: its {what} is missing ({path}).")
        return problems
    finally:
        conn.close()


def quick_check(conn: sqlite3.Connection) -> list[str]:
    """SQLite's ``PRAGMA quick_check``: an empty list when the database is sound, else its findings."""
    rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
    return [] if rows == ["ok"] else rows


def is_disk_full(exc: BaseException) -> bool:
    """True for SQLite's "database or disk is full" (and a read-only file system, which reads the same to
    the user: nothing can be written)."""
    text = str(exc).lower()
    return "disk is full" in text or "database or disk is full" in text or "readonly database" in text \
        or "read-only file system" in text


def _home_of(conn: sqlite3.Connection) -> Path | None:
    try:
        row = conn.execute("PRAGMA database_list").fetchone()
        return Path(row[2]).parent if row and row[2] else None
    except sqlite3.Error:
        return None
