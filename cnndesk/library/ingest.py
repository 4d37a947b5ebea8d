"""Writing imported images into the library: the importer's store (:class:`IngestManager`).

What an image is (DESIGN §3, "an image is its content, found at a path"), decided per probed
file by what the library already holds:

- same path, same content: a file that was missing or unreadable is restored;
- same path, new content: the row is kept (label, split) and re-hashed, and marked ``changed``
  ("check the label"); if the new content is already another image of the library, this row is
  marked missing instead (its content is no longer at its path);
- known content at a new path: if the known path no longer holds a file, the image moved (path
  updated, label kept); otherwise the new file is a duplicate;
- otherwise a new image, labeled by its folder and split automatically unless the import gave one;
  its id is above every id a removal took away (:mod:`.image_ids`), so an undo gets its ids back.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, delete, insert, select, update

from cnndesk.domain import ImageStatus, RefusedFile, Split
from cnndesk.library.classes import ClassManager
from cnndesk.library.database import read_transaction, write_transaction
from cnndesk.library.image_ids import advance_id_sequence, next_image_id
from cnndesk.library.importer import BatchOutcome, NewImage
from cnndesk.library.labels import split_counts
from cnndesk.library.schema import ImageRow, KnownFile, LabelRow, utcnow
from cnndesk.library.splits import assign_splits
from cnndesk.library.sql import HUMAN


class _Known(NamedTuple):
    id: int
    path: str
    sha256: str
    status: str


@dataclass
class _Tally:
    """What one batch did to images the library already held, and which images are new."""

    fresh: list[NewImage] = field(default_factory=list)
    refused: list[RefusedFile] = field(default_factory=list)
    duplicates: int = 0
    changed: int = 0
    moved: int = 0
    restored: int = 0
    taken: set[str] = field(default_factory=set)
    """Content hashes this batch adds as new images."""


class IngestManager:
    """Implements :class:`~cnndesk.library.importer.ImportStore` on the library's engine."""

    def __init__(self, engine: Engine, classes: ClassManager) -> None:
        self.engine = engine
        self.classes = classes

    def known_files(self) -> dict[str, tuple[int, int]]:
        """Paths already read with their (size, mtime_ns); images not ``ok`` are left out.

        A path whose image is missing or unreadable is read again by the next import, so a file
        that failed once is not excluded forever.
        """
        with read_transaction(self.engine) as c:
            not_ok = set(
                c.execute(
                    select(ImageRow.path).where(ImageRow.status != ImageStatus.OK.value)
                ).scalars()
            )
            return {
                path: (size, mtime)
                for path, size, mtime in c.execute(
                    select(KnownFile.path, KnownFile.size, KnownFile.mtime_ns)
                ).all()
                if path not in not_ok
            }

    def add_images(self, images: list[NewImage]) -> BatchOutcome:
        """Write a batch of probed images in one transaction (see the module docstring)."""
        if not images:
            return BatchOutcome((), 0, 0, ())
        with write_transaction(self.engine) as c:
            _remember_files(c, images)
            tally = _sort_batch(c, images)
            classes = self.classes.ids_by_name(c)
            created: list[str] = []
            for new in tally.fresh:
                if new.class_name is not None and new.class_name not in classes:
                    classes[new.class_name] = self.classes.add_in(c, new.class_name).id
                    created.append(new.class_name)
            added_ids, labeled = _insert_fresh(c, tally.fresh, classes)
        return BatchOutcome(
            tuple(added_ids),
            tally.duplicates,
            labeled,
            tuple(created),
            changed=tally.changed,
            moved=tally.moved,
            restored=tally.restored,
            refused=tuple(tally.refused),
        )


def _remember_files(c: Connection, images: list[NewImage]) -> None:
    """Record each file's path, size, mtime and hash, so the next import skips it unchanged."""
    c.execute(delete(KnownFile).where(KnownFile.path.in_([n.probed.path for n in images])))
    c.execute(
        insert(KnownFile),
        [
            {
                "path": n.probed.path,
                "size": n.probed.size,
                "mtime_ns": n.probed.mtime_ns,
                "sha256": n.probed.sha256,
            }
            for n in images
        ],
    )


