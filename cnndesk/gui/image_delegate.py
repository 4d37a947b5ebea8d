"""How one image of the browser is drawn: a thumbnail tile (grid) or a row (list).

Everything is painted from the model's roles; nothing here reads files or the library. While a
thumbnail loads, a neutral placeholder is drawn; an unreadable file shows why. The human label is a
chip in the class colour; a model suggestion is a pill on the thumbnail ("bees? 62%"). An image
that needs a look (``Role.BADGE``: its file changed since it was labeled, is missing or cannot be
read) has a badge at the foot of its thumbnail, and in the list view in place of its size.
"""

from __future__ import annotations

from typing import NamedTuple

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from cnndesk.domain import ClassInfo, ImageRecord
from cnndesk.gui.library_model import BADGE_CHANGED, BADGE_TEXT, LibraryModel

_Index = QModelIndex | QPersistentModelIndex

PAD = 6
TEXT_LINES = 2
LIST_ROW = 44


def readable_on(colour: QColor) -> QColor:
    """Black or white, whichever reads better on ``colour``."""
    luminance = 0.299 * colour.red() + 0.587 * colour.green() + 0.114 * colour.blue()
    return QColor("#111111") if luminance > 150 else QColor("#ffffff")


BADGE_COLOURS = {BADGE_CHANGED: "#f0b400"}
"""A badge's background; ``missing`` and ``unreadable`` (the image cannot be used) are red."""
BADGE_PROBLEM_COLOUR = "#c62828"


def suggestion_text(info: ClassInfo, confidence: float) -> str:
    return f"{info.name}? {confidence:.0%}"


class _Cell(NamedTuple):
    """What one item shows, tile or row: the model's ``paint_data`` and the text colour."""

    record: ImageRecord
    label: ClassInfo | None
    suggestion: tuple[ClassInfo, float] | None
    pixmap: QPixmap | None
    error: str | None
    text_colour: QColor


