"""Shared fixtures for the Qt-free core tests: an isolated workspace and a project in it."""

from __future__ import annotations

import pytest

from desktop_ift.core.paths import HOME_ENV
from desktop_ift.core.store import Project, Store


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """No core test may touch the real user workspace: ``$DESKTOP_IFT_HOME`` is ``tmp_path/ws``, the folder
    the ``store`` fixture opens (so code that uses the default workspace sees the same one)."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "ws"))


@pytest.fixture
def store(tmp_path) -> Store:
    """A fresh workspace at ``tmp_path/ws``, closed after the test."""
    opened = Store.open(tmp_path / "ws")
    yield opened
    opened.close()


@pytest.fixture
def project(store) -> Project:
    """A project called "Test project" in the ``store`` workspace."""
    return store.create_project("Test project")


@pytest.fixture(scope="session")
def plain_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model without a chat template (a base model): the plain ### Instruction layout."""
    import json
    import shutil

    folder = tmp_path_factory.mktemp("plain") / "tiny"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder
