"""The :class:`Library`: one SQLite file holding images, classes, labels, splits, runs, predictions.

Each public method is one unit of work in its own transaction, so every user action (a label, a
class edit) is committed when the call returns: a crash or power cut loses nothing the user saw
applied. Methods take and return the frozen dataclasses of :mod:`cnndesk.domain`; ORM rows never
leave this package. A ``Library`` may be used from several threads (each call opens its own
connection from the pool).
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Collection, Generator, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from cnndesk import paths
from cnndesk.domain import (
    CheckResult,
    ClassInfo,
    ImageError,
    ImageQuery,
    ImageRecord,
    ImageStatus,
    ImageView,
    LabelSource,
    LibraryError,
    LibraryStats,
    Progress,
    RefusedFile,
    Split,
    TrainingSample,
    TrainingSet,
)
from cnndesk.imageio import os_error_reason, regular_file_problem
from cnndesk.library.database import (
    integrity_ok,
    is_read_only,
    library_file,
    make_engine,
    migrate,
    read_transaction,
    write_transaction,
)
from cnndesk.library.imagefile import open_upright, probe
from cnndesk.library.importer import BatchOutcome, NewImage
from cnndesk.library.model_results import ModelResults
from cnndesk.library.names import class_name_problem
from cnndesk.library.schema import (
    ClassRow,
    ImageRow,
    KnownFile,
    LabelRow,
    utcnow,
)
from cnndesk.library.splits import assign_splits

log = logging.getLogger(__name__)

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

_HUMAN = LabelSource.HUMAN.value
_MODEL = LabelSource.MODEL.value


class Library(ModelResults):
    """An open cnndesk library. Create with :meth:`open`; close with :meth:`close` or ``with``."""

    def __init__(self, location: str | Path, *, read_only: bool | None = None) -> None:
        self.location = str(location)
        self.engine = make_engine(location, read_only=read_only)
        try:
            migrate(self.engine)
            if not self.read_only:
                self.mark_interrupted_runs()
        except Exception:
            self.engine.dispose()
            raise

    # ------------------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, location: str | Path | None = None, *, read_only: bool | None = None) -> Library:
        """Open (creating when needed) a library file or database URL; default: the embedded one.

        A file that is not a cnndesk library is refused unchanged. A library that cannot be
        written (or ``read_only=True``) opens for reading; writes then raise a
        :class:`LibraryError` saying it is read-only.
        """
        location = location if location is not None else paths.default_library_path()
        return cls(location, read_only=read_only)

    @property
    def read_only(self) -> bool:
        return is_read_only(self.engine)

    @property
    def path(self) -> Path | None:
        """The library file, for SQLite libraries."""
        probe = library_file(self.engine)
        return probe.path if probe is not None else None

    @property
    def display_name(self) -> str:
        path = self.path
        return (
            path.stem if path is not None else self.engine.url.render_as_string(hide_password=True)
        )

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def integrity_ok(self) -> bool:
        return integrity_ok(self.engine)

    def backup(self, target: str | Path) -> Path:
        """Write a consistent copy of a live library (``VACUUM INTO``; never a file copy)."""
        target = Path(target)
        if target.exists():
            raise LibraryError(f"{target} already exists; choose a new file for the backup.")
        raw = self.engine.raw_connection()  # autocommit: VACUUM cannot run inside a transaction
        try:
            raw.driver_connection.execute("VACUUM INTO ?", (str(target),))
        finally:
            raw.close()
        return target

    # -------------------------------------------------------------------------------- classes

    def classes(self) -> list[ClassInfo]:
        """All classes in their display order, with their human-label counts."""
        with read_transaction(self.engine) as c:
            counts = dict(
                c.execute(
                    select(LabelRow.class_id, func.count())
                    .join(ImageRow, ImageRow.id == LabelRow.image_id)
                    .where(LabelRow.source == _HUMAN, ImageRow.status == ImageStatus.OK.value)
                    .group_by(LabelRow.class_id)
                ).all()
            )
            rows = c.execute(
                select(
                    ClassRow.id, ClassRow.name, ClassRow.hotkey, ClassRow.colour, ClassRow.position
                ).order_by(ClassRow.position, ClassRow.id)
            ).all()
            return [_class_info(row, counts.get(row.id, 0)) for row in rows]

    def class_by_name(self, name: str) -> ClassInfo | None:
        return next((info for info in self.classes() if info.name == name), None)

    def require_class(self, name: str) -> ClassInfo:
        info = self.class_by_name(name)
        if info is None:
            known = ", ".join(repr(c.name) for c in self.classes()) or "none yet"
            raise LibraryError(f"There is no class named {name!r} (classes: {known}).")
        return info

    def add_class(
        self, name: str, *, hotkey: str | None = None, colour: str | None = None
    ) -> ClassInfo:
        """Add a class; its name is stored exactly as typed (only surrounding whitespace matters)."""
        _check_class_name(name)
        hotkey = _check_hotkey(hotkey)
        with write_transaction(self.engine) as c:
            return self._add_class(c, name, hotkey=hotkey, colour=colour)

    def _add_class(
        self, c: Connection, name: str, *, hotkey: str | None = None, colour: str | None = None
    ) -> ClassInfo:
        if c.execute(select(ClassRow.id).where(ClassRow.name == name)).first():
            raise LibraryError(f"A class named {name!r} already exists.")
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

    def rename_class(self, old: str, new: str) -> ClassInfo:
        _check_class_name(new)
        info = self.require_class(old)
        if old == new:
            return info
        try:
            with write_transaction(self.engine) as c:
                c.execute(update(ClassRow).where(ClassRow.id == info.id).values(name=new))
        except IntegrityError as exc:
            raise LibraryError(f"A class named {new!r} already exists.") from exc
        return self.require_class(new)

    def update_class(
        self, name: str, *, hotkey: str | type[...] | None = ..., colour: str | None = None
    ) -> ClassInfo:
        """Change a class's hotkey (``None`` clears it) and/or colour."""
        info = self.require_class(name)
        values: dict[str, Any] = {}
        if hotkey is not ...:
            values["hotkey"] = _check_hotkey(hotkey)  # type: ignore[arg-type]
        if colour is not None:
            values["colour"] = colour
        if values:
            try:
                with write_transaction(self.engine) as c:
                    c.execute(update(ClassRow).where(ClassRow.id == info.id).values(**values))
            except IntegrityError as exc:
                raise LibraryError(
                    f"The key {values.get('hotkey')!r} already labels another class."
                ) from exc
        return self.require_class(name)

    def move_class(self, name: str, position: int) -> list[ClassInfo]:
        """Put a class at ``position`` in the display (and hotkey 1–9) order."""
        order = [c for c in self.classes() if c.name != name]
        order.insert(max(0, min(position, len(order))), self.require_class(name))
        with write_transaction(self.engine) as c:
            for index, info in enumerate(order):
                c.execute(update(ClassRow).where(ClassRow.id == info.id).values(position=index))
        return self.classes()

    def remove_class(self, name: str) -> int:
        """Delete a class; its images become unlabeled. Returns how many images lost a label."""
        info = self.require_class(name)
        with write_transaction(self.engine) as c:
            affected = c.execute(
                select(func.count())
                .select_from(LabelRow)
                .where(LabelRow.class_id == info.id, LabelRow.source == _HUMAN)
            ).scalar()
            c.execute(delete(LabelRow).where(LabelRow.class_id == info.id))
            c.execute(delete(ClassRow).where(ClassRow.id == info.id))
        return int(affected or 0)

    # --------------------------------------------------------------------------------- labels

    def set_labels(self, image_ids: Iterable[int], class_id: int | None) -> dict[int, int | None]:
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
            for chunk in _chunks(ids):
                previous.update(
                    c.execute(
                        select(LabelRow.image_id, LabelRow.class_id).where(
                            LabelRow.source == _HUMAN, LabelRow.image_id.in_(chunk)
                        )
                    ).all()
                )
                c.execute(
                    delete(LabelRow).where(LabelRow.source == _HUMAN, LabelRow.image_id.in_(chunk))
                )
            if class_id is not None:
                now = utcnow()
                c.execute(
                    insert(LabelRow),
                    [
                        {"image_id": i, "source": _HUMAN, "class_id": class_id, "time": now}
                        for i in ids
                    ],
                )
                first_time = [i for i in ids if previous[i] is None]
                self._restratify(c, first_time, class_id)
            for chunk in _chunks(ids):  # the user looked at them: no longer "check the label"
                c.execute(
                    update(ImageRow)
                    .where(ImageRow.id.in_(chunk), ImageRow.changed.is_(True))
                    .values(changed=False)
                )
        return previous

    def restore_labels(self, previous: dict[int, int | None]) -> None:
        """Undo :meth:`set_labels`: put back each image's earlier label (in one transaction)."""
        by_class: dict[int | None, list[int]] = defaultdict(list)
        for image_id, class_id in previous.items():
            by_class[class_id].append(image_id)
        with write_transaction(self.engine) as c:
            for class_id, ids in by_class.items():
                for chunk in _chunks(ids):
                    c.execute(
                        delete(LabelRow).where(
                            LabelRow.source == _HUMAN, LabelRow.image_id.in_(chunk)
                        )
                    )
                    if class_id is not None:
                        c.execute(
                            insert(LabelRow),
                            [
                                {"image_id": i, "source": _HUMAN, "class_id": class_id}
                                for i in chunk
                            ],
                        )

    def label_files(
        self, files: Iterable[str | Path], class_name: str | None
    ) -> tuple[int, list[str]]:
        """Label images by file path (CLI). Returns (labeled count, paths not in the library)."""
        class_id = self.require_class(class_name).id if class_name is not None else None
        wanted = [str(Path(f).expanduser().absolute()) for f in files]
        with read_transaction(self.engine) as c:
            found = dict(
                c.execute(select(ImageRow.path, ImageRow.id).where(ImageRow.path.in_(wanted))).all()
            )
        missing = [p for p in wanted if p not in found]
        self.set_labels(found.values(), class_id)
        return len(found), missing

    def _restratify(self, c: Connection, image_ids: list[int], class_id: int) -> None:
        rows = c.execute(
            select(ImageRow.id, ImageRow.sha256).where(
                ImageRow.id.in_(image_ids), ImageRow.split_source == "auto"
            )
        ).all()
        if not rows:
            return
        existing = self._split_counts(c, class_id, exclude=[r.id for r in rows])
        assigned = assign_splits([r.sha256 for r in rows], existing=existing)
        for row in rows:
            c.execute(
                update(ImageRow)
                .where(ImageRow.id == row.id)
                .values(split=assigned[row.sha256].value)
            )

    def _split_counts(
        self, c: Connection, class_id: int | None, *, exclude: Sequence[int] = ()
    ) -> dict[Split, int]:
        human = aliased(LabelRow)
        query = (
            select(ImageRow.split, func.count())
            .outerjoin(human, and_(human.image_id == ImageRow.id, human.source == _HUMAN))
            .where(ImageRow.split_source == "auto")
            .group_by(ImageRow.split)
        )
        query = query.where(
            human.class_id == class_id if class_id is not None else human.class_id.is_(None)
        )
        if exclude:
            query = query.where(ImageRow.id.not_in(exclude))
        return {Split(split): n for split, n in c.execute(query).all()}

    def set_split(self, image_ids: Iterable[int], split: Split) -> None:
        """Put images into a split by hand (they keep it from then on)."""
        with write_transaction(self.engine) as c:
            for chunk in _chunks(list(image_ids)):
                c.execute(
                    update(ImageRow)
                    .where(ImageRow.id.in_(chunk))
                    .values(split=split.value, split_source="user")
                )

    # --------------------------------------------------------------------------------- import

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
        """Write a batch of probed images in one transaction (importer's store protocol).

        Per image, by what the library already holds (DESIGN §3, "an image is its content,
        found at a path"):

        - same path, same content: a file that was missing or unreadable is restored;
        - same path, new content: the row is kept (label, split) and re-hashed, and marked
          ``changed`` ("check the label"); if the new content is already another image of the
          library, this row is marked missing instead (its content is no longer at its path);
        - known content at a new path: if the known path no longer holds a file, the image
          moved (path updated, label kept); otherwise the new file is a duplicate;
        - otherwise a new image.
        """
        if not images:
            return BatchOutcome((), 0, 0, ())
        with write_transaction(self.engine) as c:
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
            fresh: list[NewImage] = []
            refused: list[RefusedFile] = []
            duplicates = changed = moved = restored = 0
            taken: set[str] = set()  # content added by this batch
            for new in images:
                p = new.probed
                if p.sha256 in taken:
                    duplicates += 1
                    continue
                facts = {
                    "size": p.size,
                    "mtime_ns": p.mtime_ns,
                    "width": p.width,
                    "height": p.height,
                    "format": p.format,
                    "status": ImageStatus.OK.value,
                }
                old = by_path.get(p.path)
                if old is not None and old.sha256 == p.sha256:
                    restored += old.status != ImageStatus.OK.value
                    c.execute(update(ImageRow).where(ImageRow.id == old.id).values(**facts))
                    continue
                if old is not None:
                    other = by_sha.get(p.sha256)
                    if other is not None:
                        c.execute(
                            update(ImageRow)
                            .where(ImageRow.id == old.id)
                            .values(status=ImageStatus.MISSING.value)
                        )
                        duplicates += 1
                        refused.append(
                            RefusedFile(
                                p.path,
                                "its content changed and is now the same as another image in "
                                f"the library ({other.path}); its earlier entry is marked missing",
                            )
                        )
                        continue
                    c.execute(
                        update(ImageRow)
                        .where(ImageRow.id == old.id)
                        .values(sha256=p.sha256, changed=True, **facts)
                    )
                    by_sha[p.sha256] = old._replace(sha256=p.sha256)
                    changed += 1
                    continue
                other = by_sha.get(p.sha256)
                if other is not None:
                    if other.path != p.path and not _is_file(other.path):
                        c.execute(
                            update(ImageRow)
                            .where(ImageRow.id == other.id)
                            .values(path=p.path, **facts)
                        )
                        by_sha[p.sha256] = other._replace(path=p.path)
                        moved += 1
                    else:
                        duplicates += 1
                    continue
                taken.add(p.sha256)
                fresh.append(new)
            classes = {row.name: row.id for row in c.execute(select(ClassRow.name, ClassRow.id))}
            created: list[str] = []
            for new in fresh:
                if new.class_name is not None and new.class_name not in classes:
                    classes[new.class_name] = self._add_class(c, new.class_name).id
                    created.append(new.class_name)
            splits = self._auto_splits(c, fresh, classes)
            now = utcnow()
            added_ids: list[int] = []
            labels = []
            for new in fresh:
                p = new.probed
                split, source = (new.split, "given") if new.split else (splits[p.sha256], "auto")
                image_id = c.execute(
                    insert(ImageRow).values(
                        path=p.path,
                        sha256=p.sha256,
                        size=p.size,
                        mtime_ns=p.mtime_ns,
                        width=p.width,
                        height=p.height,
                        format=p.format,
                        status=ImageStatus.OK.value,
                        split=split.value,
                        split_source=source,
                        added=now,
                    )
                ).inserted_primary_key[0]
                added_ids.append(image_id)
                if new.class_name is not None:
                    labels.append(
                        {
                            "image_id": image_id,
                            "source": _HUMAN,
                            "class_id": classes[new.class_name],
                            "time": now,
                        }
                    )
            if labels:
                c.execute(insert(LabelRow), labels)
        return BatchOutcome(
            tuple(added_ids),
            duplicates,
            len(labels),
            tuple(created),
            changed=changed,
            moved=moved,
            restored=restored,
            refused=tuple(refused),
        )

    def _auto_splits(
        self, c: Connection, fresh: list[NewImage], classes: dict[str, int]
    ) -> dict[str, Split]:
        by_class: dict[str | None, list[str]] = defaultdict(list)
        for new in fresh:
            if new.split is None:
                by_class[new.class_name].append(new.probed.sha256)
        result: dict[str, Split] = {}
        for name, hashes in by_class.items():
            class_id = classes[name] if name is not None else None
            result.update(assign_splits(hashes, existing=self._split_counts(c, class_id)))
        return result

    def check(
        self, image_ids: Iterable[int] | None = None, *, failed: Collection[int] = ()
    ) -> Generator[Progress, None, CheckResult]:
        """Re-read the status of every image (or of ``image_ids``) from its file; a generator.

        A file that is gone becomes ``missing``; one that is not a regular file, is too large
        or cannot be decoded becomes ``unreadable``; one whose size or mtime changed is read
        again: the same content is ``ok`` (a missing or unreadable image comes back), new
        content is re-hashed and marked ``changed`` (label and split kept). Files whose size and
        mtime are unchanged are not read, except those not ``ok`` (which get a fresh chance,
        decoded in full) and those in ``failed`` (they failed to decode elsewhere, in training:
        unchanged, they are marked unreadable). Nothing is decided forever from one failed read:
        every check starts again from the file.
        """
        wanted = None if image_ids is None else list(dict.fromkeys(image_ids))
        columns = (
            ImageRow.id,
            ImageRow.path,
            ImageRow.sha256,
            ImageRow.size,
            ImageRow.mtime_ns,
            ImageRow.status,
        )
        with read_transaction(self.engine) as c:
            if wanted is None:
                rows = c.execute(select(*columns).order_by(ImageRow.id)).all()
            else:
                rows = []
                for chunk in _chunks(wanted):
                    rows += c.execute(select(*columns).where(ImageRow.id.in_(chunk))).all()
        failed = set(failed)
        total = len(rows)
        counts = dict.fromkeys(("ok", "missing", "unreadable", "changed", "restored"), 0)
        problems: list[RefusedFile] = []
        yield Progress(0, total, "Checking the library's files")
        for start in range(0, total, 200):
            updates: list[tuple[int, dict[str, Any]]] = []
            for row in rows[start : start + 200]:
                status, values, reason = _recheck(row, decode_failed=row.id in failed)
                if status == ImageStatus.OK.value and "sha256" in values:
                    with read_transaction(self.engine) as c:
                        owner = c.execute(
                            select(ImageRow.path).where(
                                ImageRow.sha256 == values["sha256"], ImageRow.id != row.id
                            )
                        ).scalar()
                    if owner is not None:
                        status, values = ImageStatus.MISSING.value, {}
                        reason = (
                            "its content changed and is now the same as another image in the "
                            f"library ({owner})"
                        )
                if status == ImageStatus.OK.value:
                    counts["ok"] += 1
                    counts["changed"] += bool(values.get("changed"))
                    counts["restored"] += row.status != ImageStatus.OK.value
                else:
                    counts[status] += 1
                    problems.append(RefusedFile(row.path, reason or status))
                if status != row.status or values:
                    updates.append((row.id, {"status": status, **values}))
            if updates:
                with write_transaction(self.engine) as c:
                    for image_id, values in updates:
                        c.execute(update(ImageRow).where(ImageRow.id == image_id).values(**values))
            yield Progress(min(total, start + 200), total, "Checking the library's files")
        return CheckResult(
            checked=total,
            ok=counts["ok"],
            missing=counts["missing"],
            unreadable=counts["unreadable"],
            changed=counts["changed"],
            restored=counts["restored"],
            problems=tuple(problems),
        )

    def refresh_status(self, image_ids: Iterable[int] | None = None) -> CheckResult:
        """:meth:`check`, run to the end (for callers that need no progress)."""
        job = self.check(image_ids)
        while True:
            try:
                next(job)
            except StopIteration as stop:
                return stop.value

    def labeled_status_counts(self) -> dict[str, int]:
        """How many human-labeled images there are in each status (``ok``, ``missing``, …)."""
        with read_transaction(self.engine) as c:
            return dict(
                c.execute(
                    select(ImageRow.status, func.count())
                    .join(
                        LabelRow, and_(LabelRow.image_id == ImageRow.id, LabelRow.source == _HUMAN)
                    )
                    .group_by(ImageRow.status)
                ).all()
            )

    def labeled_image_ids(self) -> list[int]:
        """Every human-labeled image, whatever its status (what training would like to use)."""
        with read_transaction(self.engine) as c:
            return list(
                c.execute(
                    select(LabelRow.image_id)
                    .where(LabelRow.source == _HUMAN)
                    .order_by(LabelRow.image_id)
                ).scalars()
            )

    # -------------------------------------------------------------------------------- queries

    def count(self) -> int:
        with read_transaction(self.engine) as c:
            return int(c.execute(select(func.count()).select_from(ImageRow)).scalar() or 0)

    def image(self, image_id: int) -> ImageRecord:
        records = self.images_by_id([image_id])
        if not records:
            raise LibraryError(f"Image {image_id} is no longer in the library.")
        return records[0]

    def images_by_id(self, image_ids: Sequence[int]) -> list[ImageRecord]:
        """Records for the given ids, in the given order (unknown ids are left out)."""
        found: dict[int, ImageRecord] = {}
        for chunk in _chunks(list(image_ids)):
            for record in self.images(ImageQuery(), ids=chunk):
                found[record.id] = record
        return [found[i] for i in image_ids if i in found]

    def find_image(self, path: str | Path) -> ImageRecord | None:
        absolute = str(Path(path).expanduser().absolute())
        with read_transaction(self.engine) as c:
            image_id = c.execute(select(ImageRow.id).where(ImageRow.path == absolute)).scalar()
        return self.image(image_id) if image_id is not None else None

    def images(
        self, query: ImageQuery | None = None, *, ids: Sequence[int] | None = None
    ) -> list[ImageRecord]:
        """The images matching ``query``, fully described, in the query's order."""
        query = query or ImageQuery()
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
            .outerjoin(human, and_(human.image_id == ImageRow.id, human.source == _HUMAN))
            .outerjoin(model, and_(model.image_id == ImageRow.id, model.source == _MODEL))
        )
        if ids is not None:
            statement = statement.where(ImageRow.id.in_(list(ids)))
        if query.image_ids is not None:
            statement = statement.where(ImageRow.id.in_(list(query.image_ids)))
        view = query.view
        if view is ImageView.UNLABELED:
            statement = statement.where(
                human.class_id.is_(None), ImageRow.status == ImageStatus.OK.value
            )
        elif view is ImageView.CLASS:
            statement = statement.where(human.class_id == query.class_id)
        elif view is ImageView.PREDICTED:
            statement = statement.where(model.class_id == query.class_id)
        elif view is ImageView.MISCLASSIFIED:
            statement = statement.where(
                human.class_id.is_not(None),
                model.class_id.is_not(None),
                human.class_id != model.class_id,
            )
            if query.class_id is not None:
                statement = statement.where(human.class_id == query.class_id)
        elif view is ImageView.LOW_CONFIDENCE:
            statement = statement.where(model.confidence < query.confidence_below)
        elif view is ImageView.CHANGED:
            statement = statement.where(ImageRow.changed.is_(True))
        if query.search:
            pattern = f"%{_escape_like(query.search)}%"
            statement = statement.where(ImageRow.path.ilike(pattern, escape="\\"))
        if query.split is not None:
            statement = statement.where(ImageRow.split == query.split.value)
        if query.order == "least_confident":
            statement = statement.order_by(
                model.confidence.is_(None), model.confidence, ImageRow.id
            )
        elif query.order == "added":
            statement = statement.order_by(ImageRow.id)
        else:
            statement = statement.order_by(ImageRow.path)
        if query.limit is not None:
            statement = statement.limit(query.limit)
        with read_transaction(self.engine) as c:
            rows = c.execute(statement).all()
        records = [
            ImageRecord(
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
            for r in rows
        ]
        if query.search:  # the SQL matched the whole path; keep file-name matches only
            needle = query.search.casefold()
            records = [r for r in records if needle in r.name.casefold()]
        return records

    def stats(self) -> LibraryStats:
        with read_transaction(self.engine) as c:
            by_status = dict(
                c.execute(select(ImageRow.status, func.count()).group_by(ImageRow.status)).all()
            )
            ok = ImageRow.status == ImageStatus.OK.value
            labeled = c.execute(
                select(func.count())
                .select_from(LabelRow)
                .join(ImageRow, ImageRow.id == LabelRow.image_id)
                .where(LabelRow.source == _HUMAN, ok)
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
            classes={info.name: info.count for info in self.classes()},
            predicted=self.predicted_count(),
            splits={s.value: int(splits.get(s.value, 0)) for s in Split},
            changed=int(changed or 0),
        )

    def training_set(self) -> TrainingSet:
        """Every readable human-labeled image, split, for a training run; and the readable
        unlabeled images (``label`` -1), which the run predicts without training on them."""
        classes = [c for c in self.classes() if c.count > 0]
        index = {c.id: i for i, c in enumerate(classes)}
        parts: dict[Split, list[TrainingSample]] = {s: [] for s in Split}
        with read_transaction(self.engine) as c:
            rows = c.execute(
                select(
                    ImageRow.id, ImageRow.path, ImageRow.sha256, ImageRow.split, LabelRow.class_id
                )
                .join(LabelRow, and_(LabelRow.image_id == ImageRow.id, LabelRow.source == _HUMAN))
                .where(ImageRow.status == ImageStatus.OK.value)
                .order_by(ImageRow.id)
            ).all()
            human = aliased(LabelRow)
            unlabeled = c.execute(
                select(ImageRow.id, ImageRow.path, ImageRow.sha256)
                .outerjoin(human, and_(human.image_id == ImageRow.id, human.source == _HUMAN))
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
            for chunk in _chunks(list(image_ids)):
                c.execute(
                    update(ImageRow)
                    .where(ImageRow.id.in_(chunk))
                    .values(status=ImageStatus.UNREADABLE.value)
                )

    def remove_images(self, image_ids: Iterable[int]) -> int:
        """Forget images (their files stay where they are). Returns how many were removed."""
        removed = 0
        with write_transaction(self.engine) as c:
            for chunk in _chunks(list(image_ids)):
                paths_ = list(
                    c.execute(select(ImageRow.path).where(ImageRow.id.in_(chunk))).scalars()
                )
                c.execute(delete(KnownFile).where(KnownFile.path.in_(paths_)))
                removed += c.execute(delete(ImageRow).where(ImageRow.id.in_(chunk))).rowcount
        return removed


# ----------------------------------------------------------------------------------- helpers


class _Known(NamedTuple):
    id: int
    path: str
    sha256: str
    status: str


def _is_file(path: str) -> bool:
    try:
        return os.path.isfile(path)
    except (OSError, ValueError):
        return False


def _recheck(row: Any, *, decode_failed: bool) -> tuple[str, dict[str, Any], str | None]:
    """(status, columns to update, reason) for one image row, from its file as it is now."""
    try:
        st = os.stat(row.path)
    except FileNotFoundError:
        return ImageStatus.MISSING.value, {}, "the file is missing (moved or deleted?)"
    except NotADirectoryError:
        return ImageStatus.MISSING.value, {}, "the file is missing (its folder is gone)"
    except (OSError, ValueError) as exc:
        reason = os_error_reason(exc) if isinstance(exc, OSError) else str(exc)
        return ImageStatus.UNREADABLE.value, {}, reason
    problem = regular_file_problem(st)
    if problem is not None:
        return ImageStatus.UNREADABLE.value, {}, problem
    same_stat = (st.st_size, st.st_mtime_ns) == (row.size, row.mtime_ns)
    if same_stat and row.status == ImageStatus.OK.value and not decode_failed:
        return ImageStatus.OK.value, {}, None
    try:
        probed = probe(Path(row.path))
        if row.status != ImageStatus.OK.value or decode_failed:
            open_upright(row.path, max_side=256)  # a real decode, not only the header
    except ImageError as exc:
        missing = "missing" in str(exc)
        status = ImageStatus.MISSING.value if missing else ImageStatus.UNREADABLE.value
        return status, {}, str(exc)
    values: dict[str, Any] = {
        "size": probed.size,
        "mtime_ns": probed.mtime_ns,
        "width": probed.width,
        "height": probed.height,
        "format": probed.format,
    }
    if probed.sha256 != row.sha256:
        values.update(sha256=probed.sha256, changed=True)
    elif decode_failed:
        return ImageStatus.UNREADABLE.value, {}, "the image cannot be decoded"
    return ImageStatus.OK.value, values, None


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _check_class_name(name: str) -> None:
    problem = class_name_problem(name)
    if problem is not None:
        raise LibraryError(problem)


def _check_hotkey(hotkey: str | None) -> str | None:
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


__all__ = ["Library"]
