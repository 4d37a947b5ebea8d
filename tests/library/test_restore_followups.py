"""Undoing a removal after the same files were imported again, after a class with kept-label
reviews was deleted, and of many images at once."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import event, insert

from cnndesk.library import Library, import_paths
from cnndesk.library.database import write_transaction
from cnndesk.library.removal import remove_images_undoably, restore_images
from cnndesk.library.schema import ImageRow, KnownFile, LabelRow, utcnow
from tests.library.test_restore_after_changes import bees_library


def _import(library: Library, folder: Path) -> list[int]:
    """Import a folder without labels; the ids of the images it added."""
    before = {r.id for r in library.images()}
    for _event in import_paths(library, [folder]):
        pass
    return sorted({r.id for r in library.images()} - before)


def test_unlabeled_images_imported_again_get_the_removed_labels_and_reviews_back(
    tmp_path: Path,
) -> None:
    library, ants, bees = bees_library(tmp_path)
    bees_class = library.class_by_name("bees").id
    library.keep_labels(bees[:1])
    removed = remove_images_undoably(library, bees)  # "removed by mistake"
    shutil.copytree(tmp_path / "photos" / "bees", tmp_path / "copies")
    by_content = _import(library, tmp_path / "copies")  # the same photos at other paths
    assert len(by_content) == 3
    assert {library.image(i).class_id for i in by_content} == {None}
    back = restore_images(library, removed)
    assert back.ids == [] and back.lost == ()
    assert back.relabeled == by_content
    assert {library.image(i).class_id for i in by_content} == {bees_class}
    kept = library.kept_labels()
    assert len(kept) == 1 and set(kept.values()) == {bees_class}
    assert len(library.images()) == len(ants) + 3


def test_an_image_imported_again_and_labeled_since_keeps_its_label_and_that_is_said(
    tmp_path: Path,
) -> None:
    library, ants, bees = bees_library(tmp_path)
    removed = remove_images_undoably(library, bees + ants[:1])
    again = _import(library, tmp_path / "photos" / "bees")  # the same paths
    library.set_labels(again[:2], library.class_by_name("ants").id)
    back = restore_images(library, removed)
    assert back.ids == [ants[0]]
    assert back.relabeled == again[2:]  # the one still unlabeled gets "bees" back
    assert back.lost == (
        "2 images were imported again since; their labels were kept as they are now",
    )
    ants_class, bees_class = (library.class_by_name(n).id for n in ("ants", "bees"))
    assert [library.image(i).class_id for i in again] == [ants_class, ants_class, bees_class]


def test_kept_label_reviews_lost_with_a_deleted_class_are_counted(tmp_path: Path) -> None:
    library, _ants, bees = bees_library(tmp_path)
    library.keep_labels(bees[:1])
    removed = remove_images_undoably(library, bees)
    library.remove_class("bees")
    back = restore_images(library, removed)
    assert sorted(back.ids) == sorted(bees)
    assert back.lost == (
        "3 labels and 1 kept-label review of the deleted class 'bees' were not restored",
    )
    assert library.kept_labels() == {}


def test_restoring_many_images_asks_for_known_files_in_chunks(tmp_path: Path) -> None:
    n = 1_200
    library = Library.open(tmp_path / "big.cnndesk")
    class_id = library.add_class("ants").id
    now = utcnow()
    with write_transaction(library.engine) as c:
        c.execute(insert(ImageRow), [_image(i, now) for i in range(1, n + 1)])
        c.execute(
            insert(KnownFile),
            [
                {"path": f"/p/{i}.png", "size": 1, "mtime_ns": 1, "sha256": f"{i:064x}"}
                for i in range(1, n + 1)
            ],
        )
        c.execute(
            insert(LabelRow),
            [
                {"image_id": i, "source": "human", "class_id": class_id, "time": now}
                for i in range(1, n + 1)
            ],
        )
    removed = remove_images_undoably(library, range(1, n + 1))
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(library.engine, "before_cursor_execute", count)
    back = restore_images(library, removed)
    event.remove(library.engine, "before_cursor_execute", count)
    assert len(back.ids) == n
    assert len(library.images()) == n and {r.class_id for r in library.images()} == {class_id}
    reads = [
        s for s in statements if s.lstrip().upper().startswith("SELECT") and "known_files" in s
    ]
    assert 1 <= len(reads) <= 3  # one per 500 paths, not one per file
    library.close()


def _image(i: int, now) -> dict:  # type: ignore[no-untyped-def]
    return {
        "id": i,
        "path": f"/p/{i}.png",
        "sha256": f"{i:064x}",
        "size": 1,
        "mtime_ns": 1,
        "width": 1,
        "height": 1,
        "format": "PNG",
        "status": "ok",
        "split": "train",
        "split_source": "auto",
        "added": now,
        "changed": False,
    }
