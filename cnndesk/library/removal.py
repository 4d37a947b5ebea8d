"""Removing images from a library so that the removal can be undone.

:func:`remove_images_undoably` forgets images (their files stay where they are) and returns a
:class:`RemovedImages` holding everything the library knew about them (the image rows, the files
the import had read, the human labels and model suggestions, the stored predictions);
:func:`restore_images` puts it all back with the same ids, so an undo is exact. Both are one
transaction each. Nothing here reads image files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, or_, select

from cnndesk.library.database import write_transaction
from cnndesk.library.schema import ClassRow, ImageRow, KnownFile, LabelRow, PredictionRow, RunRow
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

    @property
    def ids(self) -> list[int]:
        return [int(row["id"]) for row in self.images]

    def __len__(self) -> int:
        return len(self.images)


def remove_images_undoably(library: Library, image_ids: Iterable[int]) -> RemovedImages:
    """Forget these images (their files stay); what :func:`restore_images` needs to undo it."""
    ids = list(dict.fromkeys(int(i) for i in image_ids))
    with write_transaction(library.engine) as c:
        images = _rows(c, ImageRow.__table__, ImageRow.id, ids)
        paths = [row["path"] for row in images]
        removed = RemovedImages(
            images=images,
            known_files=_rows(c, KnownFile.__table__, KnownFile.path, paths),
            labels=_rows(c, LabelRow.__table__, LabelRow.image_id, ids),
            predictions=_rows(c, PredictionRow.__table__, PredictionRow.image_id, ids),
        )
        for chunk in chunks(ids):
            c.execute(delete(PredictionRow).where(PredictionRow.image_id.in_(chunk)))
            c.execute(delete(LabelRow).where(LabelRow.image_id.in_(chunk)))
            c.execute(delete(ImageRow).where(ImageRow.id.in_(chunk)))
        for chunk in chunks(paths):
            c.execute(delete(KnownFile).where(KnownFile.path.in_(chunk)))
    return removed


def restore_images(library: Library, removed: RemovedImages) -> list[int]:
    """Put removed images back with their ids, labels and predictions; the ids restored.

    An image whose file was imported again meanwhile (same path or same content) stays as it is
    now; a label of a class deleted meanwhile is dropped.
    """
    if not removed.images:
        return []
    with write_transaction(library.engine) as c:
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
        images = [
            row
            for row in removed.images
            if row["id"] not in taken_ids
            and row["path"] not in taken_paths
            and row["sha256"] not in taken_hashes
        ]
        if not images:
            return []
        back = {int(row["id"]) for row in images}
        back_paths = {row["path"] for row in images}
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
        labels = [r for r in removed.labels if r["image_id"] in back and r["class_id"] in classes]
        if labels:
            c.execute(insert(LabelRow), labels)
        predictions = [
            {**r, "run_id": r["run_id"] if r["run_id"] in runs else None}
            for r in removed.predictions
            if r["image_id"] in back
        ]
        if predictions:
            c.execute(insert(PredictionRow), predictions)
    return sorted(back)
