"""Removing images from a library so that the removal can be undone.

:func:`remove_images_undoably` forgets images (their files stay where they are) and returns a
:class:`RemovedImages` holding everything the library knew about them (the image rows, the files
the import had read, the human labels and model suggestions, the "kept label" reviews, the
stored predictions, the names of the classes these name, and the classes an undone import had
created that no label uses any more); :func:`restore_images` puts it all back. Both are one
transaction each. Nothing here reads image files.

An undo is exact while the library did not change meanwhile: the images get their ids back (no
new image takes a removed id, see :mod:`.image_ids`), labels, reviews and predictions their
values. What the library did meanwhile can make a part impossible, and then it is left out and
said (:attr:`RestoredImages.lost`): a label, suggestion or kept-label review of a class deleted
meanwhile goes to a class re-created with the same name, and does not come back where no class
has that name. An image whose file was imported again (same path or content) is not added a
second time: the image that holds the file now gets the removed image's human label and
kept-label review if it has no human label (:attr:`RestoredImages.relabeled`), else keeps the
label it has and that is said. A prediction row gets a new row id (nothing refers to it), and
its run is forgotten if the run was deleted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, or_, select

from cnndesk.library.database import write_transaction
from cnndesk.library.image_ids import advance_id_sequence, reserve_image_ids
from cnndesk.library.names import id_named, same_name
from cnndesk.library.schema import (
    ClassRow,
    ImageRow,
    KnownFile,
    LabelRow,
    PredictionRow,
    ReviewRow,
    RunRow,
)
from cnndesk.library.sql import HUMAN, chunks

if TYPE_CHECKING:
    from cnndesk.library.library import Library


def _rows(connection: Any, table: Any, column: Any, keys: list[Any]) -> tuple[dict, ...]:
    found: list[dict] = []
    for chunk in chunks(keys):
        result = connection.execute(select(table).where(column.in_(chunk)))
        found += [dict(row._mapping) for row in result]
    return tuple(found)


@dataclass(frozen=True, slots=True)
class RemovedImages:
    """What the library knew about some removed images: plain rows, enough to put them back."""

    images: tuple[dict, ...]
    known_files: tuple[dict, ...]
    labels: tuple[dict, ...]
    predictions: tuple[dict, ...]
    classes: tuple[dict, ...] = ()
    """Class rows removed with the images (see ``classes`` of :func:`remove_images_undoably`)."""
    reviews: tuple[dict, ...] = ()
    """The images' ``reviews`` rows ("reviewed — keep label")."""
    class_names: dict[int, tuple[str, Any]] = field(default_factory=dict)
    """Class id → (name, created) of each class a label or review named at the removal: which
    class a label goes back to when the id means another class by then."""

    @property
    def ids(self) -> list[int]:
        return [int(row["id"]) for row in self.images]

    def __len__(self) -> int:
        return len(self.images)


def remove_images_undoably(
    library: Library, image_ids: Iterable[int], *, classes: Iterable[int] = ()
) -> RemovedImages:
    """Forget these images (their files stay); what :func:`restore_images` needs to undo it.

    ``classes``: ids of classes made together with the images (by the import being undone);
    each one that no label and no review uses once the images are gone is removed too.
    """
    ids = list(dict.fromkeys(int(i) for i in image_ids))
    with write_transaction(library.engine) as c:
        images = _rows(c, ImageRow.__table__, ImageRow.id, ids)
        paths = [row["path"] for row in images]
        known_files = _rows(c, KnownFile.__table__, KnownFile.path, paths)
        labels = _rows(c, LabelRow.__table__, LabelRow.image_id, ids)
        reviews = _rows(c, ReviewRow.__table__, ReviewRow.image_id, ids)
        predictions = _rows(c, PredictionRow.__table__, PredictionRow.image_id, ids)
        named = list({r["class_id"] for r in labels + reviews if r["class_id"] is not None})
        class_names = {
            row["id"]: (row["name"], row["created"])
            for row in _rows(c, ClassRow.__table__, ClassRow.id, named)
        }
        for chunk in chunks(ids):
            for table, column in (
                (PredictionRow, PredictionRow.image_id),
                (ReviewRow, ReviewRow.image_id),
                (LabelRow, LabelRow.image_id),
                (ImageRow, ImageRow.id),
            ):
                c.execute(delete(table).where(column.in_(chunk)))
        for chunk in chunks(paths):
            c.execute(delete(KnownFile).where(KnownFile.path.in_(chunk)))
        reserve_image_ids(c, [int(row["id"]) for row in images])
        unused = [i for i in dict.fromkeys(int(k) for k in classes) if not _class_used(c, i)]
        class_rows = _rows(c, ClassRow.__table__, ClassRow.id, unused)
        c.execute(delete(ClassRow).where(ClassRow.id.in_(unused)))
    return RemovedImages(images, known_files, labels, predictions, class_rows, reviews, class_names)


