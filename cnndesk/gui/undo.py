"""Undoable edits: labels (``Library.set_labels`` / ``restore_labels``), splits set by hand
(``Library.set_split`` / ``restore_splits``: each image's split and who chose it come back),
removing images from the library and importing them (``library.removal``: a removal keeps
everything needed to put the images back with the same ids, labels, kept-label reviews and
predictions; undoing an import also removes the classes it created that nothing uses, and redo
brings them back). What cannot come back (a label of a class deleted meanwhile and not made
again: a class re-created with the same name gets its labels back) or a refused write is said in
the status bar. An undo the library refused keeps what it would put back: Redo then leaves the
images out, and the next Undo tries again with the same labels.

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

from cnndesk.domain import CnndeskError, Split
from cnndesk.gui.context import AppContext
from cnndesk.library.removal import RemovedImages, remove_images_undoably, restore_images

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


class SplitCommand(QUndoCommand):
    """Put images into a split by hand; undo gives each its earlier split and who chose it."""

    def __init__(
        self,
        context: AppContext,
        image_ids: list[int],
        split: Split,
        *,
        text: str,
        errors: list[str] | None = None,
    ) -> None:
        super().__init__(text)
        self._context = context
        self._ids = list(dict.fromkeys(image_ids))
        self._split = split
        self._previous: dict[int, tuple[Split, str]] = {}
        self._errors = errors if errors is not None else []
        """Where a refused edit says why (the stack deletes an obsolete command at once)."""

    def redo(self) -> None:
        try:
            self._previous = self._context.library.set_split(self._ids, self._split)
        except CnndeskError as exc:
            self._errors.append(str(exc))
            self.setObsolete(True)
            self._context.status_message.emit(f"Split not changed: {exc}")
            return
        self._context.labels_changed.emit(list(self._previous))  # views read the records again

    def undo(self) -> None:
        try:
            self._context.library.restore_splits(self._previous)
        except CnndeskError as exc:
            self._context.status_message.emit(f"Split not put back: {exc}")
            return
        self._context.labels_changed.emit(list(self._previous))


def push_split(
    context: AppContext, image_ids: list[int], split: Split, *, text: str | None = None
) -> bool:
    """Put images into a split through the undo stack; ``False`` (and a status message) if refused.

    ``text`` names the step in Edit → Undo (default: "Set split of N images to SPLIT").
    """
    if not image_ids:
        return False
    n = len(set(image_ids))
    text = text or f"Set split of {n} image{'s' if n != 1 else ''} to {split.value}"
    errors: list[str] = []
    context.undo_stack.push(SplitCommand(context, image_ids, split, text=text, errors=errors))
    return not errors


class _ImagesCommand(QUndoCommand):
    """Removes images in one direction and puts them back in the other."""

    def __init__(self, context: AppContext, image_ids: list[int], *, text: str) -> None:
        super().__init__(text)
        self._context = context
        self._ids = list(dict.fromkeys(image_ids))
        self._removed: RemovedImages | None = None
        self._class_ids: list[int] = []
        """Classes made with these images (an import's): removed with them while unused."""

    def _remove(self) -> None:
        if self._removed is not None:
            # An undo was refused: the images are still out, and ``_removed`` is all there is
            # of their labels. Say they are out; a later undo tries to put the same back.
            self._context.images_removed.emit(self._removed.ids)
            return
        try:
            self._removed = remove_images_undoably(
                self._context.library, self._ids, classes=self._class_ids
            )
        except CnndeskError as exc:
            self._context.status_message.emit(f"Not removed: {exc}")
            self.setObsolete(True)
            return
        self._class_ids = []  # a class that stayed was used: it is the user's from now on
        self._context.images_removed.emit(self._removed.ids)
        if self._removed.classes:
            self._context.classes_changed.emit()

    def _restore(self) -> None:
        if self._removed is None:
            return
        try:
            back = restore_images(self._context.library, self._removed)
        except CnndeskError as exc:
            self._context.status_message.emit(f"Not put back: {exc}")
            return
        self._removed = None
        self._ids = back.ids  # redo removes what came back, never an image holding a held id
        self._class_ids = back.classes
        if back.classes:
            self._context.classes_changed.emit()
        self._context.images_added.emit()
        self._context.labels_changed.emit(back.ids + back.relabeled)
        if back.lost or back.relabeled:  # the library changed meanwhile: say what happened
            n, k = len(back.ids), len(back.relabeled)
            said = [f"Put back {n:,} image{'s' if n != 1 else ''}"] if n or not k else []
            if k:  # imported again since the removal: the same files, now labeled as then
                again, back_ = (
                    ("image", "has its label") if k == 1 else ("images", "have their labels")
                )
                said.append(f"{k:,} {again} imported again since {back_} back")
            self._context.status_message.emit(f"{'; '.join(said + list(back.lost))}.")


class RemoveImagesCommand(_ImagesCommand):
    """Forget images (their files stay); undo puts them back with their labels."""

    def redo(self) -> None:
        self._remove()

    def undo(self) -> None:
        self._restore()


class ImportCommand(_ImagesCommand):
    """An import that already happened: undo removes the images it added, redo adds them back.

    ``class_ids``: the classes the import created; undo removes those no label uses any more
    (a class the user has labeled with since stays), and redo brings them back.
    """

    def __init__(
        self,
        context: AppContext,
        image_ids: list[int],
        *,
        text: str,
        class_ids: list[int] | None = None,
    ) -> None:
        super().__init__(context, image_ids, text=text)
        self._class_ids = list(class_ids or [])
        self._first = True

    def redo(self) -> None:
        if self._first:  # QUndoStack.push() calls redo(): the import itself did the work
            self._first = False
            return
        self._restore()

    def undo(self) -> None:
        self._remove()


def push_removal(context: AppContext, image_ids: list[int]) -> bool:
    """Remove images from the library through the undo stack (Ctrl+Z puts them back)."""
    if not image_ids:
        return False
    n = len(set(image_ids))
    context.undo_stack.push(
        RemoveImagesCommand(context, image_ids, text=f"Remove {n} image{'s' if n != 1 else ''}")
    )
    return True
