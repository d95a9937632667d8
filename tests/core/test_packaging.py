"""Packaging facts the set-up and the desktop integration rely on; no Qt and no network needed."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGING = REPO_ROOT / "packaging"
ICONS = REPO_ROOT / "icons"
SETUP_SH = PACKAGING / "setup.sh"
CI_RUN = REPO_ROOT / ".ci" / "run"
INSTALL_ENTRY_SH = PACKAGING / "install_desktop_entry.sh"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
PAGE_ICONS = ("page-data", "page-templates", "page-train", "page-monitor", "page-evaluate")
README_TEST_COMMAND = "QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q -p no:cacheprovider"


def _requirement_lines(text: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def _dependencies() -> list[str]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(data["project"]["dependencies"])


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_pyproject_pins_pyside6_essentials_exactly() -> None:
    deps = _dependencies()
    pyside = [d for d in deps if _name(d).startswith("pyside6")]
    # 6.12.0 crashes on Python 3.11; plain "PySide6" would also drag in the large Addons wheel.
    assert [d.replace(" ", "") for d in pyside] == ["PySide6-Essentials==6.11.3"], pyside


def test_constraints_pin_torch_and_pyside() -> None:
    lines = [l.replace(" ", "") for l in _requirement_lines((PACKAGING / "constraints.txt").read_text())]
    assert "torch==2.13.0" in lines, "a torch range lets pip pull a newer CUDA build (gigabytes)"
    assert "PySide6-Essentials==6.11.3" in lines


def test_desktop_entry_has_required_keys() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive in desktop entries
    parser.read(PACKAGING / "desktop_ift.desktop", encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "desktop_ift"
    assert entry["GenericName"] == "LLM Fine-Tuning Studio"
    assert entry["Exec"] == "desktop-ift gui"
    assert entry["Icon"] == "desktop_ift"
    assert entry["Terminal"] == "false"
    categories = entry["Categories"]
    assert categories.endswith(";") and {"Development", "Science"} <= set(categories.split(";"))


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR", f"{path.name} has no IHDR chunk first"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("size", ICON_SIZES)
def test_app_icon_png_exists_at_its_size(size: int) -> None:
    path = ICONS / f"desktop_ift-{size}.png"
    assert path.is_file(), f"missing {path.name}; run: QT_QPA_PLATFORM=offscreen .venv/bin/python icons/render_icons.py"
    assert _png_size(path) == (size, size)


def test_render_script_makes_the_sizes_the_tests_expect() -> None:
    text = (ICONS / "render_icons.py").read_text(encoding="utf-8")
    match = re.search(r"^SIZES = \(([^)]*)\)", text, re.MULTILINE)
    assert match, "icons/render_icons.py must define SIZES = (...)"
    assert tuple(int(s) for s in match.group(1).split(",") if s.strip()) == ICON_SIZES


@pytest.mark.parametrize("name", ["desktop_ift", "desktop_ift-small", *PAGE_ICONS])
def test_svg_icons_are_well_formed(name: str) -> None:
    root = ET.parse(ICONS / f"{name}.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    expected_box = "0 0 24 24" if name.startswith("page-") else "0 0 512 512"
    assert root.get("viewBox") == expected_box


@pytest.mark.parametrize("script", [SETUP_SH, CI_RUN, INSTALL_ENTRY_SH], ids=lambda p: p.name)
def test_scripts_are_strict_executable_bash(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    if os.name == "posix":
        assert os.access(script, os.X_OK), f"{script.name} is not executable (chmod +x)"
    bash = shutil.which("bash")
    if bash:
        result = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_ci_runs_setup_then_the_readme_test_command() -> None:
    text = CI_RUN.read_text(encoding="utf-8")
    setup_at = text.index("bash packaging/setup.sh")
    pytest_at = text.index(README_TEST_COMMAND)
    assert setup_at < pytest_at
    assert re.search(r'"\$status" -eq 5', text), ".ci/run must treat 'no tests collected' (5) as failure"


def test_setup_installs_pinned_torch_first_then_the_project() -> None:
    text = SETUP_SH.read_text(encoding="utf-8")
    assert "packaging" in text and "constraints.txt" in text
    torch_at = text.index('install --quiet "torch==$TORCH_VERSION" -c "$CONSTRAINTS"')
    project_at = text.index('install --quiet -e ".[test]" -c "$CONSTRAINTS"')
    assert torch_at < project_at
    assert 'TORCH_VERSION="2.13.0"' in text and 'PYSIDE_VERSION="6.11.3"' in text
    assert ".desktop_ift-setup-stamp" in text
    assert 'PYTHON="${PYTHON:-python3}"' in text


def test_readme_uses_the_same_commands() -> None:
    readme = REPO_ROOT / "README.md"
    if not readme.is_file():
        pytest.skip("README.md not written yet")
    text = readme.read_text(encoding="utf-8")
    assert "bash packaging/setup.sh" in text
    assert README_TEST_COMMAND in text
