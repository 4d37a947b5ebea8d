"""The biggest mistakes: the misclassified images with the highest loss first (fastai's "top
losses"), as thumbnails labelled "true → predicted, how sure".

Clicking one emits ``image_requested(image_id, "true → predicted")`` for the host to show it in
the browser. Thumbnails load in the background (:class:`~cnndesk.gui.thumbnails.ThumbnailLoader`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from cnndesk.domain import Evaluation, ImageRecord, SamplePrediction
from cnndesk.gui.evaluation_text import gallery_heading

if TYPE_CHECKING:
    from cnndesk.gui.thumbnails import ThumbnailLoader

log = logging.getLogger(__name__)

GALLERY_LIMIT = 200
"""The misclassified gallery shows at most this many images (the highest losses)."""
THUMB_SIDE = 96


def square_icon(pixmap: QPixmap) -> QIcon:
    """The thumbnail centred on a square canvas, so every gallery cell lines up."""
    scaled = pixmap.scaled(
        THUMB_SIDE,
        THUMB_SIDE,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
    canvas = QPixmap(THUMB_SIDE, THUMB_SIDE)
    canvas.fill(Qt.GlobalColor.transparent)
    painter = QPainter(canvas)
    painter.drawPixmap(
        (THUMB_SIDE - scaled.width()) // 2, (THUMB_SIDE - scaled.height()) // 2, scaled
    )
    painter.end()
    return QIcon(canvas)


class MistakesGallery(QWidget):
    """The heading over a grid of the misclassified images."""

    image_requested = Signal(int, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thumbnails: ThumbnailLoader | None = None
        self._items: dict[int, tuple[QListWidgetItem, ImageRecord]] = {}
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(THUMB_SIDE, THUMB_SIDE))
        self.list.setGridSize(QSize(THUMB_SIDE + 48, THUMB_SIDE + 52))
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setMovement(QListWidget.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(True)
        self.list.setToolTip("Click an image to show it in the browser and relabel it there")
        self.list.itemActivated.connect(self._on_list_item_activated)
        self.list.itemClicked.connect(self._on_list_item_activated)
        self.label = QLabel("<b>Biggest mistakes</b> (highest loss first)")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.list)

    def clear_thumbnails(self) -> None:
        """Forget the loaded thumbnails (another library is open)."""
        if self._thumbnails is not None:
            self._thumbnails.clear()

    def set_evaluation(self, evaluation: Evaluation | None, library: Any) -> None:
        """Show ``evaluation``'s biggest mistakes, with thumbnails of the ``library``'s images."""
        self.list.clear()
        self._items.clear()
        if evaluation is None:
            return
        mistakes = evaluation.misclassified[:GALLERY_LIMIT]
        self.label.setText(gallery_heading(evaluation))
        placeholder = QPixmap(THUMB_SIDE, THUMB_SIDE)
        placeholder.fill(QColor(128, 128, 128, 40))
        ids = [p.image_id for p in mistakes if p.image_id is not None]
        records = {}
        if ids:
            try:
                records = {r.id: r for r in library.images(ids=ids)}
            except Exception as exc:
                log.warning("cannot read the misclassified images: %s", exc)
        for p in mistakes:
            item = self._item(evaluation, p, QIcon(placeholder))
            self.list.addItem(item)
            record = records.get(p.image_id) if p.image_id is not None else None
            if record is not None:
                self._items[record.id] = (item, record)
                pixmap = self._thumbnail_loader().pixmap(record)
                if pixmap is not None:
                    item.setIcon(square_icon(pixmap))

    @staticmethod
    def _item(evaluation: Evaluation, p: SamplePrediction, icon: QIcon) -> QListWidgetItem:
        true, predicted = evaluation.classes[p.label], evaluation.classes[p.predicted]
        confidence = p.probabilities[p.predicted] if p.probabilities else 0.0
        item = QListWidgetItem(icon, f"{true} → {predicted}\n{100 * confidence:.0f}% sure")
        item.setData(Qt.ItemDataRole.UserRole, p.image_id)
        item.setToolTip(
            f"{p.path}\ntrue: {true}; predicted: {predicted} ({100 * confidence:.1f}%);"
            f" loss {p.loss:.3f}"
        )
        return item

    def _thumbnail_loader(self) -> ThumbnailLoader:
        if self._thumbnails is None:
            from cnndesk.gui.thumbnails import ThumbnailLoader

            self._thumbnails = ThumbnailLoader(side=THUMB_SIDE, parent=self)
            self._thumbnails.loaded.connect(self._on_thumbnails_loaded)
        return self._thumbnails

    @Slot(QListWidgetItem)
    def _on_list_item_activated(self, item: QListWidgetItem) -> None:
        image_id = item.data(Qt.ItemDataRole.UserRole)
        if image_id is not None:
            self.image_requested.emit(int(image_id), item.text().split("\n", 1)[0])

    @Slot(int)
    def _on_thumbnails_loaded(self, image_id: int) -> None:
        entry = self._items.get(image_id)
        if entry is None or self._thumbnails is None:
            return
        item, record = entry
        pixmap = self._thumbnails.pixmap(record)
        if pixmap is not None:
            item.setIcon(square_icon(pixmap))
