"""Undoing a removal (or an import) after the library changed meanwhile: a retrain wrote new
predictions, the class was deleted and another took its id, a new import came, the user had
kept labels the audit flagged. What comes back is what was there, and what cannot is said."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, insert

from cnndesk.domain import LibraryError
from cnndesk.library import Library, import_paths
from cnndesk.library.database import write_transaction
from cnndesk.library.image_ids import RESERVED_KEY
from cnndesk.library.removal import remove_images_undoably, restore_images
from cnndesk.library.schema import ClassRow, Meta
from tests.conftest import make_image


def bees_library(tmp_path: Path) -> tuple[Library, list[int], list[int]]:
    """``ants`` then ``bees`` (3 images each) imported as classes: library, ant ids, bee ids."""
    for name, shade in (("ants", 30), ("bees", 200)):
        for n in range(3):
            make_image(tmp_path / "photos" / name / f"{name}{n}.png", colour=(shade, 40 * n, 9))
    library = Library.open(tmp_path / "lib.cnndesk")
    for _event in import_paths(library, [tmp_path / "photos"], classes_from_folders=True):
        pass
    ants = library.class_by_name("ants").id
    images = library.images()
    return (
        library,
        [r.id for r in images if r.class_id == ants],
        [r.id for r in images if r.class_id != ants],
    )


def predict(library: Library, ids: list[int], model: str = "models/run-1") -> None:
    """What a training run stores at its end: a prediction of every image."""
    library.store_predictions(
        model_path=model,
        run_id=None,
        rows=[
            {"image_id": i, "class": "bees", "confidence": 0.9, "probabilities": {"bees": 0.9}}
            for i in ids
        ],
    )


def test_restore_after_a_retrain_brings_the_images_and_their_predictions_back(
    tmp_path: Path,
) -> None:
    library, ants, bees = bees_library(tmp_path)
    predict(library, ants + bees)
    removed = remove_images_undoably(library, bees)  # the newest images: the highest ids
    predict(library, ants, model="models/run-2")  # a retrain: new prediction rows meanwhile
    back = restore_images(library, removed)
    assert sorted(back.ids) == sorted(bees) and back.lost == ()
    assert sorted(r.id for r in library.images()) == sorted(ants + bees)
    first = {p["image_id"] for p in library.predictions(model_path="models/run-1")}
    assert first == set(ants + bees)
    assert {p["image_id"] for p in library.predictions(model_path="models/run-2")} == set(ants)


def test_an_import_after_a_removal_does_not_take_the_removed_ids(tmp_path: Path) -> None:
    library, ants, bees = bees_library(tmp_path)
    removed = remove_images_undoably(library, bees)
    make_image(tmp_path / "more" / "wasp.png", colour=(5, 250, 250))
    for _event in import_paths(library, [tmp_path / "more"]):  # e.g. an import not undone
        pass
    (wasp,) = [r.id for r in library.images() if r.id not in ants]
    assert wasp not in bees
    back = restore_images(library, removed)
    assert sorted(back.ids) == sorted(bees)
    bees_class = library.class_by_name("bees").id
    assert {library.image(i).class_id for i in bees} == {bees_class}


def test_a_conflicting_write_is_a_library_error_and_changes_nothing(tmp_path: Path) -> None:
    library, _ants, _bees = bees_library(tmp_path)
    before = library.classes()
    unique = r"UNIQUE constraint failed: classes\.name\); nothing was changed\.$"
    with pytest.raises(LibraryError, match=unique), write_transaction(library.engine) as c:
        c.execute(insert(ClassRow).values(name="wasps", colour="#000000", position=9))
        c.execute(insert(ClassRow).values(name="bees", colour="#000000", position=9))
    assert library.classes() == before
    with pytest.raises(LibraryError, match="already exists"):  # still its own message
        library.rename_class("ants", "bees")


def test_a_label_of_a_deleted_class_does_not_go_to_the_class_that_took_its_id(
    tmp_path: Path,
) -> None:
    library, ants, bees = bees_library(tmp_path)
    old = library.class_by_name("bees")
    library.set_suggestions([(i, "bees", 0.8) for i in ants[:1]])
    removed = remove_images_undoably(library, bees + ants[:1])
    library.remove_class("bees")
    wasps = library.add_class("wasps")
    assert wasps.id == old.id  # SQLite hands the freed id out again
    back = restore_images(library, removed)
    assert sorted(back.ids) == sorted(bees + ants[:1])
    assert {library.image(i).class_id for i in bees} == {None}
    assert library.image(ants[0]).suggested_class_id is None
    assert library.image(ants[0]).class_id == library.class_by_name("ants").id
    assert back.lost == (
        "3 labels and 1 model suggestion of the deleted class 'bees' were not restored",
    )
    assert library.class_by_name("wasps").count == 0


def test_a_label_goes_to_a_class_of_its_name_made_again_or_follows_a_rename(
    tmp_path: Path,
) -> None:
    library, ants, bees = bees_library(tmp_path)
    removed = remove_images_undoably(library, bees)
    library.remove_class("bees")
    library.add_class("wasps")  # takes the old id
    again = library.add_class("bees")  # the same name, a new id
    back = restore_images(library, removed)
    assert back.lost == ()
    assert {library.image(i).class_id for i in bees} == {again.id}
    removed = remove_images_undoably(library, ants)
    library.rename_class("ants", "emmets")
    restore_images(library, removed)
    assert {library.image(i).class_id for i in ants} == {library.class_by_name("emmets").id}


def test_kept_labels_come_back_with_the_removed_images(tmp_path: Path) -> None:
    library, ants, bees = bees_library(tmp_path)
    assert library.keep_labels(bees[:2] + ants[:1]) == 3
    kept = library.kept_labels()
    removed = remove_images_undoably(library, bees)
    assert set(library.kept_labels()) == set(ants[:1])
    restore_images(library, removed)
    assert library.kept_labels() == kept
    # A kept label of a class deleted meanwhile stays away with the label.
    removed = remove_images_undoably(library, bees)
    library.remove_class("bees")
    library.add_class("wasps")
    restore_images(library, removed)
    assert set(library.kept_labels()) == set(ants[:1])


def test_an_image_whose_id_was_taken_anyway_is_said_and_the_others_come_back(
    tmp_path: Path,
) -> None:
    library, ants, bees = bees_library(tmp_path)
    removed = remove_images_undoably(library, bees)
    with write_transaction(library.engine) as c:  # as an older cnndesk, which keeps no reserve
        c.execute(delete(Meta).where(Meta.key == RESERVED_KEY))
    make_image(tmp_path / "more" / "wasp.png", colour=(5, 250, 250))
    for _event in import_paths(library, [tmp_path / "more"]):
        pass
    (wasp,) = [r.id for r in library.images() if r.id not in ants]
    back = restore_images(library, removed)
    assert sorted(back.ids) == sorted(set(bees) - {wasp})
    assert back.lost == ("1 image not restored: images added since hold their ids",)
    assert library.image(wasp).path.endswith("wasp.png")
