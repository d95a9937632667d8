#!/usr/bin/env bash
# Put desktop_ift in the desktop's application menu for the current user (no root needed).
#
#   bash packaging/install_desktop_entry.sh
#
# Copies packaging/desktop_ift.desktop into ~/.local/share/applications with Exec pointing at this
# checkout's .venv/bin/desktop-ift, and the PNG icons into ~/.local/share/icons/hicolor/<N>x<N>/apps/.
# Run packaging/setup.sh first. XDG_DATA_HOME is honoured when set.
set -euo pipefail

say() { printf 'desktop_ift desktop entry: %s\n' "$*"; }
die() { printf 'desktop_ift desktop entry: ERROR: %s\n' "$*" >&2; exit 1; }

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"
DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
LAUNCHER="$REPO_ROOT/.venv/bin/desktop-ift"
ENTRY_SRC="$SCRIPT_DIR/desktop_ift.desktop"
SIZES="16 24 32 48 64 128 256 512"

[ -x "$LAUNCHER" ] || die "$LAUNCHER not found; run 'bash packaging/setup.sh' first."
[ -f "$ENTRY_SRC" ] || die "missing $ENTRY_SRC."

for size in $SIZES; do
    png="$REPO_ROOT/icons/desktop_ift-$size.png"
    [ -f "$png" ] || die "missing $png; render the icons with: QT_QPA_PLATFORM=offscreen .venv/bin/python icons/render_icons.py"
    install -D -m 0644 "$png" "$DATA_HOME/icons/hicolor/${size}x${size}/apps/desktop_ift.png"
done
install -D -m 0644 "$REPO_ROOT/icons/desktop_ift.svg" "$DATA_HOME/icons/hicolor/scalable/apps/desktop_ift.svg"
say "icons installed under $DATA_HOME/icons/hicolor"

# The Exec value is quoted so a checkout path with spaces still works (desktop entry spec quoting).
exec_value="\"${LAUNCHER//\"/\\\"}\" gui"
mkdir -p "$DATA_HOME/applications"
entry_dst="$DATA_HOME/applications/desktop_ift.desktop"
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
        Exec=*) printf 'Exec=%s\n' "$exec_value" ;;
        TryExec=*) ;;
        *) printf '%s\n' "$line" ;;
    esac
done < "$ENTRY_SRC" > "$entry_dst"
chmod 0644 "$entry_dst"
say "entry written to $entry_dst (Exec=$exec_value)"

# Refresh caches where the tools exist; a missing tool only delays the menu update until next login.
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$DATA_HOME/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$DATA_HOME/icons/hicolor" || true
say "done. desktop_ift now appears in the application menu."
