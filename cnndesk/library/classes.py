"""The library's classes: names, hotkeys, colours and display order (:class:`ClassManager`).

A class name is stored as typed, in Unicode NFC (see :mod:`.names`: a name typed ``Café`` and a
macOS folder name ``Café`` are one class; a library that stored a name in another form keeps it,
and lookups compare both sides in NFC). Keys 1–9 always label the 1st–9th class, so a class's own
hotkey is one letter, the digit 0, a symbol or F1–F12.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from cnndesk.domain import ClassInfo, ImageStatus, LibraryError
from cnndesk.library.database import read_transaction, write_transaction
from cnndesk.library.names import (
    class_name_problem,
    id_named,
    ids_by_normal_name,
    normal_class_name,
)
from cnndesk.library.schema import ClassRow, ImageRow, LabelRow, utcnow
from cnndesk.library.sql import HUMAN

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
"""Tableau 10: distinct, colour-blind-friendly class colours, used in order."""


class ClassManager:
    """Reads and edits the ``classes`` table; each public method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def all(self) -> list[ClassInfo]:
        """All classes in their display order, with their human-label counts (readable images)."""
        with read_transaction(self.engine) as c:
            counts = dict(
                c.execute(
                    select(LabelRow.class_id, func.count())
                    .join(ImageRow, ImageRow.id == LabelRow.image_id)
                    .where(LabelRow.source == HUMAN, ImageRow.status == ImageStatus.OK.value)
                    .group_by(LabelRow.class_id)
                ).all()
            )
            rows = c.execute(
                select(
                    ClassRow.id, ClassRow.name, ClassRow.hotkey, ClassRow.colour, ClassRow.position
                ).order_by(ClassRow.position, ClassRow.id)
            ).all()
            return [_class_info(row, counts.get(row.id, 0)) for row in rows]

    def by_name(self, name: str) -> ClassInfo | None:
        """The class stored exactly as ``name``, else the one named ``name`` in Unicode NFC
        (:func:`.names.id_named`: an older library may hold both forms), or ``None``."""
        classes = self.all()
        class_id = id_named(((info.id, info.name) for info in classes), name)
        return next((info for info in classes if info.id == class_id), None)

    def require(self, name: str) -> ClassInfo:
        """The class named ``name``; a :class:`LibraryError` listing the classes if none is."""
        info = self.by_name(name)
        if info is None:
            known = ", ".join(repr(c.name) for c in self.all()) or "none yet"
            raise LibraryError(f"There is no class named {name!r} (classes: {known}).")
        return info

    def add(self, name: str, *, hotkey: str | None = None, colour: str | None = None) -> ClassInfo:
        """Add a class; its name is stored as typed, in Unicode NFC (see the module docstring)."""
        check_class_name(name)
        hotkey = check_hotkey(hotkey)
        with write_transaction(self.engine) as c:
            return self.add_in(c, name, hotkey=hotkey, colour=colour)

    def add_in(
        self, c: Connection, name: str, *, hotkey: str | None = None, colour: str | None = None
    ) -> ClassInfo:
        """Add a class inside the caller's transaction ``c`` (last in the order; next colour)."""
        name = normal_class_name(name)
        existing = _named(c, name)
        if existing is not None:
            raise LibraryError(f"A class named {existing[1]!r} already exists.")
        if hotkey and c.execute(select(ClassRow.name).where(ClassRow.hotkey == hotkey)).first():
            owner = c.execute(select(ClassRow.name).where(ClassRow.hotkey == hotkey)).scalar()
            raise LibraryError(f"The key {hotkey!r} already labels the class {owner!r}.")
        position = c.execute(select(func.coalesce(func.max(ClassRow.position), -1))).scalar() + 1
        colour = colour or PALETTE[position % len(PALETTE)]
        new_id = c.execute(
            insert(ClassRow).values(
                name=name, hotkey=hotkey, colour=colour, position=position, created=utcnow()
            )
        ).inserted_primary_key[0]
        return ClassInfo(id=new_id, name=name, hotkey=hotkey, colour=colour, order=position)

    def rename(self, old: str, new: str) -> ClassInfo:
        """Rename a class (the new name in Unicode NFC); an error if another class has it."""
        check_class_name(new)
        new = normal_class_name(new)
        info = self.require(old)
        if info.name == new:
            return info
        with write_transaction(self.engine) as c:
            existing = _named(c, new)
            if existing is not None and existing[0] != info.id:
                raise LibraryError(f"A class named {existing[1]!r} already exists.")
            try:
                c.execute(update(ClassRow).where(ClassRow.id == info.id).values(name=new))
            except IntegrityError as exc:
                raise LibraryError(f"A class named {new!r} already exists.") from exc
        return self.require(new)

    def update(
        self, name: str, *, hotkey: str | type[...] | None = ..., colour: str | None = None
    ) -> ClassInfo:
        """Change a class's hotkey (``None`` clears it) and/or colour."""
        info = self.require(name)
        values: dict[str, Any] = {}
        if hotkey is not ...:
            values["hotkey"] = check_hotkey(hotkey)  # type: ignore[arg-type]
        if colour is not None:
            values["colour"] = colour
        if values:
            with write_transaction(self.engine) as c:
                try:
                    c.execute(update(ClassRow).where(ClassRow.id == info.id).values(**values))
                except IntegrityError as exc:
                    raise LibraryError(
                        f"The key {values.get('hotkey')!r} already labels another class."
                    ) from exc
        return self.require(name)

    def move(self, name: str, position: int) -> list[ClassInfo]:
        """Put a class at ``position`` in the display (and hotkey 1–9) order."""
        moved = self.require(name)
        order = [c for c in self.all() if c.id != moved.id]
        order.insert(max(0, min(position, len(order))), moved)
        with write_transaction(self.engine) as c:
            for index, info in enumerate(order):
                c.execute(update(ClassRow).where(ClassRow.id == info.id).values(position=index))
        return self.all()

    def remove(self, name: str) -> int:
        """Delete a class; its images become unlabeled. Returns how many images lost a label."""
        info = self.require(name)
        with write_transaction(self.engine) as c:
            affected = c.execute(
                select(func.count())
                .select_from(LabelRow)
                .where(LabelRow.class_id == info.id, LabelRow.source == HUMAN)
            ).scalar()
            c.execute(delete(LabelRow).where(LabelRow.class_id == info.id))
            c.execute(delete(ClassRow).where(ClassRow.id == info.id))
        return int(affected or 0)

    def ids_by_name(self, c: Connection) -> dict[str, int]:
        """Class name (in Unicode NFC) → id, read inside the caller's transaction ``c``."""
        return ids_by_normal_name(c.execute(select(ClassRow.id, ClassRow.name)))


