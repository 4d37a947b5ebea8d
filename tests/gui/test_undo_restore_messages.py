"""Edit → Undo of a removal after the library changed meanwhile: the status bar says what could
not come back (a label of a class deleted since), and the rest comes back."""

from __future__ import annotations

from pathlib import Path

from cnndesk.gui.undo import push_removal
from tests.gui.pane_data import make_context
from tests.library.test_restore_after_changes import bees_library


def test_undo_says_which_labels_of_a_deleted_class_did_not_come_back(qtbot, tmp_path: Path) -> None:
    library, ants, bees = bees_library(tmp_path)
    context = make_context(library)
    library.keep_labels(ants[:1])
    assert push_removal(context, ants[:1] + bees[:2])
    library.remove_class("bees")
    library.add_class("wasps")  # takes the freed id of "bees"
    with qtbot.waitSignal(context.status_message, timeout=5000) as said:
        context.undo_stack.undo()
    assert said.args == [
        "Put back 3 images; 2 labels of the deleted class 'bees' were not restored."
    ]
    assert {library.image(i).class_id for i in bees[:2]} == {None}
    assert library.kept_labels() == {ants[0]: library.class_by_name("ants").id}
    assert library.class_by_name("wasps").count == 0
    library.close()
