"""The library browser: a virtualised grid (or list) of the images of one filter, and labeling.

The pane owns "the current image" and the selection. Labeling is keyboard-first: the main
window's actions call :meth:`BrowserPane.label_with_position`, :meth:`~BrowserPane.label_with`,
:meth:`~BrowserPane.accept_suggestion` and :meth:`~BrowserPane.go`; a label applies to the
selection when more than one image is selected, else to the current image, goes through the undo
stack, and moves on to the next unlabeled image. The image the user looks at is announced as
``AppContext.current_image_changed`` (the viewer shows it).

The filter, the search field and the count are :class:`~cnndesk.gui.filter_bar.FilterBar`'s
(Escape in the search field clears it). A right-click on the grid or list opens
:meth:`BrowserPane.context_menu` (:mod:`cnndesk.gui.browser_menu`: label as, clear label, open,
show in the file manager, copy path, set split, remove from the library — undoable); a
double-click opens the image large in :class:`~cnndesk.gui.image_dialog.ImageDialog`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSize,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListView,
    QMenu,
    QMessageBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnndesk.domain import ImageQuery, ImageRecord, Split
from cnndesk.gui import browser_menu
from cnndesk.gui.context import AppContext, ShownImage
from cnndesk.gui.filter_bar import FilterBar, filter_choices
from cnndesk.gui.image_delegate import ImageDelegate
from cnndesk.gui.library_model import LibraryModel
from cnndesk.gui.undo import push_labels, push_removal

log = logging.getLogger(__name__)

__all__ = ["BrowserPane", "ImageListView", "ShownImage", "filter_choices"]

THUMBNAIL_SIDES = (64, 96, 128, 176, 256)
MANY = 500
"""Labeling this many images with one key asks first (Ctrl+A then a digit is easy to mistype)."""


class ImageListView(QListView):
    """A ``QListView`` set up for tens of thousands of same-sized items (grid or list)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setUniformItemSizes(True)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        # A model reset lays out 20,000 rows in slices between events, not in one long stall.
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(1000)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setDragEnabled(False)
        self.setSpacing(0)
        self._tile = QSize(0, 0)
        self.set_grid(True)

    def dataChanged(
        self,
        top_left: QModelIndex | QPersistentModelIndex,
        bottom_right: QModelIndex | QPersistentModelIndex,
        roles: Sequence[int] = (),
    ) -> None:
        """Repaint the changed items only.

        Qt 6's ``QListView`` re-lays out *every* row on any ``dataChanged`` (two Python
        ``rowCount`` calls per row: ~4 ms for 2,000 rows, ~40 ms for 20,000, on each label and
        each arriving thumbnail). Items here all have one size, so a change never moves one.
        """
        if top_left.row() == bottom_right.row():
            self.viewport().update(self.visualRect(top_left))
        else:
            self.viewport().update()

    def set_tile_size(self, tile: QSize) -> None:
        """The delegate's tile size: grid cells stretch it so the columns fill the width."""
        self._tile = tile
        self._fit_grid()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_grid()

    def _fit_grid(self) -> None:
        if not self.isWrapping() or self._tile.width() <= 0:
            if self.gridSize().isValid():
                self.setGridSize(QSize())
            return
        width = self.viewport().width() - 2
        columns = max(1, width // self._tile.width())
        cell = QSize(max(self._tile.width(), width // columns), self._tile.height())
        if cell != self.gridSize():
            self.setGridSize(cell)

    def set_grid(self, grid: bool) -> None:
        self.setViewMode(QListView.ViewMode.ListMode)  # ListMode layout is the fast one
        self.setFlow(QListView.Flow.LeftToRight if grid else QListView.Flow.TopToBottom)
        self.setWrapping(grid)
        self._fit_grid()
        self.verticalScrollBar().setSingleStep(24)


class BrowserPane(QWidget):
    """Filter, search and browse the library; label with the keyboard.

    ``filter_applied(int)``: the rows of a new filter/search are shown (their count).
    """

    filter_applied = Signal(int)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("BrowserPane")
        self._context = context
        settings = context.settings
        self._side = settings.thumbnail_size
        self._pending_current: int | None = None
        self._shown: ShownImage | None = None

        self.model = LibraryModel(context, thumbnail_side=self._side, parent=self)
        self.delegate = ImageDelegate(side=self._side, parent=self)
        self.view = ImageListView(self)
        self.view.setObjectName("browserView")
        self.view.setModel(self.model)
        self.view.setItemDelegate(self.delegate)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

        self.filter_bar = FilterBar(self)
        self.filter_box = self.filter_bar.filter_box
        self.search_box = self.filter_bar.search_box
        self.count_label = self.filter_bar.count_label
        self.empty_label = QLabel(self)
        self.empty_label.setObjectName("emptyLabel")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setTextFormat(Qt.TextFormat.RichText)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.view)
        self.stack.addWidget(self.empty_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.filter_bar)
        layout.addWidget(self.stack, 1)
        self.filter_bar.rebuild_filters(context.classes)
        self.set_list_mode(settings.browser_mode == "list")

        self.filter_bar.query_changed.connect(self._on_filter_bar_query_changed)
        self.filter_bar.search_done.connect(self._on_filter_bar_search_done)
        self.model.loaded.connect(self._on_model_loaded)
        self.model.load_failed.connect(self._on_model_load_failed)
        self.model.dataChanged.connect(self._on_model_data_changed)
        self.view.selectionModel().currentChanged.connect(self._on_selection_current_changed)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.view.customContextMenuRequested.connect(self._on_view_custom_context_menu_requested)
        self.view.doubleClicked.connect(self._on_view_double_clicked)
        context.images_removed.connect(self._on_context_images_removed)
        context.library_opened.connect(self._on_context_library_opened)
        context.images_added.connect(self._on_context_images_added)
        context.classes_loaded.connect(self._on_context_classes_loaded)
        context.stats_loaded.connect(self._on_context_stats_loaded)
        context.show_images_requested.connect(self._on_context_show_images_requested)
        context.labels_reverted.connect(self._on_context_labels_reverted)
        self.model.reload()

    # ----------------------------------------------------------------------------- queries

    def add_tool_action(self, action: QAction) -> QToolButton:
        """Show one of the window's actions as a button at the end of the pane's bar."""
        return self.filter_bar.add_tool_action(action)

    def drop_target(self) -> QWidget:
        """Where files dropped on the browser arrive (a scroll area's viewport)."""
        return self.view.viewport()

    def set_query(self, query: ImageQuery) -> None:
        """Show the images of ``query`` (its search text goes into the search box)."""
        self.filter_bar.show_query(query)
        self._show(self.filter_bar.query())

    def _show(self, query: ImageQuery) -> None:
        current = self.current_record()
        self._pending_current = current.id if current else None
        self.model.set_query(query)

    # ------------------------------------------------------------------------------ current

    def current_record(self) -> ImageRecord | None:
        index = self.view.currentIndex()
        return self.model.record(index.row()) if index.isValid() else None

    def selected_ids(self) -> list[int]:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedIndexes())
        return [self.model.record(r).id for r in rows]

    def target_ids(self) -> list[int]:
        """What a label applies to: the selection when it holds several images, else the current."""
        selected = self.selected_ids()
        if len(selected) > 1:
            return selected
        current = self.current_record()
        return [current.id] if current else []

    def set_current_row(self, row: int) -> None:
        if not 0 <= row < self.model.rowCount():
            return
        index = self.model.index(row)
        self.view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        self.view.scrollTo(index)

    def set_current_image(self, image_id: int) -> bool:
        """Make this image the current one, if it is shown; ``False`` if it is not."""
        row = self.model.row_of(image_id)
        if row is None:
            return False
        self.set_current_row(row)
        return True

    # ----------------------------------------------------------------------------- labeling

    def label_with_position(self, position: int) -> bool:
        """Label with the class at a 0-based display position (key 1 → position 0)."""
        info = self._context.class_at(position)
        if info is None:
            self._context.status_message.emit(
                f"There is no class {position + 1} yet: add classes in the Classes panel."
            )
            return False
        return self.label_with(info.id)

    def label_with(self, class_id: int | None) -> bool:
        """Label the selection (or the current image) and move on to the next unlabeled image."""
        ids = self.target_ids()
        if not ids:
            return False
        info = self._context.class_by_id(class_id)
        name = info.name if info else "no label"
        text = f"Label {len(ids)} images {name}" if len(ids) > 1 else f"Label as {name}"
        if len(ids) >= MANY and not self.confirm_many(f"Label {len(ids):,} images as {name}?"):
            return False
        if not push_labels(self._context, dict.fromkeys(ids, class_id), text=text):
            return False
        self._advance_after(ids, unlabeled=class_id is not None)
        return True

    def confirm_many(self, question: str) -> bool:
        """Ask before one keypress changes a great many labels (tests replace this)."""
        answer = QMessageBox.question(
            self, "Label many images", question + "\n\nCtrl+Z undoes it in one step."
        )
        return answer == QMessageBox.StandardButton.Yes

    def accept_suggestion(self) -> bool:
        """Make the model's suggestion the label of the selection (or the current image)."""
        records = [self.model.record(r) for r in self._rows(self.target_ids())]
        labels = {r.id: r.suggested_class_id for r in records if r.suggested_class_id is not None}
        if not labels:
            self._context.status_message.emit("The model has no suggestion for this image.")
            return False
        if not push_labels(self._context, labels, text=f"Accept {len(labels)} suggestion(s)"):
            return False
        self._advance_after(list(labels), unlabeled=True)
        return True

    def clear_label(self) -> bool:
        ids = self.target_ids()
        return bool(ids) and push_labels(
            self._context, dict.fromkeys(ids), text=f"Remove {len(ids)} label(s)"
        )

    def go(self, step: int, *, unlabeled: bool = False) -> bool:
        """Move the current image ``step`` (1 or -1) rows, or to the next/previous unlabeled one."""
        index = self.view.currentIndex()
        row = index.row() if index.isValid() else -1
        target = self.model.next_row(row, unlabeled=unlabeled, step=step)
        if target is None:
            if unlabeled:
                self._context.status_message.emit("Every image shown here is labeled.")
            return False
        self.set_current_row(target)
        return True

    def _rows(self, ids: list[int]) -> list[int]:
        return [r for r in (self.model.row_of(i) for i in ids) if r is not None]

    def _advance_after(self, ids: list[int], *, unlabeled: bool) -> None:
        rows = self._rows(ids)
        if not rows:
            return
        target = self.model.next_row(max(rows), unlabeled=unlabeled)
        if target is None:
            # Plain text: without an emoji font (most Linux desktops) a 🎉 showed as a box.
            self._context.status_message.emit("Every image shown here is labeled.")
            self.set_current_row(min(max(rows) + 1, self.model.rowCount() - 1))
            return
        self.set_current_row(target)

    # --------------------------------------------------------------------------------- view

    def set_list_mode(self, list_mode: bool) -> None:
        self.delegate.list_mode = list_mode
        self.view.set_grid(not list_mode)
        self.view.set_tile_size(self.delegate.tile_size())
        self._context.settings.browser_mode = "list" if list_mode else "grid"
        self.view.doItemsLayout()

    @property
    def list_mode(self) -> bool:
        return self.delegate.list_mode

    def zoom(self, steps: int) -> None:
        """Larger (``steps`` > 0) or smaller thumbnails."""
        sides = THUMBNAIL_SIDES
        position = min(range(len(sides)), key=lambda i: abs(sides[i] - self._side))
        side = sides[max(0, min(len(sides) - 1, position + steps))]
        if side == self._side:
            return
        self._side = side
        self._context.settings.thumbnail_size = side
        self.delegate.side = side
        self.view.set_tile_size(self.delegate.tile_size())
        self.model.thumbnails.set_side(side)
        self.view.doItemsLayout()
        self.view.viewport().update()

    # ------------------------------------------------------------------------ context menu

    def context_menu(self) -> QMenu:
        """The right-click menu for the selection (or the current image)."""
        return browser_menu.context_menu(
            self, records=self._target_records(), classes=self._context.classes, commands=self
        )

    def _target_records(self) -> list[ImageRecord]:
        return [self.model.record(r) for r in self._rows(self.target_ids())]

    def open_current(self) -> bool:
        """Open the current image in the system's image viewer."""
        records = self._target_records()
        return bool(records) and browser_menu.open_file(records[0])

    def show_in_file_manager(self) -> bool:
        """Show the current image selected in the file manager (or open its folder)."""
        records = self._target_records()
        return bool(records) and browser_menu.show_folder(records[0])

    def copy_paths(self) -> str:
        """Copy the paths of the selection (one a line); returns what was copied."""
        return browser_menu.copy_paths(self._target_records())

    def set_split(self, split: Split) -> bool:
        """Put the selection into a split by hand (training then keeps it there)."""
        return browser_menu.set_split(self._context, self.target_ids(), split)

    def remove_selected(self) -> bool:
        """Forget the selection (the files stay where they are), after asking; Ctrl+Z undoes."""
        ids = self.target_ids()
        if not ids:
            return False
        what = f"{len(ids):,} images" if len(ids) > 1 else "this image"
        if not self.confirm_removal(
            f"Remove {what} from the library?\n\nThe files stay where they are; their labels"
            " are forgotten. Edit → Undo puts them back."
        ):
            return False
        return push_removal(self._context, ids)

    def confirm_removal(self, question: str) -> bool:
        """Ask before removing images (tests replace this)."""
        answer = QMessageBox.question(self, "Remove from library", question)
        return answer == QMessageBox.StandardButton.Yes

    def open_large(self, record: ImageRecord | None = None) -> QWidget | None:
        """Show an image (default: the current one) large, in a dialog."""
        from cnndesk.gui.image_dialog import ImageDialog

        record = record or self.current_record()
        if record is None:
            return None
        dialog = ImageDialog(record.path, parent=self)
        dialog.open()
        return dialog

    def focus_search(self) -> None:
        self.filter_bar.focus_search()

    def select_all(self) -> None:
        self.view.selectAll()

    def reload(self) -> None:
        current = self.current_record()
        self._pending_current = current.id if current else None
        self.model.reload()

    # -------------------------------------------------------------------------------- slots

    @Slot(object)
    def _on_filter_bar_query_changed(self, query: object) -> None:
        if isinstance(query, ImageQuery):
            self._show(query)

    @Slot()
    def _on_filter_bar_search_done(self) -> None:
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def _update_count_label(self) -> None:
        total = self._context.stats.images if self._context.stats else None
        self.filter_bar.set_count(self.model.rowCount(), total)

    @Slot(int)
    def _on_model_loaded(self, count: int) -> None:
        self._update_count_label()
        if count:
            self.stack.setCurrentWidget(self.view)
        else:
            self.empty_label.setText(self._empty_text())
            self.stack.setCurrentWidget(self.empty_label)
        row = self.model.row_of(self._pending_current) if self._pending_current else None
        self._pending_current = None
        if count:
            self.set_current_row(row if row is not None else 0)
        else:
            self._announce(None)
        self.filter_applied.emit(count)

    @Slot(str)
    def _on_model_load_failed(self, reason: str) -> None:
        self._context.status_message.emit(f"Cannot read the library: {reason}")

    def _empty_text(self) -> str:
        stats = self._context.stats
        if stats is None or stats.images == 0:
            return (
                "<h2>No images yet</h2><p>Drop folders of images anywhere on this window, or use "
                "<b>File → Import Folder…</b> (Ctrl+I) or <b>Import Files…</b>.</p><p>Folders named after classes "
                "(<i>cats/</i>, <i>dogs/</i>) become classes with their images labeled.</p>"
            )
        return "<h3>No images match this filter</h3><p>Choose <b>All images</b> or clear the search.</p>"

    @Slot(QModelIndex, QModelIndex)
    def _on_selection_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._announce(self.model.record(current.row()) if current.isValid() else None)

    @Slot()
    def _on_selection_changed(self) -> None:
        count = len(self.view.selectionModel().selectedIndexes())
        if count > 1:
            self._context.status_message.emit(
                f"{count} images selected: a class key labels all of them."
            )

    @Slot(QModelIndex, QModelIndex)
    def _on_model_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex) -> None:
        current = self.view.currentIndex()
        if current.isValid() and top_left.row() <= current.row() <= bottom_right.row():
            self._announce(self.model.record(current.row()))

    def _announce(self, record: ImageRecord | None) -> None:
        if record is None:
            shown = None
        else:
            shown = ShownImage(
                record=record,
                label=self.model.classes.get(record.class_id) if record.class_id else None,
                suggestion=(
                    self.model.classes.get(record.suggested_class_id)
                    if record.suggested_class_id
                    else None
                ),
                thumbnail=self.model.thumbnails.pixmap(record),
            )
        if shown == self._shown:
            return
        self._shown = shown
        self._context.current_image_changed.emit(shown)

    @Slot()
    def _on_context_library_opened(self) -> None:
        self.filter_bar.reset()
        self.model.thumbnails.clear()
        self.model.set_query(ImageQuery())
        self.filter_bar.rebuild_filters([])

    @Slot()
    def _on_context_images_added(self) -> None:
        self.reload()

    @Slot(list)
    def _on_context_images_removed(self, _ids: list) -> None:
        self.reload()

    @Slot(QPoint)
    def _on_view_custom_context_menu_requested(self, position: QPoint) -> None:
        index = self.view.indexAt(position)
        if index.isValid() and not self.view.selectionModel().isSelected(index):
            self.set_current_row(index.row())
        if not self.target_ids():
            return
        menu = self.context_menu()
        menu.exec(self.view.viewport().mapToGlobal(position))
        menu.deleteLater()

    @Slot(QModelIndex)
    def _on_view_double_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_large(self.model.record(index.row()))

    @Slot(list)
    def _on_context_classes_loaded(self, classes: list) -> None:
        self.filter_bar.rebuild_filters(classes)
        if self.model.rowCount() == 0 and not self.model.loading:
            self.empty_label.setText(self._empty_text())

    @Slot(object)
    def _on_context_stats_loaded(self, _stats: object) -> None:
        if not self.model.loading:
            self._update_count_label()

    @Slot(object)
    def _on_context_show_images_requested(self, query: object) -> None:
        if isinstance(query, ImageQuery):
            self.set_query(query)

    @Slot(list)
    def _on_context_labels_reverted(self, ids: list) -> None:
        rows = self._rows(list(ids))
        if rows:
            self.set_current_row(min(rows))
