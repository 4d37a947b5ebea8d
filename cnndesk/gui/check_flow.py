"""File → Check Library (stat-based, ``cnndesk check``) and File → Verify Library Contents (every
file read and re-hashed, ``cnndesk check --verify``) on the worker; then say what changed in the
status bar and offer the images whose files changed."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QWidget

from cnndesk.domain import CheckResult
from cnndesk.gui.context import AppContext
from cnndesk.gui.error_dialog import show_error
from cnndesk.gui.status_bar import WindowStatus


def check_summary(result: CheckResult, *, verified: bool = False) -> str:
    """File → Check Library's status message: "Checked 398 images: 3 changed, 2 missing, 1
    readable again" (only the counts that are not zero). ``verified`` (Verify Library Contents)
    says what it rests on: "Verified 398 files byte by byte: 1 changed" (the files read)."""
    counts = (
        (result.changed, "changed"),
        (result.missing, "missing"),
        (result.unreadable, "unreadable"),
        (result.restored, "readable again"),
    )
    found = ", ".join(f"{n:,} {what}" for n, what in counts if n)
    if verified:
        noun = "file" if result.ok == 1 else "files"
        return f"Verified {result.ok:,} {noun} byte by byte: {found or 'none changed'}"
    noun = "image" if result.checked == 1 else "images"
    return f"Checked {result.checked:,} {noun}: {found or 'all readable, none changed'}"


class CheckLibraryFlow(QObject):
    """Runs the check job; ``reload_images`` is called when it is done (the shown records'
    statuses and "changed" marks are stale then). ``job_handled`` is emitted once a job's end
    (finished, cancelled or failed) has been dealt with, reported or not."""

    job_handled = Signal()

    def __init__(
        self,
        context: AppContext,
        *,
        status: WindowStatus,
        reload_images: Callable[[], None],
        parent_widget: QWidget,
    ) -> None:
        super().__init__(parent_widget)
        self._context = context
        self._status = status
        self._reload_images = reload_images
        self._parent_widget = parent_widget
        self._jobs: dict[QObject, tuple[bool, object]] = {}
        """Each running job's own settings (verify, the library it checks), by its worker."""

    def start(self, *, verify: bool = False) -> None:
        """Start checking the open library (the status bar shows the job's progress and its
        Cancel); ``verify`` reads and re-hashes every file instead of trusting size and mtime."""
        from cnndesk.jobs import check_job

        library = self._context.library
        title = "Verifying the library's contents" if verify else "Checking the library"
        worker = self._context.run_job(lambda: check_job(library, verify=verify), title=title)
        # Each job's own settings stay with its worker: a second check started meanwhile, or
        # another library opened, must not change what this one reports. The slots read them
        # through sender() (bound @Slot methods, as NOTES.md asks for worker signals).
        self._jobs[worker] = (verify, library)
        worker.finished.connect(self._on_worker_finished)
        worker.failed.connect(self._on_worker_failed)
        worker.cancelled.connect(self._on_worker_cancelled)
        self._worker = worker

    def _job_of_sender(self) -> tuple[bool, bool]:
        """(verify, whether its library is still the open one) of the job whose signal this is."""
        verify, library = self._jobs.pop(self.sender(), (False, None))
        return verify, library is self._context.library

    @Slot(object)
    def _on_worker_finished(self, result: object) -> None:
        verify, current = self._job_of_sender()
        if current:  # else: about a library that is no longer open
            if isinstance(result, CheckResult):
                self._context.status_message.emit(check_summary(result, verified=verify))
                # The offer goes with its message (hidden by the next message or the timeout).
                self._status.offer_changed_images(result.changed > 0)
            self._context.refresh()
            self._reload_images()
        self.job_handled.emit()

    @Slot()
    def _on_worker_cancelled(self) -> None:
        verify, current = self._job_of_sender()
        if current:  # else: cancelled because another library was opened; nothing to say
            # What was checked before the cancel is committed: show it.
            what = "Verification" if verify else "Check"
            self._context.status_message.emit(
                f"{what} cancelled; the files read so far are updated"
            )
            self._context.refresh()
            self._reload_images()
        self.job_handled.emit()

    @Slot(str, str)
    def _on_worker_failed(self, message: str, _details: str) -> None:
        _verify, current = self._job_of_sender()
        if current:
            show_error(self._parent_widget, "Cannot check the library", message)
        self.job_handled.emit()
