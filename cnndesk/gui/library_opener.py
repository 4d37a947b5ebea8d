"""File → New Library…, Open Library… and Open Recent: choose a library file and make it the
open one (every pane reloads on ``AppContext.library_opened``); a file that cannot be opened is
said in a dialog and the open library stays."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from cnndesk.domain import CnndeskError
from cnndesk.gui.context import AppContext
from cnndesk.gui.error_dialog import show_error

log = logging.getLogger(__name__)

LIBRARY_FILTER = "cnndesk library (*.cnndesk)"


class LibraryOpener(QObject):
    """Opens libraries for the window; :attr:`recent_menu` lists the recently opened ones."""

    def __init__(self, context: AppContext, *, window: QWidget) -> None:
        super().__init__(window)
        self._context = context
        self._window = window
        self.recent_menu = QMenu("Open &Recent", window)
        self.recent_menu.aboutToShow.connect(self._on_recent_menu_about_to_show)

    def new_library(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self._window, "New library", str(Path.home() / "images.cnndesk"), LIBRARY_FILTER
        )
        if path:
            if not path.endswith(".cnndesk"):
                path += ".cnndesk"
            self.open_library_file(path)

    def open_library(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._window, "Open library", str(Path.home()), f"{LIBRARY_FILTER};;All files (*)"
        )
        if path:
            self.open_library_file(path)

    def open_library_file(self, path: str) -> bool:
        """Open (or create) the library at ``path``; ``False`` (after a dialog) if it cannot."""
        from cnndesk.library import Library

        try:
            library = Library.open(path)
        except CnndeskError as exc:
            show_error(self._window, "Cannot open the library", str(exc))
            return False
        except Exception as exc:  # a user action boundary
            log.exception("opening %s failed", path)
            show_error(self._window, "Cannot open the library", f"{path}: {exc}")
            return False
        self._context.set_library(library)
        return True

    @Slot()
    def _on_recent_menu_about_to_show(self) -> None:
        self.recent_menu.clear()
        recent = self._context.settings.recent_libraries
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_library_file(p))
