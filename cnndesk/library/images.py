"""Reading the library's images (:class:`ImageManager`): filtered queries, counts, training sets.

:meth:`ImageManager.query` answers an :class:`~cnndesk.domain.ImageQuery` (the browser's views,
the CLI's filters) with fully described :class:`~cnndesk.domain.ImageRecord`\\ s: each carries
its human label and the model's suggestion, joined from ``labels`` by source.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, and_, func, select, update
from sqlalchemy.orm import aliased

from cnndesk.domain import (
    ImageQuery,
    ImageRecord,
    ImageStatus,
    ImageView,
    LibraryError,
    LibraryStats,
    Split,
    TrainingSample,
    TrainingSet,
)
from cnndesk.library.classes import ClassManager
from cnndesk.library.database import read_transaction, write_transaction
from cnndesk.library.schema import ImageRow, LabelRow
from cnndesk.library.sql import HUMAN, MODEL, chunks, escape_like


class ImageManager:
    """Queries over ``images`` joined with their labels; each public method is one transaction."""

    def __init__(self, engine: Engine, classes: ClassManager) -> None:
        self.engine = engine
        self.classes = classes

    def count(self) -> int:
        """Every image row, whatever its status."""
        with read_transaction(self.engine) as c:
            return int(c.execute(select(func.count()).select_from(ImageRow)).scalar() or 0)

    def get(self, image_id: int) -> ImageRecord:
        """One image; a :class:`LibraryError` if it is no longer in the library."""
        records = self.by_id([image_id])
        if not records:
            raise LibraryError(f"Image {image_id} is no longer in the library.")
        return records[0]

    def by_id(self, image_ids: Sequence[int]) -> list[ImageRecord]:
        """Records for the given ids, in the given order (unknown ids are left out)."""
        found: dict[int, ImageRecord] = {}
        for chunk in chunks(list(image_ids)):
            for record in self.query(ImageQuery(), ids=chunk):
                found[record.id] = record
        return [found[i] for i in image_ids if i in found]

    def find(self, path: str | Path) -> ImageRecord | None:
        """The image at ``path`` (made absolute), if the library holds one there."""
        absolute = str(Path(path).expanduser().absolute())
        with read_transaction(self.engine) as c:
            image_id = c.execute(select(ImageRow.id).where(ImageRow.path == absolute)).scalar()
        return self.get(image_id) if image_id is not None else None

    def query(
        self, query: ImageQuery | None = None, *, ids: Sequence[int] | None = None
    ) -> list[ImageRecord]:
        """The images matching ``query`` (and among ``ids``, if given), in the query's order."""
        query = query or ImageQuery()
        statement = _statement(query, ids)
        with read_transaction(self.engine) as c:
            records = [_record(row) for row in c.execute(statement).all()]
        if query.search:  # the SQL matched the whole path; keep file-name matches only
            needle = query.search.casefold()
            records = [r for r in records if needle in r.name.casefold()]
        return records

    def stats(self, *, predicted: int) -> LibraryStats:
        """Counts of readable, unreadable, missing, unlabeled and changed images, per split."""
        with read_transaction(self.engine) as c:
            by_status = dict(
                c.execute(select(ImageRow.status, func.count()).group_by(ImageRow.status)).all()
            )
            ok = ImageRow.status == ImageStatus.OK.value
            labeled = c.execute(
                select(func.count())
                .select_from(LabelRow)
                .join(ImageRow, ImageRow.id == LabelRow.image_id)
                .where(LabelRow.source == HUMAN, ok)
            ).scalar()
            splits = dict(
                c.execute(
                    select(ImageRow.split, func.count()).where(ok).group_by(ImageRow.split)
                ).all()
            )
            changed = c.execute(
                select(func.count()).select_from(ImageRow).where(ok, ImageRow.changed.is_(True))
            ).scalar()
        readable = int(by_status.get(ImageStatus.OK.value, 0))
        return LibraryStats(
            images=readable,
            unreadable=int(by_status.get(ImageStatus.UNREADABLE.value, 0)),
            missing=int(by_status.get(ImageStatus.MISSING.value, 0)),
            unlabeled=readable - int(labeled or 0),
            classes={info.name: info.count for info in self.classes.all()},
            predicted=predicted,
            splits={s.value: int(splits.get(s.value, 0)) for s in Split},
            changed=int(changed or 0),
        )

    def training_set(self) -> TrainingSet:
        """Every readable human-labeled image, split, for a training run; and the readable
        unlabeled images (``label`` -1), which the run predicts without training on them."""
        classes = [c for c in self.classes.all() if c.count > 0]
        index = {c.id: i for i, c in enumerate(classes)}
        parts: dict[Split, list[TrainingSample]] = {s: [] for s in Split}
        with read_transaction(self.engine) as c:
            rows = c.execute(
                select(
                    ImageRow.id, ImageRow.path, ImageRow.sha256, ImageRow.split, LabelRow.class_id
                )
                .join(LabelRow, and_(LabelRow.image_id == ImageRow.id, LabelRow.source == HUMAN))
                .where(ImageRow.status == ImageStatus.OK.value)
                .order_by(ImageRow.id)
            ).all()
            human = aliased(LabelRow)
            unlabeled = c.execute(
                select(ImageRow.id, ImageRow.path, ImageRow.sha256)
                .outerjoin(human, and_(human.image_id == ImageRow.id, human.source == HUMAN))
                .where(human.class_id.is_(None), ImageRow.status == ImageStatus.OK.value)
                .order_by(ImageRow.id)
            ).all()
        for image_id, path, sha, split, class_id in rows:
            parts[Split(split)].append(
                TrainingSample(path=path, key=sha, label=index[class_id], image_id=image_id)
            )
        return TrainingSet(
            classes=tuple(c.name for c in classes),
            train=tuple(parts[Split.TRAIN]),
            val=tuple(parts[Split.VAL]),
            test=tuple(parts[Split.TEST]),
            unlabeled=tuple(
                TrainingSample(path=path, key=sha, label=-1, image_id=image_id)
                for image_id, path, sha in unlabeled
            ),
        )

    def mark_unreadable(self, image_ids: Iterable[int]) -> None:
        """Remember that these images could not be decoded (they leave training and counts)."""
        with write_transaction(self.engine) as c:
            for chunk in chunks(list(image_ids)):
                c.execute(
                    update(ImageRow)
                    .where(ImageRow.id.in_(chunk))
                    .values(status=ImageStatus.UNREADABLE.value)
                )


