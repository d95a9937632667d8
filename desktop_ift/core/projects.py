"""Which project the app opens: the one used last (remembered in its settings), else the demo project."""

from __future__ import annotations

import time

from desktop_ift.core.store import Project, Store, StoreError, clean_name

__all__ = ["LAST_OPENED", "clean_name", "last_opened_project", "mark_opened", "project_summary"]

LAST_OPENED = "last_opened"


def mark_opened(store: Store, project: Project) -> Project:
    """Remember that ``project`` was just opened (the next start opens it again). Remembering is optional:
    on a full disk (or a read-only workspace) the project opens anyway, unremembered."""
    try:
        return store.update_project_settings(project.id, **{LAST_OPENED: time.time()})
    except StoreError:
        return project


def last_opened_project(store: Store) -> Project | None:
    """The project opened most recently, or None when no project was ever opened in the app."""
    opened = [p for p in store.list_projects() if p.settings.get(LAST_OPENED)]
    return max(opened, key=lambda p: p.settings[LAST_OPENED]) if opened else None


def project_summary(store: Store, project: Project) -> str:
    """One line about a project for a chooser: its datasets, templates and runs."""
    datasets, templates = store.list_datasets(project.id), store.list_templates(project.id)
    runs = store.list_runs(project.id)

    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    return " · ".join([count(len(datasets), "dataset"), count(len(templates), "template"), count(len(runs), "run")])
