"""The main window's status bar: the latest message, the running job, the library, its counts, the
compute device, and the "Show changed" offer that follows File → Check Library's message.

:class:`WindowStatus` builds the pieces onto the window's ``QStatusBar`` and keeps them current
from :class:`~cnndesk.gui.context.AppContext` signals; the window only creates it.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from cnndesk.domain import ImageQuery, ImageView, LibraryStats, Progress
from cnndesk.gui.context import AppContext
from cnndesk.gui.elided_label import ElidedLabel

DEVICE_UNKNOWN = "device: detected when training starts"
STATUS_MESSAGE_MS = 6000
"""A status message is cleared this long after it appeared."""


class JobStatusWidget(QWidget):
    """Status-bar progress of the running job, with a Cancel button; hidden when idle."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self.label = ElidedLabel(parent=self)
        self.label.setMaximumWidth(220)
        self.bar = QProgressBar(self)
        self.bar.setFixedWidth(120)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel", self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        context.job_started.connect(self._on_context_job_started)
        context.job_ended.connect(self._on_context_job_ended)
        context.job_progressed.connect(self._on_context_job_progressed)
        self.hide()

    @Slot(str)
    def _on_context_job_started(self, title: str) -> None:
        self.label.set_full_text(f"{title}…")
        self.bar.setRange(0, 0)
        self.show()

    @Slot(str)
    def _on_context_job_ended(self, _title: str) -> None:
        if not self._context.running_jobs:
            self.hide()

    @Slot(str, object)
    def _on_context_job_progressed(self, title: str, event: object) -> None:
        if not isinstance(event, Progress):
            return
        if event.total:
            self.bar.setRange(0, event.total)
            self.bar.setValue(min(event.done, event.total))
            text = f"{title}: {event.done:,}/{event.total:,}"
        else:
            self.bar.setRange(0, 0)  # busy indicator: the total is not known yet
            text = f"{title}: {event.message}" if event.message else f"{title}…"
        self.label.set_full_text(text)

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self._context.cancel_jobs(wait_ms=0)


class WindowStatus(QObject):
    """The pieces of the window's status bar (``window.statusBar()``), kept current."""

    def __init__(self, context: AppContext, window: QMainWindow) -> None:
        super().__init__(window)
        self._context = context
        self.message_label = ElidedLabel(parent=window)
        """Status messages: elided beside the permanent labels (never over them), whole in the
        tooltip; cleared after a few seconds."""
        self.message_label.setObjectName("statusMessage")
        self.message_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.setInterval(STATUS_MESSAGE_MS)
        self._message_timer.timeout.connect(self._on_message_timer_timeout)
        self.library_label = ElidedLabel(parent=window)
        self.library_label.setObjectName("libraryLabel")
        self.library_label.setMaximumWidth(200)
        self.counts_label = ElidedLabel(parent=window)
        self.counts_label.setObjectName("countsLabel")
        self.counts_label.setMaximumWidth(280)
        self.job_status = JobStatusWidget(context, window)
        self.device_label = ElidedLabel(DEVICE_UNKNOWN, window)
        self.device_label.setObjectName("deviceLabel")
        self.device_label.setMaximumWidth(240)
        self.show_changed_button = self._show_changed_button(window)
        status = window.statusBar()
        status.addWidget(self.message_label, 1)
        status.addWidget(self.show_changed_button)
        status.addPermanentWidget(self.job_status)
        status.addPermanentWidget(self.library_label)
        status.addPermanentWidget(self.counts_label)
        status.addPermanentWidget(self.device_label)
        self.show_library()
        context.status_message.connect(self._on_context_status_message)
        context.library_opened.connect(self.show_library)
        context.stats_loaded.connect(self._on_context_stats_loaded)
        context.device_detected.connect(self._on_context_device_detected)

    def _show_changed_button(self, window: QWidget) -> QPushButton:
        button = QPushButton("Show changed", window)
        button.setObjectName("showChangedButton")
        button.setToolTip(
            "Show the images whose files changed since they were labeled: check their labels"
        )
        button.setFlat(True)
        button.hide()
        button.clicked.connect(self._on_show_changed_button_clicked)
        return button

    def offer_changed_images(self, offer: bool) -> None:
        """Show (or hide) the "Show changed" button beside the current message; the next
        message, or the message's timeout, hides it."""
        self.show_changed_button.setVisible(offer)

    @Slot()
    def show_library(self) -> None:
        """The open library's name (its path in the tooltip)."""
        library = self._context.library
        self.library_label.set_full_text(f"library: {library.display_name}")
        self.library_label.setToolTip(str(library.path or library.location))

    @Slot()
    def _on_show_changed_button_clicked(self) -> None:
        """The browser's "Changed — check the label" filter, brought to the front."""
        self.show_changed_button.hide()
        self._context.show_images(ImageQuery(view=ImageView.CHANGED))

    @Slot(str)
    def _on_context_status_message(self, message: str) -> None:
        self.show_changed_button.hide()
        self.message_label.set_full_text(message)
        self._message_timer.start()

    @Slot()
    def _on_message_timer_timeout(self) -> None:
        self.show_changed_button.hide()
        self.message_label.set_full_text("")

    @Slot(object)
    def _on_context_stats_loaded(self, stats: object) -> None:
        if isinstance(stats, LibraryStats):
            self.counts_label.set_full_text(
                f"{stats.images:,} images · {stats.unlabeled:,} unlabeled · "
                f"{len(stats.classes)} classes"
            )

    @Slot(str)
    def _on_context_device_detected(self, device: str) -> None:
        self.device_label.set_full_text(f"device: {device}")
