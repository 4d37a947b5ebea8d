"""A picture scaled to fit its label, aspect ratio kept, with an optional heat-map overlay: the
image viewer's canvas and the large-image dialog's (a widget, not a pane, so both may use it)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPixmap, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from cnndesk.gui.heatmap import HeatMap, overlay_pixmap


class ImageCanvas(QLabel):
    """A label that keeps a pixmap scaled to fit, preserving the aspect ratio."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self._source: QPixmap | None = None
        self._overlay: HeatMap | None = None
        self._composite: QPixmap | None = None

    def set_source(self, pixmap: QPixmap | None, *, text: str = "") -> None:
        self._source = pixmap if pixmap is not None and not pixmap.isNull() else None
        self._compose()
        if self._source is None:
            self.setPixmap(QPixmap())
            self.setText(text)
        else:
            self._rescale()

    def source(self) -> QPixmap | None:
        return self._source

    def set_overlay(self, heat_map: HeatMap | None) -> None:
        """Draw ``heat_map``'s colours over the picture (``None``: the plain picture)."""
        self._overlay = heat_map
        self._compose()
        self._rescale()

    def displayed(self) -> QPixmap | None:
        """The full-size picture on screen: the source, with the heat map when there is one."""
        return self._composite if self._composite is not None else self._source

    def _compose(self) -> None:
        self._composite = None
        if self._source is not None and self._overlay is not None:
            self._composite = overlay_pixmap(self._source, self._overlay.colours)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        picture = self.displayed()
        if picture is None:
            return
        size = self.size()
        ratio = self.devicePixelRatioF()
        scaled = picture.scaled(
            QSize(int(size.width() * ratio), int(size.height() * ratio)),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        scaled.setDevicePixelRatio(ratio)
        self.setPixmap(scaled)
