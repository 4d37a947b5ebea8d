"""Human labels and splits (:class:`LabelManager`): labeling, undo, splits by hand, reviewed labels.

Labeling an image whose split was assigned automatically while it was unlabeled moves it into its
class's stratified split (:func:`split_counts` feeds :func:`~cnndesk.library.splits.assign_splits`).
A label the user kept after the audit flagged it is a ``reviews`` row of kind ``label``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update
from sqlalchemy.orm import aliased

from cnndesk.domain import CnndeskError, LibraryError, Split
from cnndesk.imageio import read_file
from cnndesk.library.classes import ClassManager
from cnndesk.library.database import read_transaction, write_transaction
from cnndesk.library.schema import ClassRow, ImageRow, LabelRow, ReviewRow, utcnow
from cnndesk.library.splits import assign_splits
from cnndesk.library.sql import HUMAN, chunks


class LabelManager:
    """Writes and reads human labels, splits and kept labels; each public method is one transaction."""

    def __init__(self, engine: Engine, classes: ClassManager) -> None:
        self.engine = engine
        self.classes = classes

    def set(self, image_ids: Iterable[int], class_id: int | None) -> dict[int, int | None]:
        """Give images a human label (``None`` clears it), in one transaction.

        Returns each image's previous human label so the caller can undo. Labeling an image
        whose split was assigned automatically while it was unlabeled moves it into its class's
        stratified split.
        """
        ids = list(dict.fromkeys(image_ids))
        if not ids:
            return {}
        with write_transaction(self.engine) as c:
            if (
                class_id is not None
                and not c.execute(select(ClassRow.id).where(ClassRow.id == class_id)).first()
            ):
                raise LibraryError("That class no longer exists.")
            previous: dict[int, int | None] = dict.fromkeys(ids)
            for chunk in chunks(ids):
                previous.update(
                    c.execute(
                        select(LabelRow.image_id, LabelRow.class_id).where(
                            LabelRow.source == HUMAN, LabelRow.image_id.in_(chunk)
                        )
                    ).all()
                )
                c.execute(
                    delete(LabelRow).where(LabelRow.source == HUMAN, LabelRow.image_id.in_(chunk))
                )
            if class_id is not None:
                now = utcnow()
                c.execute(
                    insert(LabelRow),
                    [
                        {"image_id": i, "source": HUMAN, "class_id": class_id, "time": now}
                        for i in ids
                    ],
                )
                _restratify(c, [i for i in ids if previous[i] is None], class_id)
            for chunk in chunks(ids):  # the user looked at them: no longer "check the label"
                c.execute(
                    update(ImageRow)
                    .where(ImageRow.id.in_(chunk), ImageRow.changed.is_(True))
                    .values(changed=False)
                )
        return previous

    def restore(self, previous: dict[int, int | None]) -> None:
        """Undo :meth:`set`: put back each image's earlier label (in one transaction)."""
        by_class: dict[int | None, list[int]] = defaultdict(list)
        for image_id, class_id in previous.items():
            by_class[class_id].append(image_id)
        with write_transaction(self.engine) as c:
            for class_id, ids in by_class.items():
                for chunk in chunks(ids):
                    c.execute(
                        delete(LabelRow).where(
                            LabelRow.source == HUMAN, LabelRow.image_id.in_(chunk)
                        )
                    )
                    if class_id is not None:
                        c.execute(
                            insert(LabelRow),
                            [{"image_id": i, "source": HUMAN, "class_id": class_id} for i in chunk],
                        )

    def label_files(
        self, files: Iterable[str | Path], class_name: str | None
    ) -> tuple[int, list[str]]:
        """Label images by file path (CLI). Returns (labeled count, paths not in the library)."""
        class_id = self.classes.require(class_name).id if class_name is not None else None
        wanted = [str(Path(f).expanduser().absolute()) for f in files]
        with read_transaction(self.engine) as c:
            found = dict(
                c.execute(select(ImageRow.path, ImageRow.id).where(ImageRow.path.in_(wanted))).all()
            )
        missing = [p for p in wanted if p not in found]
        self.set(found.values(), class_id)
        return len(found), missing

    def held_elsewhere(self, paths: Iterable[str]) -> dict[str, str]:
        """For files not in the library whose photo is: each path → the library's path for it.

        Only photos whose library file is still there: importing such a copy is refused as a
        duplicate (a copy of a photo whose file is gone would be taken as that photo moved).
        Each file is read once, bounded; files that cannot be read are passed over.
        """
        hashes: dict[str, str] = {}
        for path in paths:
            try:
                hashes[path] = read_file(path).sha256()
            except (CnndeskError, OSError, ValueError):
                continue
        known: dict[str, str] = {}
        with read_transaction(self.engine) as c:
            for chunk in chunks(sorted(set(hashes.values()))):
                rows = c.execute(
                    select(ImageRow.sha256, ImageRow.path).where(ImageRow.sha256.in_(chunk))
                )
                known.update((sha, path) for sha, path in rows if os.path.isfile(path))
        return {p: known[sha] for p, sha in hashes.items() if sha in known and known[sha] != p}

    def set_split(self, image_ids: Iterable[int], split: Split) -> dict[int, tuple[Split, str]]:
        """Put images into a split by hand (they keep it from then on).

        Returns each image's previous split and ``split_source`` (``"user"``: chosen by hand,
        ``"auto"``: by the stratified auto-split), for :meth:`restore_splits`.
        """
        ids = list(dict.fromkeys(image_ids))
        previous: dict[int, tuple[Split, str]] = {}
        with write_transaction(self.engine) as c:
            for chunk in chunks(ids):
                rows = c.execute(
                    select(ImageRow.id, ImageRow.split, ImageRow.split_source).where(
                        ImageRow.id.in_(chunk)
                    )
                )
                previous.update({row.id: (Split(row.split), row.split_source) for row in rows})
            _write_splits(c, {i: (split, "user") for i in previous})
        return previous

    def restore_splits(self, previous: dict[int, tuple[Split, str]]) -> None:
        """Undo :meth:`set_split`: each image's earlier split and who chose it (one transaction).

        Images no longer in the library are passed over.
        """
        with write_transaction(self.engine) as c:
            _write_splits(c, previous)

    def status_counts(self) -> dict[str, int]:
        """How many human-labeled images there are in each status (``ok``, ``missing``, …)."""
        with read_transaction(self.engine) as c:
            return dict(
                c.execute(
                    select(ImageRow.status, func.count())
                    .join(
                        LabelRow, and_(LabelRow.image_id == ImageRow.id, LabelRow.source == HUMAN)
                    )
                    .group_by(ImageRow.status)
                ).all()
            )

    def labeled_ids(self) -> list[int]:
        """Every human-labeled image, whatever its status (what training would like to use)."""
        with read_transaction(self.engine) as c:
            return list(
                c.execute(
                    select(LabelRow.image_id)
                    .where(LabelRow.source == HUMAN)
                    .order_by(LabelRow.image_id)
                ).scalars()
            )

    def keep(self, image_ids: Iterable[int]) -> int:
        """Remember "reviewed — keep label" for these images' current human labels.

        The audit then stops flagging an image's label while it stays the one kept; a relabel
        (or a removed label) makes the flag possible again. Returns how many were recorded.
        """
        ids = list(dict.fromkeys(image_ids))
        rows = []
        with write_transaction(self.engine) as c:
            for chunk in chunks(ids):
                rows += c.execute(
                    select(LabelRow.image_id, LabelRow.class_id).where(
                        LabelRow.source == HUMAN, LabelRow.image_id.in_(chunk)
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

    def kept(self) -> dict[int, int]:
        """Image id → the label the user kept after the audit flagged it (still that label)."""
        with read_transaction(self.engine) as c:
            rows = c.execute(
                select(ReviewRow.image_id, ReviewRow.class_id)
                .join(
                    LabelRow,
                    (LabelRow.image_id == ReviewRow.image_id)
                    & (LabelRow.source == HUMAN)
                    & (LabelRow.class_id == ReviewRow.class_id),
                )
                .where(ReviewRow.kind == "label")
            ).all()
        return {int(i): int(k) for i, k in rows}


def split_counts(
    c: Connection, class_id: int | None, *, exclude: Sequence[int] = ()
) -> dict[Split, int]:
    """How many automatically split images of a class (``None``: unlabeled) each split holds."""
    human = aliased(LabelRow)
    query = (
        select(ImageRow.split, func.count())
        .outerjoin(human, and_(human.image_id == ImageRow.id, human.source == HUMAN))
        .where(ImageRow.split_source == "auto")
        .group_by(ImageRow.split)
    )
    query = query.where(
        human.class_id == class_id if class_id is not None else human.class_id.is_(None)
    )
    if exclude:
        query = query.where(ImageRow.id.not_in(exclude))
    return {Split(split): n for split, n in c.execute(query).all()}


def _write_splits(c: Connection, splits: dict[int, tuple[Split, str]]) -> None:
    """Give each image (id → (split, split_source)) its split, grouped into few updates."""
    groups: dict[tuple[Split, str], list[int]] = defaultdict(list)
    for image_id, (split, source) in splits.items():
        groups[(Split(split), source)].append(image_id)
    for (split, source), ids in groups.items():
        for chunk in chunks(ids):
            c.execute(
                update(ImageRow)
                .where(ImageRow.id.in_(chunk))
                .values(split=split.value, split_source=source)
            )


def _restratify(c: Connection, image_ids: list[int], class_id: int) -> None:
    """Move newly labeled, automatically split images into their class's stratified split."""
    rows = c.execute(
        select(ImageRow.id, ImageRow.sha256).where(
            ImageRow.id.in_(image_ids), ImageRow.split_source == "auto"
        )
    ).all()
    if not rows:
        return
    existing = split_counts(c, class_id, exclude=[r.id for r in rows])
    assigned = assign_splits([r.sha256 for r in rows], existing=existing)
    for row in rows:
        c.execute(
            update(ImageRow).where(ImageRow.id == row.id).values(split=assigned[row.sha256].value)
        )
