"""Colours, fonts, icons and the stylesheet: the one place that decides how the app looks."""

from __future__ import annotations

import sys

from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QFont, QFontDatabase, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from desktop_ift.core.paths import icons_dir, resources_dir
from desktop_ift.ui import tooltips

# A restrained palette: neutrals plus one accent (the indigo of the app icon).
ACCENT = "#4f46e5"
ACCENT_DARK = "#4338ca"
ACCENT_SOFT = "#eef2ff"
TEXT = "#1f2937"
MUTED = "#6b7280"
BORDER = "#e2e5ea"
WINDOW_BG = "#f6f7f9"
PANEL_BG = "#ffffff"
SUCCESS = "#15803d"
DANGER = "#b91c1c"
WARNING = "#b45309"
VALIDATION = "#ea580c"  # validation points on the loss plot

PAGE_ICONS = {
    "data": "page-data.svg",
    "templates": "page-templates.svg",
    "train": "page-train.svg",
    "monitor": "page-monitor.svg",
    "evaluate": "page-evaluate.svg",
}


def stylesheet_path() -> Path:
    return resources_dir() / "styles" / "app.qss"


def load_stylesheet() -> str:
    """The app stylesheet, or an empty string if the file is missing (the app still works, plainer)."""
    try:
        text = stylesheet_path().read_text(encoding="utf-8")
    except OSError:
        return ""
    # Images in the stylesheet (arrows, check mark) are referenced relative to its folder.
    return text.replace("@STYLES@", stylesheet_path().parent.as_posix())


def app_icon() -> QIcon:
    """The application icon from ``icons/`` (every PNG size plus the SVG); empty if none is shipped."""
    icon = QIcon()
    folder = icons_dir()
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        png = folder / f"desktop_ift-{size}.png"
        if png.exists():
            icon.addFile(str(png), QSize(size, size))
    if icon.isNull() and (folder / "desktop_ift.svg").exists():
        icon.addFile(str(folder / "desktop_ift.svg"))
    return icon


def page_icon(key: str) -> QIcon:
    """The navigation icon of a page, or an empty icon when the file is absent."""
    path = icons_dir() / PAGE_ICONS.get(key, "")
    return QIcon(str(path)) if path.is_file() else QIcon()


def monospace_font(point_size: int | None = None) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.Monospace)
    if point_size:
        font.setPointSize(point_size)
    return font


def apply(app: QApplication) -> None:
    """Fusion style, a light palette with the accent colour, and the stylesheet."""
    app.setStyle("Fusion")
    palette = app.palette()
    palette.setColor(QPalette.ColorRole.Window, QColor(WINDOW_BG))
    palette.setColor(QPalette.ColorRole.Base, QColor(PANEL_BG))
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor("#f9fafb"))
    palette.setColor(QPalette.ColorRole.Text, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.WindowText, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.ButtonText, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.Button, QColor(PANEL_BG))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    palette.setColor(QPalette.ColorRole.Link, QColor(ACCENT))
    palette.setColor(QPalette.ColorRole.ToolTipBase, QColor("#111827"))
    palette.setColor(QPalette.ColorRole.ToolTipText, QColor("#f9fafb"))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor("#9ca3af"))
    app.setPalette(palette)
    font = app.font()
    if font.pointSizeF() < 10:
        font.setPointSizeF(10)
        app.setFont(font)
    app.setStyleSheet(load_stylesheet())
    tooltips.install(app)  # long tooltips wrap at ~60 characters instead of one screen-wide line
    # Background threads (template previews, table loads) compete with the GUI thread for the interpreter, and
    # every Qt event that reaches Python (the tooltip filter above sees them all) must take it back. At the
    # default 5 ms hand-over a stuck template preview froze the event loop for 0.48-0.67 s; at 1 ms the
    # longest pause measured was 0.15 s (tests/reliability/test_template_preview_ui.py).
    sys.setswitchinterval(0.001)


def configure_plots() -> None:
    """pyqtgraph: antialiased lines on the panel background (imported only here and in plot widgets)."""
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background=PANEL_BG, foreground=MUTED, useNumba=False)
