"""Undoable label edits: ``QUndoCommand`` s over ``Library.set_labels`` / ``restore_labels``.

Each command is one committed transaction in each direction (a crash loses nothing the user saw
applied), and tells the app what changed through the context (``labels_set`` then
``labels_changed``). Label writes are small single transactions (a few milliseconds in WAL mode)
and run on the GUI thread on purpose: undo order and "jump to the next unlabeled image" then
never race a background write.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from PySide6.QtGui import QUndoCommand

from cnndesk.domain import CnndeskError
from cnndesk.gui.context import AppContext

log = logging.getLogger(__name__)


class LabelCommand(QUndoCommand):
    """Give images labels: ``labels`` maps image id → class id (``None`` removes the label)."""

    def __init__(
        self,
        context: AppContext,
        labels: dict[int, int | None],
        *,
        text: str,
        errors: list[str] | None = None,
    ) -> None:
        super().__init__(text)
        self._context = context
        self._labels = dict(labels)
        self._previous: dict[int, int | None] = {}
        self._errors = errors if errors is not None else []
        """Where a refused edit says why (the stack deletes an obsolete command at once)."""

    def redo(self) -> None:
        by_class: dict[int | None, list[int]] = defaultdict(list)
        for image_id, class_id in self._labels.items():
            by_class[class_id].append(image_id)
        previous: dict[int, int | None] = {}
        library = self._context.library
        try:
            for class_id, ids in by_class.items():
                previous.update(library.set_labels(ids, class_id))
        except CnndeskError as exc:
            # Put back what this command already changed, then make the command a no-op.
            if previous:
                library.restore_labels(previous)
            self._errors.append(str(exc))
            self.setObsolete(True)
            self._context.status_message.emit(f"Not labeled: {exc}")
            return
        self._previous = previous
        self._announce(self._labels)

    def undo(self) -> None:
        if not self._previous:
            return
        self._context.library.restore_labels(self._previous)
        self._announce(self._previous)
        self._context.labels_reverted.emit(list(self._previous))

    def _announce(self, labels: dict[int, int | None]) -> None:
        self._context.labels_set.emit(dict(labels))
        self._context.labels_changed.emit(list(labels))


def push_labels(context: AppContext, labels: dict[int, int | None], *, text: str) -> bool:
    """Apply a label edit through the undo stack; ``False`` (and a status message) if refused."""
    if not labels:
        return False
    errors: list[str] = []
    context.undo_stack.push(LabelCommand(context, labels, text=text, errors=errors))
    return not errors
