"""The app's shared state: the open library, settings, the current model, and the events panes share.

Every pane takes an :class:`AppContext` in its constructor. Panes never talk to each other
directly: one pane changes the library and emits a past-tense signal here (``labels_changed``,
``classes_changed`` ...), and each other pane decides whether that concerns it (Anki's "what
changed" hook). Long work goes through :meth:`AppContext.run_job`, which runs a job generator on
the one worker adapter (``gui/worker.py``) and remembers it so quitting can cancel it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

from cnndesk.domain import ImageQuery
from cnndesk.gui.settings import AppSettings

if TYPE_CHECKING:
    from cnndesk.gui.worker import Worker
    from cnndesk.library import Library

log = logging.getLogger(__name__)


class AppContext(QObject):
    """What every pane shares. Lives in the GUI thread; emit its signals from the GUI thread only.

    Signals (past-tense events):

    - ``library_opened()``: :attr:`library` is now another library (panes reload everything).
    - ``labels_changed(list)``: human labels (or suggestions) of these image ids changed.
    - ``classes_changed()``: a class was added, renamed, recoloured, re-keyed, moved or removed.
    - ``images_added()``: an import added images.
    - ``model_changed(str)``: a new model folder is the current one (after training, say).
    - ``show_images_requested(object)``: an :class:`~cnndesk.domain.ImageQuery` the browser
      should show (e.g. a confusion-matrix cell of the evaluation asks for its images).
    - ``pane_requested(str)``: bring a pane (by its id in ``main_window.PANES``) to the front.
    - ``status_message(str)``: a short message for the status bar.
    - ``job_started(str)`` / ``job_ended(str)``: a job with this title began / ended (any outcome).
    - ``device_detected(str)``: the compute device, once torch has been loaded by some job.
    """

    library_opened = Signal()
    labels_changed = Signal(list)
    classes_changed = Signal()
    images_added = Signal()
    model_changed = Signal(str)
    show_images_requested = Signal(object)
    pane_requested = Signal(str)
    status_message = Signal(str)
    job_started = Signal(str)
    job_ended = Signal(str)
    device_detected = Signal(str)

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
        self._workers: dict[Worker, str] = {}

    # ------------------------------------------------------------------------------ library

    def set_library(self, library: Library) -> None:
        """Switch to another library: cancel running jobs, close the old one, tell every pane."""
        self.cancel_jobs()
        old = self.library
        self.library = library
        self.current_model = None
        if library.path is not None:
            self.settings.add_recent_library(str(library.path))
        if old is not library:
            old.close()
        self.library_opened.emit()

    def set_current_model(self, folder: str | Path | None) -> None:
        """Make a model folder the current one (``None``: no model)."""
        self.current_model = Path(folder) if folder is not None else None
        if folder is not None:
            self.model_changed.emit(str(folder))

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

        worker = Worker(job_factory, parent=self)
        self._workers[worker] = title
        worker.finished.connect(self._on_worker_ended)
        worker.failed.connect(self._on_worker_ended)
        worker.cancelled.connect(self._on_worker_ended)
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
            wait = getattr(worker, "wait", None)
            if wait is not None:
                wait(wait_ms)
        self._workers.clear()

    @Slot()
    @Slot(object)
    def _on_worker_ended(self, *_: object) -> None:
        worker = self.sender()
        title = self._workers.pop(worker, None)  # type: ignore[call-overload]
        if title is not None:
            self.job_ended.emit(title)