def _statement(query: ImageQuery, ids: Sequence[int] | None) -> Select[Any]:
    """The SELECT of one image query: image columns, human label, model suggestion."""
    human = aliased(LabelRow)
    model = aliased(LabelRow)
    statement = (
        select(
            ImageRow.id,
            ImageRow.path,
            ImageRow.sha256,
            ImageRow.size,
            ImageRow.width,
            ImageRow.height,
            ImageRow.format,
            ImageRow.status,
            ImageRow.split,
            human.class_id,
            model.class_id,
            model.confidence,
            ImageRow.changed,
        )
        .outerjoin(human, and_(human.image_id == ImageRow.id, human.source == HUMAN))
        .outerjoin(model, and_(model.image_id == ImageRow.id, model.source == MODEL))
    )
    if ids is not None:
        statement = statement.where(ImageRow.id.in_(list(ids)))
    if query.image_ids is not None:
        statement = statement.where(ImageRow.id.in_(list(query.image_ids)))
    statement = _filter_view(statement, query, human, model)
    if query.search:
        pattern = f"%{escape_like(query.search)}%"
        statement = statement.where(ImageRow.path.ilike(pattern, escape="\\"))
    if query.split is not None:
        statement = statement.where(ImageRow.split == query.split.value)
    if query.order == "least_confident":
        statement = statement.order_by(model.confidence.is_(None), model.confidence, ImageRow.id)
    elif query.order == "added":
        statement = statement.order_by(ImageRow.id)
    else:
        statement = statement.order_by(ImageRow.path)
    if query.limit is not None:
        statement = statement.limit(query.limit)
    return statement


def _filter_view(statement: Select[Any], query: ImageQuery, human: Any, model: Any) -> Select[Any]:
    """``statement`` narrowed to the query's view (``human``/``model``: the two label joins)."""
    view = query.view
    if view is ImageView.UNLABELED:
        return statement.where(human.class_id.is_(None), ImageRow.status == ImageStatus.OK.value)
    if view is ImageView.CLASS:
        return statement.where(human.class_id == query.class_id)
    if view is ImageView.PREDICTED:
        return statement.where(model.class_id == query.class_id)
    if view is ImageView.MISCLASSIFIED:
        statement = statement.where(
            human.class_id.is_not(None),
            model.class_id.is_not(None),
            human.class_id != model.class_id,
        )
        if query.class_id is not None:
            statement = statement.where(human.class_id == query.class_id)
        return statement
    if view is ImageView.LOW_CONFIDENCE:
        return statement.where(model.confidence < query.confidence_below)
    if view is ImageView.CHANGED:
        return statement.where(ImageRow.changed.is_(True))
    return statement


def _record(r: Any) -> ImageRecord:
    """One row of :func:`_statement` as a record."""
    return ImageRecord(
        id=r[0],
        path=r[1],
        sha256=r[2],
        size=r[3],
        width=r[4],
        height=r[5],
        format=r[6],
        status=ImageStatus(r[7]),
        split=Split(r[8]),
        class_id=r[9],
        suggested_class_id=r[10],
        suggestion_confidence=r[11],
        changed=bool(r[12]),
    )