class ImageDelegate(QStyledItemDelegate):
    """Paints browser items; ``list_mode`` switches between tiles and rows."""

    def __init__(self, *, side: int = 128, list_mode: bool = False, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.side = side
        self.list_mode = list_mode
        self._small = QFont()
        self._small.setPointSizeF(max(self._small.pointSizeF() * 0.85, 7.0))
        self._bold = QFont(self._small)
        self._bold.setBold(True)
        self._small_metrics = QFontMetrics(self._small)
        self._bold_metrics = QFontMetrics(self._bold)
        # Underscores and descenders reach below the font's nominal descent (DejaVu Sans: "_"
        # ends 1 px under it): a caption line of ``height()`` clipped them, "a_b" read "a b".
        ink = self._small_metrics.boundingRect("Ag_jpqy|")
        self._line = max(self._small_metrics.height(), ink.height()) + 2
        self._elided: dict[tuple[str, int], str] = {}

    def tile_size(self) -> QSize:
        if self.list_mode:
            return QSize(600, LIST_ROW)
        return QSize(self.side + 2 * PAD, self.side + 3 * PAD + TEXT_LINES * self._line + 2)

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        return self.tile_size()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        model = index.model()
        if not isinstance(model, LibraryModel) or not 0 <= index.row() < model.rowCount():
            return
        record, label, suggestion, pixmap, error = model.paint_data(index.row())
        badge = model.badge(index.row())
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRect(option.rect)
        if not self.list_mode and rect.width() > self.tile_size().width():
            # Grid cells are stretched to fill the width: keep the tile centred in its cell.
            tile = self.tile_size()
            rect = QRect(
                rect.x() + (rect.width() - tile.width()) // 2, rect.y(), tile.width(), tile.height()
            )
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        current = bool(option.state & QStyle.StateFlag.State_HasFocus)
        if selected:
            painter.fillRect(
                rect.adjusted(1, 1, -1, -1), palette.color(QPalette.ColorRole.Highlight)
            )
        text_colour = palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        cell = _Cell(record, label, suggestion, pixmap, error, text_colour)
        if self.list_mode:
            self._paint_row(painter, rect, cell, selected, badge=badge)
        else:
            self._paint_tile(painter, rect, cell)
            if badge is not None:
                box = QRect(rect.x() + PAD, rect.y() + PAD, self.side, self.side)
                height = self._line + 4
                self._paint_badge(
                    painter,
                    QRect(box.x() + 4, box.bottom() - height - 3, box.width() - 8, height),
                    badge,
                )
        if current:
            pen = QPen(palette.color(QPalette.ColorRole.Highlight).darker(130), 2)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(1, 1, -2, -2), 4, 4)
        painter.restore()

    def _elide(self, name: str, width: int) -> str:
        """File names elided in the middle, cached (elidedText is slow; names repeat per frame)."""
        key = (name, width)
        text = self._elided.get(key)
        if text is None:
            if len(self._elided) > 50_000:
                self._elided.clear()
            text = self._small_metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, width)
            self._elided[key] = text
        return text

    # ---------------------------------------------------------------------------------- tiles

    def _paint_tile(self, painter: QPainter, rect: QRect, cell: _Cell) -> None:
        record, label, suggestion, pixmap, error, text_colour = cell
        box = QRect(rect.x() + PAD, rect.y() + PAD, self.side, self.side)
        self._paint_picture(painter, box, pixmap, error)
        if label is not None:  # a class-coloured frame: labels are visible at a glance
            painter.setPen(QPen(QColor(label.colour), 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(box.adjusted(1, 1, -2, -2))
        if suggestion is not None and (label is None or label.id != suggestion[0].id):
            self._paint_pill(painter, box, suggestion_text(*suggestion), suggestion[0])
        line, baseline = self.caption_layout(rect)
        painter.setFont(self._small)
        painter.setPen(text_colour)
        painter.drawText(line.x(), baseline, self._elide(record.name, line.width()))
        chip = QRect(line.x(), line.bottom() + 2, self.side, self._line)
        self._paint_chip(painter, chip, label, text_colour)

    def caption_layout(self, rect: QRect) -> tuple[QRect, int]:
        """A tile's file-name line in ``rect`` (the tile), and the text's baseline in it: the
        glyphs' ink, underscores included, lies inside the line."""
        line = QRect(rect.x() + PAD, rect.y() + 2 * PAD + self.side, self.side, self._line)
        ink = self._small_metrics.boundingRect("Ag_jpqy|")
        baseline = line.y() + (line.height() - ink.height()) // 2 - ink.top()
        return line, baseline

    def _paint_picture(
        self, painter: QPainter, box: QRect, pixmap: QPixmap | None, error: str | None
    ) -> None:
        if pixmap is not None and not pixmap.isNull():
            size = pixmap.size().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(box.center())
            painter.drawPixmap(target, pixmap)
            return
        painter.fillRect(box, QColor(128, 128, 128, 40))
        painter.setPen(QColor(128, 128, 128))
        painter.setFont(self._small)
        painter.drawText(
            box.adjusted(4, 4, -4, -4),
            Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
            f"cannot show:\n{error}" if error else "…",
        )

    def _paint_pill(self, painter: QPainter, box: QRect, text: str, info: ClassInfo) -> None:
        metrics = self._bold_metrics
        width = min(metrics.horizontalAdvance(text) + 10, box.width() - 8)
        pill = QRect(box.x() + 4, box.y() + 4, width, self._line + 4)
        colour = QColor(info.colour)
        colour.setAlpha(215)
        shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, pill.width() - 6)
        self._fill_pill(painter, pill, colour, shown)

    def _fill_pill(
        self, painter: QPainter, pill: QRect, colour: QColor, text: str, radius: int = 6
    ) -> None:
        """``pill`` filled with ``colour`` and rounded, ``text`` centred on it in bold."""
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(pill, radius, radius)
        painter.setFont(self._bold)
        painter.setPen(readable_on(colour))
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_badge(self, painter: QPainter, room: QRect, badge: str) -> None:
        """A badge (``BADGE_TEXT[badge]``) at the left of ``room``, as wide as its text."""
        metrics = self._bold_metrics
        text = metrics.elidedText(BADGE_TEXT[badge], Qt.TextElideMode.ElideRight, room.width() - 10)
        pill = QRect(
            room.x(),
            room.y(),
            min(metrics.horizontalAdvance(text) + 10, room.width()),
            room.height(),
        )
        self._fill_pill(painter, pill, QColor(BADGE_COLOURS.get(badge, BADGE_PROBLEM_COLOUR)), text)

    def _paint_chip(
        self, painter: QPainter, chip: QRect, label: ClassInfo | None, text_colour: QColor
    ) -> None:
        metrics = self._bold_metrics
        if label is None:
            painter.setFont(self._small)
            faded = QColor(text_colour)
            faded.setAlpha(140)
            painter.setPen(faded)
            painter.drawText(chip, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "—")
            return
        text = metrics.elidedText(label.name, Qt.TextElideMode.ElideRight, chip.width() - 10)
        width = metrics.horizontalAdvance(text) + 10
        pill = QRect(chip.x(), chip.y(), width, chip.height())
        self._fill_pill(painter, pill, QColor(label.colour), text, radius=5)

    # ----------------------------------------------------------------------------------- rows

    def _paint_row(
        self, painter: QPainter, rect: QRect, cell: _Cell, selected: bool, *, badge: str | None
    ) -> None:
        record, label, suggestion, pixmap, error, text_colour = cell
        side = LIST_ROW - 6
        box = QRect(rect.x() + 4, rect.y() + 3, side, side)
        self._paint_picture(painter, box, pixmap, "!" if error else None)
        x = box.right() + 10
        columns = (
            (x, max(rect.width() - x - 420, 120)),  # name
        )
        name_x, name_w = columns[0]
        painter.setFont(self._small)
        painter.setPen(text_colour)
        metrics = self._small_metrics
        centre = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(
            QRect(name_x, rect.y(), name_w, rect.height()), centre, self._elide(record.name, name_w)
        )
        x = name_x + name_w + 8
        chip = QRect(x, rect.y() + (rect.height() - self._line) // 2, 140, self._line)
        self._paint_chip(painter, chip, label, text_colour)
        x += 150
        painter.setFont(self._small)
        if suggestion is not None:
            colour = QColor(suggestion[0].colour).darker(120)
            painter.setPen(text_colour if selected else colour)
            painter.drawText(
                QRect(x, rect.y(), 130, rect.height()), centre, suggestion_text(*suggestion)
            )
        x += 140
        if badge is not None:  # the list's marker column: why this image needs a look
            height = self._line + 4
            room = QRect(x, rect.y() + (rect.height() - height) // 2, rect.right() - x, height)
            self._paint_badge(painter, room, badge)
            return
        painter.setPen(text_colour)
        info = f"{record.width}×{record.height}" if not error else (error or "")
        painter.drawText(
            QRect(x, rect.y(), max(rect.right() - x, 10), rect.height()),
            centre,
            metrics.elidedText(info, Qt.TextElideMode.ElideRight, max(rect.right() - x, 10)),
        )
