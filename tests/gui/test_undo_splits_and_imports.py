"""Edit → Undo takes back a split set by hand (browser menu, Data health) and the classes an import
created; Redo brings both back."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from cnndesk.domain import Split
from cnndesk.gui.health_pane import HealthPane
from cnndesk.gui.import_dialog import ImportController
from cnndesk.health import AuditReport, DuplicateFinding
from cnndesk.library import Library
from cnndesk.library.schema import ImageRow
from tests.conftest import make_image
from tests.gui.browser_data import open_window, unlabeled_library
from tests.gui.pane_data import make_context
from tests.gui.test_first_hour import menu_action


def splits_of(library: Library) -> dict[int, tuple[Split, str]]:
    """Image id → (split, who chose it: ``user`` or ``auto``), read from the file."""
    with library.engine.connect() as c:
        rows = c.execute(select(ImageRow.id, ImageRow.split, ImageRow.split_source)).all()
    return {row.id: (Split(row.split), row.split_source) for row in rows}


def test_menu_set_split_is_undone_and_redone_with_who_chose_it(qtbot, tmp_path: Path) -> None:
    window = open_window(qtbot, unlabeled_library(tmp_path))
    library, browser = window.context.library, window.browser
    first, second = (r.id for r in library.images()[:2])
    library.set_split([first], Split.TEST)  # chosen by hand earlier; the other one is auto
    before = splits_of(library)
    assert before[first] == (Split.TEST, "user") and before[second][1] == "auto"

    browser.set_current_image(first)
    browser.view.selectAll()
    six = len(before)
    menu_action(browser.context_menu(), "val").trigger()
    assert set(splits_of(library).values()) == {(Split.VAL, "user")}
    undo = window.actions_by_id["edit.undo"]
    assert undo.isEnabled()
    assert undo.text() == f"&Undo Set split of {six} images to val"

    with qtbot.waitSignal(window.context.labels_changed, timeout=5000):
        undo.trigger()
    assert splits_of(library) == before  # each image's split and its source came back
    redo = window.actions_by_id["edit.redo"]
    assert redo.text() == f"&Redo Set split of {six} images to val"
    redo.trigger()
    assert set(splits_of(library).values()) == {(Split.VAL, "user")}


def test_put_group_in_one_split_is_undoable(qtbot, tmp_path: Path) -> None:
    library = unlabeled_library(tmp_path)
    a, b = library.images()[:2]
    library.set_split([a.id], Split.TRAIN)
    library.set_split([b.id], Split.VAL)
    before = splits_of(library)
    pane = HealthPane(make_context(library))
    qtbot.addWidget(pane)
    group = DuplicateFinding(
        image_ids=(a.id, b.id), files=(a.path, b.path), splits=("train", "val"), similarity=0.99
    )
    pane.show_report(
        AuditReport(
            label_issues=(),
            near_duplicates=(group,),
            outliers=(),
            class_balance=(),
            model_path="",
            images=len(before),
            labeled=0,
            cv_accuracy=None,
            seconds=0.0,
        )
    )
    pane.duplicates_list.setCurrentRow(0)
    pane.one_split_button.click()
    assert splits_of(library)[b.id] == (Split.TRAIN, "user")
    stack = pane.context.undo_stack
    assert stack.undoText() == "Put 2 duplicates in train"
    stack.undo()
    assert splits_of(library) == before
    stack.redo()
    assert splits_of(library)[b.id] == (Split.TRAIN, "user")


def window_after_pets_import(qtbot, tmp_path: Path, monkeypatch):  # type: ignore[no-untyped-def]
    """A window on a library of unlabeled images and the classes ``red`` and ``blue``, after
    importing ``pets/{red,cats,dogs}`` with folders as classes; also the image ids from before."""
    window = open_window(qtbot, unlabeled_library(tmp_path))
    before = [r.id for r in window.context.library.images()]
    pets = tmp_path / "pets"
    for name, colour in (("red", (250, 0, 0)), ("cats", (0, 250, 0)), ("dogs", (0, 0, 250))):
        for n in range(2):
            make_image(pets / name / f"{name}_{n}.png", colour=colour)
    monkeypatch.setattr(ImportController, "ask_folders_as_classes", lambda _self, _paths: True)
    with qtbot.waitSignal(window.importer.import_finished, timeout=20000):
        assert window.importer.start([str(pets)])
    return window, before


def test_undo_import_removes_the_classes_it_created_and_redo_brings_them_back(
    qtbot, tmp_path: Path, monkeypatch
) -> None:
    window, before = window_after_pets_import(qtbot, tmp_path, monkeypatch)
    library = window.context.library
    library.update_class("dogs", hotkey="D", colour="#123456")
    made = library.classes()
    assert [c.name for c in made] == ["red", "blue", "cats", "dogs"]

    with qtbot.waitSignal(window.context.classes_loaded, timeout=5000):
        window.actions_by_id["edit.undo"].trigger()
    assert [r.id for r in library.images()] == before
    assert [c.name for c in library.classes()] == ["red", "blue"]  # "red" was there before
    assert [c.name for c in window.context.classes] == ["red", "blue"]

    with qtbot.waitSignal(window.context.classes_loaded, timeout=5000):
        window.actions_by_id["edit.redo"].trigger()
    again = library.classes()
    assert [(c.name, c.hotkey, c.colour, c.order) for c in again] == [
        (c.name, c.hotkey, c.colour, c.order) for c in made
    ]
    counts = {c.name: c.count for c in again}
    assert counts["cats"] == 2 and counts["dogs"] == 2 and counts["red"] == 2


def test_undo_import_keeps_a_class_the_user_has_labeled_with_since(
    qtbot, tmp_path: Path, monkeypatch
) -> None:
    window, before = window_after_pets_import(qtbot, tmp_path, monkeypatch)
    library, old_image = window.context.library, before[0]
    cats = library.class_by_name("cats")
    library.set_labels([old_image], cats.id)  # an image from before the import is now a cat

    window.context.undo_stack.undo()  # the import (the label above was not an undoable edit)
    assert [c.name for c in library.classes()] == ["red", "blue", "cats"]
    assert library.image(old_image).class_id == cats.id
    window.context.undo_stack.redo()
    library.set_labels([old_image], None)  # "cats" is empty again, but it is the user's now
    window.context.undo_stack.undo()
    assert [c.name for c in library.classes()] == ["red", "blue", "cats"]
