"""Importing images: drag and drop, the folders-as-classes question, progress, refused files.

:class:`DropImporter` is an event filter that turns a drop of local files or folders on any
widget it watches into ``paths_dropped``. :class:`ImportController` asks whether folder names are
classes (when folders were dropped; the dialog previews the classes it would make with their image
counts, and the answer defaults to "yes" only when the folders have subfolders of images), runs
the import job on the worker (``AppContext.run_job``), puts the finished import on the undo stack
(Edit → Undo Import removes the images it added),
reports progress through the context (the status bar shows it), refreshes the browser while a long
import runs, and lists refused files with their reasons in :class:`RefusedFilesDialog`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnndesk.domain import ImportProgress, ImportResult, RefusedFile
from cnndesk.gui.context import AppContext
from cnndesk.gui.error_dialog import show_error
from cnndesk.jobs import import_job
from cnndesk.library.importer import walk

log = logging.getLogger(__name__)

LIVE_REFRESH_S = 1.5
"""During a long import, the browser shows the images added so far this often."""


def local_paths(event: QDragEnterEvent | QDropEvent) -> list[str]:
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


class DropImporter(QObject):
    """Event filter: accepts drags of local files/folders, emits ``paths_dropped(list)`` on drop."""

    paths_dropped = Signal(list)

    def watch(self, widget: QWidget) -> None:
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            if local_paths(event):  # type: ignore[arg-type]
                event.acceptProposedAction()  # type: ignore[attr-defined]
                return True
            return False
        if kind == QEvent.Type.Drop:
            paths = local_paths(event)  # type: ignore[arg-type]
            if paths:
                event.acceptProposedAction()  # type: ignore[attr-defined]
                self.paths_dropped.emit(paths)
                return True
        return super().eventFilter(watched, event)


PREVIEW_CLASSES = 12
"""The preview names this many classes; the rest are counted."""


class ImportPreview:
    """What importing ``paths`` would do, found by the importer's own walk (no file is opened):
    the images in sub-folders (by the class they would get) and those directly in the folders."""

    def __init__(self, paths: list[str]) -> None:
        roots = {str(Path(p).expanduser().absolute()) for p in paths if Path(p).is_dir()}
        candidates = walk(paths, classes_from_folders=True, refused=[])
        self.total = len(candidates)
        self.by_class: dict[str, int] = {}
        """Images in sub-folders of the dropped folders, per class they would get."""
        self.loose = 0
        """Images directly in a dropped folder (or dropped files)."""
        self.root_classes: dict[str, int] = {}
        """Classes named after a dropped folder itself, for its loose images."""
        for candidate in candidates:
            parent = str(candidate.path.parent)
            if parent in roots or candidate.class_name is None:
                self.loose += 1
                if candidate.class_name is not None:
                    name = candidate.class_name
                    self.root_classes[name] = self.root_classes.get(name, 0) + 1
            else:
                self.by_class[candidate.class_name] = self.by_class.get(candidate.class_name, 0) + 1

    @property
    def has_subfolders(self) -> bool:
        """Some images are in sub-folders: their names are likely classes."""
        return bool(self.by_class)

    def text(self, *, folders_as_classes: bool) -> str:
        """The preview in words (rich text)."""
        if self.total == 0:
            return (
                "No images found in these folders (cnndesk reads JPEG, PNG, BMP, GIF, TIFF, WebP)."
            )
        if not folders_as_classes:
            lead = (
                "No subfolders: the images will be unlabeled"
                if not self.has_subfolders
                else "The images will be unlabeled"
            )
            return f"{lead} ({self.total:,} images)."
        classes = dict(self.by_class)
        for name, n in self.root_classes.items():
            classes[name] = classes.get(name, 0) + n
        ordered = sorted(classes.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"<b>{_escape(name)}</b> {n:,}" for name, n in ordered[:PREVIEW_CLASSES])
        more = len(ordered) - PREVIEW_CLASSES
        if more > 0:
            shown += f" and {more} more"
        text = f"{len(ordered)} class{'es' if len(ordered) != 1 else ''} found: {shown}."
        if not self.has_subfolders:
            text = "No subfolders: every image will be labeled with the folder's own name — " + text
        return text


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ImportOptionsDialog(QDialog):
    """Asks, for dropped folders, whether their sub-folder names are classes, with a preview.

    The box is ticked by default only when the folders have subfolders of images: a flat folder
    imports unlabeled unless the user asks otherwise.
    """

    def __init__(
        self,
        paths: list[str],
        *,
        folders_as_classes: bool | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.preview = ImportPreview(paths)
        if folders_as_classes is None:
            folders_as_classes = self.preview.has_subfolders
        self.setWindowTitle("Import images")
        folders = [p for p in paths if Path(p).is_dir()]
        files = len(paths) - len(folders)
        what = ", ".join(Path(p).name or p for p in folders[:3])
        if len(folders) > 3:
            what += f" and {len(folders) - 3} more"
        text = f"Import the folder{'s' if len(folders) > 1 else ''} <b>{what}</b>"
        if files:
            text += f" and {files} file{'s' if files > 1 else ''}"
        self.checkbox = QCheckBox("Folder names are classes (label the images by their folder)")
        self.checkbox.setChecked(folders_as_classes)
        self.preview_label = QLabel()
        self.preview_label.setObjectName("importPreview")
        self.preview_label.setWordWrap(True)
        self.checkbox.toggled.connect(self._on_checkbox_toggled)
        self._on_checkbox_toggled(folders_as_classes)
        explain = QLabel(
            "For example <i>pets/cats/…</i> and <i>pets/dogs/…</i> become the classes "
            "<b>cats</b> and <b>dogs</b>, with their images labeled. Folders named "
            "<i>train</i>, <i>val</i> or <i>test</i> choose the split instead of a class."
        )
        explain.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        title = QLabel(text + "?")
        title.setWordWrap(True)
        layout.addWidget(title)
        layout.addWidget(self.checkbox)
        layout.addWidget(self.preview_label)
        layout.addWidget(explain)
        layout.addWidget(buttons)
        self.resize(460, self.sizeHint().height())

    @Slot(bool)
    def _on_checkbox_toggled(self, checked: bool) -> None:
        self.preview_label.setText(self.preview.text(folders_as_classes=checked))


class RefusedFilesDialog(QDialog):
    """The files an import skipped, each with the reason (a table; "Copy list" copies it as TSV)."""

    def __init__(self, refused: list[RefusedFile], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{len(refused)} files were not imported")
        self._refused = list(refused)
        self.table = QTreeWidget(self)
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setHeaderLabels(["File", "Why it was skipped"])
        for item in refused:
            row = QTreeWidgetItem([Path(item.path).name, item.reason])
            row.setToolTip(0, item.path)
            self.table.addTopLevelItem(row)
        self.table.resizeColumnToContents(0)
        copy = QPushButton("Copy list", self)
        copy.clicked.connect(self._on_copy_clicked)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel(
                "These files were skipped; everything else was imported. Hover a name for its folder."
            )
        )
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(720, 360)

    def text(self) -> str:
        return "\n".join(f"{r.path}\t{r.reason}" for r in self._refused)

    @Slot()
    def _on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.text())


class ImportController(QObject):
    """Runs imports. ``import_finished(object)``: the :class:`ImportResult`;
    ``import_failed(str)``: why an import stopped."""

    import_finished = Signal(object)
    import_failed = Signal(str)

    def __init__(self, context: AppContext, *, parent_widget: QWidget | None = None) -> None:
        super().__init__(parent_widget)
        self._context = context
        self._parent_widget = parent_widget
        self._worker = None
        self._last_refresh = 0.0
        self._added_seen = 0

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def ask_folders_as_classes(self, paths: list[str]) -> bool | None:
        """For dropped folders: are folder names classes? ``None``: the user cancelled."""
        dialog = ImportOptionsDialog(paths, parent=self._parent_widget)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        self._context.settings.folders_as_classes = dialog.checkbox.isChecked()
        return dialog.checkbox.isChecked()

    def show_refused(self, refused: list[RefusedFile]) -> None:
        RefusedFilesDialog(refused, self._parent_widget).exec()

    def start(self, paths: list[str]) -> bool:
        """Import these files and folders; ``False`` when cancelled or another import runs."""
        if self._worker is not None:
            self._context.status_message.emit("An import is already running; wait for it.")
            return False
        if not paths:
            return False
        folders_as_classes = False
        if any(Path(p).is_dir() for p in paths):
            answer = self.ask_folders_as_classes(paths)
            if answer is None:
                return False
            folders_as_classes = answer
        library = self._context.library
        self._last_refresh = time.monotonic()
        self._added_seen = 0
        self._worker = self._context.run_job(
            lambda: import_job(library, paths, classes_from_folders=folders_as_classes),
            title="Importing",
        )
        self._worker.event.connect(self._on_worker_event)
        self._worker.finished.connect(self._on_worker_finished)
        self._worker.failed.connect(self._on_worker_failed)
        self._worker.cancelled.connect(self._on_worker_cancelled)
        return True

    @Slot(object)
    def _on_worker_event(self, event: object) -> None:
        if not isinstance(event, ImportProgress):
            return
        now = time.monotonic()
        if event.added > self._added_seen and now - self._last_refresh > LIVE_REFRESH_S:
            self._added_seen = event.added
            self._last_refresh = now
            self._context.images_added.emit()

    @Slot(object)
    def _on_worker_finished(self, result: object) -> None:
        self._worker = None
        assert isinstance(result, ImportResult)
        parts = [f"Imported {result.added:,} images"]
        if result.duplicates:
            parts.append(f"{result.duplicates:,} duplicates skipped")
        if result.unchanged:
            parts.append(f"{result.unchanged:,} already in the library")
        if result.refused:
            parts.append(f"{len(result.refused):,} refused")
        if result.classes_created:
            parts.append(f"new classes: {', '.join(result.classes_created)}")
        self._context.status_message.emit(" · ".join(parts) + f" ({result.seconds:.1f} s)")
        if result.classes_created or result.labeled:
            self._context.classes_changed.emit()
        self._context.images_added.emit()
        if result.added_ids:
            from cnndesk.gui.undo import ImportCommand

            n = len(result.added_ids)
            library = self._context.library
            made = [library.class_by_name(name) for name in result.classes_created]
            self._context.undo_stack.push(
                ImportCommand(
                    self._context,
                    list(result.added_ids),
                    text=f"Import ({n:,} image{'s' if n != 1 else ''})",
                    class_ids=[info.id for info in made if info is not None],
                )
            )
        self.import_finished.emit(result)
        if result.refused:
            self.show_refused(list(result.refused))

    @Slot(str, str)
    def _on_worker_failed(self, message: str, details: str) -> None:
        self._worker = None
        self._context.images_added.emit()  # what was imported before the failure is kept
        self.import_failed.emit(message)
        show_error(self._parent_widget, "Import failed", message, details=details)

    @Slot()
    def _on_worker_cancelled(self) -> None:
        self._worker = None
        self._context.status_message.emit("Import cancelled; the images imported so far are kept.")
        self._context.images_added.emit()
        self.import_failed.emit("cancelled")
