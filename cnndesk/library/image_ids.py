"""Image ids are never handed out twice: a removed image keeps its id for its undo.

``images.id`` is a plain integer primary key, so SQLite would give a new image the highest id
in the table plus one, which is the id of a removed newest image. The undo stack and the GUI
know images by id, so :func:`reserve_image_ids` remembers (in ``meta``) the highest id a
removal took away, and :func:`next_image_id` starts new images above it.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, insert, select

from cnndesk.library.schema import ImageRow, Meta

RESERVED_KEY = "image_ids_reserved_up_to"
"""``meta`` key: the highest image id that a removal took away (kept for its undo)."""


def _reserved(c: Connection) -> int:
    value = c.execute(select(Meta.value).where(Meta.key == RESERVED_KEY)).scalar()
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def reserve_image_ids(c: Connection, ids: list[int]) -> None:
    """Keep these (removed) ids from being given to new images."""
    highest = max(ids, default=0)
    if highest <= _reserved(c):
        return
    c.execute(delete(Meta).where(Meta.key == RESERVED_KEY))
    c.execute(insert(Meta).values(key=RESERVED_KEY, value=str(highest)))


def next_image_id(c: Connection) -> int:
    """The id for the next new image: above every image and every reserved id."""
    highest = c.execute(select(func.max(ImageRow.id))).scalar() or 0
    return max(int(highest), _reserved(c)) + 1