def _class_used(c: Any, class_id: int) -> bool:
    """Whether a label (human or suggested) or a kept-label review names this class."""
    return any(
        c.execute(select(table.class_id).where(table.class_id == class_id).limit(1)).first()
        for table in (LabelRow, ReviewRow)
    )


def _restore_classes(c: Any, rows: tuple[dict, ...]) -> tuple[dict[int, int], list[int]]:
    """Put removed classes back: (old id → id now, the ids created again).

    A class of the same name made meanwhile is used as it is; a taken id or key is not reused
    (the class gets a new id, no key); the name, colour and place in the order come back.
    """
    now: dict[int, int] = {}
    created: list[int] = []
    for row in rows:
        same = id_named(c.execute(select(ClassRow.id, ClassRow.name)), row["name"])
        if same is not None:
            now[row["id"]] = same
            continue
        values = dict(row)
        if c.execute(select(ClassRow.id).where(ClassRow.id == row["id"])).first():
            del values["id"]
        if (
            row["hotkey"]
            and c.execute(select(ClassRow.id).where(ClassRow.hotkey == row["hotkey"])).first()
        ):
            values["hotkey"] = None
        now[row["id"]] = c.execute(insert(ClassRow).values(**values)).inserted_primary_key[0]
        created.append(now[row["id"]])
    return now, created


def _classes_now(c: Any, removed: RemovedImages, restored: dict[int, int]) -> dict[int, int | None]:
    """Class id at the removal → the same class now, or ``None`` where it was deleted.

    The same class is the one with that id if its name or its creation time is the same (a
    rename keeps the class), else the class of that name (made again), else none: a new class
    that took a deleted class's freed id is another class.
    """
    current = {
        row.id: (row.name, row.created)
        for row in c.execute(select(ClassRow.id, ClassRow.name, ClassRow.created))
    }
    names = [(class_id, name) for class_id, (name, _created) in current.items()]
    result: dict[int, int | None] = {}
    for old in {r["class_id"] for r in removed.labels + removed.reviews} - {None}:
        if old in restored:
            result[old] = restored[old]
            continue
        then = removed.class_names.get(old)
        now = current.get(old)
        if now is not None and (then is None or same_name(now[0], then[0]) or now[1] == then[1]):
            result[old] = old
        else:
            result[old] = id_named(names, then[0]) if then is not None else None
    return result


@dataclass(frozen=True, slots=True)
class RestoredImages:
    """What :func:`restore_images` put back: image ids, and the ids of the classes made again."""

    ids: list[int]
    classes: list[int]
    lost: tuple[str, ...] = ()
    """What could not be put back, one sentence each (e.g. "3 labels of the deleted class
    'bees' were not restored"); empty when everything came back."""
    relabeled: list[int] = field(default_factory=list)
    """Images imported again since (same path or content as a removed one) that had no label
    and got the removed image's label (and kept-label review) back."""


