"""What models said, kept in the library: training runs, predictions, and label suggestions.

:class:`ModelResults` is the part of :class:`~cnndesk.library.Library` that stores the outcome of
``ml`` work (the library never imports ``ml``; the jobs hand the results over as plain values).
Suggestions are labels with source ``model``: they never replace a human label.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, update

from cnndesk.domain import ImageQuery, ImageRecord, ImageView, LabelSource, LibraryError, RunRecord
from cnndesk.library.database import is_read_only, read_transaction, write_transaction
from cnndesk.library.processes import current_owner, describe, owner_is_gone
from cnndesk.library.schema import (
    ClassRow,
    ImageRow,
    LabelRow,
    PredictionRow,
    ReviewRow,
    RunRow,
    utcnow,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

_MODEL = LabelSource.MODEL.value


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ModelResults:
    """Runs, predictions and suggestions (mixed into ``Library``, which supplies the rest)."""

    engine: Engine

    if TYPE_CHECKING:

        def images(self, query: ImageQuery | None = None) -> list[ImageRecord]: ...
        def images_by_id(self, image_ids: list[int]) -> list[ImageRecord]: ...
        def set_labels(
            self, image_ids: Iterable[int], class_id: int | None
        ) -> dict[int, int | None]: ...
        def _add_class(self, c: Connection, name: str) -> Any: ...

    # -------------------------------------------------------------------- model suggestions

    def unlabeled_images(self) -> list[ImageRecord]:
        return self.images(ImageQuery(view=ImageView.UNLABELED))

    def unlabeled_queue(self, order: str = "least_confident") -> list[ImageRecord]:
        """Unlabeled images in labeling order: least confident model suggestion first."""
        return self.images(ImageQuery(view=ImageView.UNLABELED, order=order))

    def set_suggestions(self, rows: Iterable[tuple[int, str, float]]) -> int:
        """Store model suggestions ``(image id, class name, confidence)``; human labels stay.

        Classes the model knows but the library lacks are created. Returns how many were stored.
        """
        rows = list(rows)
        if not rows:
            return 0
        with write_transaction(self.engine) as c:
            classes = {name: cid for name, cid in c.execute(select(ClassRow.name, ClassRow.id))}
            for _, name, _ in rows:
                if name not in classes:
                    classes[name] = self._add_class(c, name).id
            ids = [r[0] for r in rows]
            for chunk in _chunks(ids):
                c.execute(
                    delete(LabelRow).where(LabelRow.source == _MODEL, LabelRow.image_id.in_(chunk))
                )
            now = utcnow()
            c.execute(
                insert(LabelRow),
                [
                    {
                        "image_id": i,
                        "source": _MODEL,
                        "class_id": classes[name],
                        "confidence": float(p),
                        "time": now,
                    }
                    for i, name, p in rows
                ],
            )
        return len(rows)

    def clear_suggestions(self) -> None:
        with write_transaction(self.engine) as c:
            c.execute(delete(LabelRow).where(LabelRow.source == _MODEL))

    def accept_suggestions(self, image_ids: Iterable[int]) -> dict[int, int | None]:
        """Turn the model's suggestions for these images into human labels (undoable)."""
        records = [
            r for r in self.images_by_id(list(image_ids)) if r.suggested_class_id is not None
        ]
        previous: dict[int, int | None] = {}
        by_class: dict[int, list[int]] = defaultdict(list)
        for record in records:
            by_class[record.suggested_class_id].append(record.id)  # type: ignore[index]
        for class_id, ids in by_class.items():
            previous.update(self.set_labels(ids, class_id))
        return previous

    # ------------------------------------------------------------------- audit: reviewed labels

    def keep_labels(self, image_ids: Iterable[int]) -> int:
        """Remember "reviewed — keep label" for these images' current human labels.

        The audit then stops flagging an image's label while it stays the one kept; a relabel
        (or a removed label) makes the flag possible again. Returns how many were recorded.
        """
        ids = list(dict.fromkeys(image_ids))
        rows = []
        with write_transaction(self.engine) as c:
            for chunk in _chunks(ids):
                rows += c.execute(
                    select(LabelRow.image_id, LabelRow.class_id).where(
                        LabelRow.source == LabelSource.HUMAN.value, LabelRow.image_id.in_(chunk)
                    )
                ).all()
                c.execute(
                    delete(ReviewRow).where(
                        ReviewRow.kind == "label", ReviewRow.image_id.in_(chunk)
                    )
                )
            if rows:
                now = utcnow()
                c.execute(
                    insert(ReviewRow),
                    [{"image_id": i, "kind": "label", "class_id": k, "time": now} for i, k in rows],
                )
        return len(rows)

    def kept_labels(self) -> dict[int, int]:
        """Image id → the label the user kept after the audit flagged it (still that label)."""
        with read_transaction(self.engine) as c:
            rows = c.execute(
                select(ReviewRow.image_id, ReviewRow.class_id)
                .join(
                    LabelRow,
                    (LabelRow.image_id == ReviewRow.image_id)
                    & (LabelRow.source == LabelSource.HUMAN.value)
                    & (LabelRow.class_id == ReviewRow.class_id),
                )
                .where(ReviewRow.kind == "label")
            ).all()
        return {int(i): int(k) for i, k in rows}

    # ------------------------------------------------------------------------- runs and preds

    def create_run(
        self, config: dict[str, Any], *, dataset: list[dict[str, Any]] | None = None
    ) -> int:
        """Record a run as ``running``, owned by this process (see :mod:`.processes`)."""
        with write_transaction(self.engine) as c:
            return int(
                c.execute(
                    insert(RunRow).values(
                        config=config,
                        dataset=dataset or [],
                        status="running",
                        created=utcnow(),
                        metrics={"process": current_owner()},
                    )
                ).inserted_primary_key[0]
            )

    def mark_interrupted_runs(self) -> list[int]:
        """Mark ``running`` runs whose process is gone (killed, crashed) as ``interrupted``.

        Runs of live processes, of other hosts, and runs recorded without an owner are left
        alone. Returns the ids marked. Called when the library opens and when runs are listed.
        """
        stale = self._stale_runs()
        if not stale:
            return []
        with write_transaction(self.engine) as c:
            for run_id, metrics in stale.items():
                owner = metrics.get("process")
                c.execute(
                    update(RunRow)
                    .where(RunRow.id == run_id, RunRow.status == "running")
                    .values(
                        status="interrupted",
                        finished=utcnow(),
                        metrics={
                            **metrics,
                            "interrupted": f"{describe(owner)} ended before the run finished",
                        },
                    )
                )
        return list(stale)

    def _stale_runs(self) -> dict[int, dict[str, Any]]:
        with read_transaction(self.engine) as c:
            rows = c.execute(
                select(RunRow.id, RunRow.metrics).where(RunRow.status == "running")
            ).all()
        return {
            run_id: dict(metrics or {})
            for run_id, metrics in rows
            if owner_is_gone((metrics or {}).get("process"))
        }

    def finish_run(
        self, run_id: int, *, status: str, metrics: dict[str, Any], model_path: str | None
    ) -> None:
        with write_transaction(self.engine) as c:
            c.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .values(status=status, metrics=metrics, model_path=model_path, finished=utcnow())
            )

    def runs(self) -> list[RunRecord]:
        """Every run, oldest first; a run whose process died shows as ``interrupted``."""
        if is_read_only(self.engine):
            stale = set(self._stale_runs())  # reported, not stored: nothing can be written
        else:
            self.mark_interrupted_runs()
            stale = set()
        with read_transaction(self.engine) as c:
            rows = c.execute(select(*RunRow.__table__.c).order_by(RunRow.id)).all()
        records = [_run_record(row) for row in rows]
        return [replace(r, status="interrupted") if r.id in stale else r for r in records]

    def run(self, run_id: int) -> RunRecord:
        with read_transaction(self.engine) as c:
            row = c.execute(select(*RunRow.__table__.c).where(RunRow.id == run_id)).first()
            if row is None:
                raise LibraryError(f"There is no run {run_id}.")
            return _run_record(row)

    def store_predictions(
        self,
        *,
        model_path: str,
        run_id: int | None,
        rows: Iterable[dict[str, Any]],
    ) -> int:
        """Store what a model said about images.

        Each row: ``image_id``, ``class`` (top class), ``confidence``, ``probabilities``
        (name → p), and optionally ``true_class`` and ``loss`` (evaluation).
        """
        rows = list(rows)
        with write_transaction(self.engine) as c:
            for chunk in _chunks([r["image_id"] for r in rows]):
                c.execute(
                    delete(PredictionRow).where(
                        PredictionRow.model_path == model_path, PredictionRow.image_id.in_(chunk)
                    )
                )
            if rows:
                now = utcnow()
                c.execute(
                    insert(PredictionRow),
                    [
                        {
                            "run_id": run_id,
                            "model_path": model_path,
                            "image_id": r["image_id"],
                            "class_name": r["class"],
                            "confidence": float(r["confidence"]),
                            "probabilities": r.get("probabilities", {}),
                            "true_class": r.get("true_class"),
                            "loss": r.get("loss"),
                            "created": now,
                        }
                        for r in rows
                    ],
                )
        return len(rows)

    def current_model_path(self) -> str | None:
        """The newest run's model folder: the model the library's filters and counts show."""
        with read_transaction(self.engine) as c:
            return c.execute(
                select(RunRow.model_path)
                .where(RunRow.model_path.is_not(None))
                .order_by(RunRow.id.desc())
                .limit(1)
            ).scalar()

    def predicted_count(self, model_path: str | None = None) -> int:
        """Readable images with a stored prediction of ``model_path`` (default: the current)."""
        model_path = model_path or self.current_model_path()
        if model_path is None:
            return 0
        with read_transaction(self.engine) as c:
            return int(
                c.execute(
                    select(func.count())
                    .select_from(PredictionRow)
                    .join(ImageRow, ImageRow.id == PredictionRow.image_id)
                    .where(PredictionRow.model_path == model_path, ImageRow.status == "ok")
                ).scalar()
                or 0
            )

    def predictions(
        self, *, model_path: str | None = None, run_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Stored predictions of one model or run, highest loss first when losses are known."""
        statement = select(*PredictionRow.__table__.c, ImageRow.path).join(
            ImageRow, ImageRow.id == PredictionRow.image_id
        )
        if model_path is not None:
            statement = statement.where(PredictionRow.model_path == model_path)
        if run_id is not None:
            statement = statement.where(PredictionRow.run_id == run_id)
        statement = statement.order_by(PredictionRow.loss.desc().nulls_last(), PredictionRow.id)
        with read_transaction(self.engine) as c:
            return [
                {
                    "image_id": row.image_id,
                    "path": path,
                    "class": row.class_name,
                    "confidence": row.confidence,
                    "probabilities": row.probabilities,
                    "true_class": row.true_class,
                    "loss": row.loss,
                    "run_id": row.run_id,
                    "model_path": row.model_path,
                }
                for row in c.execute(statement).all()
                for path in [row[-1]]
            ]


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat(timespec="seconds")


def _run_record(row: Any) -> RunRecord:
    return RunRecord(
        id=row.id,
        created=_iso(row.created) or "",
        status=row.status,
        config=dict(row.config or {}),
        metrics=dict(row.metrics or {}),
        model_path=row.model_path,
        finished=_iso(row.finished),
    )