def check_class_name(name: str) -> None:
    """Raise a :class:`LibraryError` saying why ``name`` cannot be a class name, if it cannot."""
    problem = class_name_problem(name)
    if problem is not None:
        raise LibraryError(problem)


def _named(c: Connection, name: str) -> tuple[int, str] | None:
    """The id and stored name of the class whose name is ``name`` in Unicode NFC, if any."""
    for class_id, stored in c.execute(select(ClassRow.id, ClassRow.name)):
        if normal_class_name(stored) == name:
            return class_id, stored
    return None


def check_hotkey(hotkey: str | None) -> str | None:
    """The hotkey as stored (letters upper-case; ``None`` for none), or a :class:`LibraryError`."""
    if hotkey is None or hotkey == "":
        return None
    key = hotkey.strip()
    if len(key) == 1:
        if key in "123456789":
            raise LibraryError(f"{key} is taken: keys 1–9 always label the 1st–9th class.")
        if not key.isprintable() or key.isspace():
            raise LibraryError("A hotkey must be a visible key.")
        return key.upper() if key.isalpha() else key
    if key.upper().startswith("F") and key[1:].isdigit() and 1 <= int(key[1:]) <= 12:
        return key.upper()
    raise LibraryError(
        f"{hotkey!r} cannot be a class hotkey: use one letter, digit 0, symbol, or F1–F12."
    )


def _class_info(row: Any, count: int) -> ClassInfo:
    return ClassInfo(
        id=row.id,
        name=row.name,
        hotkey=row.hotkey,
        colour=row.colour,
        order=row.position,
        count=count,
    )
