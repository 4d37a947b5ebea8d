"""Label suggestions: the model guesses a label for every unlabeled image, for the user to accept.

:class:`SuggestLabelsButton` belongs to the labeling side: any pane can host it (the training pane
shows it under its summary once a model exists and images are unlabeled). Pressing it runs
:func:`cnndesk.jobs.suggest_job` on the worker with the model the panes show
(``AppContext.model_folder``); afterwards it announces the changed images (``labels_changed``) and
asks the browser for the unlabeled images, least confident first, where Enter accepts a guess.
What it has to say goes out through its ``message`` signal, for the host to show.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QPushButton, QWidget

from cnndesk.domain import ImageQuery, ImageView

if TYPE_CHECKING:
    from cnndesk.gui.context import AppContext
    from cnndesk.gui.worker import Worker


class SuggestLabelsButton(QPushButton):
    """ "Suggest labels for N unlabeled images"; hidden without a model or unlabeled images.

    Signal ``message(str, bool, str)``: text to show, whether it is an error, and its details.
    """

    message = Signal(str, bool, str)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.worker: Worker | None = None
        self._unlabeled = 0
        self._blocked = False
        self.setToolTip(
            "The current model guesses a label for every unlabeled image; the library then shows"
            " them least confident first, and Enter accepts a guess"
        )
        self.clicked.connect(self._on_clicked)
        self.hide()

    def set_unlabeled(self, unlabeled: int) -> None:
        """Offer suggestions for this many unlabeled images (when a model exists)."""
        self._unlabeled = unlabeled
        self.setText(f"Suggest labels for {unlabeled:,} unlabeled images")
        self.setVisible(self.context.model_folder() is not None and unlabeled > 0)
        self._update_enabled()

    def set_blocked(self, blocked: bool) -> None:
        """Disable the button while the host runs something that must not overlap (training)."""
        self._blocked = blocked
        self._update_enabled()

    def _update_enabled(self) -> None:
        self.setEnabled(not self._blocked and self.worker is None)

    def suggest(self) -> Worker | None:
        """Let the current model suggest a label for every unlabeled image (``suggest_job``)."""
        model = self.context.model_folder()
        if model is None or self.worker is not None:
            return None
        library = self.context.library

        def job() -> Generator[Any, None, tuple[Any, list[int]]]:
            from cnndesk.jobs import suggest_job

            ids = [r.id for r in library.unlabeled_images()]
            result = yield from suggest_job(library, model)
            return result, ids

        self.worker = self.context.run_job(job, title="Suggesting labels")
        self.worker.finished.connect(self._on_worker_finished)
        self.worker.failed.connect(self._on_worker_failed)
        self.worker.cancelled.connect(self._on_worker_cancelled)
        self.setEnabled(False)
        self.setText("Suggesting labels…")
        return self.worker

    @Slot()
    def _on_clicked(self) -> None:
        self.suggest()

    @Slot(object)
    def _on_worker_finished(self, answer: object) -> None:
        self.worker = None
        result, ids = answer  # type: ignore[misc]
        suggested = getattr(result, "suggested", 0)
        text = (
            f"The model suggested labels for {suggested:,} images. The library shows them least"
            " confident first: Enter accepts a suggestion, a class key gives another label."
        )
        self.message.emit(text, False, "")
        self.context.status_message.emit(text.split(".")[0] + ".")
        self.context.labels_changed.emit(list(ids))
        self.context.show_images(
            ImageQuery(
                view=ImageView.UNLABELED,
                order="least_confident",
                title="Unlabeled, least confident first",
            )
        )
        self.set_unlabeled(self._unlabeled)

    @Slot(str, str)
    def _on_worker_failed(self, message: str, details: str) -> None:
        self.worker = None
        self.message.emit(f"Suggesting labels failed: {message}", True, details)
        self.set_unlabeled(self._unlabeled)

    @Slot()
    def _on_worker_cancelled(self) -> None:
        self.worker = None
        self.set_unlabeled(self._unlabeled)