def _sort_batch(c: Connection, images: list[NewImage]) -> _Tally:
    """Update the rows of images the library holds; collect the new ones in ``fresh``."""
    columns = (ImageRow.id, ImageRow.path, ImageRow.sha256, ImageRow.status)
    by_sha = {
        row.sha256: _Known(*row)
        for row in c.execute(
            select(*columns).where(ImageRow.sha256.in_([n.probed.sha256 for n in images]))
        ).all()
    }
    by_path = {
        row.path: _Known(*row)
        for row in c.execute(
            select(*columns).where(ImageRow.path.in_([n.probed.path for n in images]))
        ).all()
    }
    tally = _Tally()
    for new in images:
        if new.probed.sha256 in tally.taken:
            tally.duplicates += 1
        elif new.probed.path in by_path:
            _same_path(c, new, by_path[new.probed.path], by_sha, tally)
        elif new.probed.sha256 in by_sha:
            _known_content(c, new, by_sha, tally)
        else:
            tally.taken.add(new.probed.sha256)
            tally.fresh.append(new)
    return tally


def _facts(new: NewImage) -> dict[str, Any]:
    """The columns a readable file's probe decides."""
    p = new.probed
    return {
        "size": p.size,
        "mtime_ns": p.mtime_ns,
        "width": p.width,
        "height": p.height,
        "format": p.format,
        "status": ImageStatus.OK.value,
    }


def _same_path(
    c: Connection, new: NewImage, old: _Known, by_sha: dict[str, _Known], tally: _Tally
) -> None:
    """A file at a known path: restored, re-hashed as changed, or its old row marked missing."""
    p = new.probed
    if old.sha256 == p.sha256:
        tally.restored += old.status != ImageStatus.OK.value
        c.execute(update(ImageRow).where(ImageRow.id == old.id).values(**_facts(new)))
        return
    other = by_sha.get(p.sha256)
    if other is not None:
        c.execute(
            update(ImageRow).where(ImageRow.id == old.id).values(status=ImageStatus.MISSING.value)
        )
        tally.duplicates += 1
        tally.refused.append(
            RefusedFile(
                p.path,
                "its content changed and is now the same as another image in "
                f"the library ({other.path}); its earlier entry is marked missing",
            )
        )
        return
    c.execute(
        update(ImageRow)
        .where(ImageRow.id == old.id)
        .values(sha256=p.sha256, changed=True, **_facts(new))
    )
    by_sha[p.sha256] = old._replace(sha256=p.sha256)
    tally.changed += 1


def _known_content(c: Connection, new: NewImage, by_sha: dict[str, _Known], tally: _Tally) -> None:
    """Known content at a new path: the image moved if its old file is gone, else a duplicate."""
    p = new.probed
    other = by_sha[p.sha256]
    if other.path != p.path and not _is_file(other.path):
        c.execute(
            update(ImageRow).where(ImageRow.id == other.id).values(path=p.path, **_facts(new))
        )
        by_sha[p.sha256] = other._replace(path=p.path)
        tally.moved += 1
    else:
        tally.duplicates += 1


def _insert_fresh(
    c: Connection, fresh: list[NewImage], classes: dict[str, int]
) -> tuple[list[int], int]:
    """Insert new images (with their folder's label, if any); their ids and how many got one."""
    splits = _auto_splits(c, fresh, classes)
    now = utcnow()
    added_ids: list[int] = []
    labels = []
    first = next_image_id(c)
    for image_id, new in enumerate(fresh, start=first):
        p = new.probed
        split, source = (new.split, "given") if new.split else (splits[p.sha256], "auto")
        c.execute(
            insert(ImageRow).values(
                id=image_id,
                path=p.path,
                sha256=p.sha256,
                **_facts(new),
                split=split.value,
                split_source=source,
                added=now,
            )
        )
        added_ids.append(image_id)
        if new.class_name is not None:
            labels.append(
                {
                    "image_id": image_id,
                    "source": HUMAN,
                    "class_id": classes[new.class_name],
                    "time": now,
                }
            )
    if added_ids:
        advance_id_sequence(c)
    if labels:
        c.execute(insert(LabelRow), labels)
    return added_ids, len(labels)


def _auto_splits(c: Connection, fresh: list[NewImage], classes: dict[str, int]) -> dict[str, Split]:
    """Content hash → split for new images without a given split, stratified per class."""
    by_class: dict[str | None, list[str]] = defaultdict(list)
    for new in fresh:
        if new.split is None:
            by_class[new.class_name].append(new.probed.sha256)
    result: dict[str, Split] = {}
    for name, hashes in by_class.items():
        class_id = classes[name] if name is not None else None
        result.update(assign_splits(hashes, existing=split_counts(c, class_id)))
    return result


def _is_file(path: str) -> bool:
    try:
        return os.path.isfile(path)
    except (OSError, ValueError):
        return False
