"""The app's shared state: the open library, settings, the current model, and the events panes share.

Every pane takes an :class:`AppContext` in its constructor. Panes never talk to each other
directly: one pane changes the library and emits a past-tense signal here (``labels_changed``,
``classes_changed`` ...), and each other pane decides whether that concerns it (Anki's "what
changed" hook). Long work goes through :meth:`AppContext.run_job`, which runs a job generator on
the one worker adapter (``gui/worker.py``) and remembers it so quitting can cancel it.

What travels between panes lives here too, so that no pane imports another: :class:`ShownImage`
(the payload of ``current_image_changed``) and :meth:`AppContext.model_folder` (the model the
panes show: the current one, else the newest trained one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QPixmap, QUndoStack

from cnndesk.domain import ClassInfo, ImageQuery, ImageRecord, LibraryStats
from cnndesk.gui.background import LatestCall
from cnndesk.gui.settings import AppSettings
from cnndesk.model_folder import latest_model_folder

if TYPE_CHECKING:
    from cnndesk.gui.worker import Worker
    from cnndesk.library import Library

log = logging.getLogger(__name__)

REFRESH_DELAY_MS = 150
"""Label bursts are coalesced into one background read of the class counts."""


@dataclass(frozen=True)
class ShownImage:
    """The image the user is looking at, with what the viewer needs to describe it."""

    record: ImageRecord
    label: ClassInfo | None
    suggestion: ClassInfo | None
    thumbnail: QPixmap | None = None
    """The browser's thumbnail, shown at once while the full image decodes."""


