"""Model suggestions (:class:`SuggestionManager`): labels with source ``model``, and accepting them.

A suggestion never replaces a human label; accepting one turns it into a human label through
:meth:`.labels.LabelManager.set`, so it is undoable like any other labeling.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Engine, delete, insert

from cnndesk.domain import ImageQuery, ImageRecord, ImageView
from cnndesk.library.classes import ClassManager
from cnndesk.library.database import write_transaction
from cnndesk.library.images import ImageManager
from cnndesk.library.labels import LabelManager
from cnndesk.library.names import normal_class_name
from cnndesk.library.schema import LabelRow, utcnow
from cnndesk.library.sql import MODEL, chunks


class SuggestionManager:
    """Writes suggestions and reads the labeling queue; each public method is one transaction."""

    def __init__(
        self, engine: Engine, *, classes: ClassManager, labels: LabelManager, images: ImageManager
    ) -> None:
        self.engine = engine
        self.classes = classes
        self.labels = labels
        self.images = images

    def unlabeled_queue(self, order: str = "least_confident") -> list[ImageRecord]:
        """Unlabeled images in labeling order: least confident model suggestion first."""
        return self.images.query(ImageQuery(view=ImageView.UNLABELED, order=order))

    def store(self, rows: Iterable[tuple[int, str, float]]) -> int:
        """Store model suggestions ``(image id, class name, confidence)``; human labels stay.

        Classes the model knows but the library lacks are created. Returns how many were stored.
        """
        rows = [(i, normal_class_name(name), p) for i, name, p in rows]
        if not rows:
            return 0
        with write_transaction(self.engine) as c:
            classes = self.classes.ids_by_name(c)
            for _, name, _ in rows:
                if name not in classes:
                    classes[name] = self.classes.add_in(c, name).id
            for chunk in chunks([r[0] for r in rows]):
                c.execute(
                    delete(LabelRow).where(LabelRow.source == MODEL, LabelRow.image_id.in_(chunk))
                )
            now = utcnow()
            c.execute(
                insert(LabelRow),
                [
                    {
                        "image_id": i,
                        "source": MODEL,
                        "class_id": classes[name],
                        "confidence": float(p),
                        "time": now,
                    }
                    for i, name, p in rows
                ],
            )
        return len(rows)

    def accept(self, image_ids: Iterable[int]) -> dict[int, int | None]:
        """Turn the model's suggestions for these images into human labels (undoable)."""
        records = [
            r for r in self.images.by_id(list(image_ids)) if r.suggested_class_id is not None
        ]
        previous: dict[int, int | None] = {}
        by_class: dict[int, list[int]] = defaultdict(list)
        for record in records:
            by_class[record.suggested_class_id].append(record.id)  # type: ignore[index]
        for class_id, ids in by_class.items():
            previous.update(self.labels.set(ids, class_id))
        return previous
