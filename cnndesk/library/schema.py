"""The library's tables, its schema version, and the migrations between versions.

A library made by an older cnndesk opens in a newer one with nothing lost: ``MIGRATIONS[n]``
upgrades a version-``n`` library to ``n + 1`` and :func:`cnndesk.library.database.migrate` runs
them in order inside one transaction. The version lives in the ``meta`` table (not
``PRAGMA user_version``) so the same code serves PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = 3


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Key/value facts about the library file itself (``schema_version``, ``created_by``)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ImageRow(Base):
    """An image file the library references (never copies), identified by its content hash."""

    __tablename__ = "images"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="ok")
    split: Mapped[str] = mapped_column(String(8), index=True)
    split_source: Mapped[str] = mapped_column(String(8), default="auto")
    """``given`` (from a train/val/test folder), ``auto`` (stratified from the hash) or ``user``."""
    added: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """The file's bytes changed under the same path since it was labeled: "check the label".
    Cleared when the image is labeled again."""


class KnownFile(Base):
    """Every file path an import has read, with the size and mtime it had then.

    Lets a re-import of an unchanged folder skip files without opening them, including the
    duplicates (same content, other path) that have no row in ``images``.
    """

    __tablename__ = "known_files"
    path: Mapped[str] = mapped_column(Text, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))


class ClassRow(Base):
    __tablename__ = "classes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    hotkey: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    colour: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LabelRow(Base):
    """One label per image and source: the human's, and the model's suggestion."""

    __tablename__ = "labels"
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(8), primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    model_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    dataset: Mapped[list] = mapped_column(JSON, default=list)
    """Snapshot of what the run trained on: ``[{"key", "class", "split"}, ...]``."""


class PredictionRow(Base):
    """What a model said about an image: the top class and every class's probability."""

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("model_path", "image_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    model_path: Mapped[str] = mapped_column(Text)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    class_name: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[dict] = mapped_column(JSON, default=dict)
    true_class: Mapped[str | None] = mapped_column(Text, nullable=True)
    loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewRow(Base):
    """A finding of the data-health audit that the user looked at and dismissed.

    ``kind`` ``label``: "reviewed — keep label": the audit flagged the image's label as a likely
    error and the user kept it; ``class_id`` is the label kept, so the flag stays away only
    while the image keeps that label (added in schema version 3).
    """

    __tablename__ = "reviews"
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    class_id: Mapped[int | None] = mapped_column(
        ForeignKey("classes.id", ondelete="CASCADE"), nullable=True
    )
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


Index("ix_labels_source_class", LabelRow.source, LabelRow.class_id)


def _migrate_0_to_1(connection: Connection) -> None:
    """Version 0 is an empty file: create every table."""
    Base.metadata.create_all(connection)


def _migrate_1_to_2(connection: Connection) -> None:
    """Version 2 adds ``images.changed`` (content changed under the same path; check the label).

    A new library gets the column from version 1's ``create_all`` already (it builds today's
    tables), so the column is added only where it is not there yet.
    """
    if any(column["name"] == "changed" for column in inspect(connection).get_columns("images")):
        return
    connection.execute(text("ALTER TABLE images ADD COLUMN changed BOOLEAN NOT NULL DEFAULT FALSE"))


def _migrate_2_to_3(connection: Connection) -> None:
    """Version 3 adds ``reviews`` (audit findings the user dismissed); nothing else changes.

    A new library has the table from version 1's ``create_all`` already.
    """
    ReviewRow.__table__.create(connection, checkfirst=True)


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    0: _migrate_0_to_1,
    1: _migrate_1_to_2,
    2: _migrate_2_to_3,
}
"""``MIGRATIONS[n]`` turns a version-``n`` library into version ``n + 1``."""
