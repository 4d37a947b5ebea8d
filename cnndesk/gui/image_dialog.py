"""One image, large: what a double-click in the library opens.

The picture is decoded at most :data:`MAX_SIDE` pixels on its long side (EXIF orientation
applied) and scaled to the dialog, which opens at most 90 % of the screen's free area. Escape or
Close shuts it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QGuiApplication, QImageReader, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

MAX_SIDE = 2048


class ImageDialog(QDialog):
    """Shows the image at ``path`` as large as the screen allows."""

    def __init__(self, path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from cnndesk.gui.image_canvas import ImageCanvas

        self.setWindowTitle(Path(path).name)
        self.setObjectName("imageDialog")
        self.path = path
        self.canvas = ImageCanvas(self)
        reader = QImageReader(path)
        reader.setAutoTransform(True)
        size = reader.size()
        if size.isValid() and max(size.width(), size.height()) > MAX_SIDE:
            reader.setScaledSize(
                size.scaled(MAX_SIDE, MAX_SIDE, Qt.AspectRatioMode.KeepAspectRatio)
            )
        image = reader.read()
        self.loaded = not image.isNull()
        self.canvas.set_source(
            QPixmap.fromImage(image) if self.loaded else None,
            text=f"Cannot show {Path(path).name}: {reader.errorString()}",
        )
        caption = QLabel(path, self)
        caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        caption.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(caption)
        layout.addWidget(buttons)
        screen = (parent.screen() if parent is not None else None) or (
            QGuiApplication.primaryScreen()
        )
        room = screen.availableGeometry().size() * 0.9 if screen else QSize(900, 650)
        wanted = image.size().grownBy(self.layout().contentsMargins()) if self.loaded else QSize()
        width = min(room.width(), max(480, wanted.width()))
        height = min(room.height(), max(360, wanted.height() + 80))
        self.resize(width, height)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
