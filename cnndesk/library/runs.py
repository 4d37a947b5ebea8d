"""Training runs kept in the library (:class:`RunManager`): created, finished, or interrupted.

A run is recorded as ``running`` with its owning process (see :mod:`.processes`); a run whose
process died (killed, crashed) is marked ``interrupted`` when the library opens or lists runs.
The library never imports ``ml``: the jobs hand a run's config and metrics over as plain values.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, insert, select, update

from cnndesk.domain import LibraryError, RunRecord
from cnndesk.library.database import is_read_only, read_transaction, write_transaction
from cnndesk.library.processes import current_owner, describe, owner_is_gone
from cnndesk.library.schema import RunRow, utcnow


class RunManager:
    """Reads and writes the ``runs`` table; each public method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, config: dict[str, Any], *, dataset: list[dict[str, Any]] | None = None) -> int:
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

    def mark_interrupted(self) -> list[int]:
        """Mark ``running`` runs whose process is gone (killed, crashed) as ``interrupted``.

        Runs of live processes, of other hosts, and runs recorded without an owner are left
        alone. Returns the ids marked. Called when the library opens and when runs are listed.
        """
        stale = self._stale()
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

    def _stale(self) -> dict[int, dict[str, Any]]:
        """Run id → metrics of the ``running`` runs whose owning process is gone."""
        with read_transaction(self.engine) as c:
            rows = c.execute(
                select(RunRow.id, RunRow.metrics).where(RunRow.status == "running")
            ).all()
        return {
            run_id: dict(metrics or {})
            for run_id, metrics in rows
            if owner_is_gone((metrics or {}).get("process"))
        }

    def finish(
        self, run_id: int, *, status: str, metrics: dict[str, Any], model_path: str | None
    ) -> None:
        """Record how a run ended (``status``), its metrics, and the model folder it wrote."""
        with write_transaction(self.engine) as c:
            c.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .values(status=status, metrics=metrics, model_path=model_path, finished=utcnow())
            )

    def all(self) -> list[RunRecord]:
        """Every run, oldest first; a run whose process died shows as ``interrupted``."""
        if is_read_only(self.engine):
            stale = set(self._stale())  # reported, not stored: nothing can be written
        else:
            self.mark_interrupted()
            stale = set()
        with read_transaction(self.engine) as c:
            rows = c.execute(select(*RunRow.__table__.c).order_by(RunRow.id)).all()
        records = [_run_record(row) for row in rows]
        return [replace(r, status="interrupted") if r.id in stale else r for r in records]

    def get(self, run_id: int) -> RunRecord:
        """One run; a :class:`LibraryError` if there is none with that id."""
        with read_transaction(self.engine) as c:
            row = c.execute(select(*RunRow.__table__.c).where(RunRow.id == run_id)).first()
            if row is None:
                raise LibraryError(f"There is no run {run_id}.")
            return _run_record(row)

    def current_model_path(self) -> str | None:
        """The newest run's model folder: the model the library's filters and counts show."""
        with read_transaction(self.engine) as c:
            return c.execute(
                select(RunRow.model_path)
                .where(RunRow.model_path.is_not(None))
                .order_by(RunRow.id.desc())
                .limit(1)
            ).scalar()


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
