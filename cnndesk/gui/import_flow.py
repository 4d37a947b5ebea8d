"""How images get into the open library from the window: File → Import Folder… / Import Files…
(file dialogs) and drops anywhere on the window or on the browser's grid.

The import itself (the folders-as-classes question, the job, progress, refused files, and Edit →
Undo Import) is :class:`~cnndesk.gui.import_dialog.ImportController`'s; this module only turns
the window's gestures into its ``start``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog, QWidget

from cnndesk.defaults import image_file_filter
from cnndesk.gui.context import AppContext
from cnndesk.gui.import_dialog import DropImporter, ImportController

IMAGE_FILES_FILTER = image_file_filter()


class ImportFlow(QObject):
    """The window's import gestures; :attr:`controller` runs the imports."""

    def __init__(self, context: AppContext, *, window: QWidget) -> None:
        super().__init__(window)
        self._context = context
        self._window = window
        self.controller = ImportController(context, parent_widget=window)
        self.drop_importer = DropImporter(self)
        self.drop_importer.watch(window)
        self.drop_importer.paths_dropped.connect(self._on_drop_importer_paths_dropped)

    def watch(self, widget: QWidget) -> None:
        """Also take drops on ``widget`` (a scroll area's viewport keeps them otherwise)."""
        self.drop_importer.watch(widget)

    def import_folder(self) -> None:
        """File → Import Folder…"""
        folder = QFileDialog.getExistingDirectory(self._window, "Import a folder of images")
        if folder:
            self.controller.start([folder])

    def import_files(self) -> None:
        """File → Import Files…"""
        files, _ = QFileDialog.getOpenFileNames(
            self._window, "Import image files", str(Path.home()), IMAGE_FILES_FILTER
        )
        if files:
            self.controller.start(list(files))

    @Slot(list)
    def _on_drop_importer_paths_dropped(self, paths: list) -> None:
        self._context.pane_requested.emit("browser")
        self.controller.start([str(p) for p in paths])
