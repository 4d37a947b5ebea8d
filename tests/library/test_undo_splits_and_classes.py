"""What undo needs from the library: a split set by hand and put back with who chose it, and an
undone import's unused classes removed with its images and put back with them."""

from __future__ import annotations

from pathlib import Path

from cnndesk.domain import Split
from cnndesk.library import Library, import_paths
from cnndesk.library.removal import remove_images_undoably, restore_images
from tests.conftest import make_image


def pets_library(tmp_path: Path) -> tuple[Library, list[int], list[int]]:
    """A library holding ``old`` (unlabeled, before) then ``cats``/``dogs`` imported as classes.

    Returns the library, the old image ids and the imported ones."""
    for n in range(3):
        make_image(tmp_path / "old" / f"o{n}.png", colour=(40 * n, 10, 10))
    for name in ("cats", "dogs"):
        for n in range(2):
            make_image(tmp_path / "pets" / name / f"{name}{n}.png", colour=(10, 60 * n, 90))
    library = Library.open(tmp_path / "lib.cnndesk")
    for _event in import_paths(library, [tmp_path / "old"]):
        pass
    old = [r.id for r in library.images()]
    for _event in import_paths(library, [tmp_path / "pets"], classes_from_folders=True):
        pass
    new = [r.id for r in library.images() if r.id not in old]
    return library, old, new


def test_set_split_returns_what_restore_splits_puts_back(tmp_path: Path) -> None:
    library, old, _new = pets_library(tmp_path)
    library.set_split(old[:1], Split.TEST)
    before = {r.id: r.split for r in library.images()}
    previous = library.set_split(old, Split.VAL)
    assert previous[old[0]] == (Split.TEST, "user")
    assert {source for _split, source in (previous[i] for i in old[1:])} == {"auto"}
    assert {library.image(i).split for i in old} == {Split.VAL}
    library.restore_splits(previous)
    assert {r.id: r.split for r in library.images()} == before
    again = library.set_split(old[1:], Split.TRAIN)
    assert {source for _split, source in again.values()} == {"auto"}  # restored as auto


def test_unused_import_classes_go_with_the_images_and_come_back_with_them(
    tmp_path: Path,
) -> None:
    library, _old, new = pets_library(tmp_path)
    made = {c.name: c for c in library.classes()}
    removed = remove_images_undoably(library, new, classes=[c.id for c in made.values()])
    assert library.classes() == [] and len(removed.classes) == 2
    back = restore_images(library, removed)
    assert sorted(back.ids) == sorted(new) and sorted(back.classes) == sorted(
        c.id for c in made.values()
    )
    assert {c.name: (c.id, c.colour, c.order, c.count) for c in library.classes()} == {
        name: (c.id, c.colour, c.order, 2) for name, c in made.items()
    }


def test_a_class_in_use_stays_and_a_taken_id_name_or_key_is_not_reused(tmp_path: Path) -> None:
    library, old, new = pets_library(tmp_path)
    cats, dogs = library.class_by_name("cats"), library.class_by_name("dogs")
    library.update_class("dogs", hotkey="D")
    library.set_labels(old[:1], cats.id)  # the user labeled an older image as a cat
    removed = remove_images_undoably(library, new, classes=[cats.id, dogs.id])
    assert [c.name for c in library.classes()] == ["cats"]  # used: stays
    # Meanwhile the user adds a class that may take the freed id, and the key D.
    taken = library.add_class("birds", hotkey="D")
    assert taken.id == dogs.id  # SQLite hands out the highest freed id again
    back = restore_images(library, removed)
    dogs_again = library.class_by_name("dogs")
    assert back.classes == [dogs_again.id] and dogs_again.hotkey is None
    assert library.class_by_name("birds") == taken  # untouched, still empty
    labels = {library.image(i).class_id for i in new}
    assert labels == {cats.id, dogs_again.id}  # each image its class, by name


def test_a_class_of_the_same_name_made_meanwhile_takes_the_labels(tmp_path: Path) -> None:
    library, _old, new = pets_library(tmp_path)
    ids = [c.id for c in library.classes()]
    removed = remove_images_undoably(library, new, classes=ids)
    mine = library.add_class("dogs", colour="#000000")
    back = restore_images(library, removed)
    dogs = library.class_by_name("dogs")
    assert (dogs.id, dogs.colour, dogs.count) == (mine.id, "#000000", 2)
    assert back.classes == [library.class_by_name("cats").id]  # "dogs" is the user's
