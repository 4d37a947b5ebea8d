"""Removing images from a library so that the removal can be undone.

:func:`remove_images_undoably` forgets images (their files stay where they are) and returns a
:class:`RemovedImages` holding everything the library knew about them (the image rows, the files
the import had read, the human labels and model suggestions, the stored predictions, and the
classes an undone import had created that no label uses any more);
:func:`restore_images` puts it all back with the same ids, so an undo is exact. Both are one
transaction each. Nothing here reads image files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, or_, select

from cnndesk.library.database import write_transaction
from cnndesk.library.schema import (
    ClassRow,
    ImageRow,
    KnownFile,
    LabelRow,
    PredictionRow,
    ReviewRow,
    RunRow,
)
from cnndesk.library.sql import chunks

if TYPE_CHECKING:
    from cnndesk.library.library import Library


def _rows(connection: Any, table: Any, column: Any, keys: list[Any]) -> tuple[dict, ...]:
    found: list[dict] = []
    for chunk in chunks(keys):
        result = connection.execute(select(table).where(column.in_(chunk)))
        found += [dict(row._mapping) for row in result]
    return tuple(found)


@dataclass(frozen=True, slots=True)
class RemovedImages:
    """What the library knew about some removed images: plain rows, enough to put them back."""

    images: tuple[dict, ...]
    known_files: tuple[dict, ...]
    labels: tuple[dict, ...]
    predictions: tuple[dict, ...]
    classes: tuple[dict, ...] = ()
    """Class rows removed with the images (see ``classes`` of :func:`remove_images_undoably`)."""

    @property
    def ids(self) -> list[int]:
        return [int(row["id"]) for row in self.images]

    def __len__(self) -> int:
        return len(self.images)


def remove_images_undoably(
    library: Library, image_ids: Iterable[int], *, classes: Iterable[int] = ()
) -> RemovedImages:
    """Forget these images (their files stay); what :func:`restore_images` needs to undo it.

    ``classes``: ids of classes made together with the images (by the import being undone);
    each one that no label and no review uses once the images are gone is removed too.
    """
    ids = list(dict.fromkeys(int(i) for i in image_ids))
    with write_transaction(library.engine) as c:
        images = _rows(c, ImageRow.__table__, ImageRow.id, ids)
        paths = [row["path"] for row in images]
        known_files = _rows(c, KnownFile.__table__, KnownFile.path, paths)
        labels = _rows(c, LabelRow.__table__, LabelRow.image_id, ids)
        predictions = _rows(c, PredictionRow.__table__, PredictionRow.image_id, ids)
        for chunk in chunks(ids):
            c.execute(delete(PredictionRow).where(PredictionRow.image_id.in_(chunk)))
            c.execute(delete(LabelRow).where(LabelRow.image_id.in_(chunk)))
            c.execute(delete(ImageRow).where(ImageRow.id.in_(chunk)))
        for chunk in chunks(paths):
            c.execute(delete(KnownFile).where(KnownFile.path.in_(chunk)))
        unused = [i for i in dict.fromkeys(int(k) for k in classes) if not _class_used(c, i)]
        class_rows = _rows(c, ClassRow.__table__, ClassRow.id, unused)
        c.execute(delete(ClassRow).where(ClassRow.id.in_(unused)))
    return RemovedImages(images, known_files, labels, predictions, class_rows)


def _class_used(c: Any, class_id: int) -> bool:
    """Whether a label (human or suggested) or a kept-label review names this class."""
    return any(
        c.execute(select(table.class_id).where(table.class_id == class_id).limit(1)).first()
        for table in (LabelRow, ReviewRow)
    )


def _restore_classes(c: Any, rows: tuple[dict, ...]) -> tuple[dict[int, int], list[int]]:
    """Put removed classes back: (old id → id now, the ids created again).

    A class of the same name made meanwhile is used as it is; a taken id or key is not reused
    (the class gets a new id, no key); the name, colour and place in the order come back.
    """
    now: dict[int, int] = {}
    created: list[int] = []
    for row in rows:
        same = c.execute(select(ClassRow.id).where(ClassRow.name == row["name"])).scalar()
        if same is not None:
            now[row["id"]] = same
            continue
        values = dict(row)
        if c.execute(select(ClassRow.id).where(ClassRow.id == row["id"])).first():
            del values["id"]
        if (
            row["hotkey"]
            and c.execute(select(ClassRow.id).where(ClassRow.hotkey == row["hotkey"])).first()
        ):
            values["hotkey"] = None
        now[row["id"]] = c.execute(insert(ClassRow).values(**values)).inserted_primary_key[0]
        created.append(now[row["id"]])
    return now, created


@dataclass(frozen=True, slots=True)
class RestoredImages:
    """What :func:`restore_images` put back: image ids, and the ids of the classes made again."""

    ids: list[int]
    classes: list[int]


def _free_images(c: Any, removed: RemovedImages) -> list[dict]:
    """The removed image rows whose id, path and content no image in the library has now."""
    paths = [row["path"] for row in removed.images]
    hashes = [row["sha256"] for row in removed.images]
    taken_ids, taken_paths, taken_hashes = set(), set(), set()
    for p_chunk, h_chunk, i_chunk in zip(
        chunks(paths), chunks(hashes), chunks(removed.ids), strict=True
    ):
        for row in c.execute(
            select(ImageRow.id, ImageRow.path, ImageRow.sha256).where(
                or_(
                    ImageRow.path.in_(p_chunk),
                    ImageRow.sha256.in_(h_chunk),
                    ImageRow.id.in_(i_chunk),
                )
            )
        ):
            taken_ids.add(row.id)
            taken_paths.add(row.path)
            taken_hashes.add(row.sha256)
    return [
        row
        for row in removed.images
        if row["id"] not in taken_ids
        and row["path"] not in taken_paths
        and row["sha256"] not in taken_hashes
    ]


def restore_images(library: Library, removed: RemovedImages) -> RestoredImages:
    """Put removed images back with their ids, labels, predictions and removed classes.

    An image whose file was imported again meanwhile (same path or same content) stays as it is
    now; a label of a class deleted meanwhile is dropped; a removed class comes back only with
    an image (see :func:`_restore_classes`).
    """
    if not removed.images:
        return RestoredImages([], [])
    with write_transaction(library.engine) as c:
        images = _free_images(c, removed)
        if not images:
            return RestoredImages([], [])
        back = {int(row["id"]) for row in images}
        back_paths = {row["path"] for row in images}
        class_now, created = _restore_classes(c, removed.classes)
        classes = set(c.execute(select(ClassRow.id)).scalars())
        runs = set(c.execute(select(RunRow.id)).scalars())
        c.execute(insert(ImageRow), images)
        known = [
            row
            for row in removed.known_files
            if row["path"] in back_paths
            and c.execute(select(KnownFile.path).where(KnownFile.path == row["path"])).first()
            is None
        ]
        if known:
            c.execute(insert(KnownFile), known)
        labels = [
            {**r, "class_id": class_now.get(r["class_id"], r["class_id"])}
            for r in removed.labels
            if r["image_id"] in back
        ]
        labels = [r for r in labels if r["class_id"] in classes]
        if labels:
            c.execute(insert(LabelRow), labels)
        predictions = [
            {**r, "run_id": r["run_id"] if r["run_id"] in runs else None}
            for r in removed.predictions
            if r["image_id"] in back
        ]
        if predictions:
            c.execute(insert(PredictionRow), predictions)
    return RestoredImages(sorted(back), created)
