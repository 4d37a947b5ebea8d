"""A one-line label that elides what does not fit (the status bar's pieces use it)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """A one-line label that shows as much of its text as fits, "…" for the rest, and the whole
    text as its tooltip; it never asks for more width than it is given."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.set_full_text(text)

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        width = self.fontMetrics().horizontalAdvance(self._full) + 8
        return QSize(min(width, self.maximumWidth()), hint.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(min(40, self.sizeHint().width()), super().minimumSizeHint().height())

    def full_text(self) -> str:
        return self._full

    def text(self) -> str:  # the whole text; what is painted may be elided
        return self._full

    def setText(self, text: str) -> None:
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        changed = text != self._full
        self._full = text
        self.setToolTip(text)
        self._elide()
        if changed:
            self.updateGeometry()  # the layout asks for the new size hint

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(
            self._full, Qt.TextElideMode.ElideRight, max(self.width(), 0)
        )
        QLabel.setText(self, shown)
