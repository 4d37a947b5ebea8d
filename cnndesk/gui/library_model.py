"""The browser's list model: the images of one query, held in memory, thumbnails loaded lazily.

A query's records are read once, off the GUI thread (:class:`~cnndesk.gui.background.LatestCall`),
and ``data()`` only indexes a Python list: no SQL per row, so 20,000 rows scroll like 20. Labels
the user sets are patched into the held records at once (``AppContext.labels_set``); rows are
never removed under the user's feet by a label (an image labeled in the "unlabeled" view stays
until the filter is applied again), which keeps keyboard labeling predictable.
"""

from __future__ import annotations

import dataclasses
import enum
import gc
import logging
from collections.abc import Iterable, Sequence

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QPixmap

from cnndesk.domain import ClassInfo, ImageQuery, ImageRecord, ImageStatus
from cnndesk.gui.background import LatestCall
from cnndesk.gui.context import AppContext
from cnndesk.gui.thumbnails import ThumbnailLoader
from cnndesk.library import Library

log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex


class Role(enum.IntEnum):
    """Custom data roles of :class:`LibraryModel`."""

    RECORD = Qt.ItemDataRole.UserRole + 1
    """The :class:`~cnndesk.domain.ImageRecord`."""
    LABEL = Qt.ItemDataRole.UserRole + 2
    """The human label's :class:`~cnndesk.domain.ClassInfo`, or ``None``."""
    SUGGESTION = Qt.ItemDataRole.UserRole + 3
    """``(ClassInfo, confidence)`` of the model's suggestion, or ``None``."""
    THUMBNAIL_ERROR = Qt.ItemDataRole.UserRole + 4
    """Why there is no thumbnail (the file is missing or unreadable), or ``None``."""
    IMAGE_ID = Qt.ItemDataRole.UserRole + 5
    BADGE = Qt.ItemDataRole.UserRole + 6
    """Why the image needs a look, as the badge on its tile says it (:func:`badge_of`), or ``None``."""


BADGE_CHANGED = "changed"
"""The file's bytes changed under its path since it was labeled: check the label."""
BADGE_TEXT = {
    BADGE_CHANGED: "changed: check label",
    ImageStatus.MISSING.value: "file missing",
    ImageStatus.UNREADABLE.value: "unreadable",
}
"""What a tile's badge reads, per :func:`badge_of` value."""
BADGE_TIPS = {
    BADGE_CHANGED: "This file changed since it was labeled: check the label.",
    ImageStatus.MISSING.value: "The file is missing: it cannot be used for training.",
    ImageStatus.UNREADABLE.value: "The file cannot be read: it cannot be used for training.",
}


def badge_of(record: ImageRecord) -> str | None:
    """``missing`` or ``unreadable`` (the image cannot be used), ``changed`` (check its label),
    or ``None`` for an image that needs no look."""
    if record.status is not ImageStatus.OK:
        return record.status.value
    return BADGE_CHANGED if record.changed else None


def read_images(library: Library, query: ImageQuery) -> list[ImageRecord]:
    """The records of ``query`` (runs on a pool thread)."""
    if query.image_ids is None:
        return library.images(query)
    records = library.images_by_id(list(query.image_ids))
    needle = query.search.casefold()
    return [r for r in records if needle in r.name.casefold()] if needle else records