def _free_images(c: Any, removed: RemovedImages) -> tuple[list[dict], int, dict[int, int]]:
    """The removed image rows whose id, path and content no image in the library has now; how
    many others are held back only by their id (taken by a cnndesk that did not reserve it);
    and removed id → the image that holds its path or content now (imported again since).
    """
    paths = [row["path"] for row in removed.images]
    hashes = [row["sha256"] for row in removed.images]
    taken_ids: set[int] = set()
    taken_paths: dict[str, int] = {}
    taken_hashes: dict[str, int] = {}
    for p_chunk, h_chunk, i_chunk in zip(
        chunks(paths), chunks(hashes), chunks(removed.ids), strict=True
    ):
        for row in c.execute(
            select(ImageRow.id, ImageRow.path, ImageRow.sha256).where(
                or_(
                    ImageRow.path.in_(p_chunk),
                    ImageRow.sha256.in_(h_chunk),
                    ImageRow.id.in_(i_chunk),
                )
            )
        ):
            taken_ids.add(row.id)
            taken_paths[row.path] = row.id
            taken_hashes[row.sha256] = row.id
    again = {
        int(r["id"]): taken_paths.get(r["path"], taken_hashes.get(r["sha256"]))
        for r in removed.images
        if r["path"] in taken_paths or r["sha256"] in taken_hashes
    }
    fresh = [r for r in removed.images if r["id"] not in again]
    free = [r for r in fresh if r["id"] not in taken_ids]
    return free, len(fresh) - len(free), again


def _existing(c: Any, column: Any, values: list[Any]) -> set[Any]:
    """Those of ``values`` that ``column`` holds now (one query per chunk)."""
    found: set[Any] = set()
    for chunk in chunks(values):
        found.update(c.execute(select(column).where(column.in_(chunk))).scalars())
    return found


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


_DROPPED_WORDS = ((HUMAN, "label"), ("model", "model suggestion"), (None, "kept-label review"))
"""How :func:`_lost_labels` names a dropped row by its ``source`` (a review has none)."""


def _lost_labels(removed: RemovedImages, dropped: list[dict]) -> list[str]:
    """One sentence per deleted class whose labels, suggestions or reviews could not come back."""
    counts = Counter(
        (removed.class_names.get(r["class_id"], (f"#{r['class_id']}", None))[0], r.get("source"))
        for r in dropped
    )
    sentences = []
    for name in dict.fromkeys(name for name, _source in counts):
        parts = [_plural(counts[name, s], word) for s, word in _DROPPED_WORDS if counts[name, s]]
        listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
        verb = "was" if sum(counts[name, s] for s, _word in _DROPPED_WORDS) == 1 else "were"
        sentences.append(f"{listed} of the deleted class {name!r} {verb} not restored")
    return sentences


def restore_images(library: Library, removed: RemovedImages) -> RestoredImages:
    """Put removed images back with their ids, labels, reviews, predictions and removed classes.

    An image whose file was imported again meanwhile (same path or same content) is not added
    again: the image holding the file gets the removed one's human label and kept-label review
    if it has no human label, else keeps its own (said); a label, suggestion or review whose
    class was deleted meanwhile goes to a class of the same name if there is one, else is left
    out and said in :attr:`RestoredImages.lost`; a removed class comes back only with an image
    or a label (see :func:`_restore_classes`).
    """
    if not removed.images:
        return RestoredImages([], [])
    with write_transaction(library.engine) as c:
        images, held, again = _free_images(c, removed)
        lost = [f"{_plural(held, 'image')} not restored: images added since hold their ids"]
        lost = lost if held else []
        if not images and not _labeled(removed, again):
            return RestoredImages([], [], tuple(lost))
        back = {int(row["id"]) for row in images}
        back_paths = {row["path"] for row in images}
        class_now, created = _restore_classes(c, removed.classes)
        if images:
            c.execute(insert(ImageRow), images)
            advance_id_sequence(c)
        known = [row for row in removed.known_files if row["path"] in back_paths]
        known_now = _existing(c, KnownFile.path, [row["path"] for row in known])
        known = [row for row in known if row["path"] not in known_now]
        if known:
            c.execute(insert(KnownFile), known)
        classes = _classes_now(c, removed, class_now)
        dropped = _restore_rows(c, removed, back, classes)
        relabeled, kept, dropped_again = _relabel_again(c, removed, again, classes)
    if kept:
        lost.append(
            f"{_plural(kept, 'image')} {'was' if kept == 1 else 'were'} imported again since;"
            f" {'its label was' if kept == 1 else 'their labels were'} kept as"
            f" {'it is' if kept == 1 else 'they are'} now"
        )
    lost += _lost_labels(removed, dropped + dropped_again)
    return RestoredImages(sorted(back), created, tuple(lost), relabeled)


