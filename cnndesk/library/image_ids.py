"""Image ids are never handed out twice: a removed image keeps its id for its undo.

``images.id`` is a plain integer primary key, so SQLite would give a new image the highest id
in the table plus one, which is the id of a removed newest image. The undo stack and the GUI
know images by id, so :func:`reserve_image_ids` remembers (in ``meta``) the highest id a
removal took away, and :func:`next_image_id` starts new images above it.

Ids are computed here, not drawn from PostgreSQL's sequence, so on PostgreSQL both functions
first take a transaction-scoped advisory lock (:data:`ID_LOCK`): two cnndesk instances importing
into one library at once then take turns instead of picking the same ids (under READ COMMITTED
the second one's ``max(id)`` runs after the first one committed). :func:`advance_id_sequence`
moves the ``images.id`` sequence past the ids given explicitly, so anything that uses the
sequence does not collide. SQLite needs neither: its writers already take turns (``BEGIN
IMMEDIATE``), and it has no sequence.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cnndesk.library.schema import ImageRow, Meta

RESERVED_KEY = "image_ids_reserved_up_to"
"""``meta`` key: the highest image id that a removal took away (kept for its undo)."""
ID_LOCK = 0x636E6E64_1D5
"""PostgreSQL advisory lock key (``pg_advisory_xact_lock``) held while image ids are handed out
or reserved; released when the transaction ends."""


def _postgres(c: Connection) -> bool:
    return c.dialect.name == "postgresql"


def _lock_ids(c: Connection) -> None:
    """On PostgreSQL, wait until no other transaction hands out or reserves image ids."""
    if _postgres(c):
        c.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ID_LOCK})


def _reserved(c: Connection) -> int:
    value = c.execute(select(Meta.value).where(Meta.key == RESERVED_KEY)).scalar()
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def reserve_image_ids(c: Connection, ids: list[int]) -> None:
    """Keep these (removed) ids from being given to new images."""
    highest = max(ids, default=0)
    if highest <= 0:
        return
    _lock_ids(c)
    if highest <= _reserved(c):
        return
    upsert = (pg_insert if _postgres(c) else sqlite_insert)(Meta)
    c.execute(
        upsert.values(key=RESERVED_KEY, value=str(highest)).on_conflict_do_update(
            index_elements=[Meta.key], set_={"value": str(highest)}
        )
    )


def next_image_id(c: Connection) -> int:
    """The id for the next new image: above every image and every reserved id.

    On PostgreSQL this holds :data:`ID_LOCK` until the transaction ends: insert the images in
    the same transaction, then call :func:`advance_id_sequence`.
    """
    _lock_ids(c)
    highest = c.execute(select(func.max(ImageRow.id))).scalar() or 0
    return max(int(highest), _reserved(c)) + 1


def advance_id_sequence(c: Connection) -> None:
    """On PostgreSQL, move the ``images.id`` sequence past every image and reserved id, so that
    an id drawn from it (by anything that inserts without one) is free."""
    if not _postgres(c):
        return
    highest = max(int(c.execute(select(func.max(ImageRow.id))).scalar() or 0), _reserved(c))
    sequence = c.execute(text("SELECT pg_get_serial_sequence('images', 'id')")).scalar()
    if sequence is not None and highest > 0:
        c.execute(
            text("SELECT setval(CAST(:sequence AS regclass), :value)"),
            {"sequence": sequence, "value": highest},
        )