class AppContext(QObject):
    """What every pane shares. Lives in the GUI thread; emit its signals from the GUI thread only.

    Signals (past-tense events):

    - ``library_opened()``: :attr:`library` is now another library (panes reload everything).
    - ``labels_set(dict)``: the user just gave these images these labels (image id → class id
      or ``None``); emitted right before ``labels_changed`` so views can patch rows without SQL.
    - ``labels_changed(list)``: human labels (or suggestions) of these image ids changed.
    - ``classes_changed()``: a class was added, renamed, recoloured, re-keyed, moved or removed.
    - ``images_added()``: an import added images (or an undo put removed images back).
    - ``images_removed(list)``: these image ids left the library (removed, or an import undone).
    - ``model_changed(str)``: a new model folder is the current one (after training, say).
    - ``show_images_requested(object)``: an :class:`~cnndesk.domain.ImageQuery` the browser
      should show (e.g. a confusion-matrix cell of the evaluation asks for its images).
    - ``pane_requested(str)``: bring a pane (by its id in ``main_window.PANES``) to the front.
    - ``status_message(str)``: a short message for the status bar.
    - ``job_started(str)`` / ``job_ended(str)``: a job with this title began / ended (any outcome).
    - ``job_progressed(str, object)``: a running job's title and its latest event (status bar).
    - ``device_detected(str)``: the compute device, once torch has been loaded by some job.
    - ``current_image_changed(object)``: the image the user looks at (a :class:`ShownImage`,
      or ``None``); the viewer shows it.
    - ``labels_reverted(list)``: an undo put back the labels of these images (the browser goes
      back to them).
    - ``classes_loaded(list)`` / ``stats_loaded(object)``: :attr:`classes` (with counts) and
      :attr:`stats` were read again, in the background, after any of the changes above.
    """

    library_opened = Signal()
    labels_set = Signal(object)
    labels_changed = Signal(list)
    classes_changed = Signal()
    images_added = Signal()
    images_removed = Signal(list)
    model_changed = Signal(str)
    show_images_requested = Signal(object)
    pane_requested = Signal(str)
    status_message = Signal(str)
    job_started = Signal(str)
    job_ended = Signal(str)
    job_progressed = Signal(str, object)
    device_detected = Signal(str)
    labels_reverted = Signal(list)
    current_image_changed = Signal(object)
    classes_loaded = Signal(list)
    stats_loaded = Signal(object)

    def __init__(
        self,
        library: Library,
        *,
        settings: AppSettings | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.library: Library = library
        self.settings: AppSettings = settings or AppSettings()
        self.current_model: Path | None = None
        self.undo_stack = QUndoStack(self)
        """Label edits (``gui/undo.py``); cleared when another library opens."""
        self.classes: list[ClassInfo] = []
        """The library's classes in display order, with label counts (refreshed in the background)."""
        self.stats: LibraryStats | None = None
        self.action_shortcuts: dict[str, str] = {}
        """Action id → shortcut, set by the main window (the class pane refuses clashing keys)."""
        self._workers: dict[Worker, str] = {}
        self._device = ""
        self._reader = LatestCall(parent=self)
        self._reader.finished.connect(self._on_reader_finished)
        self._reader.failed.connect(self._on_reader_failed)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        self.library_opened.connect(self.refresh)
        self.classes_changed.connect(self.refresh)
        self.images_added.connect(self.refresh)
        self.images_removed.connect(self.refresh)
        self.labels_changed.connect(self._on_self_labels_changed)

    # ------------------------------------------------------------------------------ library

    def set_library(self, library: Library) -> None:
        """Switch to another library: cancel running jobs, close the old one, tell every pane."""
        self.cancel_jobs()
        old = self.library
        self.library = library
        self.current_model = None
        self.undo_stack.clear()
        if library.path is not None:
            self.settings.add_recent_library(str(library.path))
        if old is not library:
            old.close()
        self.library_opened.emit()

    def class_at(self, position: int) -> ClassInfo | None:
        """The class at a 0-based display position (key 1 labels with position 0)."""
        return self.classes[position] if 0 <= position < len(self.classes) else None

    def class_by_id(self, class_id: int | None) -> ClassInfo | None:
        return next((c for c in self.classes if c.id == class_id), None)

    @Slot()
    def refresh(self) -> None:
        """Read the classes (with counts) and the statistics again, in the background."""
        self._refresh_timer.stop()
        library = self.library
        self._reader.call(lambda: (library.classes(), library.stats()))

    @property
    def refreshing(self) -> bool:
        return self._reader.busy or self._refresh_timer.isActive()

    @Slot(list)
    def _on_self_labels_changed(self, _ids: list) -> None:
        # Coalesce a burst of labels (holding a key down) into one read of the counts.
        self._refresh_timer.start()

    @Slot(object)
    def _on_reader_finished(self, result: object) -> None:
        classes, stats = result  # type: ignore[misc]
        self.classes = list(classes)
        self.stats = stats
        self.classes_loaded.emit(self.classes)
        self.stats_loaded.emit(stats)

    @Slot(str)
    def _on_reader_failed(self, reason: str) -> None:
        log.warning("reading the library's classes failed: %s", reason)
        self.status_message.emit(f"Cannot read the library: {reason}")

    def set_current_model(self, folder: str | Path | None) -> None:
        """Make a model folder the current one (``None``: no model)."""
        self.current_model = Path(folder) if folder is not None else None
        if folder is not None:
            self.model_changed.emit(str(folder))

    def model_folder(self) -> Path | None:
        """The current model, or the newest trained one when none is current yet."""
        return self.current_model or latest_model_folder(self.library)

    def show_images(self, query: ImageQuery) -> None:
        """Ask the browser to show these images and bring it to the front."""
        self.show_images_requested.emit(query)
        self.pane_requested.emit("browser")

    # --------------------------------------------------------------------------------- jobs

    def run_job(
        self,
        job_factory: Callable[[], Generator[Any, None, Any]],
        *,
        title: str,
    ) -> Worker:
        """Run a job generator on a worker thread; returns the (already started) worker.

        ``job_factory`` is called on the worker thread, so even building the job (which may
        import torch) stays off the GUI thread. Connect to the worker's ``event``, ``finished``,
        ``failed`` and ``cancelled`` signals with bound slots of GUI-thread objects. The context
        keeps the worker until it ends and cancels it when the app quits or the library changes.
        """
        from cnndesk.gui.worker import Worker

        worker = Worker(job_factory, parent=self, name=title)
        self._workers[worker] = title
        worker.event.connect(self._on_worker_event)
        worker.finished.connect(self._on_worker_finished)
        worker.failed.connect(self._on_worker_failed)
        worker.cancelled.connect(self._on_worker_cancelled)
        self.job_started.emit(title)
        worker.start()
        return worker

    @property
    def running_jobs(self) -> list[str]:
        """Titles of the jobs still running."""
        return list(self._workers.values())

    def cancel_jobs(self, *, wait_ms: int = 5000) -> None:
        """Cancel every running job and wait (bounded) for each to stop."""
        for worker in list(self._workers):
            worker.cancel()
        for worker in list(self._workers):
            worker.wait(wait_ms)

    @Slot(object)
    def _on_worker_event(self, event: object) -> None:
        title = self._workers.get(self.sender())  # type: ignore[call-overload]
        if title is not None:
            self.job_progressed.emit(title, event)
        device = getattr(event, "device", "")
        if isinstance(device, str) and device and device != self._device:
            self._device = device
            self.device_detected.emit(device)

    @Slot(object)
    def _on_worker_finished(self, _result: object) -> None:
        self._forget_worker(self.sender())

    @Slot(str, str)
    def _on_worker_failed(self, _message: str, _details: str) -> None:
        self._forget_worker(self.sender())

    @Slot()
    def _on_worker_cancelled(self) -> None:
        self._forget_worker(self.sender())

    def _forget_worker(self, worker: QObject | None) -> None:
        title = self._workers.pop(worker, None)  # type: ignore[call-overload]
        if title is not None:
            self.job_ended.emit(title)
