"""Grad-CAM heat maps for any pane: a request helper that computes them on the worker, and painters.

:class:`HeatMapRequester` asks :mod:`cnndesk.ml.gradcam` (imported on the worker thread, never
with a pane) for the maps of one or more images through ``AppContext.run_job``; every request
carries an id, and what arrives for an older request than the newest is dropped, so switching
images never shows the previous image's map. One explainer (the loaded model) is kept between
requests while the model folder is the same; the maps themselves are cached on disk per
(model weights, image content, class) by ``gradcam``.

:func:`overlay_pixmap` draws a map's colours semi-transparently over a picture (the map has the
image's aspect ratio; it is fitted, centred, into the picture, so a letterboxed thumbnail works
too). :class:`HeatMapStrip` shows one small overlay per top class (the Predict pane) and
:class:`GalleryHeatMaps` paints the predicted class's map over a gallery's thumbnails (the
mistakes gallery: "why did it say bees?").
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRect, QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QImageReader, QPainter, QPixmap
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QListWidget, QVBoxLayout, QWidget

from cnndesk.domain import CnndeskError, Progress

if TYPE_CHECKING:
    import numpy as np

    from cnndesk.gui.context import AppContext
    from cnndesk.gui.worker import Worker

log = logging.getLogger(__name__)

HEAT_OPACITY = 0.45
"""How opaque the colours are over the picture (the same as ``cnndesk explain``'s overlays)."""


@dataclass(frozen=True)
class HeatMap:
    """One class's map for one image: ``heat`` float32 ``[h, w]`` in [0, 1], ``colours`` its
    RGB ramp (uint8 ``[h, w, 3]``, made on the worker), both at the image's aspect ratio."""

    class_name: str
    probability: float
    heat: np.ndarray
    colours: np.ndarray


@dataclass(frozen=True)
class ImageHeatMaps:
    """The maps of one image of a request (a worker event; ``error``: why there are none)."""

    request_id: int
    index: int
    image: str
    maps: tuple[HeatMap, ...] = ()
    error: str = ""


@dataclass
class _Explainers:
    """The last loaded explainer, reused while its model folder is unchanged."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    key: tuple[str, int] | None = None
    cam: Any = None


_EXPLAINERS = _Explainers()


def _explainer(folder: Path) -> Any:
    """A ``GradCam`` for ``folder`` (called with ``_EXPLAINERS.lock`` held, on a worker)."""
    from cnndesk.ml.gradcam import GradCam

    key = (str(folder.resolve()), (folder / "model.json").stat().st_mtime_ns)
    if _EXPLAINERS.key != key:
        _EXPLAINERS.cam, _EXPLAINERS.key = None, None
        _EXPLAINERS.cam = GradCam.from_folder(folder)
        _EXPLAINERS.key = key
    return _EXPLAINERS.cam


def heatmap_job(
    folder: Path,
    images: Sequence[tuple[str, Sequence[str] | None]],
    *,
    top: int = 1,
    request_id: int = 0,
) -> Generator[Progress | ImageHeatMaps, None, int]:
    """Maps for each ``(image, class names or None)``: ``None`` means the ``top`` classes.

    Yields one :class:`ImageHeatMaps` per image (an unreadable image gets its ``error``, the
    others go on); returns ``request_id``. Runs on a worker thread: it imports torch.
    """
    yield Progress(0, len(images), "Loading the model for heat maps…")
    from cnndesk.ml.gradcam import colormap

    for index, (image, classes) in enumerate(images):
        try:
            with _EXPLAINERS.lock:
                found = _explainer(folder).explain(
                    image, list(classes) if classes else None, top=top
                )
        except (CnndeskError, OSError) as exc:
            yield ImageHeatMaps(request_id, index, image, error=str(exc))
            continue
        maps = tuple(HeatMap(m.class_name, m.probability, m.heat, colormap(m.heat)) for m in found)
        yield ImageHeatMaps(request_id, index, image, maps)
        yield Progress(index + 1, len(images), "Heat maps")
    return request_id


class HeatMapRequester(QObject):
    """Computes maps on the worker for a pane; only the newest request's answers arrive.

    Signals: ``ready(object)``: an :class:`ImageHeatMaps` of the newest request (one per image,
    in order); ``failed(str)``: the newest request's job failed as a whole (no model, say).
    """

    ready = Signal(object)
    failed = Signal(str)

    def __init__(self, context: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._ids = itertools.count(1)
        self.latest = 0
        """The newest request's id (0: none, or dropped)."""
        self._worker: Worker | None = None

    def request(
        self,
        folder: Path,
        images: Sequence[tuple[str, Sequence[str] | None]],
        *,
        top: int = 1,
    ) -> int:
        """Ask for the maps of ``images`` (see :func:`heatmap_job`); returns the request id."""
        self.drop()
        request_id = self.latest = next(self._ids)
        wanted = [(str(path), tuple(classes) if classes else None) for path, classes in images]

        def job() -> Generator[Progress | ImageHeatMaps, None, int]:
            return (yield from heatmap_job(folder, wanted, top=top, request_id=request_id))

        worker = self.context.run_job(job, title="Heat maps")
        worker.event.connect(self._on_worker_event)
        worker.failed.connect(self._on_worker_failed)
        self._worker = worker
        return request_id

    def drop(self) -> None:
        """Forget the pending request: nothing more of it arrives (its job is asked to stop)."""
        self.latest = 0
        if self._worker is not None and self._worker.is_running():
            self._worker.cancel()
        self._worker = None

    @Slot(object)
    def _on_worker_event(self, event: object) -> None:
        if isinstance(event, ImageHeatMaps) and event.request_id == self.latest != 0:
            self.ready.emit(event)

    @Slot(str, str)
    def _on_worker_failed(self, message: str, _details: str) -> None:
        if self.sender() is self._worker and self.latest:
            self.failed.emit(message)


# ------------------------------------------------------------------------------- painting


def colour_image(colours: np.ndarray) -> QImage:
    """A map's RGB colours (uint8 ``[h, w, 3]``) as a ``QImage`` (a copy, owning its pixels)."""
    height, width = colours.shape[:2]
    data = colours.astype("uint8").tobytes()
    return QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def fitted_rect(outer: QSize, aspect: QSize) -> QRect:
    """The largest rectangle of ``aspect``'s shape centred in ``outer``."""
    size = aspect.scaled(outer, Qt.AspectRatioMode.KeepAspectRatio)
    return QRect(
        (outer.width() - size.width()) // 2,
        (outer.height() - size.height()) // 2,
        size.width(),
        size.height(),
    )


def overlay_pixmap(base: QPixmap, colours: np.ndarray, *, opacity: float = HEAT_OPACITY) -> QPixmap:
    """``base`` with the map's colours drawn over it at ``opacity`` (fitted, centred)."""
    out = QPixmap(base)
    heat = colour_image(colours)
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    painter.setOpacity(opacity)
    logical = QSize(
        round(base.width() / base.devicePixelRatio()),
        round(base.height() / base.devicePixelRatio()),
    )
    painter.drawImage(fitted_rect(logical, heat.size()), heat)
    painter.end()
    return out


def caption(heat_map: HeatMap) -> str:
    """``bees 91 %``: the class and what the model gave it."""
    return f"{heat_map.class_name} {100 * heat_map.probability:.0f} %"


# -------------------------------------------------------------------------------- widgets


def _small_picture(path: str, side: int) -> QPixmap:
    """``path`` decoded upright (as Grad-CAM saw it) at most ``side`` pixels long."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > side:
        reader.setScaledSize(size.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio))
    return QPixmap.fromImage(reader.read())


class HeatMapStrip(QWidget):
    """One small overlay per top class of an image, behind a "Heat maps" check box (off at first,
    so nothing is computed until the user asks)."""

    SIDE = 120

    def __init__(self, context: AppContext, *, top: int = 3, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("heatMapStrip")
        self.context = context
        self.top = top
        self.maps: tuple[HeatMap, ...] = ()
        self._wanted: tuple[Path, str] | None = None
        self.requester = HeatMapRequester(context, self)
        self.requester.ready.connect(self._on_requester_ready)
        self.requester.failed.connect(self._on_requester_failed)
        self.toggle = QCheckBox("Heat maps: where the model found each class")
        self.toggle.toggled.connect(self._on_toggle_toggled)
        self.row = QHBoxLayout()
        self.note = QLabel()
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toggle)
        layout.addLayout(self.row)
        layout.addWidget(self.note)

    def explain(self, folder: Path | None, image: str | Path) -> int:
        """Show the maps of ``image``'s top classes (when the box is ticked); the request id."""
        self._wanted = (folder, str(image)) if folder is not None else None
        self._clear()
        if not self.toggle.isChecked() or self._wanted is None:
            self.requester.drop()
            return 0
        self.note.setText("Computing heat maps…")
        return self.requester.request(self._wanted[0], [(self._wanted[1], None)], top=self.top)

    def _clear(self) -> None:
        self.maps = ()
        self.note.setText("")
        while (item := self.row.takeAt(0)) is not None:
            if item.widget() is not None:
                item.widget().deleteLater()

    @Slot(bool)
    def _on_toggle_toggled(self, checked: bool) -> None:
        if self._wanted is not None:
            self.explain(*self._wanted)
        elif not checked:
            self._clear()

    @Slot(object)
    def _on_requester_ready(self, answer: object) -> None:
        assert isinstance(answer, ImageHeatMaps)
        self._clear()
        if answer.error:
            self.note.setText(f"No heat map: {answer.error}")
            return
        self.maps = answer.maps
        picture = _small_picture(answer.image, self.SIDE)
        for heat_map in answer.maps:
            cell = QLabel()
            cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
            if not picture.isNull():
                cell.setPixmap(overlay_pixmap(picture, heat_map.colours))
            cell.setToolTip(f"Where the model found {heat_map.class_name}")
            text = QLabel(caption(heat_map))
            text.setAlignment(Qt.AlignmentFlag.AlignCenter)
            box = QVBoxLayout()
            box.addWidget(cell)
            box.addWidget(text)
            holder = QWidget()
            holder.setLayout(box)
            self.row.addWidget(holder)
        self.row.addStretch(1)

    @Slot(str)
    def _on_requester_failed(self, message: str) -> None:
        self._clear()
        self.note.setText(f"No heat map: {message}")


class GalleryHeatMaps(QObject):
    """Paints each gallery item's map (one class per item) over its thumbnail while ``toggle``
    is ticked; unticking puts the thumbnails back. A thumbnail that arrives later is painted
    over too."""

    def __init__(self, context: AppContext, gallery: QListWidget, *, text: str = "") -> None:
        super().__init__(gallery)
        self.context = context
        self.gallery = gallery
        self.toggle = QCheckBox(text or "Why? Show where the model found the class it said")
        self.toggle.toggled.connect(self._on_toggle_toggled)
        self.requester = HeatMapRequester(context, self)
        self.requester.ready.connect(self._on_requester_ready)
        self._folder: Path | None = None
        self._items: list[tuple[Any, str, str]] = []
        self._maps: dict[int, HeatMap] = {}
        self._plain: dict[int, QIcon] = {}
        self._painted: dict[int, int] = {}
        gallery.model().dataChanged.connect(self._on_model_data_changed)
        gallery.model().modelAboutToBeReset.connect(self._on_model_about_to_be_reset)

    def set_items(self, folder: Path | None, items: Sequence[tuple[Any, str, str]]) -> None:
        """The gallery's items as ``(QListWidgetItem, image path, class name to explain)``."""
        self.requester.drop()
        self._folder, self._items = folder, list(items)
        self._maps.clear()
        self._plain.clear()
        self._painted.clear()
        if self.toggle.isChecked():
            self._request()

    @property
    def painted(self) -> int:
        """How many thumbnails carry a map now."""
        return len(self._painted)

    def _request(self) -> None:
        if self._folder is not None and self._items:
            self.requester.request(self._folder, [(path, [name]) for _, path, name in self._items])

    @Slot(bool)
    def _on_toggle_toggled(self, checked: bool) -> None:
        if checked:
            self._request()
            return
        self.requester.drop()
        self._maps.clear()  # first: putting an icon back must not paint it again
        self._painted.clear()
        for row, icon in self._plain.items():
            self._items[row][0].setIcon(icon)

    @Slot(object)
    def _on_requester_ready(self, answer: object) -> None:
        if isinstance(answer, ImageHeatMaps) and answer.maps and answer.index < len(self._items):
            self._maps[answer.index] = answer.maps[0]
            self._paint(answer.index)

    def _paint(self, row: int) -> None:
        item = self._items[row][0]
        icon = item.icon()
        self._plain[row] = icon
        side = self.gallery.iconSize()
        base = icon.pixmap(side)
        if base.isNull():
            return
        painted = QIcon(overlay_pixmap(base, self._maps[row].colours))
        self._painted[row] = painted.cacheKey()
        item.setIcon(painted)

    @Slot()
    def _on_model_about_to_be_reset(self) -> None:
        self.set_items(None, [])  # the gallery is cleared: its items are going away

    @Slot()
    def _on_model_data_changed(self, *_args: object) -> None:
        for row, heat_map in list(self._maps.items()):
            if heat_map is not None and self._items[row][0].icon().cacheKey() != self._painted.get(
                row
            ):
                self._paint(row)  # a new thumbnail replaced the painted one
