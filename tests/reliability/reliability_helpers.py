"""Helpers shared by the reliability tests (imported by name: the tests folders are not packages)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m desktop_ift ARGS`` on the workspace ``home`` (no stdin), as a user would run it."""
    env = dict(os.environ, DESKTOP_IFT_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "desktop_ift", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def assert_plain(out: subprocess.CompletedProcess) -> None:
    """A failure a user caused ends with a message, never a Python traceback."""
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
