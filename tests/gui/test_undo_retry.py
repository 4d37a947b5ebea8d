"""Edit → Undo of a removal that the library refused, then tried again; and Redo after an undo
that could put back only some of the images. Nothing the user saved is lost, and Redo removes
only the images the user removed."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete

from cnndesk.gui.undo import push_removal
from cnndesk.library import import_paths
from cnndesk.library.database import write_transaction
from cnndesk.library.image_ids import RESERVED_KEY
from cnndesk.library.schema import Meta
from tests.conftest import make_image
from tests.gui.pane_data import make_context
from tests.library.test_restore_after_changes import bees_library


def _refuse_writes(library, refuse: bool) -> None:  # type: ignore[no-untyped-def]
    """The library cannot be written for now (as when its file turned read-only or busy)."""
    library.engine.cnndesk_read_only = refuse


def test_redo_then_undo_after_a_refused_undo_brings_the_labels_back(qtbot, tmp_path: Path) -> None:
    library, ants, bees = bees_library(tmp_path)
    context = make_context(library)
    library.keep_labels(bees[:1])
    library.set_suggestions([(ants[0], "bees", 0.7)])
    bees_class = library.class_by_name("bees").id
    assert push_removal(context, bees + ants[:1])
    _refuse_writes(library, True)
    with qtbot.waitSignal(context.status_message, timeout=5000) as said:
        context.undo_stack.undo()  # refused: the images stay out of the library
    assert said.args[0].startswith("Not put back: this library is read-only")
    _refuse_writes(library, False)
    with qtbot.waitSignal(context.images_removed, timeout=5000) as gone:
        context.undo_stack.redo()  # the stack moves on; the images are still out
    assert sorted(gone.args[0]) == sorted(bees + ants[:1])
    context.undo_stack.undo()  # the retry
    assert sorted(r.id for r in library.images()) == sorted(ants + bees)
    assert {library.image(i).class_id for i in bees} == {bees_class}
    assert library.kept_labels() == {bees[0]: bees_class}
    assert library.image(ants[0]).suggested_class_id == bees_class
    library.close()


def test_redo_after_a_partial_undo_leaves_the_image_that_took_a_removed_id(
    qtbot, tmp_path: Path
) -> None:
    library, context, ants, bees = _bees_removed(tmp_path)
    (wasp,) = _import_as_older_cnndesk(library, tmp_path / "more" / "wasp.png")
    assert wasp in bees  # it took a removed image's id
    with qtbot.waitSignal(context.status_message, timeout=5000):
        context.undo_stack.undo()  # puts back the two whose ids are free
    assert len(library.images()) == len(ants) + 3
    with qtbot.waitSignal(context.images_removed, timeout=5000) as gone:
        context.undo_stack.redo()
    assert sorted(gone.args[0]) == sorted(set(bees) - {wasp})
    assert sorted(r.id for r in library.images()) == sorted([*ants, wasp])
    assert library.image(wasp).path.endswith("wasp.png")
    library.close()


def test_undo_after_the_folder_was_imported_again_unlabeled_says_the_labels_came_back(
    qtbot, tmp_path: Path
) -> None:
    library, context, _ants, _bees = _bees_removed(tmp_path)  # removed by mistake
    for _event in import_paths(library, [tmp_path / "photos" / "bees"]):  # again, unlabeled
        pass
    with qtbot.waitSignal(context.status_message, timeout=5000) as said:
        context.undo_stack.undo()
    assert said.args == ["3 images imported again since have their labels back."]
    bees_class = library.class_by_name("bees").id
    assert [r.class_id for r in library.images()].count(bees_class) == 3
    library.close()


def _bees_removed(tmp_path: Path):  # type: ignore[no-untyped-def]
    """:func:`bees_library` with the bees removed through the undo stack."""
    library, ants, bees = bees_library(tmp_path)
    context = make_context(library)
    assert push_removal(context, bees)
    return library, context, ants, bees


def _import_as_older_cnndesk(library, photo: Path) -> list[int]:  # type: ignore[no-untyped-def]
    """Import one new photo as a cnndesk that keeps no reserve of removed ids; its new ids."""
    with write_transaction(library.engine) as c:
        c.execute(delete(Meta).where(Meta.key == RESERVED_KEY))
    before = {r.id for r in library.images()}
    make_image(photo, colour=(5, 250, 250))
    for _event in import_paths(library, [photo.parent]):
        pass
    return sorted({r.id for r in library.images()} - before)
