"""Errors a user can act on: a dialog with the message up front and the details folded away.

Used for failed jobs, refused edits that need more than a status-bar line, and (through the
``sys.excepthook`` that ``app.py`` installs) anything unexpected. The details also go to the log.
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger(__name__)


def show_error(parent: QWidget | None, title: str, message: str, *, details: str = "") -> None:
    """Show ``message`` in a warning dialog; ``details`` (a traceback, a list) behind a button."""
    if details:
        log.debug("%s: %s\n%s", title, message, details)
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(message)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.exec()
