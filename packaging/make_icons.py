"""Render packaging/linux/docent.svg to the icons the installers need, with Qt (no PIL).

  python packaging/make_icons.py      -> linux/docent.png (256), windows/docent.ico,
                                         macos/docent.iconset/*.png (iconutil makes the .icns on a Mac)
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent


def render(svg: Path, size: int):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(size, size, QImage.Format_ARGB32)
    image.fill(Qt.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()
    return image


def main() -> int:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - Qt needs one
    svg = HERE / "linux" / "docent.svg"
    png = HERE / "linux" / "docent.png"
    if not render(svg, 256).save(str(png)):
        raise SystemExit(f"cannot write {png}")
    ico = HERE / "windows" / "docent.ico"
    if not render(svg, 256).save(str(ico), "ICO"):
        print(f"note: this Qt cannot write ICO; {ico} not made", file=sys.stderr)
    iconset = HERE / "macos" / "docent.iconset"
    iconset.mkdir(parents=True, exist_ok=True)
    for size in (16, 32, 128, 256, 512):
        render(svg, size).save(str(iconset / f"icon_{size}x{size}.png"))
        render(svg, size * 2).save(str(iconset / f"icon_{size}x{size}@2x.png"))
    print(f"icons: {png}, {ico}, {iconset}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
