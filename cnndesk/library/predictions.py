"""What models said about images (:class:`PredictionManager`): stored predictions per model folder.

Each prediction keeps a model's top class, its confidence and every class's probability, and,
for an evaluation, the true class and the loss. Suggestions (labels with source ``model``) live
in :mod:`.suggestions`; these rows are what the Evaluate pane and ``cnndesk evaluate`` read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select

from cnndesk.domain import ImageStatus
from cnndesk.library.database import read_transaction, write_transaction
from cnndesk.library.runs import RunManager
from cnndesk.library.schema import ImageRow, PredictionRow, utcnow
from cnndesk.library.sql import chunks


class PredictionManager:
    """Reads and writes the ``predictions`` table; each public method is one transaction."""

    def __init__(self, engine: Engine, runs: RunManager) -> None:
        self.engine = engine
        self.runs = runs

    def store(self, *, model_path: str, run_id: int | None, rows: Iterable[dict[str, Any]]) -> int:
        """Store what a model said about images, replacing its earlier word on them.

        Each row: ``image_id``, ``class`` (top class), ``confidence``, ``probabilities``
        (name → p), and optionally ``true_class`` and ``loss`` (evaluation).
        """
        rows = list(rows)
        with write_transaction(self.engine) as c:
            for chunk in chunks([r["image_id"] for r in rows]):
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

    def count(self, model_path: str | None = None) -> int:
        """Readable images with a stored prediction of ``model_path`` (default: the current)."""
        model_path = model_path or self.runs.current_model_path()
        if model_path is None:
            return 0
        with read_transaction(self.engine) as c:
            return int(
                c.execute(
                    select(func.count())
                    .select_from(PredictionRow)
                    .join(ImageRow, ImageRow.id == PredictionRow.image_id)
                    .where(
                        PredictionRow.model_path == model_path,
                        ImageRow.status == ImageStatus.OK.value,
                    )
                ).scalar()
                or 0
            )

    def all(
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