class LibraryModel(QAbstractListModel):
    """Rows are the images matching :attr:`query`; ``loaded(int)`` says a query's rows arrived.

    ``DecorationRole`` is the thumbnail pixmap, or ``None`` while it loads (the delegate draws a
    placeholder); asking for it is what queues its load, so only visible rows are ever loaded.
    """

    loaded = Signal(int)
    load_failed = Signal(str)

    def __init__(self, context: AppContext, *, thumbnail_side: int = 128, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._context = context
        self._records: list[ImageRecord] = []
        self._row_of: dict[int, int] = {}
        self._classes: dict[int, ClassInfo] = {}
        self._query = ImageQuery()
        self._just_set: set[int] = set()
        self.thumbnails = ThumbnailLoader(side=thumbnail_side, parent=self)
        self.thumbnails.loaded.connect(self._on_thumbnails_loaded)
        self.thumbnails.failed.connect(self._on_thumbnails_failed)
        self._reader = LatestCall(parent=self)
        self._reader.finished.connect(self._on_reader_finished)
        self._reader.failed.connect(self._on_reader_failed)
        self._refetcher = LatestCall(parent=self)
        self._refetcher.finished.connect(self._on_refetcher_finished)
        context.classes_loaded.connect(self._on_context_classes_loaded)
        context.labels_set.connect(self._on_context_labels_set)
        context.labels_changed.connect(self._on_context_labels_changed)

    # ---------------------------------------------------------------------------- the query

    @property
    def query(self) -> ImageQuery:
        return self._query

    @property
    def loading(self) -> bool:
        return self._reader.busy

    def set_query(self, query: ImageQuery) -> None:
        """Show the images of ``query`` (read in the background; ``loaded`` follows)."""
        self._query = query
        self.reload()

    def reload(self) -> None:
        """Read the current query again (after an import, a class change, a new library)."""
        library = self._context.library
        query = self._query
        self._reader.call(lambda: (read_images(library, query), library.classes()))

    def set_classes(self, classes: Iterable[ClassInfo]) -> None:
        """New class names/colours: repaint every row (no rows change)."""
        self._classes = {c.id: c for c in classes}
        if self._records:
            self.dataChanged.emit(self.index(0), self.index(len(self._records) - 1))

    @property
    def classes(self) -> dict[int, ClassInfo]:
        return self._classes

    @Slot(object)
    def _on_reader_finished(self, result: object) -> None:
        records, classes = result  # type: ignore[misc]
        self.beginResetModel()
        self._records = list(records)
        self._row_of = {r.id: row for row, r in enumerate(self._records)}
        self._classes = {c.id: c for c in classes}
        self.endResetModel()
        # Tens of thousands of long-lived records would make every full garbage collection a
        # 40-400 ms GUI stall (measured while scrolling 20,000 images); they hold no cycles.
        gc.freeze()
        self.loaded.emit(len(self._records))

    @Slot(str)
    def _on_reader_failed(self, reason: str) -> None:
        self.load_failed.emit(reason)

    # ----------------------------------------------------------------------------- records

    def record(self, row: int) -> ImageRecord:
        return self._records[row]

    def records(self) -> Sequence[ImageRecord]:
        return self._records

    def paint_data(
        self, row: int
    ) -> tuple[
        ImageRecord, ClassInfo | None, tuple[ClassInfo, float] | None, QPixmap | None, str | None
    ]:
        """What the delegate draws for a row, in one Python call (no QVariant round trips)."""
        record = self._records[row]
        label = self._classes.get(record.class_id) if record.class_id is not None else None
        suggestion = None
        if record.suggested_class_id is not None:
            info = self._classes.get(record.suggested_class_id)
            if info is not None:
                suggestion = (info, record.suggestion_confidence or 0.0)
        if record.status is not ImageStatus.OK:
            return record, label, suggestion, None, f"file {record.status.value}"
        return (
            record,
            label,
            suggestion,
            self.thumbnails.pixmap(record),
            self.thumbnails.error(record.id),
        )

    def badge(self, row: int) -> str | None:
        """The badge of a row (:data:`Role.BADGE`; the delegate draws it)."""
        return badge_of(self._records[row])

    def row_of(self, image_id: int) -> int | None:
        return self._row_of.get(image_id)

    def next_row(self, row: int, *, unlabeled: bool, step: int = 1) -> int | None:
        """The next row after ``row`` (``step`` -1: before), optionally an unlabeled readable one.

        Wraps around once, so labeling the last unlabeled image of the list goes on with one
        the user skipped earlier. ``None`` when there is none.
        """
        count = len(self._records)
        if not count:
            return None
        for offset in range(1, count + 1 if unlabeled else 2):
            candidate = row + step * offset
            if not unlabeled:
                return candidate if 0 <= candidate < count else None
            candidate %= count
            record = self._records[candidate]
            if record.class_id is None and record.status is ImageStatus.OK:
                return candidate
        return None

    # --------------------------------------------------------------------- Qt model protocol

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._records)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._records):
            return None
        record = self._records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return record.name
        if role == Qt.ItemDataRole.DecorationRole:
            if record.status is not ImageStatus.OK:
                return None
            return self.thumbnails.pixmap(record)
        if role == Role.RECORD:
            return record
        if role == Role.IMAGE_ID:
            return record.id
        if role == Role.BADGE:
            return badge_of(record)
        if role == Role.LABEL:
            return self._classes.get(record.class_id) if record.class_id is not None else None
        if role == Role.SUGGESTION:
            if record.suggested_class_id is None:
                return None
            info = self._classes.get(record.suggested_class_id)
            return (info, record.suggestion_confidence or 0.0) if info else None
        if role == Role.THUMBNAIL_ERROR:
            if record.status is not ImageStatus.OK:
                return f"file {record.status.value}"
            return self.thumbnails.error(record.id)
        if role == Qt.ItemDataRole.ToolTipRole:
            label = self._classes.get(record.class_id) if record.class_id is not None else None
            badge = badge_of(record)
            return (
                f"{record.path}\n{record.width}×{record.height} {record.format}, "
                f"{record.size / 1024:,.0f} KB\nlabel: {label.name if label else 'none'}"
                + (f"\n{BADGE_TIPS[badge]}" if badge else "")
            )
        return None

    def roleNames(self) -> dict[int, bytes]:
        names = dict(super().roleNames())
        names.update({int(r): r.name.lower().encode() for r in Role})
        return names

    # ------------------------------------------------------------------------------ updates

    def _row_changed(self, row: int) -> None:
        index = self.index(row)
        self.dataChanged.emit(index, index)

    @Slot(list)
    def _on_context_classes_loaded(self, classes: list) -> None:
        self.set_classes(classes)

    @Slot(object)
    def _on_context_labels_set(self, labels: dict) -> None:
        """Patch the held records with labels the user just set (no SQL); a label (or clearing
        one) is the user's look at the image, so it is no longer "changed" (as in the library)."""
        self._just_set = set(labels)
        for image_id, class_id in labels.items():
            row = self._row_of.get(image_id)
            if row is not None:
                self._records[row] = dataclasses.replace(
                    self._records[row], class_id=class_id, changed=False
                )
                self._row_changed(row)

    @Slot(list)
    def _on_context_labels_changed(self, ids: list) -> None:
        """Labels changed elsewhere (another pane, a job): read those rows again."""
        stale = [i for i in ids if i in self._row_of and i not in self._just_set]
        self._just_set = set()
        if stale:
            library = self._context.library
            self._refetcher.call(lambda: library.images_by_id(stale))

    @Slot(object)
    def _on_refetcher_finished(self, records: object) -> None:
        for record in records:  # type: ignore[attr-defined]
            row = self._row_of.get(record.id)
            if row is not None:
                self._records[row] = record
                self._row_changed(row)

    @Slot(int)
    def _on_thumbnails_loaded(self, image_id: int) -> None:
        row = self._row_of.get(image_id)
        if row is not None:
            self._row_changed(row)

    @Slot(int, str)
    def _on_thumbnails_failed(self, image_id: int, _reason: str) -> None:
        self._on_thumbnails_loaded(image_id)
