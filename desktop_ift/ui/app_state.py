"""What the user is working on: the project, its selected dataset and template, the last runs.

Pages read and change the selection here and subscribe to its signals; every choice is remembered in the
project's settings (``Store.update_project_settings``), so the app reopens where the user left off.
The current dataset's Arrow table is loaded once, off the GUI thread, and shared by the pages.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop_ift.core import runs as run_ops
from desktop_ift.core.store import DatasetRecord, Project, RunRecord, Store, StoreError, TemplateRecord
from desktop_ift.ui.tasks import run_in_background

DEFAULT_SPLIT = {"train": 0.8, "validation": 0.1, "test": 0.1, "seed": 42, "stratify_column": None}


class AppState(QObject):
    """The shared selection. Signals carry the new id (0 or "" when nothing is selected)."""

    project_changed = Signal()
    datasets_changed = Signal()  # a dataset was imported or removed
    dataset_changed = Signal(int)
    table_loaded = Signal(int)  # the table of this dataset id is ready (``table()``)
    table_failed = Signal(int, str)
    templates_changed = Signal()
    template_changed = Signal(int)
    split_changed = Signal()
    train_run_changed = Signal(str)
    eval_run_changed = Signal(str)
    runs_changed = Signal()  # a run was created or ended
    busy_changed = Signal(bool)  # a run is going in this window

    def __init__(self, store: Store, project: Project, parent: QObject | None = None):
        super().__init__(parent)
        self.store = store
        self.project = project
        self._tables: dict[int, Any] = {}
        self._summaries: dict[int, list] = {}
        self._loading: set[int] = set()
        self.run_active = False

    # ------------------------------------------------------------------ settings
    def setting(self, key: str, default: Any = None) -> Any:
        return self.project.settings.get(key, default)

    def remember(self, **values: Any) -> None:
        """Persist choices in the project's settings (a workspace error is not worth interrupting the user)."""
        try:
            self.project = self.store.update_project_settings(self.project.id, **values)
        except StoreError:
            self.project.settings.update(values)

    # ------------------------------------------------------------------ dataset
    @property
    def dataset_id(self) -> int:
        return int(self.setting("dataset_id") or 0)

    def datasets(self) -> list[DatasetRecord]:
        return self.store.list_datasets(self.project.id)

    def dataset(self) -> DatasetRecord | None:
        if not self.dataset_id:
            return None
        try:
            return self.store.get_dataset(self.dataset_id)
        except StoreError:
            return None

    def set_dataset(self, dataset_id: int) -> None:
        if dataset_id == self.dataset_id:
            return
        self.remember(dataset_id=dataset_id or None)
        self.dataset_changed.emit(dataset_id)

    def table(self, dataset_id: int | None = None):
        """The loaded Arrow table of a dataset, or None while it loads (``table_loaded`` follows)."""
        dataset_id = self.dataset_id if dataset_id is None else dataset_id
        if not dataset_id:
            return None
        if dataset_id in self._tables:
            return self._tables[dataset_id]
        self._load_table(dataset_id)
        return None

    def column_summaries(self, dataset_id: int | None = None) -> list:
        dataset_id = self.dataset_id if dataset_id is None else dataset_id
        return self._summaries.get(dataset_id, [])

    def is_loading(self, dataset_id: int | None = None) -> bool:
        return (self.dataset_id if dataset_id is None else dataset_id) in self._loading

    def _load_table(self, dataset_id: int) -> None:
        if dataset_id in self._loading:
            return
        try:
            record = self.store.get_dataset(dataset_id)
        except StoreError as exc:
            self.table_failed.emit(dataset_id, str(exc))
            return
        self._loading.add(dataset_id)

        def load():
            from desktop_ift.core.data.importers import load_dataset_table
            from desktop_ift.core.data.table_summary import summarize_columns

            table = load_dataset_table(record)
            return table, summarize_columns(table)

        def done(result):
            self._loading.discard(dataset_id)
            self._tables[dataset_id], self._summaries[dataset_id] = result
            if len(self._tables) > 4:  # keep memory bounded: drop the oldest other table
                oldest = next(k for k in self._tables if k != dataset_id)
                self._tables.pop(oldest)
                self._summaries.pop(oldest, None)
            self.table_loaded.emit(dataset_id)

        def failed(exc):
            self._loading.discard(dataset_id)
            self.table_failed.emit(
                dataset_id,
                f"The saved copy of {record.label} cannot be read ({exc}). Import the source file again.",
            )

        run_in_background(load, done, failed)

    def dataset_added(self, record: DatasetRecord) -> None:
        """A dataset was imported: list it and select it."""
        self.datasets_changed.emit()
        self.set_dataset(record.id)

    # ------------------------------------------------------------------ template
    @property
    def template_id(self) -> int:
        return int(self.setting("template_id") or 0)

    def templates(self) -> list[TemplateRecord]:
        return self.store.list_templates(self.project.id)

    def template(self) -> TemplateRecord | None:
        if not self.template_id:
            return None
        try:
            return self.store.get_template(self.template_id)
        except StoreError:
            return None

    def set_template(self, template_id: int) -> None:
        if template_id == self.template_id:
            return
        self.remember(template_id=template_id or None)
        self.template_changed.emit(template_id)

    # ------------------------------------------------------------------ split
    def split_values(self) -> dict:
        return {**DEFAULT_SPLIT, **(self.setting("split") or {})}

    def set_split_values(self, values: dict) -> None:
        self.remember(split=values)
        self.split_changed.emit()

    def split_spec(self):
        """The current split as a ``SplitSpec``; raises its ValueError when the ratios cannot work."""
        from desktop_ift.core.data.splits import SplitSpec

        return SplitSpec(**self.split_values())

    # ------------------------------------------------------------------ runs
    @property
    def train_run_id(self) -> str:
        return str(self.setting("train_run_id") or "")

    @property
    def eval_run_id(self) -> str:
        return str(self.setting("eval_run_id") or "")

    def set_train_run(self, run_id: str) -> None:
        if run_id == self.train_run_id:
            return
        self.remember(train_run_id=run_id or None)
        self.train_run_changed.emit(run_id)

    def set_eval_run(self, run_id: str) -> None:
        if run_id == self.eval_run_id:
            return
        self.remember(eval_run_id=run_id or None)
        self.eval_run_changed.emit(run_id)

    def runs(self, kind: str) -> list[RunRecord]:
        return self.store.list_runs(self.project.id, kind)

    def finished_runs(self, kind: str = "train") -> list[RunRecord]:
        """The project's runs whose RunState is finished (newest first): what the Evaluate page offers."""
        records = self.runs(kind)
        states = run_ops.run_states(self.store, records, probe=None)  # finished needs no liveness probe
        return [r for r in records if states[r.id].status == "finished"]

    def set_run_active(self, active: bool) -> None:
        self.run_active = active
        self.busy_changed.emit(active)
