"""Render the application icon SVG into the PNG sizes desktops and window managers ask for.

    QT_QPA_PLATFORM=offscreen .venv/bin/python icons/render_icons.py

Writes icons/desktop_ift-<N>.png for every N in SIZES. Sizes up to SMALL_MAX are drawn from
desktop_ift-small.svg (fewer, bolder shapes that stay readable at 16-32 px) when that file exists.
Uses PySide6.QtSvg, which ships in PySide6-Essentials.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
SMALL_MAX = 32
ICON_DIR = Path(__file__).resolve().parent


def render(svg_path: Path, size: int, out_path: Path) -> None:
    """Render svg_path into a size x size transparent PNG at out_path."""
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg_path))
    if not renderer.isValid():
        raise ValueError(f"{svg_path} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    if not image.save(str(out_path), "PNG"):
        raise OSError(f"could not write {out_path}")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - keeps Qt alive
    large = ICON_DIR / "desktop_ift.svg"
    small = ICON_DIR / "desktop_ift-small.svg"
    for size in SIZES:
        source = small if size <= SMALL_MAX and small.exists() else large
        out = ICON_DIR / f"desktop_ift-{size}.png"
        render(source, size, out)
        print(f"{out.name}  <- {source.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
