"""Where the workspace and the shipped resources live."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "DESKTOP_IFT_HOME"
APP_NAME = "desktop_ift"


def workspace_home() -> Path:
    """The workspace folder: ``$DESKTOP_IFT_HOME`` if set, else the platform's user-data dir (appdirs)."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser().resolve()
    import appdirs

    return Path(appdirs.user_data_dir(APP_NAME, False))


def repo_root() -> Path:
    """The folder that holds ``desktop_ift/``, ``resources/`` and ``icons/`` (the package is installed editable)."""
    return Path(__file__).resolve().parents[2]


def resources_dir() -> Path:
    """The shipped ``resources/`` folder (demo data, built-in templates, metric modules, styles)."""
    return repo_root() / "resources"


def icons_dir() -> Path:
    """The shipped ``icons/`` folder."""
    return repo_root() / "icons"