def _labeled(removed: RemovedImages, again: dict[int, int]) -> bool:
    """Whether a removed image imported again since had a human label."""
    return any(r["image_id"] in again and r["source"] == HUMAN for r in removed.labels)


def _relabel_again(
    c: Any, removed: RemovedImages, again: dict[int, int], classes: dict[int, int | None]
) -> tuple[list[int], int, list[dict]]:
    """Give each image imported again since (``again``: removed id → its image now) that has no
    human label the removed image's label and kept-label review: (the images labeled, how many
    kept another label they have now, the labels and reviews left out as their class is gone).
    """
    labels = [r for r in removed.labels if r["image_id"] in again and r["source"] == HUMAN]
    now: dict[int, int] = {}
    for chunk in chunks(sorted({again[r["image_id"]] for r in labels})):
        query = select(LabelRow.image_id, LabelRow.class_id).where(
            LabelRow.source == HUMAN, LabelRow.image_id.in_(chunk)
        )
        now.update((row.image_id, row.class_id) for row in c.execute(query))
    relabeled: dict[int, int] = {}
    kept, dropped = 0, []
    for row in labels:
        holder, class_id = again[row["image_id"]], classes[row["class_id"]]
        if class_id is None:
            dropped.append(row)
        elif holder not in now:
            now[holder] = relabeled[holder] = class_id
            c.execute(insert(LabelRow).values({**row, "image_id": holder, "class_id": class_id}))
        elif now[holder] != class_id:
            kept += 1
    given = {
        r["image_id"]: again[r["image_id"]] for r in labels if again[r["image_id"]] in relabeled
    }
    reviews = [
        {**r, "image_id": given[r["image_id"]], "class_id": classes.get(r["class_id"])}
        for r in removed.reviews
        if r["image_id"] in given and classes.get(r["class_id"]) == relabeled[given[r["image_id"]]]
    ]
    if reviews:  # a review the image has now of that kind was of no label: the removed one wins
        kinds = {r["kind"] for r in reviews}
        c.execute(
            delete(ReviewRow).where(
                ReviewRow.image_id.in_(list(relabeled)), ReviewRow.kind.in_(kinds)
            )
        )
        c.execute(insert(ReviewRow), reviews)
    return sorted(relabeled), kept, dropped


def _restore_rows(
    c: Any, removed: RemovedImages, back: set[int], classes: dict[int, int | None]
) -> list[dict]:
    """Insert the labels, reviews and predictions of the images put back (``back``), each label
    and review with its class now (``classes``); the labels and reviews left out (their class
    is gone)."""
    labels = [r for r in removed.labels if r["image_id"] in back]
    reviews = [r for r in removed.reviews if r["image_id"] in back]
    for table, rows in ((LabelRow, labels), (ReviewRow, reviews)):
        rows = [
            {**r, "class_id": classes[r["class_id"]] if r["class_id"] is not None else None}
            for r in rows
            if r["class_id"] is None or classes[r["class_id"]] is not None
        ]
        if rows:
            c.execute(insert(table), rows)
    runs = set(c.execute(select(RunRow.id)).scalars())
    predictions = [
        {**_without_id(r), "run_id": r["run_id"] if r["run_id"] in runs else None}
        for r in removed.predictions
        if r["image_id"] in back
    ]
    if predictions:
        c.execute(insert(PredictionRow), predictions)
    return [
        r for r in labels + reviews if r["class_id"] is not None and classes[r["class_id"]] is None
    ]


def _without_id(row: dict) -> dict:
    """A prediction row without its row id: nothing refers to it, and a newer row may hold it."""
    return {key: value for key, value in row.items() if key != "id"}
