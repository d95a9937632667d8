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
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from desktop_ift.core import events as ev
from desktop_ift.core.paths import workspace_home

SCHEMA_VERSION = 2

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
            conn = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            store = cls(home, conn)
            store._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"The workspace database {db_path} cannot be opened ({exc}). "
                "If it is damaged, move it aside and start the app again to create a new one."
            ) from exc
        return store

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
        done.add((area, len(migrations)))
        self._areas_ready = done

    def _tx(self) -> "_Transaction":
        return _Transaction(self.conn)

    # ------------------------------------------------------------------ projects
    def create_project(self, name: str, settings: dict | None = None) -> Project:
        """Create a project; the name must be new."""
        name = name.strip()
        if not name:
            raise StoreError("A project needs a name.")
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
        row = self.conn.execute("SELECT * FROM projects WHERE name=?", (name,)).fetchone()
        return _project(row) if row else None

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
        with self._tx():
            row = self.conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM datasets WHERE project_id=? AND name=?",
                (project_id, name),
            ).fetchone()
            cur = self.conn.execute(
                "INSERT INTO datasets (project_id, name, version, source_path, source_hash, size_bytes,"
                " n_rows, columns, snapshot_path, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (project_id, name, int(row[0]) + 1, source_path, source_hash, size_bytes, n_rows,
                 json.dumps(columns), snapshot_path, time.time()),
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
        return _dataset(row)

    def list_datasets(self, project_id: int) -> list[DatasetRecord]:
        rows = self.conn.execute(
            "SELECT * FROM datasets WHERE project_id=? ORDER BY name, version", (project_id,)
        )
        return [_dataset(r) for r in rows]

    def delete_dataset(self, dataset_id: int) -> None:
        with self._tx():
            self.conn.execute("DELETE FROM datasets WHERE id=?", (dataset_id,))

    # ------------------------------------------------------------------ templates
    def save_template(self, project_id: int, name: str, prompt: str, response: str, system: str = "") -> TemplateRecord:
        """Create or overwrite the project's template called ``name``."""
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
        run_id = run_id or new_run_id(kind)
        run_dir = self.run_dir(run_id)
        run_dir.mkdir(parents=True, exist_ok=True)
        with self._tx():
            self.conn.execute(
                "INSERT INTO runs (id, project_id, kind, name, status, config, run_dir, parent_run_id, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (run_id, project_id, kind, name, "queued", json.dumps(config), str(run_dir), parent_run_id,
                 time.time()),
            )
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        row = self.conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"There is no run {run_id!r} in the workspace {self.home}.")
        return _run(row)

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
        return [_run(r) for r in self.conn.execute(sql, args)]

    def update_run(self, run_id: str, **values: Any) -> RunRecord:
        """Set columns of a run (``status``, ``pid``, ``output_dir``, ``message``, ...)."""
        allowed = {"name", "status", "config", "output_dir", "pid", "message", "hint", "last_step",
                   "total_steps", "started_at", "ended_at"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot update run columns {sorted(unknown)}")
        if "config" in values:
            values["config"] = json.dumps(values["config"])
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
                (status, event.time, event.output_dir, run_id),
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

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _project(row: sqlite3.Row) -> Project:
    return Project(id=row["id"], name=row["name"], created_at=row["created_at"], settings=json.loads(row["settings"]))


def _dataset(row: sqlite3.Row) -> DatasetRecord:
    data = dict(row)
    data["columns"] = json.loads(data["columns"])
    return DatasetRecord(**data)


def _template(row: sqlite3.Row) -> TemplateRecord:
    return TemplateRecord(**dict(row))


def _run(row: sqlite3.Row) -> RunRecord:
    data = dict(row)
    data["config"] = json.loads(data["config"])
    return RunRecord(**data)
