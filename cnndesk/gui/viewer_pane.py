"""The image viewer: the current image, large and aspect-preserving, with what is known about it.

Decoding happens on the thread pool (:class:`~cnndesk.gui.thumbnails.ImageDecoder`); until the
full image arrives the browser's thumbnail is shown scaled up, so the picture on screen is always
the image a keypress would label (never the previous one). Stale decodes are dropped.

An image that needs a look says why under its name (:attr:`ViewerPane.notice_label`): "This file
changed since it was labeled — check the label", "File missing: <path>", or "Cannot read this
file: <reason>".

**H** (the ``view.heatmap`` action) toggles a Grad-CAM heat map over the picture: where the current
model found the evidence for the class it ranks first for this image (its *top predicted* class,
not the label, so it answers "why does it say bees?"); :attr:`ViewerPane.heatmap_label` says which:
"Heat map for: bees (model says 91 %)". The map is computed on the worker
(:mod:`cnndesk.gui.heatmap`), cached per (model, image, class), and stays on while browsing; a map
that arrives for an image the viewer no longer shows is dropped.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from cnndesk.domain import ImageRecord, ImageStatus
from cnndesk.gui.context import AppContext, ShownImage
from cnndesk.gui.heatmap import (
    HeatMap,
    HeatMapRequester,
    ImageHeatMaps,
)
from cnndesk.gui.image_canvas import ImageCanvas
from cnndesk.gui.image_delegate import readable_on
from cnndesk.gui.thumbnails import ImageDecoder

log = logging.getLogger(__name__)

CHANGED_NOTICE = "This file changed since it was labeled — check the label."


def notice_for(record: ImageRecord, reason: str = "") -> str:
    """Why this image needs a look ("" when it does not); ``reason``: why it could not be read."""
    if record.status is ImageStatus.MISSING:
        return f"File missing: {record.path}"
    if record.status is ImageStatus.UNREADABLE:
        return f"Cannot read this file: {reason}" if reason else "Cannot read this file."
    return CHANGED_NOTICE if record.changed else ""


MAX_DECODE_SIDE = 2048
MIN_DECODE_SIDE = 512
"""Images are decoded at the size they are shown (JPEG's draft mode makes that several times
faster: a 12 MP photo takes 343 ms at 2048 px and 71 ms at 1024 px here, and the decoder holds the
GIL in 10-30 ms stretches that the GUI thread feels), and again larger when the viewer grows."""


class ViewerPane(QWidget):
    """Shows ``AppContext.current_image_changed``'s image: picture, name, size, label, suggestion."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ViewerPane")
        self._context = context
        self._shown: ShownImage | None = None
        self._decoded_for: int | None = None
        self._failure = ""
        """Why the shown image's file could not be decoded ("" when it could, or not yet)."""
        self._decoded_side = 0
        self.canvas = ImageCanvas(self)
        self.canvas.setObjectName("imageCanvas")
        self.title_label = QLabel(self)
        self.title_label.setObjectName("titleLabel")
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title_label.setWordWrap(True)
        self.details_label = QLabel(self)
        self.details_label.setObjectName("detailsLabel")
        self.details_label.setWordWrap(True)
        self.label_label = QLabel(self)
        self.label_label.setObjectName("labelLabel")
        self.label_label.setTextFormat(Qt.TextFormat.RichText)
        self.notice_label = QLabel(self)
        self.notice_label.setObjectName("noticeLabel")
        self.notice_label.setWordWrap(True)
        self.notice_label.setTextFormat(Qt.TextFormat.PlainText)
        self.notice_label.setStyleSheet("color: #b3261e; font-weight: bold;")
        self.hint_label = QLabel(self)
        self.hint_label.setObjectName("hintLabel")
        self.hint_label.setWordWrap(True)
        self.hint_label.setStyleSheet("color: palette(mid);")
        self.heatmap_label = QLabel(self)
        self.heatmap_label.setObjectName("heatmapLabel")
        self.heatmap_label.setWordWrap(True)
        self.heatmap_label.setTextFormat(Qt.TextFormat.PlainText)
        self.heatmap_label.hide()
        self.heatmaps = HeatMapRequester(context, self)
        self.heatmaps.ready.connect(self._on_heatmaps_ready)
        self.heatmaps.failed.connect(self._on_heatmaps_failed)
        self._heat_on = False
        self.heat_map: HeatMap | None = None
        """The map drawn over the shown image (``None``: none, or not yet computed)."""
        labels = (
            self.title_label,
            self.details_label,
            self.notice_label,
            self.label_label,
            self.heatmap_label,
        )
        for label in (*labels, self.hint_label):
            # Text that changes with every image must not resize the dock (and with it re-lay
            # out and repaint the whole browser grid on each keypress). Vertically each label
            # asks for one line as its minimum and gets its wrapped height from the layout
            # (height for width): a Fixed policy made Qt's narrow-width guess of a wrapped
            # text's height (10+ lines) the minimum, and the heat-map line then pushed the
            # window taller than a 700-px screen.
            policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            policy.setHeightForWidth(label.wordWrap())
            label.setSizePolicy(policy)
            label.setMinimumWidth(10)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.title_label)
        layout.addWidget(self.details_label)
        layout.addWidget(self.notice_label)
        layout.addWidget(self.label_label)
        layout.addWidget(self.heatmap_label)
        layout.addWidget(self.hint_label)
        self.decoder = ImageDecoder(parent=self)
        self.decoder.decoded.connect(self._on_decoder_decoded)
        self.decoder.failed.connect(self._on_decoder_failed)
        context.current_image_changed.connect(self._on_context_current_image_changed)
        context.library_opened.connect(self._on_context_library_opened)
        context.model_changed.connect(self._on_context_model_changed)
        self.show_image(None)

    @property
    def shown(self) -> ShownImage | None:
        return self._shown

    @property
    def settled(self) -> bool:
        """Whether the full image (or why it cannot be shown) is on screen, not the thumbnail."""
        return self._shown is None or self._decoded_for == self._shown.record.id

    def show_image(self, shown: ShownImage | None) -> None:
        previous = self._shown
        self._shown = shown
        if shown is None:
            self._decoded_for = None
            self.canvas.set_source(None, text="No image selected")
            self.title_label.setText("")
            self.details_label.setText("")
            self.label_label.setText("")
            self._set_notice("")
            self.hint_label.setText("Pick an image in the library. Keys 1–9 label it.")
            self._drop_heat_map()
            return
        record = shown.record
        if (
            previous is None
            or previous.record.id != record.id
            or previous.record.path != record.path
        ):
            self._decoded_for = None
            self._failure = ""
            self._drop_heat_map()
            self.canvas.set_source(shown.thumbnail, text="Loading…")
            self._decode(record.path)
            if self._heat_on:
                self._request_heat_map()
        elif self._decoded_for is None and shown.thumbnail is not None:
            self.canvas.set_source(shown.thumbnail)
        self.title_label.setText(f"<b>{_escape(record.name)}</b>")
        self.title_label.setToolTip(record.path)
        self.details_label.setText(
            f"{record.width}×{record.height} {record.format} · {record.size / 1024:,.0f} KB · "
            f"{record.split.value} split"
            + ("" if record.status.value == "ok" else f" · file {record.status.value}")
        )
        if previous is None or previous.record != record:
            self._set_notice(notice_for(record, self._failure))
        self.label_label.setText(self._label_html(shown))
        self.hint_label.setText(
            "Enter accepts the suggestion · 1–9 label · Space next unlabeled · H heat map"
            if record.suggested_class_id is not None
            else "1–9 or a class key labels · Space next unlabeled · H heat map · Ctrl+Z undo"
        )

    def _label_html(self, shown: ShownImage) -> str:
        parts = []
        if shown.label is not None:
            parts.append(f"Label: {_chip(shown.label.name, shown.label.colour)}")
        else:
            parts.append("Label: <i>none</i>")
        record = shown.record
        if shown.suggestion is not None and record.suggestion_confidence is not None:
            parts.append(
                f"model says {_chip(shown.suggestion.name, shown.suggestion.colour)} "
                f"{record.suggestion_confidence:.0%}"
            )
        return " &nbsp; ".join(parts)

    # ---------------------------------------------------------------------------- heat map

    @property
    def heatmap_visible(self) -> bool:
        """Whether H is on: the shown image gets its heat map (once computed)."""
        return self._heat_on

    def toggle_heatmap(self, *_args: object) -> bool:
        """H: show or hide the heat map of the model's top class; returns whether it is on now."""
        self.set_heatmap_visible(not self._heat_on)
        return self._heat_on

    def set_heatmap_visible(self, visible: bool) -> None:
        self._heat_on = visible
        self._drop_heat_map()
        if visible:
            self._request_heat_map()
        else:
            self.heatmap_label.hide()

    def _request_heat_map(self) -> None:
        if self._shown is None:
            self._say_heat("Heat map: pick an image first.")
            return
        folder = self._context.model_folder()
        if folder is None:
            self._say_heat("No heat map: train a model first (the Train tab).")
            return
        self._say_heat("Computing the heat map…")
        self.heatmaps.request(folder, [(self._shown.record.path, None)])

    def _drop_heat_map(self) -> None:
        """Forget the map (and any pending request): it belongs to an image no longer shown."""
        self.heatmaps.drop()
        self.heat_map = None
        self.canvas.set_overlay(None)

    def _say_heat(self, text: str) -> None:
        self.heatmap_label.setText(text)
        self.heatmap_label.setVisible(bool(text))

    @Slot(object)
    def _on_heatmaps_ready(self, answer: object) -> None:
        shown = self._shown
        if not isinstance(answer, ImageHeatMaps) or shown is None or not self._heat_on:
            return
        if answer.image != shown.record.path:
            return  # the user moved on (drop() already forgets such answers; be sure)
        if answer.error or not answer.maps:
            self._say_heat(f"No heat map: {answer.error or 'the model gave none'}")
            return
        self.heat_map = answer.maps[0]
        self.canvas.set_overlay(self.heat_map)
        top = self.heat_map
        text = f"Heat map for: {top.class_name} (model says {100 * top.probability:.0f} %)"
        if shown.label is not None and shown.label.name != top.class_name:
            text += f" · labeled {shown.label.name}"
        self._say_heat(text)

    @Slot(str)
    def _on_heatmaps_failed(self, message: str) -> None:
        if self._heat_on:
            self._say_heat(f"No heat map: {message}")

    @Slot(str)
    def _on_context_model_changed(self, _folder: str) -> None:
        if self._heat_on:
            self._drop_heat_map()
            self._request_heat_map()

    def _set_notice(self, text: str) -> None:
        self.notice_label.setText(text)
        self.notice_label.setVisible(bool(text))

    def decode_side(self) -> int:
        """The longest side worth decoding for the canvas as it is now."""
        size = self.canvas.size()
        wanted = round(max(size.width(), size.height()) * self.canvas.devicePixelRatioF())
        return max(MIN_DECODE_SIDE, min(MAX_DECODE_SIDE, wanted))

    def _decode(self, path: str) -> None:
        self._decoded_side = self.decode_side()
        self.decoder.decode(path, max_side=self._decoded_side)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # Grown well past what was decoded: decode again, sharper (the current picture stays).
        if self._shown is not None and self.decode_side() > self._decoded_side * 1.25:
            self._decode(self._shown.record.path)

    @Slot(object)
    def _on_context_current_image_changed(self, shown: object) -> None:
        self.show_image(shown if isinstance(shown, ShownImage) else None)

    @Slot()
    def _on_context_library_opened(self) -> None:
        self.show_image(None)

    @Slot(int, QImage)
    def _on_decoder_decoded(self, _request: int, image: QImage) -> None:
        if self._shown is None:
            return
        self._decoded_for = self._shown.record.id
        self.canvas.set_source(QPixmap.fromImage(image))

    @Slot(int, str)
    def _on_decoder_failed(self, _request: int, reason: str) -> None:
        if self._shown is None:
            return
        self._decoded_for = self._shown.record.id
        self._failure = reason
        if self._shown.record.status is ImageStatus.UNREADABLE:
            self._set_notice(notice_for(self._shown.record, reason))
        if self.canvas.source() is None:
            self.canvas.set_source(None, text=f"Cannot show this image:\n{reason}")
        else:
            self.hint_label.setText(f"Cannot show the full image: {reason}")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _chip(name: str, colour: str) -> str:
    from PySide6.QtGui import QColor

    fg = readable_on(QColor(colour)).name()
    return (
        f'<span style="background:{colour}; color:{fg}; font-weight:bold">'
        f"&nbsp;{_escape(name)}&nbsp;</span>"
    )
